//! Stage 5, publish: the outputs written under temporary names and the ledger's changes staged
//! in its transaction, side by side; then ([`commit`]) the return files and the summary, the
//! sync, the ledger commit and the renames.
//!
//! Rows are rendered in ranges of lines on every core and written in input order, a few ranges
//! at a time, so memory holds a bounded window of rendered text, not the whole file.

use super::adjudicate::MemberResult;
use super::Settings;
use crate::error::Error;
use crate::ledger::{Ledger, MemberChange, RunChanges, RunRecord};
use crate::night::{Night, Outcome};
use crate::output::ei_return::{self, FileFate, LineReturn};
use crate::output::messages;
use crate::output::rows::{self, RowContext};
use crate::output::summary::{Summary, Tally};
use crate::output::{Staged, REJECTIONS_HEADER, REMITTANCE_HEADER};
use crate::policy::PolicySet;
use crate::registers::Members;
use rayon::prelude::*;
use std::io::Write;

/// Lines per rendered range.
const RANGE: u32 = 32 * 1024;

/// The staged outputs and the run's id in the ledger's open transaction.
pub struct Published {
    pub remittance: Staged,
    pub rejections: Staged,
    /// The written files being synced (started at once, so the sync overlaps the
    /// reconciliation's read-back).
    pub syncing: std::thread::JoinHandle<std::io::Result<()>>,
    pub tally: Tally,
    pub run_id: i64,
}

/// Writes `remittance.csv` and `rejections.csv` (staged) while the ledger records the run.
#[allow(clippy::too_many_arguments)]
pub fn publish(
    s: &Settings,
    night: &Night,
    members: &Members,
    policies: &PolicySet,
    results: &[MemberResult],
    ledger: &mut (dyn Ledger + Send),
    (started_at, progress): (&str, &super::progress::Progress),
) -> Result<Published, Error> {
    let changes: Vec<MemberChange<'_>> = results
        .iter()
        .map(|r| MemberChange {
            member_id: members.get(r.member).id,
            acc: &r.acc,
            adjudicated: &r.adjudicated,
        })
        .collect();
    let inputs: Vec<Option<std::fs::File>> = night
        .files
        .iter()
        .map(|f| match f.refusal {
            None => std::fs::File::open(&f.path).ok(),
            Some(_) => None,
        })
        .collect();
    let ctx = RowContext {
        messages: messages::Context {
            night,
            policies,
            run_date: s.run_date,
        },
        members,
        inputs: &inputs,
    };
    // The ledger's writes overlap the outputs; nothing is committed until both are done and
    // the reconciliation holds.
    let (recorded, written) = rayon::join(
        || {
            ledger.record(&RunChanges {
                started: started_at,
                night,
                members: &changes,
                policies,
            })
        },
        || write_outputs(s, night, &ctx, progress),
    );
    let (remittance, rejections, files, tally) =
        written.map_err(|e| Error::io(format!("writing outputs in {}", s.out.display()), e))?;
    let run_id = recorded?;
    Ok(Published {
        remittance,
        rejections,
        syncing: crate::output::sync_in_background(files),
        tally,
        run_id,
    })
}

type Written = (Staged, Staged, Vec<std::fs::File>, Tally);

fn write_outputs(
    s: &Settings,
    night: &Night,
    ctx: &RowContext<'_>,
    progress: &super::progress::Progress,
) -> std::io::Result<Written> {
    let (remittance, mut rw) = Staged::create(&s.out.join("remittance.csv"))?;
    let (rejections, mut jw) = Staged::create(&s.out.join("rejections.csv"))?;
    rw.write_all(REMITTANCE_HEADER.join(",").as_bytes())?;
    rw.write_all(b"\n")?;
    jw.write_all(REJECTIONS_HEADER.join(",").as_bytes())?;
    jw.write_all(b"\n")?;
    let n = night.lines.len() as u32;
    let ranges: Vec<std::ops::Range<u32>> = (0..n)
        .step_by(RANGE as usize)
        .map(|a| a..(a + RANGE).min(n))
        .collect();
    let mut tally = Tally::default();
    let window = rayon::current_num_threads().max(1) * 2;
    let mut fault = injected_fault();
    for wave in ranges.chunks(window) {
        let rendered: Vec<std::io::Result<rows::Rendered>> = wave
            .par_iter()
            .map(|r| {
                let rendered = rows::render(ctx, r.clone());
                progress.inc(u64::from(r.end - r.start));
                rendered
            })
            .collect();
        for r in rendered {
            let mut r = r?;
            if let Some(f) = fault.take() {
                f.apply(&mut r.remittance);
            }
            rw.write_all(&r.remittance)?;
            jw.write_all(&r.rejections)?;
            tally.merge(r.tally);
        }
    }
    let files = vec![remittance.finish(rw)?, rejections.finish(jw)?];
    Ok((remittance, rejections, files, tally))
}

/// Writes the return files and the summary, syncs every output, commits the ledger and renames
/// the outputs into place. A run that fails before the commit removes its temporary files.
pub fn commit(
    s: &Settings,
    night: &Night,
    published: Published,
    summary: &Summary,
    report: &str,
    ledger: &mut (dyn Ledger + Send),
) -> Result<(), Error> {
    let Published {
        remittance,
        rejections,
        syncing: csv_syncing,
        tally,
        run_id,
    } = published;
    let mut staged = vec![remittance, rejections];
    let mut files = Vec::new();
    let result = (|| {
        for (f, file) in write_ei_returns(s, night)? {
            staged.push(f);
            files.push(file);
        }
        let (f, file) =
            write_summary(&s.out, summary).map_err(|e| Error::io("writing summary.json", e))?;
        staged.push(f);
        files.push(file);
        let (f, file) =
            write_report(&s.out, report).map_err(|e| Error::io("writing report.html", e))?;
        staged.push(f);
        files.push(file);
        Ok::<(), Error>(())
    })();
    // On an error the staged files are dropped, which removes them.
    result?;
    let syncing = crate::output::sync_in_background(files);
    let run = RunRecord {
        out_dir: super::rerun::out_key(&s.out),
        run_date: s.run_date.to_string(),
        inputs: serde_json::to_string(&summary.input_files).unwrap_or_default(),
        staged: serde_json::to_string(&staged.iter().map(Staged::paths).collect::<Vec<_>>())
            .unwrap_or_default(),
        lines: summary.lines,
        paid_lines: tally.paid_lines,
        rejected_lines: tally.rejected_lines,
        sums: tally.sums,
    };
    let mut synced = vec![csv_syncing, syncing];
    let mut wait_for_sync = || -> std::io::Result<()> {
        for handle in std::mem::take(&mut synced) {
            match handle.join() {
                Ok(result) => result?,
                Err(_) => return Err(std::io::Error::other("syncing outputs failed")),
            }
        }
        Ok(())
    };
    if s.dry_run {
        // A what-if run: the outputs go into place, the ledger forgets the run.
        wait_for_sync().map_err(|e| Error::io("syncing outputs", e))?;
        ledger.roll_back()?;
        for f in staged {
            f.commit()
                .map_err(|e| Error::io("renaming outputs into place", e))?;
        }
        return Ok(());
    }
    ledger.commit(run_id, &run, &mut wait_for_sync)?;
    crash_point("after-commit");
    // Committed: the ledger lists the staged files, so from here on they are kept whatever
    // happens, and a rename that fails is finished by the next run on this ledger.
    let kept: Vec<_> = staged.into_iter().map(Staged::keep).collect();
    for (tmp, dest) in kept {
        std::fs::rename(&tmp, &dest)
            .map_err(|e| Error::io(format!("renaming {} into place", dest.display()), e))?;
    }
    ledger.published(run_id)?;
    Ok(())
}

/// A fault that `DECLARO_FAULT` injects into the first rendered remittance rows, so that the
/// tests can see the reconciliation catch what the writer got wrong.
#[derive(Clone, Copy)]
enum Fault {
    /// The last row is not written.
    LoseARow,
    /// The last row is written as a copy of the first: as many rows, one line twice.
    CopyARow,
}

fn injected_fault() -> Option<Fault> {
    match std::env::var("DECLARO_FAULT").ok()?.as_str() {
        "lose-a-row" => Some(Fault::LoseARow),
        "copy-a-row" => Some(Fault::CopyARow),
        _ => None,
    }
}

impl Fault {
    fn apply(self, rows: &mut Vec<u8>) {
        let starts: Vec<usize> = std::iter::once(0)
            .chain(
                rows.iter()
                    .enumerate()
                    .filter(|(_, b)| **b == b'\n')
                    .map(|(i, _)| i + 1),
            )
            .filter(|&i| i < rows.len())
            .collect();
        let (Some(&first_end), Some(&last)) = (starts.get(1), starts.last()) else {
            return;
        };
        let first = rows[..first_end].to_vec();
        rows.truncate(last);
        if let Fault::CopyARow = self {
            rows.extend_from_slice(&first);
        }
    }
}

/// Dies on the spot when `DECLARO_CRASH_AT` names this point: the crash tests use it to stop a
/// run where a kill -9 cannot be aimed (between the ledger commit and the renames).
fn crash_point(at: &str) {
    if std::env::var_os("DECLARO_CRASH_AT").is_some_and(|v| v == at) {
        std::process::abort();
    }
}

/// Writes one output file under its temporary name: `body` fills it.
fn write_output(
    out: &std::path::Path,
    name: &str,
    body: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> std::io::Result<(Staged, std::fs::File)> {
    let (file, mut w) = Staged::create(&out.join(name))?;
    body(&mut w)?;
    let f = file.finish(w)?;
    Ok((file, f))
}

fn write_summary(
    out: &std::path::Path,
    summary: &Summary,
) -> std::io::Result<(Staged, std::fs::File)> {
    write_output(out, "summary.json", |w| {
        serde_json::to_writer_pretty(&mut *w, summary)?;
        writeln!(w)
    })
}

fn write_report(out: &std::path::Path, report: &str) -> std::io::Result<(Staged, std::fs::File)> {
    write_output(out, "report.html", |w| w.write_all(report.as_bytes()))
}

/// With `--ei-return DIR`: a return file (PM305 or MZ302) for each PM304 or MZ301 input (refused
/// ones included), staged like the other outputs and renamed into place after the ledger commit.
fn write_ei_returns(s: &Settings, night: &Night) -> Result<Vec<(Staged, std::fs::File)>, Error> {
    use std::collections::HashSet;
    let Some(dir) = &s.ei_return else {
        return Ok(Vec::new());
    };
    let failed = |e: &dyn std::fmt::Display| {
        Error::Internal(format!("writing return files in {}: {e}", dir.display()))
    };
    crate::output::create_private_dir(dir).map_err(|e| failed(&e))?;
    let mut staged = Vec::new();
    let mut names: HashSet<String> = HashSet::new();
    for (i, f) in night.files.iter().enumerate() {
        let Some(crate::input::Format::Ei(message)) = f.format else {
            continue;
        };
        let returns: Vec<Option<LineReturn>> = match f.refusal {
            Some(_) => Vec::new(),
            None => (f.first_seq..f.first_seq + f.records)
                .map(|seq| Some(line_return(night, seq)))
                .collect(),
        };
        let fate = match &f.refusal {
            Some(r) => FileFate::Refused(r.vektis),
            None => FileFate::Accepted(&returns),
        };
        let extension = message.answer().0.to_ascii_lowercase();
        let stem = f.path.file_stem().map_or_else(
            || "declaration".into(),
            |n| n.to_string_lossy().into_owned(),
        );
        let name = return_name(&stem, &extension, i + 1, &mut names);
        let reference = format!("DECLARO{}{:04}", s.run_date.as_u32(), i + 1);
        let (file, mut w) = Staged::create(&dir.join(&name)).map_err(|e| failed(&e))?;
        ei_return::write(&f.path, message, &mut w, &fate, s.run_date, &reference)
            .and_then(|()| file.finish(w))
            .map(|out| staged.push((file, out)))
            .map_err(|e| failed(&format!("{name}: {e}")))?;
    }
    Ok(staged)
}

/// The name of a return file, unique among `taken` by construction: `STEM.EXT`, else
/// `STEM-N.EXT` with N the input's position, else `STEM-N-K.EXT` for the first free K.
/// (Inputs `a.dat`, `a-3.dat`, `a.dat` would otherwise both answer into `a-3.pm305`.)
fn return_name(
    stem: &str,
    extension: &str,
    position: usize,
    taken: &mut std::collections::HashSet<String>,
) -> String {
    let mut name = format!("{stem}.{extension}");
    let mut k = 1;
    while !taken.insert(name.clone()) {
        name = match k {
            1 => format!("{stem}-{position}.{extension}"),
            _ => format!("{stem}-{position}-{k}.{extension}"),
        };
        k += 1;
    }
    name
}

/// The return file's answer for line `seq`.
fn line_return(night: &Night, seq: u32) -> LineReturn {
    match night.outcomes[seq as usize] {
        Outcome::Paid(p) => {
            // PM305 amounts are unsigned; a credit's sign is its declared indicator.
            let awarded = (p.paid_basic + p.paid_supplementary).abs().0;
            LineReturn {
                computed: awarded,
                awarded,
                codes: LineReturn::codes_of(
                    p.reasons.iter().filter_map(crate::model::Reason::vektis),
                ),
            }
        }
        Outcome::Rejected(r, detail) => {
            // A line rejected while reading may carry the code of the field at fault.
            let field = match detail {
                crate::night::Detail::Parse => night.parse_rejection(seq).and_then(|p| p.vektis),
                _ => None,
            };
            LineReturn {
                codes: field.or(r.vektis()).into_iter().collect(),
                ..LineReturn::default()
            }
        }
        Outcome::Pending | Outcome::OtherShard => LineReturn::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::return_name;

    #[test]
    fn return_names_never_clash() {
        let mut taken = std::collections::HashSet::new();
        let names: Vec<String> = [("a", 1), ("a-3", 2), ("a", 3), ("a-3", 4), ("a", 3)]
            .iter()
            .map(|(stem, n)| return_name(stem, "pm305", *n, &mut taken))
            .collect();
        assert_eq!(
            names,
            [
                "a.pm305",
                "a-3.pm305",
                "a-3-2.pm305",
                "a-3-4.pm305",
                "a-3-3.pm305"
            ]
        );
    }
}
