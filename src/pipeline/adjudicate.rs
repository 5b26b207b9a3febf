//! Stage 4, adjudicate: tonight's members' state loaded from the ledger in one batch, then every
//! member's lines through [`crate::adjudicate`] on every core. Members are independent, so the
//! result does not depend on the number of threads.

use super::group::Groups;
use crate::adjudicate::{adjudicate_member, Accumulators, Adjudicated, Context, PaidTally};
use crate::error::Error;
use crate::ledger::{Ledger, MemberQuery};
use crate::night::Outcome;
use crate::registers::Members;
use rayon::prelude::*;

/// One member's result: the new accumulators and what was paid.
pub struct MemberResult {
    /// Index in the register.
    pub member: u32,
    pub acc: Accumulators,
    pub adjudicated: Adjudicated,
}

/// A worker's tally, handed to the run's when the worker's share is done (on drop: rayon's
/// `map_init` gives no other end to a worker's state).
struct WorkerTally<'a> {
    tally: PaidTally,
    run: &'a std::sync::Mutex<PaidTally>,
}

impl Drop for WorkerTally<'_> {
    fn drop(&mut self) {
        let mine = std::mem::take(&mut self.tally);
        match self.run.lock() {
            Ok(mut run) => run.merge(mine),
            Err(poisoned) => poisoned.into_inner().merge(mine),
        }
    }
}

/// Adjudicates every group; writes each line's outcome into `outcomes` (by sequence number).
/// Returns each member's result and what was paid per product and benefit.
pub fn adjudicate(
    ctx: &Context<'_>,
    members: &Members,
    groups: &Groups,
    outcomes: &mut [Outcome],
    ledger: &mut (dyn Ledger + Send),
    progress: &super::progress::Progress,
) -> Result<(Vec<MemberResult>, PaidTally), Error> {
    let night = ctx.night;
    // On every core: finding the credits touches each line once, in member order.
    let queries: Vec<MemberQuery<'_>> = groups
        .members
        .par_iter()
        .map(|(m, range)| MemberQuery {
            member_id: members.get(*m).id,
            credits: groups.order[range.clone()]
                .iter()
                .map(|&s| &night.lines[s as usize])
                .filter(|l| l.credit())
                .map(|l| (l.provider_agb, night.related_line_id(l)))
                .collect(),
        })
        .collect();
    let states = ledger.load(&queries, ctx.policies)?;
    drop(queries);
    let scatter = Scatter::new(outcomes);
    let tally = std::sync::Mutex::new(PaidTally::default());
    let results = groups
        .members
        .par_iter()
        .zip(states.into_par_iter())
        .map_init(
            || WorkerTally {
                tally: PaidTally::default(),
                run: &tally,
            },
            |worker, ((m, range), mut state)| {
                let seqs = &groups.order[range.clone()];
                // The member's lines are spread over the night: ask for all of them before the
                // first is needed, so the cache misses overlap instead of coming one by one.
                for &s in seqs {
                    crate::night::prefetch(&night.lines[s as usize]);
                }
                let mut local = vec![Outcome::Pending; seqs.len()];
                let member = members.get(*m);
                let adjudicated = adjudicate_member(
                    ctx,
                    &member,
                    seqs,
                    &mut state,
                    &mut local,
                    &mut worker.tally,
                );
                for (&s, o) in seqs.iter().zip(local) {
                    scatter.put(s as usize, o);
                }
                progress.inc(1);
                MemberResult {
                    member: *m,
                    acc: state.acc,
                    adjudicated,
                }
            },
        )
        .collect();
    // Every worker's tally was handed over when rayon dropped its state.
    let tally = tally.into_inner().unwrap_or_else(|p| p.into_inner());
    Ok((results, tally))
}

/// Writes outcomes into one slice from many threads, each index at most once: the groups'
/// ranges of [`Groups::order`] are disjoint and every sequence number appears in it once.
struct Scatter<'a> {
    ptr: *mut Outcome,
    len: usize,
    _slice: std::marker::PhantomData<&'a mut [Outcome]>,
}

// SAFETY: `put` writes distinct indexes only (see the type's doc), so no two threads touch the
// same element, and the slice outlives the `Scatter` (the lifetime `'a`).
unsafe impl Sync for Scatter<'_> {}

impl<'a> Scatter<'a> {
    fn new(slice: &'a mut [Outcome]) -> Self {
        Scatter {
            ptr: slice.as_mut_ptr(),
            len: slice.len(),
            _slice: std::marker::PhantomData,
        }
    }

    fn put(&self, i: usize, o: Outcome) {
        assert!(i < self.len, "outcome index {i} out of {}", self.len);
        // SAFETY: in bounds (checked above); each index is written by one thread only.
        unsafe { self.ptr.add(i).write(o) }
    }
}
