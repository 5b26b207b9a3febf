//! `declaro process`: read, screen, adjudicate per member in parallel, write, reconcile,
//! commit the ledger, then rename the outputs into place.

use crate::adjudicate::{self, line_year, Context, MemberState, Outcome};
use crate::input::{self, EchoFields, Refusal, Rejection};
use crate::ledger::{Ledger, LedgerError, ProcessedLine, RunRecord, SqliteLedger};
use crate::model::{mask_bsn, Cents, Date, Line, Reason, Total};
use crate::output::summary::{InputFile, Reconciliation, Summary, Tally, Timing};
use crate::output::{RejectionRow, RejectionWriter, RemittanceRow, RemittanceWriter, Staged};
use crate::policy::{self, PolicySet};
use crate::registers::{self, Members, Providers};
use crate::Failure;
use rayon::prelude::*;
use rustc_hash::FxHashSet;
use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};
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

/// Everything read from the input files.
#[derive(Default)]
struct Inputs {
    lines: Vec<Line>,
    rejections: Vec<Rejection>,
    files: Vec<InputFile>,
    refused: Vec<Refusal>,
    /// Number of line records in the accepted files.
    total: u64,
}

/// Runs one night.
pub fn run(s: &Settings) -> Result<Report, Failure> {
    let started = Instant::now();
    let started_at = timestamp();
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

    // The input hashes for the run table are computed on a second thread while parsing.
    let paths: Vec<PathBuf> = s.inputs.iter().map(PathBuf::from).collect();
    let hasher =
        std::thread::spawn(move || paths.iter().map(|p| sha256_hex(p)).collect::<Vec<_>>());
    let mut phase = Phases::new();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(s.threads)
        .build()
        .map_err(|e| Failure::Internal(format!("cannot start {} threads: {e}", s.threads)))?;
    let inputs = read_inputs(s, &pool)?;
    phase.done("read");
    let hashes = hasher
        .join()
        .map_err(|_| Failure::Internal("hashing inputs failed".into()))?;
    let lines = &inputs.lines;

    let (mut fates, member_of) = screen_lines(lines, &members, s.run_date, &mut ledger)?;
    phase.done("screen");
    check_deductible_years(
        &policies, lines, &member_of, &members, &providers, &s.inputs,
    )?;

    let (order, groups) = group_by_member(lines, &member_of);
    let ids: Vec<&str> = groups
        .iter()
        .map(|(m, _)| &*members.list[*m as usize].id)
        .collect();
    let states = load_states(&mut ledger, &policies, lines, &order, &groups, &ids)?;
    phase.done("load state");
    let ctx = Context {
        policies: &policies,
        providers: &providers,
    };
    let adjudicated: Vec<(Vec<Outcome>, MemberState)> = pool.install(|| {
        groups
            .par_iter()
            .zip(states.into_par_iter())
            .map(|((m, range), mut state)| {
                let sorted: Vec<&Line> = order[range.clone()]
                    .iter()
                    .map(|&i| &lines[i as usize])
                    .collect();
                let member = &members.list[*m as usize];
                let out = adjudicate::adjudicate_member(&ctx, member, &sorted, &mut state);
                (out, state)
            })
            .collect()
    });
    let mut member_states = Vec::with_capacity(groups.len());
    for ((m, range), (outcomes, state)) in groups.iter().zip(adjudicated) {
        member_states.push((&*members.list[*m as usize].id, state.acc));
        for (&i, o) in order[range.clone()].iter().zip(outcomes) {
            fates[i as usize] = Some(Fate::Adjudicated(o));
        }
    }
    drop(order);
    phase.done("adjudicate");
    // The ledger's inserts (on another thread) overlap writing the outputs under temporary
    // names; nothing is committed until both are done and the reconciliation holds.
    let mut paid = processed_lines(lines, &member_of, &members, &fates);
    // Inserted in key order: a large night would otherwise touch B-tree pages at random, far
    // beyond SQLite's cache (at 10M lines this is most of the insert time).
    pool.install(|| {
        paid.par_sort_unstable_by(|a, b| {
            (a.line.provider_agb, &a.line.line_id).cmp(&(b.line.provider_agb, &b.line.line_id))
        })
    });
    let members_acc: Vec<(&str, &adjudicate::Accumulators)> =
        member_states.iter().map(|(m, a)| (*m, a)).collect();
    let (recorded, written) = std::thread::scope(|scope| {
        let ledger = &mut ledger;
        let recorder = scope.spawn(|| ledger.record(&started_at, &members_acc, &paid, &policies));
        let written = write_outputs(s, &policies, &members, &inputs, &member_of, &fates);
        (recorder.join(), written)
    });
    let Written {
        remittance,
        rejected,
        mut files,
        tally,
    } = written
        .map_err(|e| Failure::Internal(format!("writing outputs in {}: {e}", s.out.display())))?;
    let run_id = recorded
        .map_err(|_| Failure::Internal("the ledger writer failed".into()))?
        .map_err(ledger_failure)?;

    phase.done("write outputs");
    // Nothing lost: every line in exactly one output, euro totals balanced.
    let lines_out = tally.paid_lines + tally.rejected_lines;
    let mut claimed_read = Total::default();
    for amount in lines.iter().map(|l| l.amount).chain(
        inputs
            .rejections
            .iter()
            .filter_map(|r| Cents::parse(r.fields.claimed()).ok()),
    ) {
        claimed_read.add(amount);
    }
    let claimed_out = Total(tally.claimed_unsigned.0 + tally.rejected_claimed.0);
    let paid_out = Total(tally.paid_basic.0 + tally.paid_supplementary.0 + tally.member_pays.0);
    let identity = tally.claimed == paid_out;
    let balanced = lines_out == inputs.total && claimed_read == claimed_out && identity;
    let elapsed = started.elapsed().as_secs_f64();
    let mut input_files = inputs.files.clone();
    for (f, h) in input_files.iter_mut().zip(&hashes) {
        f.sha256 = h.clone();
    }
    let summary = Summary {
        run_date: s.run_date.to_string(),
        input_files: input_files.clone(),
        lines: inputs.total,
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
            lines_read: inputs.total,
            lines_out,
            claimed_read: claimed_read.to_string(),
            claimed_out: claimed_out.to_string(),
            balanced,
        },
        timing: Timing {
            duration_seconds: format!("{elapsed:.3}"),
            lines_per_second: if elapsed > 0.0 {
                (inputs.total as f64 / elapsed) as u64
            } else {
                0
            },
        },
    };
    if !balanced {
        remittance.discard();
        rejected.discard();
        return Err(Failure::Internal(format!(
            "reconciliation failed: {} lines read, {lines_out} written; claimed {} read, {} written; nothing committed",
            inputs.total,
            claimed_read, claimed_out
        )));
    }
    let (ei_returns, ei_files): (Vec<Staged>, Vec<std::fs::File>) =
        write_ei_returns(s, &input_files, lines, &fates, &inputs.rejections)?
            .into_iter()
            .unzip();
    files.extend(ei_files);
    let (summary_file, f) = write_summary(&s.out, &summary)
        .map_err(|e| Failure::Internal(format!("writing summary.json: {e}")))?;
    files.push(f);
    let syncing = crate::output::sync_in_background(files);

    let staged: Vec<[String; 2]> = [&remittance, &rejected, &summary_file]
        .into_iter()
        .chain(&ei_returns)
        .map(Staged::paths)
        .collect();
    let run = RunRecord {
        run_date: s.run_date.to_string(),
        inputs: serde_json::to_string(&input_files).unwrap_or_default(),
        staged: serde_json::to_string(&staged).unwrap_or_default(),
        lines: inputs.total,
        paid_lines: tally.paid_lines,
        rejected_lines: tally.rejected_lines,
        claimed: tally.claimed,
        paid_basic: tally.paid_basic,
        deductible: tally.deductible,
        paid_supplementary: tally.paid_supplementary,
        member_pays: tally.member_pays,
    };
    phase.done("summary");
    let mut synced = Some(syncing);
    let mut wait_for_sync = || -> std::io::Result<()> {
        match synced.take().map(std::thread::JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(std::io::Error::other("syncing outputs failed")),
            None => Ok(()),
        }
    };
    ledger
        .commit(run_id, &run, &mut wait_for_sync)
        .map_err(ledger_failure)?;
    for f in [remittance, rejected, summary_file]
        .into_iter()
        .chain(ei_returns)
    {
        f.commit()
            .map_err(|e| Failure::Internal(format!("renaming outputs into place: {e}")))?;
    }
    phase.done("ledger commit and rename");
    ledger.published(run_id).map_err(ledger_failure)?;
    tracing::info!(
        lines = inputs.total,
        paid = tally.paid_lines,
        rejected = tally.rejected_lines,
        refused_files = inputs.refused.len(),
        seconds = %summary.timing.duration_seconds,
        "run committed"
    );
    Ok(Report {
        refused_files: inputs.refused.len(),
        summary,
    })
}

/// Screens every parsed line: member, birth date, run date, duplicates in this run and in the
/// ledger. Returns each line's fate so far (`None`: to be adjudicated) and its member index.
fn screen_lines(
    lines: &[Line],
    members: &Members,
    run_date: Date,
    ledger: &mut SqliteLedger,
) -> Result<(Vec<Option<Fate>>, Vec<u32>), Failure> {
    let mut fates: Vec<Option<Fate>> = Vec::with_capacity(lines.len());
    let mut member_of: Vec<u32> = vec![u32::MAX; lines.len()];
    let mut keys_in_run: FxHashSet<(u32, &str)> = FxHashSet::default();
    keys_in_run.reserve(lines.len());
    let mut candidates: Vec<usize> = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        let fate = match screen(line, members, run_date) {
            Err((r, m)) => Some(Fate::Rejected(r, m)),
            Ok(_) if !keys_in_run.insert((line.provider_agb, &line.line_id)) => {
                Some(Fate::Rejected(
                    Reason::Duplicate,
                    format!(
                        "line_id {} of provider {:08} occurs earlier in this run",
                        line.line_id, line.provider_agb
                    ),
                ))
            }
            Ok(m) => {
                member_of[i] = m;
                candidates.push(i);
                None
            }
        };
        fates.push(fate);
    }
    drop(keys_in_run);
    let keys: Vec<(u32, &str)> = candidates
        .iter()
        .map(|&i| (lines[i].provider_agb, &*lines[i].line_id))
        .collect();
    let seen = ledger.seen(&keys).map_err(ledger_failure)?;
    for (&i, _) in candidates.iter().zip(&seen).filter(|(_, &seen)| seen) {
        let line = &lines[i];
        member_of[i] = u32::MAX;
        fates[i] = Some(Fate::Rejected(
            Reason::Duplicate,
            format!(
                "line_id {} of provider {:08} was processed in an earlier run",
                line.line_id, line.provider_agb
            ),
        ));
    }
    Ok((fates, member_of))
}

/// Each member (index in the register) with the range of its lines in the adjudication order.
type Groups = Vec<(u32, Range<usize>)>;

/// Orders the screened lines per member, by service date, ties in input order (a sort on one
/// integer key, so each member's lines form one slice): the order and each member's range in it.
fn group_by_member(lines: &[Line], member_of: &[u32]) -> (Vec<u32>, Groups) {
    let mut keyed: Vec<(u64, u32)> = (0..lines.len() as u32)
        .filter(|&i| member_of[i as usize] != u32::MAX)
        .map(|i| {
            let m = u64::from(member_of[i as usize]);
            (
                m << 32 | u64::from(lines[i as usize].service_date.as_u32()),
                i,
            )
        })
        .collect();
    keyed.par_sort_unstable();
    let order: Vec<u32> = keyed.into_iter().map(|(_, i)| i).collect();
    let mut groups: Groups = Vec::new();
    for (k, &i) in order.iter().enumerate() {
        let m = member_of[i as usize];
        match groups.last_mut() {
            Some((last, range)) if *last == m => range.end = k + 1,
            _ => groups.push((m, k..k + 1)),
        }
    }
    (order, groups)
}

/// Each member's state from the ledger: accumulators, and the earlier paid lines that this
/// run's credits name, when they are this member's.
fn load_states(
    ledger: &mut SqliteLedger,
    policies: &PolicySet,
    lines: &[Line],
    order: &[u32],
    groups: &[(u32, Range<usize>)],
    ids: &[&str],
) -> Result<Vec<MemberState>, Failure> {
    let accumulators = ledger.load(ids, policies).map_err(ledger_failure)?;
    let mut states: Vec<MemberState> = accumulators
        .into_iter()
        .map(|acc| MemberState {
            acc,
            ..MemberState::default()
        })
        .collect();
    for ((_, range), (state, member_id)) in groups.iter().zip(states.iter_mut().zip(ids)) {
        for line in order[range.clone()]
            .iter()
            .map(|&i| &lines[i as usize])
            .filter(|l| l.credit)
        {
            let found = ledger
                .prior(line.provider_agb, &line.related_line_id, policies)
                .map_err(ledger_failure)?;
            if let Some((_, prior)) = found.filter(|(owner, _)| owner == member_id) {
                state
                    .priors
                    .insert((line.provider_agb, line.related_line_id.clone()), prior);
            }
        }
    }
    Ok(states)
}

/// Logs how long each phase of the run took (debug level), for profiling.
struct Phases(Instant);

impl Phases {
    fn new() -> Phases {
        Phases(Instant::now())
    }
    fn done(&mut self, phase: &str) {
        let seconds = format!("{:.3}", self.0.elapsed().as_secs_f64());
        // Own target, so `RUST_LOG=declaro::phase=debug` shows timings without per-line logs.
        tracing::debug!(target: "declaro::phase", phase, seconds, "phase done");
        self.0 = Instant::now();
    }
}

/// Reads every input file; a refused file contributes nothing but its entry in the summary.
fn read_inputs(s: &Settings, pool: &rayon::ThreadPool) -> Result<Inputs, Failure> {
    if s.inputs.len() > usize::from(u16::MAX) {
        return Err(Failure::Usage("at most 65535 input files per run".into()));
    }
    let bar = progress_bar(s.progress, s.inputs.len() as u64);
    // Files are read in parallel, each numbering its lines from 0; the run-wide order (files in
    // command-line order, lines in file order) is restored by offsetting the numbers after.
    let reads: Vec<(Result<input::FileRead, Refusal>, u32)> = pool.install(|| {
        s.inputs
            .par_iter()
            .enumerate()
            .map(|(i, shown)| {
                let mut seq = 0u32;
                let read = input::read_file(Path::new(shown), shown, i as u16, &mut seq);
                bar.inc(1);
                (read, seq)
            })
            .collect()
    });
    bar.finish_and_clear();
    let mut seq = 0u32;
    let mut all = Inputs::default();
    for (shown, (read, numbered)) in s.inputs.iter().zip(reads) {
        let (format, records, why) = match read {
            Ok(mut read) => {
                for l in &mut read.lines {
                    l.seq += seq;
                }
                for r in &mut read.rejections {
                    r.seq += seq;
                }
                seq += numbered;
                all.lines.append(&mut read.lines);
                all.rejections.append(&mut read.rejections);
                (read.format, u64::from(read.records), None)
            }
            Err(r) => {
                tracing::warn!(file = %r.file, position = %r.position, "input file refused: {}", r.message);
                let why = r.to_string();
                all.refused.push(r);
                let format = input::sniff_path(Path::new(shown));
                (format.map_or("unknown", |f| f.name()), 0, Some(why))
            }
        };
        all.files.push(InputFile {
            file: shown.clone(),
            format: format.into(),
            records,
            sha256: String::new(),
            refused: why,
        });
    }
    all.total = u64::from(seq);
    Ok(all)
}

fn sha256_hex(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let Ok(mut f) = std::fs::File::open(path) else {
        return String::new();
    };
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => h.update(&buf[..n]),
            Err(_) => return String::new(),
        }
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Now, as `YYYY-MM-DDTHH:MM:SSZ`.
fn timestamp() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let day = Date::from_days_since_epoch((secs / 86_400) as i64);
    let t = secs % 86_400;
    format!("{day}T{:02}:{:02}:{:02}Z", t / 3600, t / 60 % 60, t % 60)
}

fn write_summary(out: &Path, summary: &Summary) -> std::io::Result<(Staged, std::fs::File)> {
    let (file, mut w) = Staged::create(&out.join("summary.json"))?;
    serde_json::to_writer_pretty(&mut w, summary)?;
    writeln!(w)?;
    let f = file.finish(w)?;
    Ok((file, f))
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
    providers: &Providers,
    inputs: &[String],
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
            let missing = p
                .deductible
                .as_ref()
                .is_some_and(|d| !d.mandatory.contains_key(&year));
            // Only lines the basic product pays and charges to the deductible need the year
            // (looked up only for a missing year: the common case costs one map probe).
            let charges = || {
                p.benefit_for(line, &|tag| providers.has(line.provider_agb, tag))
                    .is_some_and(|b| b.deductible)
            };
            if missing && charges() {
                return Err(Failure::Usage(format!(
                    "{}: product {} has no mandatory deductible for {year} (needed by {} record {})",
                    p.file.display(),
                    p.id,
                    inputs.get(usize::from(line.file)).map_or("an input", String::as_str),
                    line.record
                )));
            }
        }
    }
    Ok(())
}

struct Written {
    remittance: Staged,
    rejected: Staged,
    /// The written files, flushed, not yet synced.
    files: Vec<std::fs::File>,
    tally: Tally,
}

/// The member number a line is reported under: the register's when the line was matched.
fn member_id_of<'a>(line: &'a Line, member: u32, members: &'a Members) -> &'a str {
    match member {
        u32::MAX => &line.member_id,
        m => &members.list[m as usize].id,
    }
}

/// The lines that paid (or credited), as the ledger keeps them.
fn processed_lines<'a>(
    lines: &'a [Line],
    member_of: &[u32],
    members: &'a Members,
    fates: &'a [Option<Fate>],
) -> Vec<ProcessedLine<'a>> {
    lines
        .iter()
        .zip(member_of)
        .zip(fates)
        .filter_map(|((line, &m), fate)| match fate {
            Some(Fate::Adjudicated(Outcome::Paid(p))) => Some(ProcessedLine {
                line,
                member_id: member_id_of(line, m, members),
                payment: p,
            }),
            _ => None,
        })
        .collect()
}

fn write_outputs(
    s: &Settings,
    policies: &PolicySet,
    members: &Members,
    inputs: &Inputs,
    member_of: &[u32],
    fates: &[Option<Fate>],
) -> Result<Written, Box<dyn std::error::Error + Send + Sync>> {
    let (lines, rejections) = (&inputs.lines, &inputs.rejections);
    let (remittance, rw) = Staged::create(&s.out.join("remittance.csv"))?;
    let (rejected, jw) = Staged::create(&s.out.join("rejections.csv"))?;
    let mut rw = RemittanceWriter::new(rw)?;
    let mut jw = RejectionWriter::new(jw)?;
    let mut tally = Tally::default();
    let paths: Vec<PathBuf> = s.inputs.iter().map(PathBuf::from).collect();

    // Merge the parsed lines and the parse rejections by their run-wide sequence number.
    let (mut a, mut b) = (0usize, 0usize);
    while a < lines.len() || b < rejections.len() {
        let take_line =
            b >= rejections.len() || (a < lines.len() && lines[a].seq < rejections[b].seq);
        if !take_line {
            let r = &rejections[b];
            b += 1;
            tally.rejected(r.reason, Cents::parse(r.fields.claimed()).ok());
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
        let member_id = member_id_of(line, member_of[i], members);
        let file = &s.inputs[line.file as usize];
        let (reason, message) = match &fates[i] {
            Some(Fate::Adjudicated(Outcome::Paid(p))) => {
                tally.paid(line.signed_amount(), p);
                let row = RemittanceRow {
                    file,
                    line,
                    member_id,
                    payment: p,
                };
                rw.write(&row, policies)?;
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
        let echo = EchoFields::of(line, member_id);
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
    let files = vec![
        remittance.finish(rw.finish()?)?,
        rejected.finish(jw.finish()?)?,
    ];
    Ok(Written {
        remittance,
        rejected,
        files,
        tally,
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
) -> Result<Vec<(Staged, std::fs::File)>, Failure> {
    use crate::output::pm305::{self, FileFate, LineReturn};
    use std::collections::{HashMap, HashSet};
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
                // PM305 amounts are unsigned; a credit's sign is its declared indicator.
                let awarded = (p.paid_basic + p.paid_supplementary).abs().0;
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
            .and_then(|()| file.finish(w))
            .map(|f| staged.push((file, f)))
            .map_err(|e| failed(&format!("{name}: {e}")))?;
    }
    Ok(staged)
}
