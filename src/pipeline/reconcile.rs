//! Stage 6, reconcile: nothing lost. Every line read is in exactly one of the two CSV files and
//! the euro totals balance, or the run stops before anything is committed (exit 1).

use super::publish::Published;
use super::Settings;
use crate::error::Error;
use crate::model::{Cents, Total};
use crate::night::{Detail, Night, Outcome};
use crate::output::summary::{by_code, FileSummary, Reconciliation, Summary, Timing};
use std::time::Instant;

/// The run's summary, after checking that the written rows account for every line read.
pub fn reconcile(
    s: &Settings,
    night: &Night,
    policies: &crate::policy::PolicySet,
    published: &Published,
    started: Instant,
) -> Result<Summary, Error> {
    let tally = &published.tally;
    let lines_read = night.lines.len() as u64;
    let lines_out = tally.paid_lines + tally.rejected_lines;
    // What was read: the declared amount of every line, as parsed or (rejected while
    // reading) as written.
    let mut claimed_read = Total::default();
    // Lines rejected for a year the policies have no terms for, per (product, year).
    let mut unconfigured: std::collections::BTreeMap<(u8, u16), u64> = Default::default();
    for (seq, (line, o)) in night.lines.iter().zip(&night.outcomes).enumerate() {
        if let Outcome::Rejected(_, Detail::YearNotConfigured { product, year }) = o {
            *unconfigured.entry((*product, *year)).or_default() += 1;
        }
        match o {
            Outcome::Rejected(_, Detail::Parse) => {
                if let Some(c) = night
                    .parse_rejection(seq as u32)
                    .and_then(|r| Cents::parse(r.echo.claimed()).ok())
                {
                    claimed_read.add(c);
                }
            }
            _ => claimed_read.add(line.amount),
        }
    }
    let claimed_out = Total(tally.claimed_unsigned.0 + tally.rejected_claimed.0);
    let paid_out = Total(tally.paid_basic.0 + tally.paid_supplementary.0 + tally.member_pays.0);
    let balanced =
        lines_out == lines_read && claimed_read == claimed_out && tally.claimed == paid_out;
    let elapsed = started.elapsed().as_secs_f64();
    let summary = Summary {
        run_date: s.run_date.to_string(),
        dry_run: s.dry_run,
        input_files: night
            .files
            .iter()
            .map(|f| FileSummary {
                file: f.shown.clone(),
                format: f.format.map_or("unknown", |f| f.name()).into(),
                records: u64::from(f.records),
                sha256: f.sha256.clone(),
                refused: f.refusal.as_ref().map(ToString::to_string),
                reason: f.refusal.as_ref().map(|r| r.reason.code()),
                vektis_code: f.refusal.as_ref().and_then(|r| r.vektis),
            })
            .collect(),
        lines: lines_read,
        outcomes: [
            ("paid", tally.paid_lines),
            ("rejected", tally.rejected_lines),
        ]
        .into_iter()
        .collect(),
        rejected_by_reason: by_code(&tally.rejected_by_reason),
        reductions_by_reason: by_code(&tally.reductions_by_reason),
        totals: tally.totals(),
        warnings: unconfigured
            .iter()
            .map(|(&(product, year), n)| {
                let p = &policies.products[usize::from(product)];
                format!(
                    "{n} line(s) rejected YEAR_NOT_CONFIGURED: product {} has no mandatory \
                     deductible for {year} ({})",
                    p.id,
                    p.file.display()
                )
            })
            .collect(),
        reconciliation: Reconciliation {
            lines_read,
            lines_out,
            claimed_read: claimed_read.to_string(),
            claimed_out: claimed_out.to_string(),
            balanced,
        },
        timing: Timing {
            duration_seconds: format!("{elapsed:.3}"),
            lines_per_second: if elapsed > 0.0 {
                (lines_read as f64 / elapsed) as u64
            } else {
                0
            },
        },
    };
    for w in &summary.warnings {
        tracing::warn!("{w}");
    }
    if !balanced {
        // The caller drops the staged outputs, which removes them.
        return Err(Error::Internal(format!(
            "reconciliation failed: {lines_read} lines read, {lines_out} written; claimed \
             {claimed_read} read, {claimed_out} written; nothing committed"
        )));
    }
    Ok(summary)
}
