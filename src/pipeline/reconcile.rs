//! Stage 6, reconcile: nothing lost. Every line read is in exactly one of the two CSV files and
//! the euro totals balance, or the run stops before anything is committed (exit 1).

use super::publish::Published;
use super::Settings;
use crate::error::Error;
use crate::model::{Cents, Total};
use crate::night::{Detail, Night, Outcome};
use crate::output::summary::{by_code, FileSummary, Reconciliation, ShardSummary, Summary, Timing};
use std::time::Instant;

/// The run's summary, after checking that the written rows account for every line read.
pub fn reconcile(
    s: &Settings,
    night: &Night,
    policies: &crate::policy::PolicySet,
    published: &Published,
    (paid, setup, others): (
        &crate::adjudicate::PaidTally,
        crate::output::summary::Setup,
        u64,
    ),
    started: Instant,
) -> Result<Summary, Error> {
    let tally = &published.tally;
    // This run's lines: the night's, less those of other shards (`--shard`).
    let lines_of_night = night.lines.len() as u64;
    let lines_read = lines_of_night - others;
    // What was written, read back from the files themselves.
    let back = super::read_back::read_back(
        night,
        published.remittance.tmp(),
        published.rejections.tmp(),
    )
    .map_err(|e| Error::Internal(format!("reconciliation failed: {e}; nothing committed")))?;
    let lines_out = back.remittance_rows + back.rejection_rows;
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
            Outcome::OtherShard => {}
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
    let claimed_out = back.claimed;
    // The files agree with the counts and totals that summary.json and the ledger's run record
    // give (the writer's tally), and every euro claimed is paid or the member's.
    let as_tallied = back.remittance_rows == tally.paid_lines
        && back.rejection_rows == tally.rejected_lines
        && back.sums == tally.sums;
    // (Each remittance row was checked to split its claim into paid and the member's share.)
    let balanced = lines_out == lines_read && claimed_read == claimed_out && as_tallied;
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
                line_ends: f.line_ends.map(|e| e.style()),
                final_line_end: f.line_ends.map(|e| e.final_end),
            })
            .collect(),
        lines: lines_read,
        shard: (!s.shard.is_all()).then(|| ShardSummary {
            index: s.shard.index(),
            count: s.shard.count(),
            lines_of_night,
            lines_of_other_shards: others,
            report_figures: serde_json::Value::Null,
        }),
        outcomes: [
            ("paid", tally.paid_lines),
            ("rejected", tally.rejected_lines),
        ]
        .into_iter()
        .collect(),
        rejected_by_reason: by_code(&tally.rejected_by_reason),
        reductions_by_reason: by_code(&tally.reductions_by_reason),
        totals: tally.totals(),
        paid_per_benefit: crate::output::summary::per_benefit(paid, policies),
        setup,
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
        merged_from: Vec::new(),
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
            "reconciliation failed: {lines_read} lines read, {lines_out} in the written files; \
             claimed {claimed_read} read, {claimed_out} in the written files{}; nothing \
             committed",
            if as_tallied {
                ""
            } else {
                "; the written files disagree with the run's totals"
            }
        )));
    }
    Ok(summary)
}
