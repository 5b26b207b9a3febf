//! Adjudication: a member's lines, sorted by service date, run through the member's products
//! layer by layer (basic first), against the member's accumulators. Pure: no I/O in here.

mod codes;
pub mod trace;

pub use codes::CodeTable;
pub use trace::{PaidTally, Step, Steps, Tracer};

use crate::model::{Cents, Date, Reason, Reasons};
use crate::night::{Detail, Line, Night, Outcome, Payment, Products, Rejection, Why};
use crate::policy::{condition_bucket, Basis, Benefit, Period, PolicySet, Product, CONDITION_CODE};
use crate::registers::{continuous_starts, Holding, Member, Providers};
use rustc_hash::FxHashMap;
use trace::{note, Counter, HeldProduct};

/// What a limit has used in one bucket (a year, or a date for per-date limits).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Used {
    pub units: u32,
    pub euros: Cents,
}

/// Identifies one counter: product and pool by index in the [`PolicySet`], and its bucket
/// (a calendar year like 2024, or a date as `yyyymmdd` for treatment-date limits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PoolKey {
    pub product: u16,
    pub pool: u16,
    pub bucket: u32,
}

/// A member's accumulators: the state carried from line to line and from run to run. A member
/// has a handful of counters, so they are kept sorted in small vectors.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Accumulators {
    /// Sorted by key.
    pub pools: Vec<(PoolKey, Used)>,
    /// Deductible charged per calendar year, sorted by year.
    pub deductible: Vec<(u32, Cents)>,
}

impl Accumulators {
    /// The total used by a pool over the window of `period` that contains `date` (for a
    /// per-condition pool: the bucket `condition`).
    fn window(
        &self,
        product: usize,
        pool: usize,
        period: Period,
        date: Date,
        start: Date,
        condition: u32,
    ) -> Used {
        let (from, to) = match period {
            Period::TreatmentDate => (date.as_u32(), date.as_u32()),
            Period::CalendarYears(n) => ((date.year() + 1).saturating_sub(n), date.year()),
            Period::InsuranceDuration => (start.year(), date.year()),
            Period::Condition => (condition, condition),
        };
        let lo = PoolKey {
            product: product as u16,
            pool: pool as u16,
            bucket: from,
        };
        let hi = PoolKey { bucket: to, ..lo };
        let first = self.pools.partition_point(|(k, _)| *k < lo);
        self.pools[first..]
            .iter()
            .take_while(|(k, _)| *k <= hi)
            .fold(Used::default(), |a, (_, u)| Used {
                units: a.units + u.units,
                euros: a.euros + u.euros,
            })
    }

    fn entry(&mut self, key: PoolKey) -> &mut Used {
        let i = match self.pools.binary_search_by_key(&key, |(k, _)| *k) {
            Ok(i) => i,
            Err(i) => {
                self.pools.insert(i, (key, Used::default()));
                i
            }
        };
        &mut self.pools[i].1
    }

    fn add(
        &mut self,
        product: usize,
        pool: usize,
        bucket: u32,
        units: u32,
        euros: Cents,
    ) -> PoolKey {
        let key = PoolKey {
            product: product as u16,
            pool: pool as u16,
            bucket,
        };
        let u = self.entry(key);
        u.units += units;
        u.euros += euros;
        key
    }

    fn deductible_mut(&mut self, year: u32) -> &mut Cents {
        let i = match self.deductible.binary_search_by_key(&year, |(y, _)| *y) {
            Ok(i) => i,
            Err(i) => {
                self.deductible.insert(i, (year, Cents::ZERO));
                i
            }
        };
        &mut self.deductible[i].1
    }

    /// Gives back what a line used (a credit reverses it).
    fn undo(&mut self, prior: &Prior) {
        for e in &prior.effects {
            if let Ok(i) = self.pools.binary_search_by_key(&e.key, |(k, _)| *k) {
                let u = &mut self.pools[i].1;
                u.units = u.units.saturating_sub(e.units);
                u.euros -= e.euros;
            }
        }
        let year = u32::from(prior.payment.year);
        if self
            .deductible
            .binary_search_by_key(&year, |(y, _)| *y)
            .is_ok()
        {
            *self.deductible_mut(year) -= prior.payment.deductible;
        }
    }
}

/// What one paid line added to one counter; kept so that a credit can give it back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Effect {
    pub key: PoolKey,
    pub units: u32,
    pub euros: Cents,
}

/// A paid line that a credit in this run may reverse (from an earlier run, or from this one).
#[derive(Clone, Debug)]
pub struct Prior {
    pub claimed: Cents,
    pub payment: Payment,
    pub effects: Vec<Effect>,
    pub credited: bool,
}

/// A member's state during a run: the accumulators and the lines credits may reverse.
#[derive(Clone, Debug, Default)]
pub struct MemberState {
    pub acc: Accumulators,
    /// Paid lines by (provider AGB, line_id): from earlier runs (loaded for this run's credits)
    /// and from this run (kept when a credit in this run names them).
    pub priors: FxHashMap<(u32, Box<str>), Prior>,
}

impl MemberState {
    /// Adds a line as the ledger keeps it, to rebuild a member's state from the lines of the
    /// runs (`declaro explain` replays a run so): a paid debit line (`credit_of` `None`) adds
    /// its counters and deductible and can be credited later; a credit gives back those of the
    /// line it names.
    pub fn apply_stored(
        &mut self,
        provider_agb: u32,
        line_id: &str,
        line: Prior,
        credit_of: Option<&str>,
    ) {
        match credit_of {
            None => {
                for e in &line.effects {
                    let u = self.acc.entry(e.key);
                    u.units += e.units;
                    u.euros += e.euros;
                }
                *self.acc.deductible_mut(u32::from(line.payment.year)) += line.payment.deductible;
                self.priors.insert((provider_agb, line_id.into()), line);
            }
            Some(named) => {
                if let Some(prior) = self.priors.get_mut(&(provider_agb, named.into())) {
                    prior.credited = true;
                    let prior = prior.clone();
                    self.acc.undo(&prior);
                }
            }
        }
    }
}

/// A product held on a line's service date, with the first day of the continuous insurance
/// its register row belongs to (back-to-back rows of one product are one insurance).
#[derive(Clone, Copy, Debug)]
pub struct Held<'a> {
    pub holding: &'a Holding,
    pub since: Date,
}

/// What adjudication reads besides the member and the lines.
pub struct Context<'a> {
    pub policies: &'a PolicySet,
    pub providers: &'a Providers,
    pub codes: &'a CodeTable,
    pub night: &'a Night,
}

/// A line a member's adjudication paid (or credited), with what it added to the counters.
#[derive(Clone, Copy, Debug)]
pub struct PaidLine {
    pub seq: u32,
    /// Its effects in [`Adjudicated::effects`].
    pub effects: (u32, u32),
}

/// The result of one member's lines besides their outcomes.
#[derive(Debug, Default)]
pub struct Adjudicated {
    pub paid: Vec<PaidLine>,
    pub effects: Vec<Effect>,
}

impl Adjudicated {
    /// The effects of one paid line.
    pub fn effects_of(&self, p: &PaidLine) -> &[Effect] {
        self.effects
            .get(p.effects.0 as usize..p.effects.1 as usize)
            .unwrap_or(&[])
    }
}

/// Adjudicates one member's lines (`seqs`, sorted by service date, ties in input order) into
/// `outcomes` (one per line of `seqs`). Credit lines reverse the line they name, giving its
/// sessions, euros and deductible back. `tr` gets each step taken (`()` for none).
pub fn adjudicate_member<T: Tracer>(
    ctx: &Context<'_>,
    member: &Member<'_>,
    seqs: &[u32],
    state: &mut MemberState,
    outcomes: &mut [Outcome],
    tr: &mut T,
) -> Adjudicated {
    let night = ctx.night;
    // Only the lines a credit of this run names need to be remembered.
    let named: Vec<(u32, &str)> = seqs
        .iter()
        .map(|&s| &night.lines[s as usize])
        .filter(|l| l.credit())
        .map(|l| (l.provider_agb, night.related_line_id(l)))
        .collect();
    let mut out = Adjudicated::default();
    let since = continuous_starts(member.holdings, |p| ctx.policies.products[p].basic);
    let mut active: Vec<Held<'_>> = Vec::with_capacity(member.holdings.len());
    for (&seq, outcome) in seqs.iter().zip(outcomes.iter_mut()) {
        let line = &night.lines[seq as usize];
        note(tr, || Step::Line { seq });
        if line.credit() {
            *outcome = reverse(night, line, state);
            if let Outcome::Paid(p) = outcome {
                tr.credited(p);
            }
            note(tr, || Step::Credit {
                reverses: night.related_line_id(line).into(),
                result: match outcome {
                    Outcome::Paid(_) => "reversed",
                    Outcome::Rejected(_, Detail::CreditedBefore) => "credited before",
                    Outcome::Rejected(_, Detail::CreditAmount(_)) => "amount differs",
                    _ => "no paid line",
                },
            });
            if matches!(outcome, Outcome::Paid(_)) {
                let at = out.effects.len() as u32;
                out.paid.push(PaidLine {
                    seq,
                    effects: (at, at),
                });
            }
            continue;
        }
        let from = out.effects.len();
        active.clear();
        active.extend(
            member
                .holdings
                .iter()
                .zip(&since)
                .filter(|(h, _)| h.covers(line.service_date))
                .map(|(holding, &since)| Held { holding, since }),
        );
        *outcome = adjudicate_line(
            ctx,
            member,
            &active,
            line,
            &mut state.acc,
            &mut out.effects,
            tr,
        );
        match outcome {
            Outcome::Paid(p) => {
                let to = out.effects.len();
                out.paid.push(PaidLine {
                    seq,
                    effects: (from as u32, to as u32),
                });
                // The line id is read (a cache miss: ids are kept in input order) only when a
                // credit of this member's night may name it.
                let id = (!named.is_empty()).then(|| night.line_id(line));
                if let Some(id) = id.filter(|id| named.contains(&(line.provider_agb, id))) {
                    let prior = Prior {
                        claimed: line.amount,
                        payment: *p,
                        effects: out.effects[from..to].to_vec(),
                        credited: false,
                    };
                    state.priors.insert((line.provider_agb, id.into()), prior);
                }
            }
            _ => out.effects.truncate(from),
        }
    }
    out
}

/// A credit line: the exact negative of the line it names, which must be paid and not yet credited.
fn reverse(night: &Night, line: &Line, state: &mut MemberState) -> Outcome {
    let key = (line.provider_agb, night.related_line_id(line).into());
    let Some(prior) = state.priors.get_mut(&key) else {
        return Outcome::Rejected(Reason::UnmatchedCredit, Detail::CreditUnmatched);
    };
    if prior.credited {
        return Outcome::Rejected(Reason::Duplicate, Detail::CreditedBefore);
    }
    if prior.claimed != line.amount {
        return Outcome::Rejected(Reason::UnmatchedCredit, Detail::CreditAmount(prior.claimed));
    }
    prior.credited = true;
    let prior = prior.clone();
    state.acc.undo(&prior);
    Outcome::Paid(prior.payment.reversed())
}

/// Adjudicates one debit line against the products `active` on its service date, updating the
/// accumulators and appending what it used to `effects`.
pub fn adjudicate_line<T: Tracer>(
    ctx: &Context<'_>,
    member: &Member<'_>,
    active: &[Held<'_>],
    line: &Line,
    acc: &mut Accumulators,
    effects: &mut Vec<Effect>,
    tr: &mut T,
) -> Outcome {
    if active.is_empty() {
        note(tr, || Step::NotInsured);
        return Outcome::Rejected(Reason::NotInsured, Detail::NotInsured);
    }
    if !ctx.codes.known(line.code) {
        note(tr, || Step::UnknownCode {
            code: ctx.night.code(line).1.into(),
        });
        return Outcome::Rejected(Reason::UnknownCode, Detail::UnknownCode);
    }
    let is_basic = |h: &&Held<'_>| ctx.policies.products[h.holding.product()].basic;
    let basic = active.iter().find(is_basic).copied();
    let layers = active
        .iter()
        .filter(is_basic)
        .chain(active.iter().filter(|h| !is_basic(h)));
    note(tr, || Step::Held {
        products: layers
            .clone()
            .map(|h| {
                let p = &ctx.policies.products[h.holding.product()];
                HeldProduct {
                    product: p.id.clone(),
                    layer: if p.basic { "basic" } else { "supplementary" },
                    since: h.since.to_string(),
                }
            })
            .collect(),
    });

    let year = line.year();
    let condition = condition_bucket(ctx.night.diagnosis(line));
    let provider_tags = ctx.providers.tags(line.provider_agb);
    if let Some(product) = basic.and_then(|h| unconfigured_year(ctx, member, h.holding, line, year))
    {
        note(tr, || Step::YearNotConfigured {
            product: ctx.policies.products[product].id.clone(),
            year,
        });
        let year = u16::try_from(year).unwrap_or(u16::MAX);
        let product = u8::try_from(product).unwrap_or(u8::MAX);
        return Outcome::Rejected(
            Reason::YearNotConfigured,
            Detail::YearNotConfigured { product, year },
        );
    }
    let mut paid_basic = Cents::ZERO;
    let mut deductible = Cents::ZERO;
    let mut paid_supplementary = Cents::ZERO;
    let mut reasons = Reasons::default();
    let mut rejections = Reasons::default();
    let mut first_rejection: Option<Rejection> = None;
    let mut products = Products::default();
    let mut matched = false;

    for held in layers {
        let h = held.holding;
        let product = &ctx.policies.products[h.product()];
        let Some(c) = ctx
            .codes
            .candidates(line.code, h.product())
            .iter()
            .find(|c| {
                product.benefits[usize::from(c.benefit)].accepts(line.indication, provider_tags)
            })
        else {
            note(tr, || Step::Layer {
                product: product.id.clone(),
                benefit: None,
                benefit_name: None,
                no_benefit: Some(if ctx.codes.candidates(line.code, h.product()).is_empty() {
                    "no benefit of the product lists the code"
                } else {
                    "the benefits that list the code are for another indication (CSI) or \
                     other provider contracts"
                }),
            });
            continue;
        };
        let benefit = &product.benefits[usize::from(c.benefit)];
        note(tr, || Step::Layer {
            product: product.id.clone(),
            benefit: Some(benefit.id.clone()),
            benefit_name: Some(benefit.name.clone()),
            no_benefit: None,
        });
        matched = true;
        let left = line.amount - paid_basic - paid_supplementary;
        if left <= Cents::ZERO {
            note(tr, || Step::NothingLeft {
                product: product.id.clone(),
            });
            continue;
        }
        let layer = Layer {
            product,
            index: h.product(),
            benefit,
            benefit_index: c.benefit,
            unit_max: c.unit_max,
            jaws: c.jaws,
            since: held.since,
            basic_since: basic.map(|b| b.since),
            condition,
            member,
            line,
            provider_tags,
        };
        match layer.pay(left, acc, effects, tr) {
            Ok((amount, why)) => {
                reasons = reasons.union(why);
                if amount.is_zero() {
                    continue;
                }
                products.push(h.product());
                tr.paid_layer(h.product(), c.benefit, amount);
                if product.basic {
                    paid_basic += amount;
                    let voluntary = voluntary_deductible(ctx, member, h, line);
                    let d = layer.charge_deductible(amount, year, voluntary, acc, tr);
                    if !d.is_zero() {
                        deductible += d;
                        reasons.insert(Reason::Deductible);
                    }
                } else {
                    paid_supplementary += amount;
                }
            }
            Err((r, d)) => {
                note(tr, || Step::Rejected { reason: r.code() });
                rejections.insert(r);
                first_rejection.get_or_insert((r, d));
            }
        }
    }
    if !matched {
        return Outcome::Rejected(Reason::NotCovered, Detail::NotCovered);
    }
    let paid = paid_basic + paid_supplementary;
    if paid.is_zero() {
        let (r, d) = first_rejection.unwrap_or((Reason::NotCovered, Detail::NothingPaid));
        return Outcome::Rejected(r, d);
    }
    let member_pays = line.amount - paid;
    if member_pays.is_zero() {
        // A later layer covered what an earlier one left (basic 75%, the supplement the rest):
        // nothing was reduced for the member, except the deductible charged back.
        let mut only = Reasons::default();
        if reasons.contains(Reason::Deductible) {
            only.insert(Reason::Deductible);
        }
        reasons = only;
    } else {
        reasons = reasons.union(rejections);
    }
    Outcome::Paid(Payment {
        paid_basic,
        deductible,
        paid_supplementary,
        reasons,
        products,
        year: u16::try_from(year).unwrap_or(u16::MAX),
    })
}

/// The voluntary deductible a basic payment on `line` counts toward: that of the basic row held
/// on the service date (`h`), except for a line counted toward an earlier year's deductible (a
/// trajectory started before the service year, contract section 2): then that of the basic
/// row held on the trajectory's start date, else of the last basic row held in that year
/// (else, when the member held no basic row that year, `h`'s).
fn voluntary_deductible(ctx: &Context<'_>, member: &Member<'_>, h: &Holding, line: &Line) -> Cents {
    let Some(start) = line
        .trajectory()
        .filter(|t| t.year() != line.service_date.year())
    else {
        return h.voluntary_deductible();
    };
    let basic = |r: &&Holding| ctx.policies.products[r.product()].basic;
    let year = start.year();
    let held_then = member
        .holdings
        .iter()
        .filter(basic)
        .find(|r| r.covers(start));
    let in_year = || {
        member
            .holdings
            .iter()
            .filter(basic)
            .filter(|r| r.start.year() <= year && r.end().is_none_or(|e| e.year() >= year))
            .max_by_key(|r| r.start)
    };
    held_then
        .or_else(in_year)
        .unwrap_or(h)
        .voluntary_deductible()
}

/// The basic product of `h` when it would charge this line to a deductible it has no mandatory
/// amount for in `year`: such a line is rejected rather than charged a silent zero.
fn unconfigured_year(
    ctx: &Context<'_>,
    member: &Member<'_>,
    h: &Holding,
    line: &Line,
    year: u32,
) -> Option<usize> {
    let product = &ctx.policies.products[h.product()];
    let d = product.deductible.as_ref()?;
    if d.mandatory.contains_key(&year)
        || d.exempt_under_age
            .is_some_and(|a| member.birth_date.age_on(line.service_date) < a)
    {
        return None;
    }
    let tags = ctx.providers.tags(line.provider_agb);
    let charges = ctx
        .codes
        .candidates(line.code, h.product())
        .iter()
        .map(|c| &product.benefits[usize::from(c.benefit)])
        .find(|b| b.accepts(line.indication, tags))
        .is_some_and(|b| b.deductible);
    charges.then_some(h.product())
}

/// One product's benefit applied to one line.
struct Layer<'a> {
    product: &'a Product,
    index: usize,
    benefit: &'a Benefit,
    benefit_index: u16,
    unit_max: Option<Cents>,
    /// The jaws the line's code treats, for the benefit's authorization threshold (0: none).
    jaws: u8,
    /// The first day of the continuous insurance the product's register row belongs to.
    since: Date,
    /// The same for the basic insurance held on the service date.
    basic_since: Option<Date>,
    /// The bucket of the line's condition, for per-condition limits.
    condition: u32,
    member: &'a Member<'a>,
    line: &'a Line,
    provider_tags: u64,
}

impl Layer<'_> {
    fn window(&self, acc: &Accumulators, pool: usize) -> Used {
        let period = self.product.pools[pool].period;
        acc.window(
            self.index,
            pool,
            period,
            self.line.service_date,
            self.since,
            self.condition,
        )
    }

    /// The window a pool counts in, as a person reads it (for the trace).
    fn window_label(&self, pool: usize) -> String {
        let date = self.line.service_date;
        match self.product.pools[pool].period {
            Period::TreatmentDate => date.to_string(),
            Period::CalendarYears(n) if n > 1 => {
                format!("{}-{}", (date.year() + 1).saturating_sub(n), date.year())
            }
            Period::CalendarYears(_) => date.year().to_string(),
            Period::InsuranceDuration => format!("{}-{}", self.since.year(), date.year()),
            Period::Condition => match self.condition.checked_sub(CONDITION_CODE) {
                Some(code) => format!("condition {code}"),
                None => "no declared condition".into(),
            },
        }
    }

    /// Notes a checked condition (its detail is worded only for a tracer that wants steps).
    fn check<T: Tracer>(
        &self,
        tr: &mut T,
        check: &'static str,
        passed: bool,
        detail: impl FnOnce() -> String,
    ) {
        note(tr, || Step::Condition {
            check,
            passed,
            detail: detail(),
        });
    }

    fn reject<T>(&self, r: Reason, why: Why) -> Result<T, Rejection> {
        Err((
            r,
            Detail::Benefit {
                product: self.index as u8,
                benefit: self.benefit_index,
                why,
            },
        ))
    }

    /// Checks the benefit's conditions and limits; on success updates the pools and returns
    /// the amount paid with the reasons it was reduced.
    fn pay<T: Tracer>(
        &self,
        left: Cents,
        acc: &mut Accumulators,
        effects: &mut Vec<Effect>,
        tr: &mut T,
    ) -> Result<(Cents, Reasons), Rejection> {
        let (b, line, date) = (self.benefit, self.line, self.line.service_date);
        self.check_conditions(tr)?;

        // Count limits: sessions, days, months, items.
        let quantity = u32::from(line.quantity);
        let mut allowed = quantity;
        let mut count_reason = None;
        for &p in &b.pools {
            if let Some(max) = self.product.pools[p].max_units {
                let used = self.window(acc, p).units;
                let room = max.saturating_sub(used);
                if room < allowed {
                    allowed = room;
                    count_reason = Some((Reason::SessionLimit, Why::SessionLimit(max)));
                }
                note(tr, || Step::Units {
                    pool: self.product.pools[p].id.clone(),
                    window: self.window_label(p),
                    max,
                    used_before: used,
                    quantity,
                    allowed,
                });
            }
        }
        if let (Some((p, from)), false) = (b.authorization_from, line.authorization()) {
            let used = self.window(acc, p).units;
            let room = from.saturating_sub(1).saturating_sub(used);
            if room < allowed {
                allowed = room;
                count_reason = Some((Reason::NoAuthorization, Why::AuthorizationFrom(from)));
            }
            note(tr, || Step::AuthorizationFrom {
                from,
                used_before: used,
                allowed,
            });
        }
        if allowed == 0 {
            let (r, w) = count_reason.unwrap_or((Reason::SessionLimit, Why::SessionLimit(0)));
            return self.reject(r, w);
        }
        for &p in &b.pools {
            if self.product.pools[p].once_per_date {
                let earlier = self.window(acc, p).units;
                self.check(tr, "once per date", earlier == 0, || {
                    format!(
                        "{} units of {} on {date} before this line",
                        earlier, self.product.pools[p].id
                    )
                });
                if earlier > 0 {
                    return self.reject(Reason::SameDay, Why::SameDay);
                }
            }
        }

        let mut why = Reasons::default();
        if let Some((r, _)) = count_reason {
            why.insert(r);
        }
        let mut base = match b.basis {
            Basis::Claim => line.amount,
            Basis::MemberShare => left,
        };
        if self.product.basic && !line.legal_copay.is_zero() {
            // The statutory personal contribution is settled first (seed 004).
            base -= line.legal_copay;
            why.insert(Reason::LegalCopay);
        }
        if allowed < quantity {
            base = base.share(allowed, quantity);
        }
        note(tr, || Step::Base {
            basis: match b.basis {
                Basis::Claim => "claim",
                Basis::MemberShare => "member share",
            },
            amount: base.to_string(),
            legal_copay: (self.product.basic && !line.legal_copay.is_zero())
                .then(|| line.legal_copay.to_string()),
            units_paid: (allowed < quantity).then(|| format!("{allowed}/{quantity}")),
        });
        let mut amount = base.percent(b.percentage);
        if !b.percentage.is_full() {
            why.insert(Reason::Percentage);
        }
        note(tr, || Step::Percentage {
            percent: b.percentage.to_string(),
            amount: amount.to_string(),
        });
        if let Some(unit) = self.unit_max {
            let cap = unit.times(allowed);
            let applied = amount > cap;
            if applied {
                amount = cap;
                why.insert(Reason::TariffCap);
            }
            note(tr, || Step::TariffCap {
                per_unit: unit.to_string(),
                units: allowed,
                cap: cap.to_string(),
                applied,
                amount: amount.to_string(),
            });
        }
        if let Some(cap) = b.max_per_line {
            let applied = amount > cap;
            if applied {
                amount = cap;
                why.insert(Reason::AmountLimit);
            }
            note(tr, || Step::MaxPerLine {
                cap: cap.to_string(),
                applied,
                amount: amount.to_string(),
            });
        }
        for &p in &b.pools {
            if let Some(max) = self.product.pools[p].max_euros {
                let used = self.window(acc, p).euros;
                let room = max - used;
                let applied = amount > room;
                if applied && room > Cents::ZERO {
                    amount = room;
                    why.insert(Reason::AmountLimit);
                }
                note(tr, || Step::Euros {
                    pool: self.product.pools[p].id.clone(),
                    window: self.window_label(p),
                    max: max.to_string(),
                    used_before: used.to_string(),
                    room: room.to_string(),
                    applied,
                    amount: amount.to_string(),
                });
                if room <= Cents::ZERO {
                    return self.reject(Reason::AmountLimit, Why::AmountLimit(max));
                }
            }
        }
        amount = amount.min(left);
        if amount <= Cents::ZERO {
            return Ok((Cents::ZERO, why));
        }
        let before: Vec<Used> = if T::ON {
            b.pools.iter().map(|&p| self.window(acc, p)).collect()
        } else {
            Vec::new()
        };
        for &p in &b.pools {
            let period = self.product.pools[p].period;
            // The counter a line adds to: its date, its condition, else its year.
            let bucket = match period {
                Period::TreatmentDate => date.as_u32(),
                Period::Condition => self.condition,
                _ => date.year(),
            };
            let key = acc.add(self.index, p, bucket, allowed, amount);
            effects.push(Effect {
                key,
                units: allowed,
                euros: amount,
            });
        }
        note(tr, || Step::Paid {
            product: self.product.id.clone(),
            amount: amount.to_string(),
            counters: b
                .pools
                .iter()
                .zip(&before)
                .map(|(&p, before)| Counter {
                    pool: self.product.pools[p].id.clone(),
                    window: self.window_label(p),
                    units_before: before.units,
                    units_after: before.units + allowed,
                    euros_before: before.euros.to_string(),
                    euros_after: (before.euros + amount).to_string(),
                })
                .collect(),
        });
        Ok((amount, why))
    }

    fn check_conditions<T: Tracer>(&self, tr: &mut T) -> Result<(), Rejection> {
        let (b, line, date) = (self.benefit, self.line, self.line.service_date);
        if !self.product.basic && self.product.waiting_period_months > 0 {
            // Both starts are those of the continuous insurance (back-to-back rows are one).
            let later = self.basic_since.is_none_or(|s| self.since > s);
            let until = self.since.add_months(self.product.waiting_period_months);
            let waits = later && date < until;
            self.check(tr, "waiting period", !waits, || {
                if later {
                    format!(
                        "{} months from {}: until {until}",
                        self.product.waiting_period_months, self.since
                    )
                } else {
                    "none: taken out no later than the basic insurance".into()
                }
            });
            if waits {
                return self.reject(Reason::WaitingPeriod, Why::WaitingPeriod(until));
            }
        }
        let age = self.member.birth_date.age_on(date);
        if let Some((months, from_age)) = b.min_insured {
            let until = self.since.add_months(months);
            let short = age >= from_age && date < until;
            self.check(tr, "insured long enough", !short, || {
                format!(
                    "{months} months from {} (from age {from_age}): {until}",
                    self.since
                )
            });
            if short {
                return self.reject(Reason::WaitingPeriod, Why::MinInsured(months, until));
            }
        }
        if b.age_min.is_some() || b.age_max.is_some() {
            let outside = b.age_min.is_some_and(|m| age < m) || b.age_max.is_some_and(|m| age > m);
            self.check(tr, "age", !outside, || {
                let ages = match (b.age_min, b.age_max) {
                    (Some(lo), Some(hi)) => format!("ages {lo} to {hi}"),
                    (Some(lo), None) => format!("from age {lo}"),
                    (None, Some(hi)) => format!("up to age {hi}"),
                    (None, None) => String::new(),
                };
                format!("{age} on the service date; {ages}")
            });
            if outside {
                return self.reject(Reason::AgeLimit, Why::Age(age));
            }
        }
        if b.requires_bit != 0 {
            let has = self.provider_tags & b.requires_bit != 0;
            self.check(tr, "contract", has, || {
                format!(
                    "the provider {} contract {}",
                    if has { "holds" } else { "does not hold" },
                    b.requires_contract.as_deref().unwrap_or("")
                )
            });
            if !has {
                return self.reject(Reason::NotCovered, Why::NoContract);
            }
        }
        if b.requires_referral {
            self.check(tr, "referral", line.referral(), || {
                flag_detail(line.referral())
            });
            if !line.referral() {
                return self.reject(Reason::NoReferral, Why::NoReferral);
            }
        }
        if b.requires_authorization {
            let has = line.authorization();
            self.check(tr, "authorization", has, || flag_detail(has));
            if !has {
                return self.reject(Reason::NoAuthorization, Why::NoAuthorization);
            }
        }
        if let Some(limit) = b
            .authorization_above
            .as_ref()
            .and_then(|a| a.amounts.in_year(date.year()))
            .filter(|_| self.jaws > 0 && !line.authorization())
        {
            // Cost per jaw above the limit, exactly: amount / (jaws x quantity) > limit.
            let jaws = u32::from(self.jaws) * u32::from(line.quantity.max(1));
            let above = line.amount > limit.times(jaws);
            self.check(tr, "authorization above an amount per jaw", !above, || {
                format!(
                    "{} for {jaws} jaw(s), limit {limit} per jaw, no authorization declared",
                    line.amount
                )
            });
            if above {
                return self.reject(Reason::NoAuthorization, Why::AuthorizationAbove(limit));
            }
        }
        Ok(())
    }

    /// The part of a basic payment charged to the member as deductible: mandatory first, then
    /// voluntary, never more than what is left of both this year.
    fn charge_deductible<T: Tracer>(
        &self,
        paid: Cents,
        year: u32,
        voluntary: Cents,
        acc: &mut Accumulators,
        tr: &mut T,
    ) -> Cents {
        let Some(d) = &self.product.deductible else {
            note(tr, || Step::NoDeductible {
                why: "the product has no deductible",
            });
            return Cents::ZERO;
        };
        if !self.benefit.deductible {
            note(tr, || Step::NoDeductible {
                why: "the benefit is outside the deductible",
            });
            return Cents::ZERO;
        }
        if d.exempt_under_age
            .is_some_and(|a| self.member.birth_date.age_on(self.line.service_date) < a)
        {
            note(tr, || Step::NoDeductible {
                why: "the member is under the deductible's age",
            });
            return Cents::ZERO;
        }
        // A missing year rejected the line before (see `unconfigured_year`).
        let mandatory = d.mandatory.get(&year).copied().unwrap_or_default();
        let cap = mandatory + voluntary;
        let used = acc.deductible_mut(year);
        let before = *used;
        let charge = paid.min(cap - *used).max(Cents::ZERO);
        *used += charge;
        note(tr, || Step::Deductible {
            year,
            mandatory: mandatory.to_string(),
            voluntary: voluntary.to_string(),
            used_before: before.to_string(),
            charged: charge.to_string(),
            used_after: (before + charge).to_string(),
        });
        charge
    }
}

/// How a trace says whether a line declared a referral or an authorization.
fn flag_detail(declared: bool) -> String {
    if declared {
        "declared on the line"
    } else {
        "not declared on the line"
    }
    .into()
}
