//! Stage 2, screen: what can be checked before adjudication. Each declared identity is matched
//! to the register once (member by `member_id` and/or `bsn`, birth date as registered); each
//! line is then checked against the run date and for duplicates, in this run (by sorting the
//! line keys) and in earlier runs (one batch look-up in the ledger).

use crate::adjudicate::CodeTable;
use crate::error::Error;
use crate::intern::NONE;
use crate::ledger::Ledger;
use crate::model::{Date, Reason};
use crate::night::{Detail, Night, Outcome};
use crate::policy::PolicySet;
use crate::registers::{Members, Providers};
use rayon::prelude::*;
use std::hash::{Hash, Hasher};

/// Screens every line not rejected yet (while reading, or when matched to the register):
/// the service date against the run date, then duplicates.
pub fn screen(night: &mut Night, run_date: Date, ledger: &mut dyn Ledger) -> Result<(), Error> {
    let Night {
        lines, outcomes, ..
    } = night;
    outcomes
        .par_iter_mut()
        .zip(lines.par_iter())
        .filter(|(o, _)| **o == Outcome::Pending)
        .for_each(|(o, line)| {
            if line.service_date > run_date {
                *o = Outcome::Rejected(Reason::FutureDate, Detail::AfterRunDate);
            }
        });
    let (in_run, earlier) = duplicates(night, ledger)?;
    for (seqs, detail) in [
        (in_run, Detail::DuplicateInRun),
        (earlier, Detail::DuplicateEarlier),
    ] {
        for s in seqs {
            night.outcomes[s as usize] = Outcome::Rejected(Reason::Duplicate, detail);
        }
    }
    Ok(())
}

/// The lines whose key (provider AGB + line_id) an earlier line of this run took, and those
/// whose key an earlier run processed. A key is taken by the first line that passed the
/// checks before it; equal hashes are compared exactly.
fn duplicates(night: &Night, ledger: &mut dyn Ledger) -> Result<(Vec<u32>, Vec<u32>), Error> {
    let mut keyed: Vec<(u64, u32)> = (0..night.lines.len() as u32)
        .into_par_iter()
        .filter(|&s| night.outcomes[s as usize] == Outcome::Pending)
        .map(|s| (key_hash(night, s), s))
        .collect();
    keyed.par_sort_unstable();
    let mut in_run: Vec<u32> = Vec::new();
    let mut candidates: Vec<u32> = Vec::with_capacity(keyed.len());
    for run in keyed.chunk_by(|a, b| a.0 == b.0) {
        // The seqs of one hash are ascending: the first of each exact key keeps it.
        let first = candidates.len();
        for &(_, s) in run {
            if candidates[first..].iter().any(|&f| same_key(night, f, s)) {
                in_run.push(s);
            } else {
                candidates.push(s);
            }
        }
    }
    drop(keyed);
    candidates.par_sort_unstable();
    let keys: Vec<(u32, &str)> = candidates
        .iter()
        .map(|&s| {
            let l = &night.lines[s as usize];
            (l.provider_agb, night.line_id(l))
        })
        .collect();
    let seen = ledger.processed(&keys)?;
    let earlier = candidates
        .iter()
        .zip(&seen)
        .filter(|(_, &seen)| seen)
        .map(|(&s, _)| s)
        .collect();
    Ok((in_run, earlier))
}

/// A basic-insurance year without a mandatory deductible is a configuration error, not a zero:
/// the first line (in input order) that the basic product pays and charges to the deductible
/// in such a year stops the run.
pub fn check_deductible_years(
    night: &Night,
    members: &Members,
    policies: &PolicySet,
    providers: &Providers,
    codes: &CodeTable,
) -> Result<(), Error> {
    // The years some product has no mandatory deductible for are looked for first: the
    // common case costs one comparison per line.
    let known: Vec<(usize, &std::collections::BTreeMap<u32, crate::model::Cents>)> = policies
        .products
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.deductible.as_ref().map(|d| (i, &d.mandatory)))
        .collect();
    let missing = (0..night.lines.len())
        .into_par_iter()
        .find_map_first(|seq| {
            let line = &night.lines[seq];
            let year = line.year();
            if line.member == NONE
                || night.outcomes[seq] != Outcome::Pending
                || known.iter().all(|(_, m)| m.contains_key(&year))
            {
                return None;
            }
            members
                .get(line.member)
                .holdings
                .iter()
                .filter(|h| h.covers(line.service_date))
                .find_map(|h| {
                    let p = &policies.products[h.product()];
                    let d = p.deductible.as_ref()?;
                    if d.mandatory.contains_key(&year) {
                        return None;
                    }
                    let tags = providers.tags(line.provider_agb);
                    let charges = codes
                        .candidates(line.code, h.product())
                        .iter()
                        .map(|c| &p.benefits[usize::from(c.benefit)])
                        .find(|b| b.accepts(line.indication, tags))
                        .is_some_and(|b| b.deductible);
                    charges.then_some((seq, h.product(), year))
                })
        });
    if let Some((seq, product, year)) = missing {
        let line = &night.lines[seq];
        let p = &policies.products[product];
        let file = &night.files[usize::from(line.file)];
        return Err(Error::Usage(format!(
            "{}: product {} has no mandatory deductible for {year} (needed by {} record {})",
            p.file.display(),
            p.id,
            file.shown,
            night.record(seq as u32, line)
        )));
    }
    Ok(())
}

fn key_hash(night: &Night, seq: u32) -> u64 {
    let l = &night.lines[seq as usize];
    let mut h = rustc_hash::FxHasher::default();
    l.provider_agb.hash(&mut h);
    night.line_id(l).hash(&mut h);
    h.finish()
}

fn same_key(night: &Night, a: u32, b: u32) -> bool {
    let (la, lb) = (&night.lines[a as usize], &night.lines[b as usize]);
    la.provider_agb == lb.provider_agb && night.line_id(la) == night.line_id(lb)
}
