//! Stage 4, adjudicate: tonight's members' state loaded from the ledger in one batch, then every
//! member's lines through [`crate::adjudicate`] on every core. Members are independent, so the
//! result does not depend on the number of threads.

use super::group::Groups;
use crate::adjudicate::{adjudicate_member, Accumulators, Adjudicated, Context};
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

/// Adjudicates every group; writes each line's outcome into `outcomes` (by sequence number).
pub fn adjudicate(
    ctx: &Context<'_>,
    members: &Members,
    groups: &Groups,
    outcomes: &mut [Outcome],
    ledger: &mut (dyn Ledger + Send),
    progress: &super::progress::Progress,
) -> Result<Vec<MemberResult>, Error> {
    let night = ctx.night;
    let queries: Vec<MemberQuery<'_>> = groups
        .members
        .iter()
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
    let results = groups
        .members
        .par_iter()
        .zip(states.into_par_iter())
        .map(|((m, range), mut state)| {
            let seqs = &groups.order[range.clone()];
            let mut local = vec![Outcome::Pending; seqs.len()];
            let member = members.get(*m);
            let adjudicated =
                adjudicate_member(ctx, &member, seqs, &mut state, &mut local, &mut ());
            for (&s, o) in seqs.iter().zip(local) {
                scatter.put(s as usize, o);
            }
            progress.inc(1);
            MemberResult {
                member: *m,
                acc: state.acc,
                adjudicated,
            }
        })
        .collect();
    Ok(results)
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
