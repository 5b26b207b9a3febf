//! `declaro process`: read, screen, adjudicate per member in parallel, write, reconcile,
//! commit the ledger, then rename the outputs into place.

use crate::adjudicate::{self, line_year, Accumulators, Context, Outcome};
use crate::input::{self, EchoFields, Refusal, Rejection};
use crate::ledger::{Ledger, LedgerError, ProcessedLine, RunRecord, SqliteLedger};
use crate::model::{fmt_money, mask_bsn, Date, Line, Money, Reason};
use crate::output::summary::{InputFile, Reconciliation, Summary, Tally, Timing};
use crate::output::{RejectionRow, RejectionWriter, RemittanceRow, RemittanceWriter, Staged};
use crate::policy::{self, PolicySet};
use crate::registers::{self, Members, Providers};
use crate::Failure;
use rayon::prelude::*;
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

/// Validated settings of one `process` run (built from the command line in `cli`).
#[derive(Debug, Clone)]
pub struct Settings {
    pub policies: Vec<PathBuf>,
    pub members: PathBuf,
    pub providers: Option<PathBuf>,
    pub ledger: PathBuf,
    pub out: PathBuf,
    pub threads: usize,
    pub run_date: Date,
    pub progress: bool,
    /// Input files as given on the command line.
    pub inputs: Vec<String>,
    /// Directory for PM305 return files, one per PM304 input (`--ei-return`).
    pub ei_return: Option<PathBuf>,
}

/// What a finished run reports to `main`.
#[derive(Debug)]
pub struct Report {
    pub summary: Summary,
    pub refused_files: usize,
}

/// Where a line ended before the outputs are written.
enum Fate {
    Rejected(Reason, String),
    Adjudicated(Outcome),
}

/// Runs one night.
pub fn run(s: &Settings) -> Result<Report, Failure> {
    let started = Instant::now();
    let policies = policy::load(&s.policies).map_err(|errs| {
        Failure::Usage(
            errs.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
        )
    })?;
    let members = registers::load_members(&s.members, &policies)
        .map_err(|e| Failure::Usage(e.to_string()))?;
    let providers = match &s.providers {
        Some(p) => registers::load_providers(p).map_err(|e| Failure::Usage(e.to_string()))?,
        None => Providers::default(),
    };
    std::fs::create_dir_all(&s.out).map_err(|e| {
        Failure::Usage(format!(
            "cannot create output directory {}: {e}",
            s.out.display()
        ))
    })?;
    let mut ledger = SqliteLedger::open(&s.ledger).map_err(ledger_failure)?;
    tracing::info!(
        products = policies.products.len(),
        members = members.list.len(),
        inputs = s.inputs.len(),
        "run started"
    );

    // Read every file; a refused file contributes nothing but its entry in the summary.
    let bar = progress_bar(s.progress, s.inputs.len() as u64);
    let mut seq = 0u32;
    let mut lines: Vec<Line> = Vec::new();
    let mut rejections: Vec<Rejection> = Vec::new();
    let mut files: Vec<InputFile> = Vec::new();
    let mut refused: Vec<Refusal> = Vec::new();
    for (i, shown) in s.inputs.iter().enumerate() {
        bar.set_message(format!("reading {shown}"));
        let file = u16::try_from(i)
            .map_err(|_| Failure::Usage("at most 65535 input files per run".into()))?;
        let before = seq;
        let (format, records, why) = match input::read_file(
            std::path::Path::new(shown),
            shown,
            file,
            &mut seq,
        ) {
            Ok(mut read) => {
                lines.append(&mut read.lines);
                rejections.append(&mut read.rejections);
                (read.format, u64::from(read.records), None)
            }
            Err(r) => {
                tracing::warn!(file = %r.file, position = %r.position, "input file refused: {}", r.message);
                seq = before;
                let why = r.to_string();
                refused.push(r);
                let format = input::sniff_path(std::path::Path::new(shown));
                (format.map_or("unknown", |f| f.name()), 0, Some(why))
            }
        };
        files.push(InputFile {
            file: shown.clone(),
            format: format.into(),
            records,
            refused: why,
        });
        bar.inc(1);
    }
    bar.finish_and_clear();
    let total_lines = u64::from(seq);

    // Screen: member, birth date, run date, duplicates, credits.
    let mut fates: Vec<Option<Fate>> = Vec::with_capacity(lines.len());
    let mut member_of: Vec<u32> = vec![u32::MAX; lines.len()];
    let mut keys_in_run: HashSet<(u32, &str)> = HashSet::new();
    for (i, line) in lines.iter().enumerate() {
        let fate = match screen(line, &members, s.run_date) {
            Err((r, m)) => Some(Fate::Rejected(r, m)),
            Ok(m) => {
                if !keys_in_run.insert((line.provider_agb, &line.line_id)) {
                    Some(Fate::Rejected(
                        Reason::Duplicate,
                        format!(
                            "line_id {} of provider {:08} occurs earlier in this run",
                            line.line_id, line.provider_agb
                        ),
                    ))
                } else if ledger
                    .seen(line.provider_agb, &line.line_id)
                    .map_err(ledger_failure)?
                {
                    Some(Fate::Rejected(
                        Reason::Duplicate,
                        format!(
                            "line_id {} of provider {:08} was paid in an earlier run",
                            line.line_id, line.provider_agb
                        ),
                    ))
                } else if line.credit {
                    // Reversal of settled lines comes with the persistent-ledger work; until then
                    // a credit is never applied, so it cannot undo or pay anything by mistake.
                    Some(Fate::Rejected(
                        Reason::UnmatchedCredit,
                        format!(
                            "credit for line_id {} is not matched to a settled line",
                            line.related_line_id
                        ),
                    ))
                } else {
                    member_of[i] = m;
                    None
                }
            }
        };
        fates.push(fate);
    }
    check_deductible_years(&policies, &lines, &member_of, &members)?;

    // Group per member, sort by service date (ties in input order).
    let mut groups: HashMap<u32, Vec<usize>> = HashMap::new();
    for (i, &m) in member_of.iter().enumerate() {
        if m != u32::MAX {
            groups.entry(m).or_default().push(i);
        }
    }
    let mut groups: Vec<(u32, Vec<usize>)> = groups.into_iter().collect();
    groups.sort_unstable_by_key(|g| g.0);
    let mut states = Vec::with_capacity(groups.len());
    for (m, idx) in &mut groups {
        idx.sort_by_key(|&i| (lines[i].service_date, lines[i].seq));
        states.push(
            ledger
                .load(&members.list[*m as usize].id, &policies)
                .map_err(ledger_failure)?,
        );
    }

    let ctx = Context {
        policies: &policies,
        providers: &providers,
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(s.threads)
        .build()
        .map_err(|e| Failure::Internal(format!("cannot start {} threads: {e}", s.threads)))?;
    let adjudicated: Vec<(Vec<Outcome>, Accumulators)> = pool.install(|| {
        groups
            .par_iter()
            .zip(states.into_par_iter())
            .map(|((m, idx), mut acc)| {
                let sorted: Vec<&Line> = idx.iter().map(|&i| &lines[i]).collect();
                let out = adjudicate::adjudicate_member(
                    &ctx,
                    &members.list[*m as usize],
                    &sorted,
                    &mut acc,
                );
                (out, acc)
            })
            .collect()
    });
    let mut member_states: Vec<(&str, &Accumulators)> = Vec::with_capacity(groups.len());
    for ((m, idx), (outcomes, acc)) in groups.iter().zip(&adjudicated) {
        member_states.push((&members.list[*m as usize].id, acc));
        for (&i, o) in idx.iter().zip(outcomes) {
            fates[i] = Some(Fate::Adjudicated(o.clone()));
        }
    }

    // Write outputs under temporary names, in input order.
    let written = write_outputs(
        s,
        &policies,
        &members,
        &lines,
        &member_of,
        &fates,
        &rejections,
    )
    .map_err(|e| Failure::Internal(format!("writing outputs in {}: {e}", s.out.display())))?;
    let Written {
        remittance,
        rejected,
        tally,
        paid,
    } = written;

    // Nothing lost: every line in exactly one output, euro totals balanced.
    let lines_out = tally.paid_lines + tally.rejected_lines;
    let claimed_read: Money = lines.iter().map(|l| l.amount).sum::<Money>()
        + rejections
            .iter()
            .filter_map(|r| crate::model::parse_amount(&r.fields.claimed).ok())
            .sum::<Money>();
    let claimed_out = tally.claimed + tally.rejected_claimed;
    let identity = tally.claimed == tally.paid_basic + tally.paid_supplementary + tally.member_pays;
    let balanced = lines_out == total_lines
        && claimed_read == claimed_out
        && identity
        && tally.deductible <= tally.paid_basic;
    let elapsed = started.elapsed().as_secs_f64();
    let summary = Summary {
        run_date: s.run_date.to_string(),
        input_files: files.clone(),
        lines: total_lines,
        outcomes: [
            ("paid", tally.paid_lines),
            ("rejected", tally.rejected_lines),
        ]
        .into_iter()
        .collect(),
        rejected_by_reason: tally.rejected_by_reason.clone(),
        reductions_by_reason: tally.reductions_by_reason.clone(),
        totals: tally.totals(),
        reconciliation: Reconciliation {
            lines_read: total_lines,
            lines_out,
            claimed_read: fmt_money(claimed_read),
            claimed_out: fmt_money(claimed_out),
            balanced,
        },
        timing: Timing {
            duration_seconds: format!("{elapsed:.3}"),
            lines_per_second: if elapsed > 0.0 {
                (total_lines as f64 / elapsed) as u64
            } else {
                0
            },
        },
    };
    if !balanced {
        remittance.discard();
        rejected.discard();
        return Err(Failure::Internal(format!(
            "reconciliation failed: {total_lines} lines read, {lines_out} written; claimed {} read, {} written; nothing committed",
            fmt_money(claimed_read),
            fmt_money(claimed_out)
        )));
    }
    let ei_returns = write_ei_returns(s, &files, &lines, &fates, &rejections)?;
    let (summary_file, mut w) = Staged::create(&s.out.join("summary.json"))
        .map_err(|e| Failure::Internal(format!("writing summary.json: {e}")))?;
    serde_json::to_writer_pretty(&mut w, &summary)
        .map_err(std::io::Error::from)
        .and_then(|()| writeln!(w))
        .and_then(|()| w.flush())
        .map_err(|e| Failure::Internal(format!("writing summary.json: {e}")))?;
    drop(w);

    let run = RunRecord {
        started: format!("{}", s.run_date),
        run_date: s.run_date.to_string(),
        inputs: serde_json::to_string(&files).unwrap_or_default(),
        lines: total_lines,
        paid_lines: tally.paid_lines,
        rejected_lines: tally.rejected_lines,
        claimed: tally.claimed,
        paid_basic: tally.paid_basic,
        deductible: tally.deductible,
        paid_supplementary: tally.paid_supplementary,
        member_pays: tally.member_pays,
    };
    ledger
        .commit(&run, &member_states, &paid, &policies)
        .map_err(ledger_failure)?;
    for f in [remittance, rejected, summary_file]
        .into_iter()
        .chain(ei_returns)
    {
        f.commit()
            .map_err(|e| Failure::Internal(format!("renaming outputs into place: {e}")))?;
    }
    tracing::info!(
        lines = total_lines,
        paid = tally.paid_lines,
        rejected = tally.rejected_lines,
        refused_files = refused.len(),
        seconds = %summary.timing.duration_seconds,
        "run committed"
    );
    Ok(Report {
        refused_files: refused.len(),
        summary,
    })
}

fn ledger_failure(e: LedgerError) -> Failure {
    match e {
        LedgerError::Busy(_) => Failure::Usage(e.to_string()),
        other => Failure::Internal(other.to_string()),
    }
}

fn progress_bar(show: bool, len: u64) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} files {msg}") {
        bar.set_style(style);
    }
    bar
}

/// Finds the member of a line and checks what can be checked before adjudication.
fn screen(line: &Line, members: &Members, run_date: Date) -> Result<u32, (Reason, String)> {
    let by_id = (!line.member_id.is_empty()).then(|| members.by_id(&line.member_id));
    let by_bsn = (!line.bsn.is_empty()).then(|| members.by_bsn(&line.bsn));
    let m = match (by_id, by_bsn) {
        (Some(None), _) => {
            return Err((
                Reason::UnknownMember,
                format!("no member with member_id {}", line.member_id),
            ));
        }
        (_, Some(None)) => {
            return Err((
                Reason::UnknownMember,
                format!("no member with bsn {}", mask_bsn(&line.bsn)),
            ));
        }
        (Some(Some(a)), Some(Some(b))) if a != b => {
            return Err((
                Reason::UnknownMember,
                format!(
                    "member_id {} and bsn {} name different members",
                    line.member_id,
                    mask_bsn(&line.bsn)
                ),
            ));
        }
        (Some(Some(a)), _) | (None, Some(Some(a))) => a,
        (None, None) => {
            return Err((
                Reason::BadBsn,
                "fields member_id and bsn are both empty".into(),
            ))
        }
    };
    if members.list[m as usize].birth_date != line.birth_date {
        return Err((
            Reason::BirthDateMismatch,
            "field birth_date differs from the member register".into(),
        ));
    }
    if line.service_date > run_date {
        return Err((
            Reason::FutureDate,
            format!(
                "field service_date {} is after the run date {run_date}",
                line.service_date
            ),
        ));
    }
    Ok(m)
}

/// A basic-insurance year without a mandatory deductible is a configuration error, not a zero.
fn check_deductible_years(
    policies: &PolicySet,
    lines: &[Line],
    member_of: &[u32],
    members: &Members,
) -> Result<(), Failure> {
    for (line, &m) in lines.iter().zip(member_of) {
        if m == u32::MAX {
            continue;
        }
        let year = line_year(line);
        for h in members.list[m as usize]
            .holdings
            .iter()
            .filter(|h| h.covers(line.service_date))
        {
            let p = &policies.products[h.product];
            if let Some(d) = p
                .deductible
                .as_ref()
                .filter(|d| !d.mandatory.contains_key(&year))
            {
                let _ = d;
                return Err(Failure::Usage(format!(
                    "{}: product {} has no mandatory deductible for {year} (needed by record {} of input {})",
                    p.file.display(),
                    p.id,
                    line.record,
                    line.file + 1
                )));
            }
        }
    }
    Ok(())
}

struct Written {
    remittance: Staged,
    rejected: Staged,
    tally: Tally,
    paid: Vec<ProcessedLine>,
}

fn write_outputs(
    s: &Settings,
    policies: &PolicySet,
    members: &Members,
    lines: &[Line],
    member_of: &[u32],
    fates: &[Option<Fate>],
    rejections: &[Rejection],
) -> Result<Written, Box<dyn std::error::Error>> {
    let (remittance, rw) = Staged::create(&s.out.join("remittance.csv"))?;
    let (rejected, jw) = Staged::create(&s.out.join("rejections.csv"))?;
    let mut rw = RemittanceWriter::new(rw)?;
    let mut jw = RejectionWriter::new(jw)?;
    let mut tally = Tally::default();
    let mut paid = Vec::new();
    let paths: Vec<PathBuf> = s.inputs.iter().map(PathBuf::from).collect();

    // Merge the parsed lines and the parse rejections by their run-wide sequence number.
    let (mut a, mut b) = (0usize, 0usize);
    while a < lines.len() || b < rejections.len() {
        let take_line =
            b >= rejections.len() || (a < lines.len() && lines[a].seq < rejections[b].seq);
        if !take_line {
            let r = &rejections[b];
            b += 1;
            tally.rejected(r.reason, crate::model::parse_amount(&r.fields.claimed).ok());
            tracing::debug!(file = %s.inputs[r.file as usize], record = r.record, reason = r.reason.code(), "line rejected");
            jw.write(&RejectionRow {
                file: &s.inputs[r.file as usize],
                path: &paths[r.file as usize],
                record: r.record,
                echo: &r.fields,
                reason: r.reason,
                message: &r.message,
                raw: r.raw,
            })?;
            continue;
        }
        let (i, line) = (a, &lines[a]);
        a += 1;
        let mut echo = EchoFields::of(line);
        if member_of[i] != u32::MAX {
            echo.member_id = members.list[member_of[i] as usize].id.to_string();
        }
        let file = &s.inputs[line.file as usize];
        let (reason, message) = match &fates[i] {
            Some(Fate::Adjudicated(Outcome::Paid(p))) => {
                tally.paid_lines += 1;
                tally.claimed += line.amount;
                tally.paid_basic += p.paid_basic;
                tally.deductible += p.deductible;
                tally.paid_supplementary += p.paid_supplementary;
                tally.member_pays += p.member_pays;
                for r in p.reasons.iter() {
                    *tally.reductions_by_reason.entry(r.code()).or_default() += 1;
                }
                rw.write(
                    &RemittanceRow {
                        file,
                        record: line.record,
                        echo: &echo,
                        quantity: line.quantity,
                        payment: p,
                    },
                    policies,
                )?;
                paid.push(ProcessedLine {
                    provider_agb: line.provider_agb,
                    line_id: line.line_id.to_string(),
                    member_id: echo.member_id.clone(),
                    service_date: line.service_date.as_u32(),
                    code: line.code.to_string(),
                    claimed: line.amount,
                    paid_basic: p.paid_basic,
                    deductible: p.deductible,
                    paid_supplementary: p.paid_supplementary,
                });
                continue;
            }
            Some(Fate::Adjudicated(Outcome::Refused(r, m))) | Some(Fate::Rejected(r, m)) => {
                (*r, m.as_str())
            }
            None => {
                return Err(format!(
                    "line {} of {file} was neither adjudicated nor rejected",
                    line.record
                )
                .into())
            }
        };
        tally.rejected(reason, Some(line.amount));
        tracing::debug!(file = %file, record = line.record, reason = reason.code(), "line rejected");
        jw.write(&RejectionRow {
            file,
            path: &paths[line.file as usize],
            record: line.record,
            echo: &echo,
            reason,
            message,
            raw: line.raw,
        })?;
    }
    rw.finish()?.flush()?;
    jw.finish()?.flush()?;
    Ok(Written {
        remittance,
        rejected,
        tally,
        paid,
    })
}

/// With `--ei-return DIR`: a PM305 return file for each PM304 input (refused ones included),
/// staged like the other outputs and renamed into place after the ledger commit.
fn write_ei_returns(
    s: &Settings,
    files: &[InputFile],
    lines: &[Line],
    fates: &[Option<Fate>],
    rejections: &[Rejection],
) -> Result<Vec<Staged>, Failure> {
    use crate::output::pm305::{self, FileFate, LineReturn};
    let Some(dir) = &s.ei_return else {
        return Ok(Vec::new());
    };
    let failed = |e: &dyn std::fmt::Display| {
        Failure::Internal(format!("writing PM305 files in {}: {e}", dir.display()))
    };
    std::fs::create_dir_all(dir).map_err(|e| failed(&e))?;
    // Each PM304 file's returns by 04 ordinal (`record`).
    let mut returns: HashMap<u16, Vec<Option<LineReturn>>> = HashMap::new();
    let mut put = |file: u16, record: u32, r: LineReturn| {
        let v = returns.entry(file).or_default();
        let i = record.saturating_sub(1) as usize;
        if v.len() <= i {
            v.resize(i + 1, None);
        }
        v[i] = Some(r);
    };
    let is_pm304 = |file: u16| {
        files
            .get(file as usize)
            .is_some_and(|f| f.format == "pm304")
    };
    for (line, fate) in lines.iter().zip(fates) {
        if !is_pm304(line.file) {
            continue;
        }
        let r = match fate {
            Some(Fate::Adjudicated(Outcome::Paid(p))) => {
                let awarded = crate::model::to_cents(p.paid_basic + p.paid_supplementary);
                LineReturn {
                    computed: awarded,
                    awarded,
                    codes: LineReturn::codes_of(p.reasons.iter().map(Reason::vektis)),
                }
            }
            Some(Fate::Adjudicated(Outcome::Refused(r, _)) | Fate::Rejected(r, _)) => LineReturn {
                codes: vec![r.vektis()],
                ..LineReturn::default()
            },
            None => return Err(failed(&format!("record {} has no outcome", line.record))),
        };
        put(line.file, line.record, r);
    }
    for r in rejections.iter().filter(|r| is_pm304(r.file)) {
        put(
            r.file,
            r.record,
            LineReturn {
                codes: vec![r.reason.vektis()],
                ..LineReturn::default()
            },
        );
    }
    let mut staged = Vec::new();
    let mut names: HashSet<String> = HashSet::new();
    for (i, f) in files
        .iter()
        .enumerate()
        .filter(|(_, f)| f.format == "pm304")
    {
        let path = std::path::Path::new(&f.file);
        let stem = path
            .file_stem()
            .map_or_else(|| "pm304".into(), |n| n.to_string_lossy().into_owned());
        let mut name = format!("{stem}.pm305");
        if !names.insert(name.clone()) {
            name = format!("{stem}-{}.pm305", i + 1);
            names.insert(name.clone());
        }
        let fate = match (&f.refused, returns.get(&(i as u16))) {
            (Some(_), _) => FileFate::Refused,
            (None, Some(v)) => FileFate::Accepted(v),
            (None, None) => FileFate::Accepted(&[]),
        };
        let reference = format!("DECLARO{}{:04}", s.run_date.as_u32(), i + 1);
        let (file, mut w) = Staged::create(&dir.join(&name)).map_err(|e| failed(&e))?;
        pm305::write(path, &mut w, &fate, s.run_date, &reference)
            .and_then(|()| w.flush())
            .map_err(|e| failed(&format!("{name}: {e}")))?;
        staged.push(file);
    }
    Ok(staged)
}
