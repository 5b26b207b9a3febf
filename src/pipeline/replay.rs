//! A run replayed for one line (`declaro explain`): the stages read → screen → group run again
//! over the files the run read, against the ledger as it stood before the run (a
//! [`crate::ledger::SqliteLedger::snapshot`]), and the line's member is adjudicated with a
//! tracer. The code is the run's own, so the replay pays what the run paid.

use super::{group, read, screen, Settings};
use crate::adjudicate::{adjudicate_member, CodeTable, Context, Step, Steps};
use crate::error::Error;
use crate::ledger::{Ledger, MemberQuery};
use crate::night::{Line, Outcome};
use crate::policy::PolicySet;
use crate::registers::{self, Providers};

/// Where the replay decided a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Rejected while its file was read (the record could not be parsed or validated).
    Read,
    /// Rejected by screening (member, birth date, run date, duplicates).
    Screen,
    /// Adjudicated against the member's products.
    Adjudicate,
}

/// One line of a replayed run.
#[derive(Debug)]
pub struct Replayed {
    pub line: Line,
    pub stage: Stage,
    pub outcome: Outcome,
    /// What adjudication did to the line (empty when screening decided it).
    pub steps: Steps,
}

/// The line to replay, and what the run read.
pub struct At<'a> {
    /// Index of its input file in the run's inputs.
    pub file: usize,
    /// Its 1-based record number in that file.
    pub record: u32,
    /// The sha256 of each input as the run read it.
    pub sha256: &'a [String],
    /// The sha256 of the member register as the run read it.
    pub members_sha256: &'a str,
}

/// The error for a file that is not what the run read (`now` empty: it cannot be read now).
pub fn changed(path: &str, then: &str, now: &str) -> Error {
    let was = if now.is_empty() {
        "it cannot be read now".to_string()
    } else {
        format!("sha256 {then} then, {now} now")
    };
    Error::Usage(format!(
        "{path} changed since the run ({was}): the run cannot be replayed"
    ))
}

/// Replays the run of `s` for the line `at`; refuses when an input or the member register is
/// not what the run read (both are hashed as they are read).
pub fn replay(
    s: &Settings,
    policies: &PolicySet,
    providers: &Providers,
    ledger: &mut (dyn Ledger + Send),
    at: &At<'_>,
) -> Result<Replayed, Error> {
    let (file, record) = (at.file, at.record);
    let progress = super::progress::Progress::new(false);
    let mut night = read::read(s, ledger, &progress)?;
    for (i, f) in night.files.iter().enumerate() {
        let then = at.sha256.get(i).map_or("", String::as_str);
        if f.sha256 != then {
            let path = s.inputs.get(i).map(|p| super::shown(p)).unwrap_or_default();
            return Err(changed(&path, then, &f.sha256));
        }
    }
    let missing = || {
        Error::Usage(format!(
            "record {record} of {} is not a line of the replayed run",
            night_file(s, file)
        ))
    };
    let first = night.files.get(file).ok_or_else(missing)?.first_seq;
    let seq = first + record.checked_sub(1).ok_or_else(missing)?;
    let line = *night
        .lines
        .get(seq as usize)
        .filter(|l| usize::from(l.file) == file)
        .ok_or_else(missing)?;
    let after_read = night.outcomes[seq as usize];
    let members = registers::load_members(&s.members, policies, Some(&screen::wanted(&night)))?;
    if members.sha256() != at.members_sha256 {
        let path = super::shown(&s.members);
        return Err(changed(&path, at.members_sha256, members.sha256()));
    }
    screen::identify(&mut night, &members);
    let codes = CodeTable::new(policies, &night.codes);
    screen::screen(&mut night, &members, s.run_date, ledger, s.shard)?;
    let decided = |stage, outcome| Replayed {
        line,
        stage,
        outcome,
        steps: Steps::new(),
    };
    if !matches!(after_read, Outcome::Pending) {
        return Ok(decided(Stage::Read, after_read));
    }
    let screened = night.outcomes[seq as usize];
    if !matches!(screened, Outcome::Pending) {
        return Ok(decided(Stage::Screen, screened));
    }
    let groups = group::group(&night);
    let (m, range) = groups
        .members
        .iter()
        .find(|(_, r)| groups.order[r.clone()].contains(&seq))
        .cloned()
        .ok_or_else(missing)?;
    let seqs = &groups.order[range];
    let member = members.get(m);
    let query = MemberQuery {
        member_id: member.id,
        credits: seqs
            .iter()
            .map(|&q| &night.lines[q as usize])
            .filter(|l| l.credit())
            .map(|l| (l.provider_agb, night.related_line_id(l)))
            .collect(),
    };
    let mut state = ledger.load(&[query], policies)?.pop().unwrap_or_default();
    let ctx = Context {
        policies,
        providers,
        codes: &codes,
        night: &night,
    };
    let mut outcomes = vec![Outcome::Pending; seqs.len()];
    let mut steps = Steps::new();
    adjudicate_member(&ctx, &member, seqs, &mut state, &mut outcomes, &mut steps);
    let at = seqs.iter().position(|&q| q == seq).ok_or_else(missing)?;
    // The target line's steps: from its own `Line` marker to the next line's.
    let start = steps
        .iter()
        .position(|st| *st == Step::Line { seq })
        .map_or(steps.len(), |i| i + 1);
    let end = steps[start..]
        .iter()
        .position(|st| matches!(st, Step::Line { .. }))
        .map_or(steps.len(), |i| start + i);
    let steps = steps[start..end].to_vec();
    Ok(Replayed {
        steps,
        ..decided(Stage::Adjudicate, outcomes[at])
    })
}

fn night_file(s: &Settings, file: usize) -> String {
    s.inputs
        .get(file)
        .map_or_else(|| format!("input {file}"), |p| super::shown(p))
}
