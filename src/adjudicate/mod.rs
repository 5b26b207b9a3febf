//! Adjudication: a member's lines, sorted by service date, run through the member's products
//! layer by layer (basic first), against the member's accumulators. Pure: no I/O in here.

use crate::model::{Cents, Date, Line, Reason, Reasons};
use crate::policy::{Basis, Benefit, Period, PolicySet, Product};
use crate::registers::{Holding, Member, Providers};
use std::collections::BTreeMap;

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

/// A member's accumulators: the state carried from line to line and from run to run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Accumulators {
    pub pools: BTreeMap<PoolKey, Used>,
    /// Deductible charged per calendar year.
    pub deductible: BTreeMap<u32, Cents>,
}

impl Accumulators {
    /// The total used by a pool over the window of `period` that contains `date`.
    fn window(&self, product: usize, pool: usize, period: Period, date: Date, start: Date) -> Used {
        let (from, to) = match period {
            Period::TreatmentDate => (date.as_u32(), date.as_u32()),
            Period::CalendarYears(n) => ((date.year() + 1).saturating_sub(n), date.year()),
            Period::InsuranceDuration => (start.year(), date.year()),
        };
        let lo = PoolKey {
            product: product as u16,
            pool: pool as u16,
            bucket: from,
        };
        let hi = PoolKey {
            product: product as u16,
            pool: pool as u16,
            bucket: to,
        };
        self.pools
            .range(lo..=hi)
            .fold(Used::default(), |a, (_, u)| Used {
                units: a.units + u.units,
                euros: a.euros + u.euros,
            })
    }

    fn add(
        &mut self,
        product: usize,
        pool: usize,
        period: Period,
        date: Date,
        units: u32,
        euros: Cents,
    ) -> PoolKey {
        let bucket = match period {
            Period::TreatmentDate => date.as_u32(),
            _ => date.year(),
        };
        let key = PoolKey {
            product: product as u16,
            pool: pool as u16,
            bucket,
        };
        let u = self.pools.entry(key).or_default();
        u.units += units;
        u.euros += euros;
        key
    }

    /// Gives back what a line used (a credit reverses it).
    fn undo(&mut self, payment: &Payment) {
        for e in &payment.effects {
            if let Some(u) = self.pools.get_mut(&e.key) {
                u.units = u.units.saturating_sub(e.units);
                u.euros -= e.euros;
            }
        }
        if let Some(d) = self.deductible.get_mut(&payment.year) {
            *d -= payment.deductible;
        }
    }
}

/// What one paid line added to one counter; kept so that a credit can give it back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Effect {
    pub key: PoolKey,
    pub units: u32,
    pub euros: Cents,
}

/// A line that pays or charges something.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payment {
    pub year: u32,
    pub paid_basic: Cents,
    pub deductible: Cents,
    pub paid_supplementary: Cents,
    pub member_pays: Cents,
    /// Indexes of the products that paid, basic first.
    pub products: Vec<u16>,
    pub reasons: Reasons,
    /// What the line added to the member's counters (the deductible is `deductible` in `year`).
    pub effects: Vec<Effect>,
}

impl Payment {
    /// The payment that exactly undoes this one, for a credit line.
    pub fn reversed(&self) -> Payment {
        Payment {
            year: self.year,
            paid_basic: -self.paid_basic,
            deductible: -self.deductible,
            paid_supplementary: -self.paid_supplementary,
            member_pays: -self.member_pays,
            products: self.products.clone(),
            reasons: Reasons::default(),
            effects: Vec::new(),
        }
    }
}

/// An earlier paid line that a credit in this run may reverse.
#[derive(Clone, Debug)]
pub struct Prior {
    pub claimed: Cents,
    pub payment: Payment,
    pub credited: bool,
}

/// A member's state during a run: the accumulators and the lines credits may reverse.
#[derive(Clone, Debug, Default)]
pub struct MemberState {
    pub acc: Accumulators,
    /// Paid lines by (provider AGB, line_id): from earlier runs (loaded for this run's credits)
    /// and from this run (kept when a credit in this run names them).
    pub priors: std::collections::HashMap<(u32, Box<str>), Prior>,
}

/// The result of adjudicating one line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Paid(Payment),
    Refused(Reason, String),
}

/// What adjudication reads besides the member: the products and the provider register.
pub struct Context<'a> {
    pub policies: &'a PolicySet,
    pub providers: &'a Providers,
}

/// The year a line counts toward: the trajectory's start year for a DBC, else the service year.
pub fn line_year(line: &Line) -> u32 {
    line.trajectory_start
        .map_or(line.service_date.year(), Date::year)
}

/// Adjudicates one member's lines, which must be sorted by service date (ties in input order).
/// Credit lines reverse the line they name, giving its sessions, euros and deductible back.
pub fn adjudicate_member(
    ctx: &Context<'_>,
    member: &Member,
    lines: &[&Line],
    state: &mut MemberState,
) -> Vec<Outcome> {
    // Only the lines a credit of this run names need to be remembered.
    let named: std::collections::HashSet<(u32, &str)> = lines
        .iter()
        .filter(|l| l.credit)
        .map(|l| (l.provider_agb, &*l.related_line_id))
        .collect();
    let mut out = Vec::with_capacity(lines.len());
    for line in lines {
        if line.credit {
            out.push(reverse(line, state));
            continue;
        }
        let o = adjudicate_line(ctx, member, line, &mut state.acc);
        if let Outcome::Paid(p) = &o {
            if named.contains(&(line.provider_agb, &*line.line_id)) {
                let prior = Prior {
                    claimed: line.amount,
                    payment: p.clone(),
                    credited: false,
                };
                state
                    .priors
                    .insert((line.provider_agb, line.line_id.clone()), prior);
            }
        }
        out.push(o);
    }
    out
}

/// A credit line: the exact negative of the line it names, which must be paid and not yet credited.
fn reverse(line: &Line, state: &mut MemberState) -> Outcome {
    let key = (line.provider_agb, line.related_line_id.clone());
    let Some(prior) = state.priors.get_mut(&key) else {
        return Outcome::Refused(
            Reason::UnmatchedCredit,
            format!(
                "no paid line {} of provider {:08} for this member to credit",
                line.related_line_id, line.provider_agb
            ),
        );
    };
    if prior.credited {
        return Outcome::Refused(
            Reason::Duplicate,
            format!(
                "line {} of provider {:08} was credited before",
                line.related_line_id, line.provider_agb
            ),
        );
    }
    if prior.claimed != line.amount {
        return Outcome::Refused(
            Reason::UnmatchedCredit,
            format!(
                "credit amount {} differs from the {} declared on line {}",
                line.amount, prior.claimed, line.related_line_id
            ),
        );
    }
    prior.credited = true;
    state.acc.undo(&prior.payment);
    Outcome::Paid(prior.payment.reversed())
}

/// Adjudicates one line and updates the accumulators with what it used.
pub fn adjudicate_line(
    ctx: &Context<'_>,
    member: &Member,
    line: &Line,
    acc: &mut Accumulators,
) -> Outcome {
    let date = line.service_date;
    let active: Vec<&Holding> = member.holdings.iter().filter(|h| h.covers(date)).collect();
    if active.is_empty() {
        return Outcome::Refused(
            Reason::NotInsured,
            format!("member {} holds no product on {date}", member.id),
        );
    }
    if !ctx.policies.knows_code(&line.code) {
        return Outcome::Refused(
            Reason::UnknownCode,
            format!("no product knows code {:?}", line.code),
        );
    }
    let is_basic = |h: &&&Holding| ctx.policies.products[h.product].basic;
    let basic = active.iter().find(is_basic).copied();
    let layers = active
        .iter()
        .filter(is_basic)
        .chain(active.iter().filter(|h| !is_basic(h)));

    let year = line_year(line);
    let mut paid_basic = Cents::ZERO;
    let mut deductible = Cents::ZERO;
    let mut paid_supplementary = Cents::ZERO;
    let mut reasons = Reasons::default();
    let mut refusals = Reasons::default();
    let mut first_refusal: Option<(Reason, String)> = None;
    let mut products = Vec::new();
    let mut effects = Vec::new();
    let mut matched = false;

    for h in layers {
        let product = &ctx.policies.products[h.product];
        let has_tag = |tag: &str| ctx.providers.has(line.provider_agb, tag);
        let Some(benefit) = product.benefit_for(line, &has_tag) else {
            continue;
        };
        matched = true;
        let left = line.amount - paid_basic - paid_supplementary;
        if left <= Cents::ZERO {
            continue;
        }
        let layer = Layer {
            ctx,
            product,
            index: h.product,
            benefit,
            holding: h,
            basic,
            member,
            line,
        };
        match layer.pay(left, acc, &mut effects) {
            Ok((amount, why)) => {
                reasons = reasons.union(why);
                if amount.is_zero() {
                    continue;
                }
                products.push(h.product as u16);
                if product.basic {
                    paid_basic += amount;
                    let d = layer.charge_deductible(amount, year, acc);
                    if !d.is_zero() {
                        deductible += d;
                        reasons.insert(Reason::Deductible);
                    }
                } else {
                    paid_supplementary += amount;
                }
            }
            Err((r, m)) => {
                refusals.insert(r);
                first_refusal.get_or_insert((r, m));
            }
        }
    }
    if !matched {
        let held: Vec<&str> = active
            .iter()
            .map(|h| ctx.policies.products[h.product].id.as_str())
            .collect();
        return Outcome::Refused(
            Reason::NotCovered,
            format!("code {} is not covered by {}", line.code, held.join(", ")),
        );
    }
    let paid = paid_basic + paid_supplementary;
    if paid.is_zero() {
        let (r, m) =
            first_refusal.unwrap_or((Reason::NotCovered, "nothing is paid for this line".into()));
        return Outcome::Refused(r, m);
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
        reasons = reasons.union(refusals);
    }
    Outcome::Paid(Payment {
        year,
        paid_basic,
        deductible,
        paid_supplementary,
        member_pays,
        products,
        reasons,
        effects,
    })
}

/// One product's benefit applied to one line.
struct Layer<'a> {
    ctx: &'a Context<'a>,
    product: &'a Product,
    index: usize,
    benefit: &'a Benefit,
    holding: &'a Holding,
    basic: Option<&'a Holding>,
    member: &'a Member,
    line: &'a Line,
}

type Refusal = (Reason, String);

impl Layer<'_> {
    fn window(&self, acc: &Accumulators, pool: usize) -> Used {
        let period = self.product.pools[pool].period;
        acc.window(
            self.index,
            pool,
            period,
            self.line.service_date,
            self.holding.start,
        )
    }

    fn refuse<T>(&self, r: Reason, what: String) -> Result<T, Refusal> {
        Err((
            r,
            format!("{} ({}): {what}", self.product.id, self.benefit.id),
        ))
    }

    /// Checks the benefit's conditions and limits; on success updates the pools and returns
    /// the amount paid with the reasons it was reduced.
    fn pay(
        &self,
        left: Cents,
        acc: &mut Accumulators,
        effects: &mut Vec<Effect>,
    ) -> Result<(Cents, Reasons), Refusal> {
        let (b, line, date) = (self.benefit, self.line, self.line.service_date);
        self.check_conditions()?;

        // Count limits: sessions, days, months, items.
        let mut allowed = line.quantity;
        let mut count_reason = None;
        for &p in &b.pools {
            if let Some(max) = self.product.pools[p].max_units {
                let room = max.saturating_sub(self.window(acc, p).units);
                if room < allowed {
                    allowed = room;
                    count_reason = Some((
                        Reason::SessionLimit,
                        format!("maximum of {max} per period used up"),
                    ));
                }
            }
        }
        if let (Some((p, from)), false) = (b.authorization_from, line.authorization) {
            let room = (from - 1).saturating_sub(self.window(acc, p).units);
            if room < allowed {
                allowed = room;
                count_reason = Some((
                    Reason::NoAuthorization,
                    format!("prior authorization is needed from session {from} on"),
                ));
            }
        }
        if allowed == 0 {
            let (r, m) = count_reason.unwrap_or((Reason::SessionLimit, String::new()));
            return self.refuse(r, m);
        }
        for &p in &b.pools {
            if self.product.pools[p].once_per_date && self.window(acc, p).units > 0 {
                return self.refuse(Reason::SameDay, format!("already paid once on {date}"));
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
        if allowed < line.quantity {
            base = base.share(allowed, line.quantity);
        }
        let mut amount = base.percent(b.percentage);
        if !b.percentage.is_full() {
            why.insert(Reason::Percentage);
        }
        if let Some(unit) = b.unit_max(&line.code) {
            let cap = unit.times(allowed);
            if amount > cap {
                amount = cap;
                why.insert(Reason::TariffCap);
            }
        }
        if let Some(cap) = b.max_per_line {
            if amount > cap {
                amount = cap;
                why.insert(Reason::AmountLimit);
            }
        }
        for &p in &b.pools {
            if let Some(max) = self.product.pools[p].max_euros {
                let room = max - self.window(acc, p).euros;
                if room <= Cents::ZERO {
                    return self.refuse(
                        Reason::AmountLimit,
                        format!("maximum of {max} per period used up"),
                    );
                }
                if amount > room {
                    amount = room;
                    why.insert(Reason::AmountLimit);
                }
            }
        }
        amount = amount.min(left);
        if amount <= Cents::ZERO {
            return Ok((Cents::ZERO, why));
        }
        for &p in &b.pools {
            let period = self.product.pools[p].period;
            let key = acc.add(self.index, p, period, date, allowed, amount);
            effects.push(Effect {
                key,
                units: allowed,
                euros: amount,
            });
        }
        Ok((amount, why))
    }

    fn check_conditions(&self) -> Result<(), Refusal> {
        let (b, line, date) = (self.benefit, self.line, self.line.service_date);
        if !self.product.basic && self.product.waiting_period_months > 0 {
            let basic_start = self.basic.map(|h| h.start);
            let later = basic_start.is_none_or(|s| self.holding.start > s);
            let until = self
                .holding
                .start
                .add_months(self.product.waiting_period_months);
            if later && date < until {
                return self.refuse(
                    Reason::WaitingPeriod,
                    format!(
                        "waiting period until {until} (product started after the basic insurance)"
                    ),
                );
            }
        }
        let age = self.member.birth_date.age_on(date);
        if let Some((months, from_age)) = b.min_insured {
            let until = self.holding.start.add_months(months);
            if age >= from_age && date < until {
                return self.refuse(
                    Reason::WaitingPeriod,
                    format!("{months} months under this product are needed first (until {until})"),
                );
            }
        }
        if b.age_min.is_some_and(|m| age < m) || b.age_max.is_some_and(|m| age > m) {
            let range = match (b.age_min, b.age_max) {
                (Some(lo), Some(hi)) => format!("ages {lo} to {hi}"),
                (Some(lo), None) => format!("ages {lo} and over"),
                (None, Some(hi)) => format!("ages up to {hi}"),
                (None, None) => String::new(),
            };
            return self.refuse(
                Reason::AgeLimit,
                format!("only for {range}; the member is {age}"),
            );
        }
        if let Some(tag) = &b.requires_contract {
            if !self.ctx.providers.has(line.provider_agb, tag) {
                return self.refuse(
                    Reason::NotCovered,
                    format!("provider {:08} holds no {tag} contract", line.provider_agb),
                );
            }
        }
        if b.requires_referral && !line.referral {
            return self.refuse(Reason::NoReferral, "a referral is required".into());
        }
        if b.requires_authorization && !line.authorization {
            return self.refuse(
                Reason::NoAuthorization,
                "prior authorization is required".into(),
            );
        }
        Ok(())
    }

    /// The part of a basic payment charged to the member as deductible: mandatory first, then
    /// voluntary, never more than what is left of both this year.
    fn charge_deductible(&self, paid: Cents, year: u32, acc: &mut Accumulators) -> Cents {
        let Some(d) = &self.product.deductible else {
            return Cents::ZERO;
        };
        if !self.benefit.deductible
            || d.exempt_under_age
                .is_some_and(|a| self.member.birth_date.age_on(self.line.service_date) < a)
        {
            return Cents::ZERO;
        }
        // A missing year is refused before adjudication starts (see `cmd::process`).
        let mandatory = d.mandatory.get(&year).copied().unwrap_or_default();
        let cap = mandatory + self.holding.voluntary_deductible;
        let used = acc.deductible.entry(year).or_default();
        let charge = paid.min(cap - *used).max(Cents::ZERO);
        *used += charge;
        charge
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(code: &str, date: Date, birth: Date) -> Line {
        Line::example(code, date, birth)
    }

    #[test]
    fn min_insured_months_holds_back_adults_only() {
        let dir = tempfile::tempdir().unwrap();
        let policy = "[product]\nid = \"av\"\nname = \"AV\"\nlayer = \"supplementary\"\n\n\
            [[benefit]]\nid = \"ortho\"\nname = \"O\"\ncodes = [\"ORTHO\"]\n\
            min_insured_months = 12\nmin_insured_from_age = 18\n";
        std::fs::write(dir.path().join("av.toml"), policy).unwrap();
        let policies = crate::policy::load(&[dir.path().to_path_buf()]).unwrap();
        let providers = Providers::default();
        let ctx = Context {
            policies: &policies,
            providers: &providers,
        };
        let d = |y, m, dd| Date::new(y, m, dd).unwrap();
        let member = |birth| Member {
            id: "M".into(),
            bsn: "".into(),
            birth_date: birth,
            holdings: vec![Holding {
                product: 0,
                start: d(2014, 1, 1),
                end: None,
                voluntary_deductible: Cents::ZERO,
            }],
        };
        let adult = member(d(1980, 5, 5));
        let run = |m: &Member, date| {
            adjudicate_line(
                &ctx,
                m,
                &line("ORTHO", date, m.birth_date),
                &mut Accumulators::default(),
            )
        };
        // The last day of the twelfth month is refused, the first day after pays.
        assert!(matches!(
            run(&adult, d(2014, 12, 31)),
            Outcome::Refused(Reason::WaitingPeriod, _)
        ));
        assert!(matches!(run(&adult, d(2015, 1, 1)), Outcome::Paid(_)));
        // A child (17 on the service date) is not held back.
        let child = member(d(1997, 1, 2));
        assert!(matches!(run(&child, d(2014, 12, 31)), Outcome::Paid(_)));
        // ... but from the 18th birthday on, the rule applies.
        let turning = member(d(1996, 12, 30));
        assert!(matches!(
            run(&turning, d(2014, 12, 30)),
            Outcome::Refused(Reason::WaitingPeriod, _)
        ));
    }
}
