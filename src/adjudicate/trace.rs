//! What adjudication did to a line, step by step, for `declaro explain` (issue 18).
//!
//! Adjudication takes a [`Tracer`]. The night's run passes `()`, whose [`Tracer::ON`] is false:
//! every step is built inside a closure that is then never called, so the run pays nothing for
//! the trace. `explain` passes a [`Steps`] and gets the steps in the order they were taken.

use crate::model::Cents;
use crate::night::Payment;
use rustc_hash::FxHashMap;
use serde::Serialize;

/// Receives adjudication's steps.
pub trait Tracer {
    /// Whether steps are wanted; when false no step is built.
    const ON: bool;
    /// Records one step.
    fn push(&mut self, step: Step);
    /// A layer of a debit line paid `amount` under benefit `benefit` of product `product`
    /// (indexes in the policy set).
    #[inline(always)]
    fn paid_layer(&mut self, _product: usize, _benefit: u16, _amount: Cents) {}
    /// A credit line reversed a payment; `reversed` is the credit's (negative) payment.
    #[inline(always)]
    fn credited(&mut self, _reversed: &Payment) {}
}

impl Tracer for () {
    const ON: bool = false;
    fn push(&mut self, _: Step) {}
}

/// Records every step.
pub type Steps = Vec<Step>;

impl Tracer for Steps {
    const ON: bool = true;
    fn push(&mut self, step: Step) {
        Vec::push(self, step);
    }
}

/// What was paid per product and benefit: the night's run adjudicates with one per worker and
/// adds them up (integer sums, so the total does not depend on the threads).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PaidTally {
    /// (product, benefit) to (layers paid, amount). A credit reverses a whole payment, whose
    /// benefits the ledger does not keep: it counts under [`PaidTally::CREDITS`] of the
    /// basic product (its basic part) and of the one supplementary product that paid (its
    /// supplementary part; [`PaidTally::SEVERAL`] when more than one did).
    pub paid: FxHashMap<(u16, u16), (u64, Cents)>,
}

impl PaidTally {
    /// The benefit index under which credits count.
    pub const CREDITS: u16 = u16::MAX;
    /// The product index of a credit's supplementary part paid by several products.
    pub const SEVERAL: u16 = u16::MAX;

    fn add(&mut self, product: u16, benefit: u16, amount: Cents) {
        let e = self.paid.entry((product, benefit)).or_default();
        e.0 += 1;
        e.1 += amount;
    }

    /// Adds another tally.
    pub fn merge(&mut self, other: PaidTally) {
        for (k, (n, c)) in other.paid {
            let e = self.paid.entry(k).or_default();
            e.0 += n;
            e.1 += c;
        }
    }
}

impl Tracer for PaidTally {
    const ON: bool = false;
    fn push(&mut self, _: Step) {}
    fn paid_layer(&mut self, product: usize, benefit: u16, amount: Cents) {
        self.add(product as u16, benefit, amount);
    }
    fn credited(&mut self, reversed: &Payment) {
        let mut products = reversed.products.iter();
        // Basic first (Products keeps the layer order), when the basic layer paid.
        if !reversed.paid_basic.is_zero() {
            if let Some(basic) = products.next() {
                self.add(basic as u16, Self::CREDITS, reversed.paid_basic);
            }
        }
        if !reversed.paid_supplementary.is_zero() {
            let rest: Vec<usize> = products.collect();
            let product = match rest.as_slice() {
                [one] => *one as u16,
                _ => Self::SEVERAL,
            };
            self.add(product, Self::CREDITS, reversed.paid_supplementary);
        }
    }
}

/// Records a step built by `f`, when the tracer wants steps.
#[inline(always)]
pub fn note<T: Tracer>(tr: &mut T, f: impl FnOnce() -> Step) {
    if T::ON {
        tr.push(f());
    }
}

/// One product held on the service date, in layer order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HeldProduct {
    pub product: String,
    /// `basic` or `supplementary`.
    pub layer: &'static str,
    /// The first day of the continuous insurance its register row belongs to.
    pub since: String,
}

/// A counter after a paid layer: what the limit's window holds before and after the line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Counter {
    pub pool: String,
    /// The window the pool counts in (`2024`, `2023-2024`, `2024-03-05`, `condition 1234`).
    pub window: String,
    pub units_before: u32,
    pub units_after: u32,
    pub euros_before: String,
    pub euros_after: String,
}

/// One step of adjudication. Amounts are euros with two decimals.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// A new line of the member starts (its sequence number in the run).
    Line {
        seq: u32,
    },
    /// A credit line reverses the paid line it names.
    Credit {
        reverses: String,
        /// `reversed`, or why not: `no paid line`, `credited before`, `amount differs`.
        result: &'static str,
    },
    /// The products held on the service date, basic first.
    Held {
        products: Vec<HeldProduct>,
    },
    /// No product is held on the service date.
    NotInsured,
    /// No product knows the code.
    UnknownCode {
        code: String,
    },
    /// The basic product has no mandatory deductible for the line's year.
    YearNotConfigured {
        product: String,
        year: u32,
    },
    /// A layer: the benefit of the product that matched the line, or none and why.
    Layer {
        product: String,
        benefit: Option<String>,
        benefit_name: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        no_benefit: Option<&'static str>,
    },
    /// Earlier layers paid the whole line: this one has nothing left.
    NothingLeft {
        product: String,
    },
    /// A condition of the benefit, checked.
    Condition {
        check: &'static str,
        passed: bool,
        detail: String,
    },
    /// A count limit: the units the pool's window holds before the line, and how many of the
    /// line's units it allows.
    Units {
        pool: String,
        window: String,
        max: u32,
        used_before: u32,
        quantity: u32,
        allowed: u32,
    },
    /// Authorization is needed from a session number on: the units allowed without one.
    AuthorizationFrom {
        from: u32,
        used_before: u32,
        allowed: u32,
    },
    /// What the percentage applies to.
    Base {
        /// `claim` or `member share` (what earlier layers left).
        basis: &'static str,
        amount: String,
        /// The statutory personal contribution settled first (basic layer), if any.
        legal_copay: Option<String>,
        /// `allowed/quantity` when only part of the units are paid.
        units_paid: Option<String>,
    },
    Percentage {
        percent: String,
        amount: String,
    },
    /// The tariff cap: per unit, times the units paid.
    TariffCap {
        per_unit: String,
        units: u32,
        cap: String,
        applied: bool,
        amount: String,
    },
    MaxPerLine {
        cap: String,
        applied: bool,
        amount: String,
    },
    /// A euro limit: what the pool's window holds before the line, and the room left.
    Euros {
        pool: String,
        window: String,
        max: String,
        used_before: String,
        room: String,
        applied: bool,
        amount: String,
    },
    /// The layer rejected the line (another layer may still pay it).
    Rejected {
        reason: &'static str,
    },
    /// The layer paid `amount`, with the counters it added to.
    Paid {
        product: String,
        amount: String,
        counters: Vec<Counter>,
    },
    /// The deductible (eigen risico) on a basic payment.
    Deductible {
        year: u32,
        mandatory: String,
        voluntary: String,
        used_before: String,
        charged: String,
        used_after: String,
    },
    /// No deductible on this basic payment, and why.
    NoDeductible {
        why: &'static str,
    },
}
