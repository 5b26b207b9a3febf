//! One night, as stages: read → screen → group → adjudicate → publish → reconcile, then the
//! ledger commit and the outputs renamed into place. Each stage is a function with its own
//! inputs and outputs; [`run`] reads like the list.

pub mod adjudicate;
pub mod group;
pub mod memory;
pub mod progress;
pub mod publish;
pub mod read;
pub mod read_back;
pub mod reconcile;
pub mod replay;
pub mod rerun;
pub mod screen;

use crate::error::Error;
use crate::ledger::{Ledger, Location};
use crate::model::Date;
use crate::output::summary::{FileHash, Setup, Summary};
use crate::policy::{self, PolicySet};
use crate::registers::{self, Providers};
use crate::shard::Shard;
use std::path::PathBuf;
use std::time::Instant;

/// Validated settings of one `process` run (built from the command line in `cli`).
#[derive(Debug, Clone)]
pub struct Settings {
    pub policies: Vec<PathBuf>,
    pub members: PathBuf,
    pub providers: Option<PathBuf>,
    /// The ledger: a SQLite file or a PostgreSQL URL.
    pub ledger: Location,
    pub out: PathBuf,
    pub threads: usize,
    pub run_date: Date,
    pub progress: bool,
    /// Input files as given on the command line; outputs and messages name each by
    /// [`shown`] (a name that is not UTF-8 with its odd bytes replaced).
    pub inputs: Vec<std::path::PathBuf>,
    /// Directory for PM305 return files, one per PM304 input (`--ei-return`).
    pub ei_return: Option<PathBuf>,
    /// Write the outputs but commit nothing to the ledger (`--dry-run`).
    pub dry_run: bool,
    /// The members whose lines this run adjudicates (`--shard I/N`; [`Shard::ALL`]: all).
    pub shard: Shard,
}

/// What a finished run reports to `main`.
#[derive(Debug)]
pub struct Report {
    /// `None` for a run that had nothing to do (every input processed already).
    pub summary: Option<Summary>,
    pub refused_files: usize,
    /// The committed run's id (`None` for a dry run or one with nothing to do).
    pub run_id: Option<i64>,
}

/// Runs one night.
pub fn run(s: &Settings) -> Result<Report, Error> {
    let mut phase = Phases::new();
    let policies = policy::load(&s.policies)?;
    let providers = match &s.providers {
        Some(p) => registers::load_providers(p, &policies)?,
        None => Providers::default(),
    };
    crate::output::create_private_dir(&s.out).map_err(|e| {
        Error::Usage(format!(
            "cannot create output directory {}: {e}",
            s.out.display()
        ))
    })?;
    let mut ledger = s.ledger.open(s.shard)?;
    if let rerun::Start::NoOp(message) = rerun::check_out(s, &mut *ledger)? {
        tracing::warn!("{message}");
        return Ok(Report {
            summary: None,
            refused_files: 0,
            run_id: None,
        });
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(s.threads)
        .build()
        .map_err(|e| Error::io(format!("starting {} threads", s.threads), e))?;
    let progress = progress::Progress::new(s.progress);
    pool.install(|| {
        night(
            s,
            &policies,
            &providers,
            &mut *ledger,
            &mut phase,
            &progress,
        )
    })
}

/// The stages of the night, on the run's thread pool.
fn night(
    s: &Settings,
    policies: &PolicySet,
    providers: &Providers,
    ledger: &mut (dyn Ledger + Send),
    phase: &mut Phases,
    progress: &progress::Progress,
) -> Result<Report, Error> {
    let (started, started_at) = (phase.started, phase.started_at.clone());
    let mut setup = setup(s, ledger)?;
    let mut night = read::read(s, ledger, progress)?;
    if !night.files.is_empty()
        && night.files.iter().all(|f| {
            f.refusal
                .as_ref()
                .is_some_and(|r| r.reason == crate::input::RefusalReason::AlreadyProcessed)
        })
    {
        let runs: Vec<i64> = night.files.iter().filter_map(|f| f.processed_by).collect();
        tracing::warn!("{}", rerun::no_op_message(s, &runs, false));
        return Ok(Report {
            summary: None,
            refused_files: 0,
            run_id: None,
        });
    }
    memory::check(night.lines.len(), memory::available())?;
    phase.done("read");
    let members = registers::load_members(&s.members, policies, Some(&screen::wanted(&night)))?;
    setup.members.sha256 = members.sha256().to_string();
    tracing::info!(
        products = policies.products.len(),
        members = members.len(),
        inputs = s.inputs.len(),
        lines = night.lines.len(),
        "night read"
    );
    phase.done("register");
    screen::identify(&mut night, &members);
    let codes = crate::adjudicate::CodeTable::new(policies, &night.codes);
    screen::screen(&mut night, &members, s.run_date, ledger, s.shard)?;
    let others = screen::set_aside(&mut night, &members, s.shard);
    phase.done("screen");
    let groups = group::group(&night);
    phase.done("group");
    // The outcomes are taken out while the workers read the lines, and put back after.
    let mut outcomes = std::mem::take(&mut night.outcomes);
    let ctx = crate::adjudicate::Context {
        policies,
        providers,
        codes: &codes,
        night: &night,
    };
    progress.stage("adjudicating", groups.members.len() as u64, false);
    let (states, tally) =
        adjudicate::adjudicate(&ctx, &members, &groups, &mut outcomes, ledger, progress)?;
    night.outcomes = outcomes;
    phase.done("adjudicate");
    progress.stage("writing", night.lines.len() as u64, false);
    let published = publish::publish(
        s,
        &night,
        &members,
        policies,
        &states,
        ledger,
        (&started_at, progress),
    )?;
    phase.done("write outputs");
    let mut summary = reconcile::reconcile(
        s,
        &night,
        policies,
        &published,
        (&tally, setup, others),
        started,
    )?;
    phase.done("reconcile (outputs read back)");
    let refused = night.files.iter().filter(|f| f.refusal.is_some()).count();
    let run_id = (!s.dry_run).then_some(published.run_id);
    let figures = crate::output::report::Figures::of(&night, policies);
    if let Some(shard) = &mut summary.shard {
        shard.report_figures = figures.to_json();
    }
    let report = crate::output::report::render(&summary, &figures);
    phase.done("report");
    publish::commit(s, &night, published, &summary, &report, ledger)?;
    progress.finish();
    phase.done("ledger commit and rename");
    tracing::info!(
        lines = summary.lines,
        paid = summary.outcomes.get("paid").copied().unwrap_or(0),
        rejected = summary.outcomes.get("rejected").copied().unwrap_or(0),
        refused_files = refused,
        seconds = %summary.timing.duration_seconds,
        "run committed"
    );
    Ok(Report {
        summary: Some(summary),
        refused_files: refused,
        run_id,
    })
}

/// What the run reads besides its inputs' lines, by absolute path and sha256, and the ledger
/// state it starts from: recorded in `summary.json` so that `declaro explain` can replay it.
/// The member register's sha256 is its reader's ([`registers::Members::sha256`]), filled in
/// once it is read; the small policy files and provider register are hashed here.
fn setup(s: &Settings, ledger: &mut dyn Ledger) -> Result<Setup, Error> {
    let absolute = |p: &std::path::Path| shown(&std::path::absolute(p).unwrap_or(p.to_path_buf()));
    let hashed = |p: &std::path::Path| FileHash {
        path: absolute(p),
        sha256: rerun::sha256_of(p),
    };
    Ok(Setup {
        policies: policy::files(&s.policies)
            .0
            .iter()
            .map(|p| hashed(p))
            .collect(),
        members: FileHash {
            path: absolute(&s.members),
            sha256: String::new(),
        },
        providers: s.providers.as_deref().map(hashed),
        inputs: s.inputs.iter().map(|p| absolute(p)).collect(),
        ledger_after_run: ledger.last_run()?,
    })
}

/// Logs how long each phase of the run took (debug level), for profiling; and when the run
/// started.
pub struct Phases {
    at: Instant,
    started: Instant,
    started_at: String,
}

impl Phases {
    pub fn new() -> Phases {
        Phases {
            at: Instant::now(),
            started: Instant::now(),
            started_at: timestamp(),
        }
    }
    pub fn done(&mut self, phase: &str) {
        let seconds = format!("{:.3}", self.at.elapsed().as_secs_f64());
        // Own target, so `RUST_LOG=declaro::phase=debug` shows timings without per-line logs.
        if tracing::enabled!(target: "declaro::phase", tracing::Level::DEBUG) {
            let (rss_mb, peak_mb) = memory_mb();
            tracing::debug!(
                target: "declaro::phase",
                phase,
                seconds,
                rss_mb,
                peak_mb,
                "phase done"
            );
        }
        self.at = Instant::now();
    }
}

impl Default for Phases {
    fn default() -> Self {
        Phases::new()
    }
}

/// The resident set and its peak so far, in MB (Linux; zero elsewhere).
fn memory_mb() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    (kb("VmRSS:") / 1024, kb("VmHWM:") / 1024)
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

/// How outputs and messages name an input file: its path as given, with any bytes that are not
/// UTF-8 replaced (U+FFFD).
pub fn shown(path: &std::path::Path) -> String {
    path.to_string_lossy().into_owned()
}
