//! Stage 3, group: the screened lines per member, each member's by service date, ties in input
//! order. One sort of packed integer keys (`member << 32 | date`, then the line's number), so
//! each member's lines form one slice of the order.

use crate::intern::NONE;
use crate::night::{Night, Outcome};
use rayon::prelude::*;
use std::ops::Range;

/// The adjudication order and each member's slice of it.
pub struct Groups {
    /// Line sequence numbers, member by member, each member's by date.
    pub order: Vec<u32>,
    /// Each member (index in the register) with its range in `order`, by member index.
    pub members: Vec<(u32, Range<usize>)>,
}

/// Groups the lines still to adjudicate (outcome pending) by their member.
pub fn group(night: &Night) -> Groups {
    let mut keyed: Vec<(u64, u32)> = (0..night.lines.len() as u32)
        .into_par_iter()
        .filter_map(|s| {
            if night.outcomes[s as usize] != Outcome::Pending {
                return None;
            }
            let line = &night.lines[s as usize];
            let m = line.member;
            (m != NONE).then(|| {
                (
                    u64::from(m) << 32 | u64::from(line.service_date.as_u32()),
                    s,
                )
            })
        })
        .collect();
    keyed.par_sort_unstable();
    let mut members: Vec<(u32, Range<usize>)> = Vec::new();
    for (k, &(key, _)) in keyed.iter().enumerate() {
        let m = (key >> 32) as u32;
        match members.last_mut() {
            Some((last, range)) if *last == m => range.end = k + 1,
            _ => members.push((m, k..k + 1)),
        }
    }
    let order = keyed.into_iter().map(|(_, s)| s).collect();
    Groups { order, members }
}
