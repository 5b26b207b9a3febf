//! The plain-words message of a rejection, written from its typed [`Detail`] when the rejection
//! row is written (contract section 6: field and value, no personal data beyond the masked BSN).

use crate::model::{mask_bsn, Date};
use crate::night::{Detail, Line, Night, Why};
use crate::policy::PolicySet;
use crate::registers::Member;
use std::fmt::Write as _;

/// What a message may name besides the line.
pub struct Context<'a> {
    pub night: &'a Night,
    pub policies: &'a PolicySet,
    pub run_date: Date,
}

/// The message of a line rejected for `detail`; `member` is the register's member the line was
/// adjudicated for (`None` for a line rejected before that).
pub fn message(
    ctx: &Context<'_>,
    seq: u32,
    line: &Line,
    detail: Detail,
    member: Option<Member<'_>>,
) -> String {
    let night = ctx.night;
    let declared = night.declared(seq);
    let declared_id = declared.map_or("", |d| &d.member_id);
    let bsn = declared.map_or("", |d| &d.bsn);
    let agb = line.provider_agb;
    let mut m = String::new();
    match detail {
        Detail::Parse => {
            return night
                .parse_rejection(seq)
                .map_or_else(String::new, |r| r.message.clone())
        }
        Detail::NoSuchMemberId => {
            let _ = write!(m, "no member with member_id {declared_id}");
        }
        Detail::NoSuchBsn => {
            let _ = write!(m, "no member with bsn {}", mask_bsn(bsn));
        }
        Detail::MembersDiffer => {
            let _ = write!(
                m,
                "member_id {declared_id} and bsn {} name different members",
                mask_bsn(bsn)
            );
        }
        Detail::BirthDate => m.push_str("field birth_date differs from the member register"),
        Detail::AfterRunDate => {
            let _ = write!(
                m,
                "field service_date {} is after the run date {}",
                line.service_date, ctx.run_date
            );
        }
        Detail::DuplicateInRun => {
            let _ = write!(
                m,
                "line_id {} of provider {agb:08} occurs earlier in this run",
                night.line_id(line)
            );
        }
        Detail::DuplicateEarlier => {
            let _ = write!(
                m,
                "line_id {} of provider {agb:08} was processed in an earlier run",
                night.line_id(line)
            );
        }
        Detail::SameCareInRun(first) => {
            let _ = write!(
                m,
                "the same care (provider {agb:08}, member, service date, code, quantity and \
                 amount) as line_id {} earlier in this run",
                night.line_id(&night.lines[first as usize])
            );
        }
        Detail::SameCareEarlier => {
            let paid = night
                .earlier_care
                .binary_search_by_key(&seq, |(s, _)| *s)
                .map_or("", |i| &night.earlier_care[i].1);
            let _ = write!(
                m,
                "the same care (provider {agb:08}, member, service date, code, quantity and \
                 amount) as line_id {paid}, paid in an earlier run"
            );
        }
        Detail::NotInsured => {
            let id = member.map_or("", |m| m.id);
            let _ = write!(m, "member {id} holds no product on {}", line.service_date);
        }
        Detail::UnknownCode => {
            let _ = write!(m, "no product knows code {:?}", night.code(line).1);
        }
        Detail::NotCovered => {
            let held: Vec<&str> = member
                .into_iter()
                .flat_map(|m| m.holdings)
                .filter(|h| h.covers(line.service_date))
                .map(|h| ctx.policies.products[h.product()].id.as_str())
                .collect();
            let _ = write!(
                m,
                "code {} is not covered by {}",
                night.code(line).1,
                held.join(", ")
            );
        }
        Detail::NothingPaid => m.push_str("nothing is paid for this line"),
        Detail::Benefit {
            product,
            benefit,
            why,
        } => {
            let p = &ctx.policies.products[usize::from(product)];
            let b = &p.benefits[usize::from(benefit)];
            let _ = write!(m, "{} ({}): ", p.id, b.id);
            let _ = match why {
                Why::WaitingPeriod(until) => write!(
                    m,
                    "waiting period until {until} (product started after the basic insurance)"
                ),
                Why::MinInsured(months, until) => write!(
                    m,
                    "{months} months under this product are needed first (until {until})"
                ),
                Why::Age(age) => {
                    let range = match (b.age_min, b.age_max) {
                        (Some(lo), Some(hi)) => format!("ages {lo} to {hi}"),
                        (Some(lo), None) => format!("ages {lo} and over"),
                        (None, Some(hi)) => format!("ages up to {hi}"),
                        (None, None) => String::new(),
                    };
                    write!(m, "only for {range}; the member is {age}")
                }
                Why::NoContract => write!(
                    m,
                    "provider {agb:08} holds no {} contract",
                    b.requires_contract.as_deref().unwrap_or("")
                ),
                Why::NoReferral => write!(m, "a referral is required"),
                Why::NoAuthorization => write!(m, "prior authorization is required"),
                Why::AuthorizationFrom(from) => {
                    write!(m, "prior authorization is needed from session {from} on")
                }
                Why::AuthorizationAbove(limit) => write!(
                    m,
                    "prior authorization is required above {limit} per jaw; the line claims {}",
                    line.amount
                ),
                Why::SessionLimit(max) => write!(m, "maximum of {max} per period used up"),
                Why::SameDay => write!(m, "already paid once on {}", line.service_date),
                Why::AmountLimit(max) => write!(m, "maximum of {max} per period used up"),
            };
        }
        Detail::CreditUnmatched => {
            let _ = write!(
                m,
                "no paid line {} of provider {agb:08} for this member to credit",
                night.related_line_id(line)
            );
        }
        Detail::CreditedBefore => {
            let _ = write!(
                m,
                "line {} of provider {agb:08} was credited before",
                night.related_line_id(line)
            );
        }
        Detail::YearNotConfigured { product, year } => {
            let p = &ctx.policies.products[usize::from(product)];
            let _ = write!(
                m,
                "{}: no mandatory deductible for {year} in {}, which the basic share of this \
                 line is charged to",
                p.id,
                p.file.display()
            );
        }
        Detail::CreditAmount(prior) => {
            let _ = write!(
                m,
                "credit amount {} differs from the {prior} declared on line {}",
                line.amount,
                night.related_line_id(line)
            );
        }
    }
    m
}
