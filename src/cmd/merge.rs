//! `declaro merge --out DIR SHARD_OUT...`: the outputs of the N shard runs of one night
//! (`process --shard I/N`) joined into the night's `remittance.csv`, `rejections.csv`,
//! `summary.json` and `report.html`, as the unsharded run writes them (the report from the
//! figures each shard's summary carries).
//!
//! The shards must be the N shards of one night: one summary per index 1..N, all of the same
//! N, the same run date, dry-run-ness, setup (policy files, registers, inputs) and input files
//! (name, format, records, sha256, refusal). The rows are each shard's rows as written (the
//! same writer wrote them, so their bytes are the unsharded run's), put in input order: files
//! in command-line order, then `record`. Nothing lost: every record of every accepted input is
//! in exactly one row of the merged files, and the rows' counts and euro sums equal the sums of
//! the shards' summaries, or the merge fails (exit 1) and writes nothing.

use crate::error::Error;
use crate::model::Total;
use crate::output::report::Figures;
use crate::output::summary::{
    BenefitPaid, FileSummary, MergedFrom, Reconciliation, Setup, Summary, Timing, Totals,
};
use crate::output::{Staged, OUTPUTS, REJECTIONS_HEADER, REMITTANCE_HEADER};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

/// What to merge, and where to.
#[derive(Debug, Clone)]
pub struct Request {
    pub out: PathBuf,
    /// The shard runs' output directories, in any order.
    pub shards: Vec<PathBuf>,
}

/// One shard run, from its `summary.json`.
struct ShardRun {
    dir: PathBuf,
    json: Value,
    index: u32,
    count: u32,
    lines: u64,
    lines_of_night: u64,
}

/// Merges the shards; the merged summary (already written with the rows).
pub fn merge(req: &Request) -> Result<Summary, Error> {
    let mut runs = req
        .shards
        .iter()
        .map(|d| shard_run(d))
        .collect::<Result<Vec<_>, _>>()?;
    one_night(&runs)?;
    runs.sort_by_key(|r| r.index);
    let files = accepted_files(&runs[0])?;
    refuse_used_out(&req.out, &runs)?;

    let remittance = Rows::read(&runs, "remittance.csv", &REMITTANCE_HEADER, &files)?;
    let rejections = Rows::read(&runs, "rejections.csv", &REJECTIONS_HEADER, &files)?;
    nothing_lost(&files, &remittance, &rejections)?;
    let summary = merged_summary(&runs, &remittance, &rejections)?;
    // The night's report from the shards' figures added up (none when a summary has none).
    let report = runs
        .iter()
        .map(|r| Figures::from_json(&r.json["shard"]["report_figures"]))
        .try_fold(Figures::default(), |all, f| Some(all.merge(f?)))
        .map(|figures| crate::output::report::render(&summary, &figures));

    crate::output::create_private_dir(&req.out).map_err(|e| {
        Error::Usage(format!(
            "cannot create output directory {}: {e}",
            req.out.display()
        ))
    })?;
    let written = (|| -> std::io::Result<Vec<Staged>> {
        let mut staged = Vec::new();
        let mut synced = Vec::new();
        for (rows, name, header) in [
            (&remittance, "remittance.csv", &REMITTANCE_HEADER[..]),
            (&rejections, "rejections.csv", &REJECTIONS_HEADER[..]),
        ] {
            let (f, mut w) = Staged::create(&req.out.join(name))?;
            w.write_all(header.join(",").as_bytes())?;
            w.write_all(b"\n")?;
            for row in &rows.order {
                w.write_all(rows.bytes(row))?;
            }
            synced.push(f.finish(w)?);
            staged.push(f);
        }
        if let Some(page) = &report {
            let (f, mut w) = Staged::create(&req.out.join("report.html"))?;
            w.write_all(page.as_bytes())?;
            synced.push(f.finish(w)?);
            staged.push(f);
        }
        let (f, mut w) = Staged::create(&req.out.join("summary.json"))?;
        serde_json::to_writer_pretty(&mut w, &summary)?;
        writeln!(w)?;
        synced.push(f.finish(w)?);
        staged.push(f);
        for f in &synced {
            f.sync_all()?;
        }
        Ok(staged)
    })();
    // On an error the staged files are dropped, which removes them.
    let staged = written.map_err(|e| Error::io(format!("writing {}", req.out.display()), e))?;
    for f in staged {
        let dest = f.dest().to_path_buf();
        f.commit()
            .map_err(|e| Error::io(format!("renaming {} into place", dest.display()), e))?;
    }
    Ok(summary)
}

fn usage(dir: &Path, what: impl std::fmt::Display) -> Error {
    Error::Usage(format!("merge: {}: {what}", dir.display()))
}

/// A shard run's summary and its place in the night (a summary without a `shard` block is the
/// whole night, shard 1/1).
fn shard_run(dir: &Path) -> Result<ShardRun, Error> {
    let path = dir.join("summary.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| usage(dir, format!("no summary.json of a shard run ({e})")))?;
    let json: Value = serde_json::from_str(&text)
        .map_err(|e| usage(dir, format!("summary.json is not JSON ({e})")))?;
    let number = |v: &Value, key: &str| {
        v.get(key)
            .and_then(Value::as_u64)
            .ok_or_else(|| usage(dir, format!("summary.json has no number {key}")))
    };
    let lines = number(&json, "lines")?;
    let (index, count, lines_of_night) = match json.get("shard") {
        None => (1, 1, lines),
        Some(s) => {
            let (i, n) = (number(s, "index")?, number(s, "count")?);
            let (night, others) = (
                number(s, "lines_of_night")?,
                number(s, "lines_of_other_shards")?,
            );
            if lines + others != night {
                return Err(Error::Internal(format!(
                    "merge: {}: the shard's {lines} lines and {others} of other shards are not \
                     the night's {night}",
                    dir.display()
                )));
            }
            let small = |x: u64| u32::try_from(x).map_err(|_| usage(dir, "a shard of 2^32"));
            (small(i)?, small(n)?, night)
        }
    };
    Ok(ShardRun {
        dir: dir.to_path_buf(),
        json,
        index,
        count,
        lines,
        lines_of_night,
    })
}

/// What makes two shard runs runs of the same night: the keys of their summaries that must be
/// equal, and of each input file its name, format, records, sha256 and refusal reason.
fn night_of(json: &Value) -> Vec<(&'static str, Value)> {
    let files: Vec<Value> = json["input_files"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| {
                    let keep = ["file", "format", "records", "sha256", "reason"];
                    Value::Array(keep.iter().map(|k| f[*k].clone()).collect())
                })
                .collect()
        })
        .unwrap_or_default();
    let setup = &json["setup"];
    vec![
        ("run_date", json["run_date"].clone()),
        (
            "dry_run",
            Value::Bool(json["dry_run"].as_bool().unwrap_or(false)),
        ),
        ("setup.inputs", setup["inputs"].clone()),
        ("setup.policies", setup["policies"].clone()),
        ("setup.members", setup["members"].clone()),
        ("setup.providers", setup["providers"].clone()),
        ("input_files", Value::Array(files)),
    ]
}

/// Refuses unless the runs are the shards 1..N of one N, of one night.
fn one_night(runs: &[ShardRun]) -> Result<(), Error> {
    let first = &runs[0];
    for r in runs {
        if r.count != first.count {
            return Err(usage(
                &r.dir,
                format!(
                    "is shard {}/{} and {} is a shard of {}: all must be shards of one count",
                    r.index,
                    r.count,
                    first.dir.display(),
                    first.count
                ),
            ));
        }
        for ((key, a), (_, b)) in night_of(&first.json).iter().zip(night_of(&r.json)) {
            if *a != b {
                return Err(usage(
                    &r.dir,
                    format!(
                        "is not a shard of the night of {} ({key} differs)",
                        first.dir.display()
                    ),
                ));
            }
        }
        if r.lines_of_night != first.lines_of_night {
            return Err(usage(
                &r.dir,
                format!(
                    "is not a shard of the night of {} (lines_of_night {} and {})",
                    first.dir.display(),
                    r.lines_of_night,
                    first.lines_of_night
                ),
            ));
        }
    }
    let mut held: BTreeMap<u32, &Path> = BTreeMap::new();
    for r in runs {
        if let Some(other) = held.insert(r.index, &r.dir) {
            return Err(usage(
                &r.dir,
                format!(
                    "is shard {}/{}, and so is {}: give each shard once",
                    r.index,
                    r.count,
                    other.display()
                ),
            ));
        }
    }
    let missing: Vec<String> = (1..=first.count)
        .filter(|i| !held.contains_key(i))
        .map(|i| format!("{i}/{}", first.count))
        .collect();
    if !missing.is_empty() {
        return Err(Error::Usage(format!(
            "merge: shard {} missing: give the output directory of every shard of {}",
            missing.join(", "),
            first.count
        )));
    }
    Ok(())
}

/// The accepted input files in command-line order: (name as the rows give it, records).
fn accepted_files(run: &ShardRun) -> Result<Vec<(String, u32)>, Error> {
    let mut out: Vec<(String, u32)> = Vec::new();
    for f in run.json["input_files"].as_array().into_iter().flatten() {
        let name = f["file"].as_str().unwrap_or_default().to_string();
        if out.iter().any(|(n, _)| *n == name) {
            return Err(usage(
                &run.dir,
                format!(
                    "the night reads {name} twice; its rows cannot be told apart, so merge \
                     cannot order them"
                ),
            ));
        }
        let records = if f["refused"].is_null() {
            f["records"].as_u64().unwrap_or(0) as u32
        } else {
            0
        };
        out.push((name, records));
    }
    Ok(out)
}

/// Refuses an `--out` that is a shard's directory or holds outputs already.
fn refuse_used_out(out: &Path, runs: &[ShardRun]) -> Result<(), Error> {
    let canonical = |p: &Path| std::fs::canonicalize(p).ok();
    if let Some(o) = canonical(out) {
        if let Some(r) = runs.iter().find(|r| canonical(&r.dir) == Some(o.clone())) {
            return Err(usage(
                out,
                format!("is shard {}/{}'s output directory", r.index, r.count),
            ));
        }
    }
    if let Some(f) = OUTPUTS.iter().find(|f| out.join(f).exists()) {
        return Err(usage(
            out,
            format!("holds {f} already: give the merge an output directory of its own"),
        ));
    }
    Ok(())
}

/// One row of a shard's file: input file position, record, shard (position in the runs) and
/// its bytes in that shard's file.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Row {
    file: u32,
    record: u32,
    shard: u32,
    start: usize,
    end: usize,
}

/// The rows of one output file of every shard, in input order.
struct Rows {
    /// Each shard's file.
    texts: Vec<Vec<u8>>,
    order: Vec<Row>,
    /// Per column name, its index.
    columns: HashMap<&'static str, usize>,
}

impl Rows {
    fn read(
        runs: &[ShardRun],
        name: &str,
        header: &[&'static str],
        files: &[(String, u32)],
    ) -> Result<Rows, Error> {
        let index: HashMap<&[u8], u32> = files
            .iter()
            .enumerate()
            .map(|(i, (n, _))| (n.as_bytes(), i as u32))
            .collect();
        let columns: HashMap<&'static str, usize> =
            header.iter().enumerate().map(|(i, c)| (*c, i)).collect();
        let (file_col, record_col) = (columns["file"], columns["record"]);
        let mut texts = Vec::with_capacity(runs.len());
        let mut order = Vec::new();
        for (k, run) in runs.iter().enumerate() {
            let path = run.dir.join(name);
            let text = std::fs::read(&path)
                .map_err(|e| usage(&run.dir, format!("cannot read {name}: {e}")))?;
            let head = header.join(",") + "\n";
            if !text.starts_with(head.as_bytes()) {
                return Err(usage(
                    &run.dir,
                    format!("{name} has not the header declaro writes"),
                ));
            }
            let body = &text[head.len()..];
            let mut rdr = csv::ReaderBuilder::new()
                .has_headers(false)
                .from_reader(body);
            let mut rec = csv::ByteRecord::new();
            let bad = |at: usize, what: &str| {
                Error::Internal(format!(
                    "merge: {}: the row at byte {} of {name}: {what}",
                    run.dir.display(),
                    head.len() + at
                ))
            };
            loop {
                let start = rdr.position().byte() as usize;
                match rdr.read_byte_record(&mut rec) {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(e) => return Err(bad(start, &e.to_string())),
                }
                let end = rdr.position().byte() as usize;
                if rec.len() != header.len() {
                    return Err(bad(start, "not as many fields as the header"));
                }
                let file = *index
                    .get(rec.get(file_col).unwrap_or_default())
                    .ok_or_else(|| bad(start, "names no input file of the night"))?;
                let record = std::str::from_utf8(rec.get(record_col).unwrap_or_default())
                    .ok()
                    .and_then(|r| r.parse::<u32>().ok())
                    .filter(|&r| r >= 1 && r <= files[file as usize].1)
                    .ok_or_else(|| bad(start, "its record is not one of its input file's"))?;
                // The row as written, its line end included (the writer ends rows in LF).
                if body.get(end.saturating_sub(1)) != Some(&b'\n') {
                    return Err(bad(start, "does not end in a line end"));
                }
                order.push(Row {
                    file,
                    record,
                    shard: k as u32,
                    start: head.len() + start,
                    end: head.len() + end,
                });
            }
            texts.push(text);
        }
        order.sort_unstable();
        Ok(Rows {
            texts,
            order,
            columns,
        })
    }

    fn bytes(&self, row: &Row) -> &[u8] {
        &self.texts[row.shard as usize][row.start..row.end]
    }

    /// Calls `f` with the fields of every row, in order: one CSV reader per shard's file,
    /// moved to each row (a reader per row would build its parser 2M times on a 2M-line night).
    fn each(&self, mut f: impl FnMut(&csv::ByteRecord)) {
        let mut readers: Vec<csv::Reader<std::io::Cursor<&[u8]>>> = self
            .texts
            .iter()
            .map(|t| {
                csv::ReaderBuilder::new()
                    .has_headers(false)
                    .from_reader(std::io::Cursor::new(&t[..]))
            })
            .collect();
        let mut rec = csv::ByteRecord::new();
        for row in &self.order {
            let r = &mut readers[row.shard as usize];
            let mut at = csv::Position::new();
            at.set_byte(row.start as u64);
            rec.clear();
            // The rows were parsed when read: a failure here leaves `rec` empty, and the sums
            // below then disagree with the summaries.
            if r.seek(at).is_ok() {
                let _ = r.read_byte_record(&mut rec);
            }
            f(&rec);
        }
    }

    fn field<'r>(&self, rec: &'r csv::ByteRecord, name: &str) -> &'r str {
        std::str::from_utf8(rec.get(self.columns[name]).unwrap_or_default()).unwrap_or_default()
    }
}

/// Every record of every accepted input in exactly one row of the two merged files.
fn nothing_lost(files: &[(String, u32)], a: &Rows, b: &Rows) -> Result<(), Error> {
    let mut seen: Vec<Vec<u8>> = files.iter().map(|(_, n)| vec![0; *n as usize]).collect();
    for row in a.order.iter().chain(&b.order) {
        let c = &mut seen[row.file as usize][row.record as usize - 1];
        *c = c.saturating_add(1);
    }
    for ((name, _), counts) in files.iter().zip(&seen) {
        if let Some((i, &n)) = counts.iter().enumerate().find(|(_, &n)| n != 1) {
            return Err(Error::Internal(format!(
                "merge: record {} of {name} is in the shards' outputs {n} time(s), expected once; \
                 nothing written",
                i + 1
            )));
        }
    }
    Ok(())
}

/// An amount as the summary and the rows write it (`-12.34`), in cents.
fn cents_of(s: &str) -> Option<i128> {
    crate::model::Cents::parse_signed(s.as_bytes())
        .ok()
        .map(|c| i128::from(c.0))
}

/// A string of the merged summary (its fields are `&'static str`, as the run's own summary
/// borrows them from its tables): a merge runs once and keeps a few dozen short strings.
fn keep(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

/// The shards' summaries added up, checked against the merged rows.
fn merged_summary(
    runs: &[ShardRun],
    remittance: &Rows,
    rejections: &Rows,
) -> Result<Summary, Error> {
    let first = &runs[0].json;
    let bad_summary = |run: &ShardRun, what: &str| usage(&run.dir, format!("summary.json: {what}"));
    let mut counts: [BTreeMap<&'static str, u64>; 3] = Default::default();
    let total_keys = [
        "claimed",
        "paid_basic",
        "deductible",
        "paid_supplementary",
        "member_pays",
        "rejected_claimed",
    ];
    let mut totals = [0i128; 6];
    let mut benefits: BTreeMap<(String, String), (u64, i128)> = BTreeMap::new();
    let mut warnings: Vec<(String, u64)> = Vec::new();
    let mut reconciled = (0u64, 0u64, 0i128, 0i128, true);
    let mut seconds = 0f64;
    for run in runs {
        let j = &run.json;
        for (k, key) in ["outcomes", "rejected_by_reason", "reductions_by_reason"]
            .iter()
            .enumerate()
        {
            for (code, n) in j[*key].as_object().into_iter().flatten() {
                let n = n.as_u64().ok_or_else(|| bad_summary(run, key))?;
                let e = counts[k].entry(keep(code)).or_default();
                *e += n;
            }
        }
        for (t, key) in totals.iter_mut().zip(total_keys) {
            *t += j["totals"][key]
                .as_str()
                .and_then(cents_of)
                .ok_or_else(|| bad_summary(run, &format!("totals.{key}")))?;
        }
        for b in j["paid_per_benefit"].as_array().into_iter().flatten() {
            let b: BenefitPaid = serde_json::from_value(b.clone())
                .map_err(|e| bad_summary(run, &format!("paid_per_benefit: {e}")))?;
            let paid = cents_of(&b.paid).ok_or_else(|| bad_summary(run, "paid_per_benefit"))?;
            let e = benefits.entry((b.product, b.benefit)).or_default();
            e.0 += b.lines;
            e.1 += paid;
        }
        for w in j["warnings"].as_array().into_iter().flatten() {
            let w = w.as_str().unwrap_or_default();
            // "N line(s) rejected ...": the counts of one warning added up.
            let (n, rest) = match w.split_once(' ') {
                Some((n, rest)) if n.parse::<u64>().is_ok() => (n.parse().unwrap_or(0), rest),
                _ => (0, w),
            };
            match warnings.iter_mut().find(|(r, _)| r == rest) {
                Some((_, m)) => *m += n,
                None => warnings.push((rest.to_string(), n)),
            }
        }
        let r = &j["reconciliation"];
        let amount = |key: &str| {
            r[key]
                .as_str()
                .and_then(cents_of)
                .ok_or_else(|| bad_summary(run, &format!("reconciliation.{key}")))
        };
        reconciled.0 += r["lines_read"].as_u64().unwrap_or(0);
        reconciled.1 += r["lines_out"].as_u64().unwrap_or(0);
        reconciled.2 += amount("claimed_read")?;
        reconciled.3 += amount("claimed_out")?;
        reconciled.4 &= r["balanced"].as_bool() == Some(true);
        seconds = seconds.max(
            j["timing"]["duration_seconds"]
                .as_str()
                .and_then(|s| s.parse::<f64>().ok())
                .unwrap_or(0.0),
        );
    }
    let lines: u64 = runs.iter().map(|r| r.lines).sum();
    let rows = (remittance.order.len() + rejections.order.len()) as u64;
    let night = runs[0].lines_of_night;

    // The rows say the same as the summaries: counts per outcome and reason, and the sums.
    let mut sums = [0i128; 5];
    remittance.each(|rec| {
        for (s, key) in sums.iter_mut().zip(&total_keys[..5]) {
            *s += cents_of(remittance.field(rec, key)).unwrap_or(i128::MIN / 4);
        }
    });
    let mut by_reason: BTreeMap<String, u64> = BTreeMap::new();
    rejections.each(|rec| {
        let reason = rejections.field(rec, "reason");
        match by_reason.get_mut(reason) {
            Some(n) => *n += 1,
            None => {
                by_reason.insert(reason.to_string(), 1);
            }
        }
    });
    let count = |k: &str| counts[0].get(k).copied().unwrap_or(0);
    let summed: BTreeMap<String, u64> =
        counts[1].iter().map(|(k, v)| (k.to_string(), *v)).collect();
    let agree = lines == night
        && rows == night
        && reconciled.0 == night
        && reconciled.1 == night
        && reconciled.2 == reconciled.3
        && reconciled.4
        && count("paid") == remittance.order.len() as u64
        && count("rejected") == rejections.order.len() as u64
        && sums[..] == totals[..5]
        && by_reason == summed;
    if !agree {
        return Err(Error::Internal(format!(
            "merge: the shards do not add up to their night: {night} lines in the night, {lines} \
             in the shards' summaries, {rows} rows in their outputs ({} paid, {} rejected; the \
             summaries say {} and {}); nothing written",
            remittance.order.len(),
            rejections.order.len(),
            count("paid"),
            count("rejected"),
        )));
    }

    let setup: Setup = serde_json::from_value(first["setup"].clone())
        .map_err(|e| bad_summary(&runs[0], &format!("setup: {e}")))?;
    let after: Vec<i64> = runs
        .iter()
        .map(|r| r.json["setup"]["ledger_after_run"].as_i64().unwrap_or(0))
        .collect();
    let total = |i: usize| Total(totals[i]).to_string();
    let [outcomes, rejected_by_reason, reductions_by_reason] = counts;
    Ok(Summary {
        run_date: first["run_date"].as_str().unwrap_or_default().to_string(),
        dry_run: first["dry_run"].as_bool().unwrap_or(false),
        input_files: input_files(&runs[0])?,
        lines,
        shard: None,
        outcomes,
        rejected_by_reason,
        reductions_by_reason,
        totals: Totals {
            claimed: total(0),
            paid_basic: total(1),
            deductible: total(2),
            paid_supplementary: total(3),
            member_pays: total(4),
            rejected_claimed: total(5),
        },
        paid_per_benefit: benefits
            .into_iter()
            .map(|((product, benefit), (lines, paid))| BenefitPaid {
                product,
                benefit,
                lines,
                paid: Total(paid).to_string(),
            })
            .collect(),
        reconciliation: Reconciliation {
            lines_read: reconciled.0,
            lines_out: rows,
            claimed_read: Total(reconciled.2).to_string(),
            claimed_out: Total(reconciled.3).to_string(),
            balanced: true,
        },
        setup: Setup {
            // One ledger state when every shard started from the same run number, else the
            // shards' own in `merged_from`.
            ledger_after_run: if after.iter().all(|&a| a == after[0]) {
                after[0]
            } else {
                0
            },
            policies: setup.policies,
            members: setup.members,
            providers: setup.providers,
            inputs: setup.inputs,
        },
        warnings: warnings
            .into_iter()
            .map(|(rest, n)| match n {
                0 => rest,
                n => format!("{n} {rest}"),
            })
            .collect(),
        merged_from: runs
            .iter()
            .zip(&after)
            .map(|(r, &a)| MergedFrom {
                dir: r.dir.display().to_string(),
                shard: format!("{}/{}", r.index, r.count),
                lines: r.lines,
                ledger_after_run: a,
            })
            .collect(),
        timing: Timing {
            duration_seconds: format!("{seconds:.3}"),
            lines_per_second: if seconds > 0.0 {
                (lines as f64 / seconds) as u64
            } else {
                0
            },
        },
    })
}

/// The input files of the night, as the shards' summaries list them.
fn input_files(run: &ShardRun) -> Result<Vec<FileSummary>, Error> {
    let text = |f: &Value, k: &str| f[k].as_str().map(keep);
    run.json["input_files"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            Ok(FileSummary {
                file: f["file"].as_str().unwrap_or_default().to_string(),
                format: f["format"].as_str().unwrap_or_default().to_string(),
                records: f["records"].as_u64().unwrap_or(0),
                sha256: f["sha256"].as_str().unwrap_or_default().to_string(),
                refused: f["refused"].as_str().map(str::to_string),
                reason: text(f, "reason"),
                vektis_code: text(f, "vektis_code"),
                line_ends: text(f, "line_ends"),
                final_line_end: f["final_line_end"].as_bool(),
            })
        })
        .collect()
}
