//! Stage 2, screen: what can be checked before adjudication. Each declared identity is matched
//! to the register once (member by `member_id` and/or `bsn`, birth date as registered); each
//! line is then checked against the run date and for duplicates, in this run (by sorting the
//! line keys) and in earlier runs (one batch look-up in the ledger).

use crate::error::Error;
use crate::intern::NONE;
use crate::ledger::{Care, Ledger};
use crate::model::{Date, Reason};
use crate::night::{text_at, Declared, Detail, Night, Outcome, Pending, Rejection};
use crate::registers::Members;
use crate::registers::Wanted;
use crate::shard::Shard;
use rayon::prelude::*;
use std::hash::{Hash, Hasher};

/// The members tonight's lines name: the register rows to read.
pub fn wanted(night: &Night) -> Wanted {
    let mut w = Wanted::default();
    for p in &night.pending {
        if p.hash != 0 {
            w.ids.insert(p.hash);
        }
        if p.bsn != 0 {
            w.bsns.insert(p.bsn);
        }
    }
    w
}

/// Matches every validated line to its member in the register, by `member_id` and/or `bsn`
/// (both must name the same member), and rejects it when there is none or the birth date
/// differs from the register's. The lines are taken in the order of their member number's
/// hash, the order the register is kept in, so it is read front to back.
pub fn identify(night: &mut Night, members: &Members) {
    let mut pending = std::mem::take(&mut night.pending);
    let text = std::mem::take(&mut night.declared_text);
    pending.par_sort_unstable_by_key(|p| (p.hash, p.seq));
    let found: Vec<(u32, u32, Option<Rejection>)> = pending
        .par_iter()
        .map(|p| {
            let id = text_at(&text, p.text).0;
            let (m, rejection) = member_of(members, p, id);
            (p.seq, m, rejection)
        })
        .collect();
    for &(seq, m, rejection) in &found {
        night.lines[seq as usize].member = m;
        if let Some((reason, detail)) = rejection {
            night.outcomes[seq as usize] = Outcome::Rejected(reason, detail);
        }
    }
    drop(found);
    // What the lines that named no member declared, for their rejection rows.
    let mut declared: Vec<(u32, Declared)> = pending
        .iter()
        .filter(|p| night.lines[p.seq as usize].member == NONE)
        .map(|p| {
            let (id, next) = text_at(&text, p.text);
            let utf8 = |b| std::str::from_utf8(b).unwrap_or("").into();
            let d = Declared {
                member_id: utf8(id),
                bsn: utf8(text_at(&text, next).0),
            };
            (p.seq, d)
        })
        .collect();
    declared.sort_unstable_by_key(|(s, _)| *s);
    night.declared = declared;
}

/// The member a line declared, and its rejection.
fn member_of(members: &Members, p: &Pending, id: &[u8]) -> (u32, Option<Rejection>) {
    let unknown = |d| (NONE, Some((Reason::UnknownMember, d)));
    let m = if id.is_empty() {
        // Validation requires a member number or a BSN.
        match members.by_bsn(p.bsn) {
            Some(m) => m,
            None => return unknown(Detail::NoSuchBsn),
        }
    } else {
        let Some(m) = members.by_id_hashed(p.hash, id) else {
            return unknown(Detail::NoSuchMemberId);
        };
        // Both given: they must name the same member (BSNs are unique in the register).
        if p.bsn != 0 && members.bsn_and_birth(m).0 != p.bsn {
            return match members.by_bsn(p.bsn) {
                None => unknown(Detail::NoSuchBsn),
                Some(_) => unknown(Detail::MembersDiffer),
            };
        }
        m
    };
    if members.bsn_and_birth(m).1 != p.birth_date {
        return (m, Some((Reason::BirthDateMismatch, Detail::BirthDate)));
    }
    (m, None)
}

/// Screens every line not rejected yet (while reading, or when matched to the register):
/// the service date against the run date, then duplicates of a line key, then duplicates of
/// care.
///
/// With `--shard I/N` every line is screened against the others, but only the shard's own
/// lines are asked of the ledger: an earlier run's answer changes nothing but the line asked
/// about, and the other shards' lines are set aside afterwards ([`set_aside`]).
pub fn screen(
    night: &mut Night,
    members: &Members,
    run_date: Date,
    ledger: &mut dyn Ledger,
    shard: Shard,
) -> Result<(), Error> {
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
    let own = |night: &Night, s: u32| {
        shard.is_all()
            || owner_of(&night.lines[s as usize], members, shard.count()) == shard.index()
    };
    let (in_run, earlier) = duplicates(night, ledger, &own)?;
    for (seqs, detail) in [
        (in_run, Detail::DuplicateInRun),
        (earlier, Detail::DuplicateEarlier),
    ] {
        for s in seqs {
            night.outcomes[s as usize] = Outcome::Rejected(Reason::Duplicate, detail);
        }
    }
    let (in_run, earlier) = same_care(night, members, ledger, &own)?;
    for (s, first) in in_run {
        night.outcomes[s as usize] =
            Outcome::Rejected(Reason::DuplicateCare, Detail::SameCareInRun(first));
    }
    for (s, _) in &earlier {
        night.outcomes[*s as usize] =
            Outcome::Rejected(Reason::DuplicateCare, Detail::SameCareEarlier);
    }
    night.earlier_care = earlier;
    Ok(())
}

/// With `--shard I/N`, after screening: the lines that belong to another shard are set aside
/// ([`Outcome::OtherShard`], whatever screening decided for them), and how many there are. A
/// line matched to a register member belongs to that member's shard ([`Shard::of_member`]);
/// every other line (an unknown member, a line rejected while reading) to shard 1. Screening
/// saw the whole night, so a line's outcome is the one the unsharded run gives it.
pub fn set_aside(night: &mut Night, members: &Members, shard: Shard) -> u64 {
    if shard.is_all() {
        return 0;
    }
    let Night {
        lines, outcomes, ..
    } = night;
    outcomes
        .par_iter_mut()
        .zip(lines.par_iter())
        .map(|(o, line)| {
            if owner_of(line, members, shard.count()) == shard.index() {
                return 0;
            }
            *o = Outcome::OtherShard;
            1
        })
        .sum()
}

/// The shard (of `count`) that owns a line: its register member's, or shard 1.
fn owner_of(line: &crate::night::Line, members: &Members, count: u32) -> u32 {
    match line.member {
        NONE => 1,
        m => Shard::of_member(members.id(m), count),
    }
}

/// A debit line's care: provider, member, service date, code (interned with its code list),
/// quantity, amount, diagnosis.
type CareKey = (u32, u32, u32, u32, u16, i64, Option<u32>);

/// The lines rejected `DUPLICATE_CARE`: those repeating a line of this run (with that line's
/// sequence number), and those repeating a line an earlier run paid (with its line id).
type SameCare = (Vec<(u32, u32)>, Vec<(u32, Box<str>)>);

/// The debit lines that declare care that was declared before under another line id
/// (`DUPLICATE_CARE`): the same provider, member, service date, code, quantity and amount (and
/// diagnosis code, where one is declared: two conditions treated on one day are two cares) as
/// an earlier debit line of this run that passed the checks before this one, or as a line an
/// earlier run paid. A line that a credit reversed, tonight or in an earlier run, no longer
/// counts: credit and declare again is how a provider corrects. The lines are sorted by a hash
/// of their care (16 bytes a line), and equal hashes compared exactly.
fn same_care(
    night: &Night,
    members: &Members,
    ledger: &mut dyn Ledger,
    own: &dyn Fn(&Night, u32) -> bool,
) -> Result<SameCare, Error> {
    let pending = |s: u32| night.outcomes[s as usize] == Outcome::Pending;
    let all = 0..night.lines.len() as u32;
    // Tonight's credits: the (provider, line id) they reverse.
    let credited: rustc_hash::FxHashSet<(u32, &str)> = all
        .clone()
        .filter(|&s| pending(s) && night.lines[s as usize].credit())
        .map(|s| {
            let l = &night.lines[s as usize];
            (l.provider_agb, night.related_line_id(l))
        })
        .collect();
    let care = |s: u32| -> CareKey {
        let l = &night.lines[s as usize];
        (
            l.provider_agb,
            l.member,
            l.service_date.as_u32(),
            l.code,
            l.quantity,
            l.amount.0,
            night.diagnosis(l),
        )
    };
    let mut keyed: Vec<(u64, u32)> = all
        .into_par_iter()
        .filter(|&s| pending(s) && !night.lines[s as usize].credit())
        .map(|s| {
            let mut h = rustc_hash::FxHasher::default();
            care(s).hash(&mut h);
            (h.finish(), s)
        })
        .collect();
    keyed.par_sort_unstable();
    let reversed = |s: u32| {
        let l = &night.lines[s as usize];
        credited.contains(&(l.provider_agb, night.line_id(l)))
    };
    let mut in_run = Vec::new();
    // The lines that hold a care in this run (each is asked of the ledger).
    let mut firsts: Vec<u32> = Vec::with_capacity(keyed.len());
    let mut holders: Vec<(CareKey, u32)> = Vec::new();
    for same_hash in keyed.chunk_by(|a, b| a.0 == b.0) {
        if let [(_, s)] = same_hash {
            // Nearly every care is declared once.
            firsts.push(*s);
            continue;
        }
        // Input order: the first of a care holds it until a credit tonight reverses it.
        holders.clear();
        for &(_, s) in same_hash {
            let key = care(s);
            match holders.iter_mut().find(|(k, _)| *k == key) {
                Some((_, holder)) if !reversed(*holder) => in_run.push((s, *holder)),
                Some((_, holder)) => {
                    *holder = s;
                    firsts.push(s);
                }
                None => {
                    holders.push((key, s));
                    firsts.push(s);
                }
            }
        }
    }
    drop(keyed);
    firsts.retain(|&s| own(night, s));
    firsts.par_sort_unstable();
    // The register's ids read once, in its order, rather than once per line at random.
    let ids: Vec<&str> = (0..members.len() as u32)
        .into_par_iter()
        .map(|m| members.id(m))
        .collect();
    let query = |i: usize| {
        let l = &night.lines[firsts[i] as usize];
        Care {
            member_id: ids[l.member as usize],
            provider_agb: l.provider_agb,
            service_date: l.service_date.as_u32(),
            code: night.code(l).1,
            quantity: l.quantity,
            claimed: l.amount.0,
            diagnosis: night.diagnosis(l),
        }
    };
    let paid = ledger.paid_care(firsts.len(), &query)?;
    let earlier = firsts
        .iter()
        .zip(paid)
        .filter_map(|(&s, id)| {
            let id = id?;
            let l = &night.lines[s as usize];
            // Reversed by a credit tonight: declared again on purpose.
            (!credited.contains(&(l.provider_agb, id.as_str()))).then(|| (s, id.into_boxed_str()))
        })
        .collect();
    in_run.sort_unstable();
    Ok((in_run, earlier))
}

/// The lines whose key (provider AGB + line_id) an earlier line of this run took, and those
/// whose key an earlier run processed. A key is taken by the first line that passed the
/// checks before it; equal hashes are compared exactly.
fn duplicates(
    night: &Night,
    ledger: &mut dyn Ledger,
    own: &dyn Fn(&Night, u32) -> bool,
) -> Result<(Vec<u32>, Vec<u32>), Error> {
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
    // Credits of every shard are asked: a credit the ledger does not reject reverses its line
    // for the duplicate-care check, whoever's line that is.
    candidates.retain(|&s| own(night, s) || night.lines[s as usize].credit());
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
