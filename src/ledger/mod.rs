//! The ledger: state carried from one nightly run to the next.
//!
//! The pipeline speaks to it through [`Ledger`], in batches: tonight's line keys are looked up
//! at once, only tonight's members' state is loaded, and what the run changed is written in one
//! call, inside one transaction that [`Ledger::commit`] ends. [`SqliteLedger`] is the embedded
//! implementation; a server-backed one implements the same calls.

pub(crate) mod format;
mod ids;
mod postgres;
mod sqlite;

pub use postgres::PgLedger;
pub use sqlite::SqliteLedger;

use crate::adjudicate::{Accumulators, Adjudicated, MemberState};
use crate::model::Sums;
use crate::night::Night;
use crate::policy::PolicySet;
use crate::shard::Shard;
use format::{StoredLine, StoredMember};
use rustc_hash::FxHashMap;
use std::path::{Path, PathBuf};

/// A ledger failure. `Busy` means another run holds the ledger.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("ledger {0} is in use by another run; try again when it has finished")]
    Busy(String),
    #[error("ledger {path}: {source}")]
    Sql {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("ledger {0}: {1}")]
    Io(String, std::io::Error),
    #[error("ledger {0}: the run total {1} does not fit a 64-bit number of cents")]
    Overflow(String, String),
    /// A file of another ledger schema (or no ledger at all).
    #[error(
        "ledger {path} has schema {found}; this declaro reads ledger schema 2 and does not \
         migrate other schemas: give a new --ledger file, or use the declaro that wrote this one"
    )]
    Schema { path: String, found: String },
    #[error("ledger {0} is damaged: {1}")]
    Damaged(String, String),
    #[error("ledger {url}: {source}")]
    Postgres {
        url: String,
        #[source]
        source: ::postgres::Error,
    },
    /// The database could not be reached (a configuration error).
    #[error("ledger {url}: cannot connect: {reason}")]
    Unreachable { url: String, reason: String },
    /// A run of another shard count than the ledger's.
    #[error(
        "ledger {ledger} holds {holds}; this run is shard {asked}: a ledger's shard count is \
         fixed by its first run (the shards of a night share one ledger); give another count a \
         ledger of its own"
    )]
    Shards {
        ledger: String,
        holds: String,
        asked: String,
    },
}

/// Renames the outputs of runs that committed but died before renaming them (`pending`: each
/// run's `staged` JSON, `[[tmp, dest], ...]`) and records them published: a committed run
/// always ends with its outputs in place.
fn put_in_place(ledger: &mut dyn Ledger, pending: Vec<(i64, String)>) -> Result<(), LedgerError> {
    for (run_id, staged) in pending {
        let pairs: Vec<(String, String)> = serde_json::from_str(&staged).unwrap_or_default();
        for (tmp, dest) in pairs {
            if Path::new(&tmp).exists() {
                std::fs::rename(&tmp, &dest).map_err(|e| LedgerError::Io(dest.clone(), e))?;
            }
        }
        tracing::warn!(run_id, "outputs of an interrupted run were put in place");
        ledger.published(run_id)?;
    }
    Ok(())
}

/// Logs how long a step of a ledger took (`RUST_LOG=declaro::phase=debug`).
fn step(step: &str, started: std::time::Instant, n: usize) {
    let seconds = format!("{:.3}", started.elapsed().as_secs_f64());
    tracing::debug!(target: "declaro::phase", step, n, seconds, "ledger step done");
}

/// How a refusal names the shard count a ledger holds.
fn holds_shards(count: &str) -> String {
    match count {
        "1" => "the whole night (1 shard)".to_string(),
        n => format!("{n} shards"),
    }
}

/// Where the ledger is: a SQLite file, or a PostgreSQL database (`postgres://...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Location {
    /// A `--ledger` value: a `postgres://` or `postgresql://` URL, else a file.
    pub fn parse(arg: &std::ffi::OsStr) -> Location {
        match arg.to_str() {
            Some(s) if postgres::is_url(s) => Location::Postgres(s.to_string()),
            _ => Location::Sqlite(PathBuf::from(arg)),
        }
    }

    /// How messages name it (a URL without its password).
    pub fn shown(&self) -> String {
        match self {
            Location::Sqlite(p) => p.display().to_string(),
            Location::Postgres(url) => postgres::shown_url(url),
        }
    }

    /// The SQLite file, if it is one.
    pub fn file(&self) -> Option<&Path> {
        match self {
            Location::Sqlite(p) => Some(p),
            Location::Postgres(_) => None,
        }
    }

    /// Opens the ledger for a run of `shard`, holding its lock until the commit.
    pub fn open(&self, shard: Shard) -> Result<Box<dyn Ledger + Send>, LedgerError> {
        Ok(match self {
            Location::Sqlite(p) => Box::new(SqliteLedger::open_shard(p, shard)?),
            Location::Postgres(url) => Box::new(PgLedger::open(url, shard)?),
        })
    }

    /// The ledger as a run of `shard` saw it after run `upto`, read-only (see
    /// [`SqliteLedger::snapshot`]).
    pub fn snapshot(&self, upto: i64, shard: Shard) -> Result<Box<dyn Ledger + Send>, LedgerError> {
        Ok(match self {
            Location::Sqlite(p) => Box::new(SqliteLedger::snapshot_of(p, upto, shard)?),
            Location::Postgres(url) => Box::new(PgLedger::snapshot(url, upto, shard)?),
        })
    }

    /// The committed ledger, read-only, for `declaro ledger show|runs`.
    pub fn history(&self) -> Result<Box<dyn History>, LedgerError> {
        Ok(match self {
            Location::Sqlite(p) => Box::new(SqliteLedger::reader(p)?),
            Location::Postgres(url) => Box::new(PgLedger::reader(url)?),
        })
    }
}

/// One row of the run history, as `declaro ledger runs` shows it.
#[derive(Debug, Clone)]
pub struct RunRow {
    pub run_id: i64,
    pub started: String,
    pub run_date: String,
    /// Lines, paid lines, rejected lines.
    pub counts: [i64; 3],
    /// Claimed, paid basic, deductible, paid supplementary, member pays.
    pub cents: [i64; 5],
    /// The input files with their sha256, as JSON.
    pub inputs: String,
    /// The run's shard, when the ledger is sharded.
    pub shard: Option<Shard>,
}

/// What `declaro ledger show|runs` reads from a committed ledger.
pub trait History {
    /// The pools' names by stored id: (product, pool).
    fn pools(&mut self) -> Result<FxHashMap<u32, (String, String)>, LedgerError>;
    /// A member's current counters and deductible.
    fn member(&mut self, member_id: &str) -> Result<StoredMember, LedgerError>;
    /// Every line the runs paid or credited for a member, with its run, in run order.
    fn member_lines(&mut self, member_id: &str) -> Result<Vec<(i64, StoredLine)>, LedgerError>;
    /// The committed runs, oldest first.
    fn run_rows(&mut self) -> Result<Vec<RunRow>, LedgerError>;
}

/// A line key: the provider's AGB and its line id (referentienummer).
pub type LineKey<'a> = (u32, &'a str);

/// A debit line's care, as the ledger is asked whether a committed run paid the same care
/// (`DUPLICATE_CARE`): the member, provider, service date, code, quantity and claimed amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Care<'a> {
    pub member_id: &'a str,
    pub provider_agb: u32,
    /// `YYYYMMDD`.
    pub service_date: u32,
    pub code: &'a str,
    pub quantity: u16,
    /// In cents.
    pub claimed: i64,
    /// The declared diagnosis code, where there is one.
    pub diagnosis: Option<u32>,
}

/// One of tonight's members, as the ledger is asked for it.
#[derive(Debug, Clone)]
pub struct MemberQuery<'a> {
    /// The register's member number.
    pub member_id: &'a str,
    /// The line keys that tonight's credits of this member name (their `related_line_id`).
    pub credits: Vec<LineKey<'a>>,
}

/// What the run changed for one member: the new accumulators and the lines it paid or
/// credited (in [`Adjudicated::paid`], their outcomes in [`Night::outcomes`]).
#[derive(Debug, Clone, Copy)]
pub struct MemberChange<'a> {
    /// The register's member number.
    pub member_id: &'a str,
    /// The member's accumulators after tonight.
    pub acc: &'a Accumulators,
    /// Tonight's paid and credited lines with their effects.
    pub adjudicated: &'a Adjudicated,
}

/// What a run hands the ledger to record: when it started, its lines and outcomes, what it
/// changed per member, and the policies that name the products and pools.
#[derive(Clone, Copy)]
pub struct RunChanges<'a> {
    pub started: &'a str,
    pub night: &'a Night,
    pub members: &'a [MemberChange<'a>],
    pub policies: &'a PolicySet,
}

/// The run's row in the run history.
#[derive(Debug, Clone, Default)]
pub struct RunRecord {
    pub run_date: String,
    /// Input files with their sha256, as JSON.
    pub inputs: String,
    /// Output files still under their temporary names at commit, as JSON `[[tmp, dest], ...]`.
    pub staged: String,
    /// The output directory (`--out`), absolute.
    pub out_dir: String,
    pub lines: u64,
    pub paid_lines: u64,
    pub rejected_lines: u64,
    pub sums: Sums,
}

/// What a run needs from the state store.
pub trait Ledger {
    /// For each key (sorted or not): whether a committed run paid it or credited with it.
    fn processed(&mut self, keys: &[LineKey<'_>]) -> Result<Vec<bool>, LedgerError>;

    /// For each care: the line id of a line that a committed run paid for the same care (same
    /// member, provider, service date, code, quantity and amount) and that no committed run
    /// credited since; `None` when there is none.
    /// The `n` cares are given by `care(i)`, built only where the ledger needs them.
    fn paid_care<'q>(
        &mut self,
        n: usize,
        care: &(dyn Fn(usize) -> Care<'q> + Sync + 'q),
    ) -> Result<Vec<Option<String>>, LedgerError>;

    /// Each member's state as earlier runs left it, with the earlier paid lines that its
    /// credits name (when they are that member's).
    fn load(
        &mut self,
        members: &[MemberQuery<'_>],
        policies: &PolicySet,
    ) -> Result<Vec<MemberState>, LedgerError>;

    /// Writes what the run changed, inside its transaction, and returns the new run's id.
    /// Nothing is visible to others before [`Ledger::commit`].
    fn record(&mut self, run: &RunChanges<'_>) -> Result<i64, LedgerError>;

    /// The earliest committed run that processed (did not refuse) an input file with this
    /// sha256.
    fn run_of_input(&mut self, sha256: &str) -> Result<Option<i64>, LedgerError>;

    /// The latest committed run that wrote its outputs into this directory (absolute path).
    fn run_of_outputs(&mut self, out_dir: &str) -> Result<Option<i64>, LedgerError>;

    /// Completes the run's row, waits for `before_commit` (the outputs on disk) and commits.
    fn commit(
        &mut self,
        run_id: i64,
        run: &RunRecord,
        before_commit: &mut dyn FnMut() -> std::io::Result<()>,
    ) -> Result<(), LedgerError>;

    /// Drops everything the run staged: the ledger stays as it was (a dry run).
    fn roll_back(&mut self) -> Result<(), LedgerError>;

    /// The id of the newest committed run (0 when there is none).
    fn last_run(&mut self) -> Result<i64, LedgerError>;

    /// Records that the run's outputs were renamed into place.
    fn published(&mut self, run_id: i64) -> Result<(), LedgerError>;

    /// The committed runs this ledger sees that recorded an output directory, oldest first:
    /// (run id, output directory).
    fn runs(&mut self) -> Result<Vec<(i64, String)>, LedgerError>;
}
