//! Re-runs (contract section 11). A nightly job is retried by cron wrappers and by people: a
//! retry must never pay twice (the ledger's line keys see to that), never destroy outputs that
//! a payment system may have picked up, and cost nothing when it has nothing new.

use super::Settings;
use crate::error::Error;
use crate::input::{Hashing, Refusal, RefusalReason};
use crate::ledger::Ledger;
use std::path::Path;

use crate::output::OUTPUTS;

/// What to do with a run.
pub enum Start {
    /// Process the inputs.
    Go,
    /// Every input was processed by a committed run already: nothing to do (exit 0).
    NoOp(String),
}

/// The output directory as the ledger records it: absolute, links resolved.
pub fn out_key(out: &Path) -> String {
    std::fs::canonicalize(out)
        .unwrap_or_else(|_| out.to_path_buf())
        .display()
        .to_string()
}

/// Before anything is read: when `--out` holds outputs already, the run is a no-op if every
/// input was processed by a committed run (a retry), and is refused otherwise (exit 3), since
/// it would overwrite them.
pub fn check_out(s: &Settings, ledger: &mut dyn Ledger) -> Result<Start, Error> {
    let held: Vec<&str> = OUTPUTS
        .into_iter()
        .filter(|f| s.out.join(f).exists())
        .collect();
    if held.is_empty() {
        return Ok(Start::Go);
    }
    let owner = ledger.run_of_outputs(&out_key(&s.out))?;
    let mut runs = Vec::new();
    for input in &s.inputs {
        match ledger.run_of_input(&sha256_of(input))? {
            Some(r) => runs.push(r),
            None => {
                let whose = owner.map_or_else(
                    || "of an earlier or a dry run".to_string(),
                    |r| format!("of run {r}"),
                );
                return Err(Error::Usage(format!(
                    "{} holds the outputs {whose} ({}): they are never overwritten; nothing was \
                     read. Give this run an output directory of its own",
                    s.out.display(),
                    held.join(", ")
                )));
            }
        }
    }
    Ok(Start::NoOp(no_op_message(s, &runs, true)))
}

/// The refusal of an input whose bytes a committed run processed already.
pub fn already_processed(shown: &str, sha256: &str, run: i64) -> Refusal {
    Refusal {
        file: shown.to_string(),
        position: String::new(),
        message: format!("the same file (sha256 {sha256}) was processed by run {run}"),
        reason: RefusalReason::AlreadyProcessed,
        vektis: None,
    }
}

/// What a run whose every input was processed already says; `held`: `--out` holds that run's
/// outputs (a retry into the same directory).
pub fn no_op_message(s: &Settings, runs: &[i64], held: bool) -> String {
    let mut runs = runs.to_vec();
    runs.sort_unstable();
    runs.dedup();
    let runs: Vec<String> = runs.iter().map(|r| format!("run {r}")).collect();
    let out = s.out.display();
    let written = if held {
        format!("nothing written ({out} is as that run left it)")
    } else {
        format!("nothing written to {out}")
    };
    format!(
        "every input file was processed by {} already: nothing to do, {written}",
        runs.join(", ")
    )
}

/// The sha256 of a file, empty when it cannot be read.
pub fn sha256_of(path: &Path) -> String {
    std::fs::File::open(path)
        .map(|f| Hashing::new(f).finish())
        .unwrap_or_default()
}
