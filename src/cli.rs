//! The command line (contract section 1). Clap types stay in here: `cmd` gets plain settings.

use crate::cmd::process::Settings;
use crate::ledger::Location;
use crate::model::Date;
use crate::shard::Shard;
use crate::Error;
use clap::{Parser, Subcommand, ValueEnum};
use std::io::IsTerminal;
use std::path::PathBuf;

/// declaro: adjudicates nightly health-insurance declaration files.
#[derive(Parser, Debug)]
#[command(name = "declaro", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Claims file format of `generate`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum GenFormat {
    Csv,
    Xml,
}

/// Log output format.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Adjudicate declaration files into remittance.csv, rejections.csv and summary.json.
    Process(ProcessArgs),
    /// Write a synthetic night (members.csv, claims.csv or claims.xml) for benchmarks.
    Generate {
        /// Number of declaration lines.
        #[arg(long)]
        lines: u64,
        /// Number of members.
        #[arg(long)]
        members: u64,
        /// Seed: the same seed gives the same files.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Night K (from 1) over the same members: fresh line ids, credits of earlier nights.
        #[arg(long, default_value_t = 1)]
        night: u64,
        /// Format of the claims file.
        #[arg(long, value_enum, default_value = "csv")]
        format: GenFormat,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
    },
    /// Show what the ledger holds (read-only).
    Ledger {
        /// The SQLite ledger file.
        #[arg(long, global = true)]
        ledger: Option<PathBuf>,
        #[command(subcommand)]
        command: LedgerCommand,
    },
    /// Compare two runs of the same inputs (two output directories, e.g. two --dry-runs with
    /// another policy): totals per product and reason with their deltas, the changed lines.
    Diff {
        /// The first run's output directory.
        a: PathBuf,
        /// The second run's output directory.
        b: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Also write the comparison as a self-contained HTML page (like report.html) to FILE.
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
    },
    /// Join the outputs of the N shard runs of one night (`process --shard I/N`) into the
    /// night's remittance.csv, rejections.csv and summary.json, as the unsharded run writes
    /// them; refuses shards of different nights, a missing or a repeated shard.
    Merge {
        /// The merged outputs' directory (new, or without outputs).
        #[arg(long)]
        out: PathBuf,
        /// The output directories of the shard runs, one per shard, in any order.
        #[arg(required = true)]
        shards: Vec<PathBuf>,
    },
    /// Validate policy files and report errors with file and line.
    CheckPolicy {
        /// Policy files or directories of them.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Why a line of a run was paid what it was paid: the products held, the benefit of each
    /// layer, the conditions, limits, tariff cap, percentage and deductible, step by step.
    /// Re-derived by replaying the run; it must agree with the line's output row.
    Explain {
        /// The SQLite ledger the run used.
        #[arg(long)]
        ledger: PathBuf,
        /// The run's output directory (required for a dry run; otherwise the ledger's runs
        /// are searched, newest first).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Only this committed run.
        #[arg(long)]
        run: Option<i64>,
        /// The line, as PROVIDER_AGB/LINE_ID.
        line: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// `declaro ledger ...`
#[derive(Subcommand, Debug)]
pub enum LedgerCommand {
    /// Accumulators, deductible and lines of one member.
    Show {
        /// Member number.
        #[arg(long)]
        member: String,
        /// Only this calendar year.
        #[arg(long)]
        year: Option<u32>,
    },
    /// The run history with input files and totals.
    Runs,
}

#[derive(clap::Args, Debug)]
pub struct ProcessArgs {
    /// Policy files or directories of them (all *.toml inside).
    #[arg(long, required = true, num_args = 1..)]
    pub policy: Vec<PathBuf>,
    /// Member register (CSV).
    #[arg(long)]
    pub members: PathBuf,
    /// Provider register (CSV) with contract tags.
    #[arg(long)]
    pub providers: Option<PathBuf>,
    /// SQLite ledger carrying accumulators between runs [default: OUT/ledger.db].
    #[arg(long)]
    pub ledger: Option<PathBuf>,
    /// Output directory.
    #[arg(long)]
    pub out: PathBuf,
    /// Worker threads for reading input files and adjudicating members [default: all cores].
    #[arg(long)]
    pub threads: Option<usize>,
    /// The run's date (YYYY-MM-DD); service dates after it are FUTURE_DATE [default: today].
    #[arg(long)]
    pub run_date: Option<String>,
    /// No progress bar and only warnings in the log.
    #[arg(long)]
    pub quiet: bool,
    /// Log format on stderr.
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Write a Vektis return file for each PM304 (PM305) and MZ301 (MZ302) input into this
    /// directory.
    #[arg(long, value_name = "DIR")]
    pub ei_return: Option<PathBuf>,
    /// The whole run, outputs written, but nothing committed to the ledger (what-if runs).
    #[arg(long)]
    pub dry_run: bool,
    /// Adjudicate only shard I of N: the lines of the members whose stable hash falls in it
    /// (unknown members and unreadable lines are shard 1's); `declaro merge` joins the N
    /// shards' outputs into the night's [default: 1/1, the whole night].
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Declaration files (CSV, XML, Vektis PM304 or MZ301), processed in this order. Paths are
    /// taken as the operating system gives them (a name need not be UTF-8).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
}

impl ProcessArgs {
    /// Validates the raw flags into settings.
    pub fn settings(&self) -> Result<Settings, Error> {
        let run_date = match &self.run_date {
            None => Date::today(),
            Some(s) => Date::parse(s).ok_or_else(|| {
                Error::Usage(format!("--run-date {s:?} is not a date (YYYY-MM-DD)"))
            })?,
        };
        let threads = match self.threads {
            Some(0) => return Err(Error::Usage("--threads must be at least 1".into())),
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        let shard = match &self.shard {
            None => Shard::ALL,
            Some(s) => Shard::parse(s).ok_or_else(|| {
                Error::Usage(format!(
                    "--shard {s:?} is not I/N with 1 <= I <= N (such as 2/4)"
                ))
            })?,
        };
        if self.ei_return.is_some() && !shard.is_all() {
            return Err(Error::Usage(format!(
                "--ei-return cannot be used with --shard {shard}: a return file answers every \
                 line of its input and a shard holds only its members' lines, and `declaro \
                 merge` does not write return files; run a night that needs them unsharded"
            )));
        }
        Ok(Settings {
            policies: self.policy.clone(),
            members: self.members.clone(),
            providers: self.providers.clone(),
            ledger: Location::parse(
                self.ledger
                    .clone()
                    .unwrap_or_else(|| self.out.join("ledger.db"))
                    .as_os_str(),
            ),
            out: self.out.clone(),
            threads,
            run_date,
            progress: !self.quiet && std::io::stderr().is_terminal(),
            inputs: self.inputs.clone(),
            ei_return: self.ei_return.clone(),
            dry_run: self.dry_run,
            shard,
        })
    }
}
