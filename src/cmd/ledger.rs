//! `declaro ledger show|runs`: the ledger in human-readable form, opened read-only.

use crate::ledger::format::StoredLine;
use crate::ledger::{History, LedgerError, Location};
use crate::model::Cents;
use crate::policy::{CONDITION_CODE, CONDITION_NONE};
use crate::Error;
use std::collections::HashMap;
use std::fmt::Write as _;

/// The committed ledger, read-only; a SQLite file that does not exist is a usage error.
fn open(ledger: &Location) -> Result<Box<dyn History>, Error> {
    if let Some(file) = ledger.file().filter(|f| !f.exists()) {
        return Err(Error::Usage(format!(
            "ledger {} does not exist",
            file.display()
        )));
    }
    ledger.history().map_err(|e| match e {
        LedgerError::Damaged(..) | LedgerError::Schema { .. } | LedgerError::Unreachable { .. } => {
            Error::Usage(e.to_string())
        }
        other => other.into(),
    })
}

/// The accumulators, deductible and lines of one member, optionally of one year: read from
/// the member's partition in `member_state` and in each run's `run_lines`.
pub fn show(ledger: &Location, member: &str, year: Option<u32>) -> Result<String, Error> {
    let mut history = open(ledger)?;
    let mut out = format!("member {member}\n");
    let (lo, hi) = year.map_or((0, u32::MAX), |y| (y, y));
    let in_years = |y: u32| (lo..=hi).contains(&y);
    let pools = history.pools()?;
    let state = history.member(member)?;
    // Per-date buckets are yyyymmdd; their year is bucket / 10000. Per-condition buckets
    // (from CONDITION_NONE on) span years: they are shown whatever `--year`.
    let bucket_year = |b: u32| if b > 9999 { b / 10000 } else { b };
    let mut counters: Vec<(&str, &str, u32, u32, i64)> = state
        .0
        .iter()
        .filter(|c| c.1 >= CONDITION_NONE || in_years(bucket_year(c.1)))
        .filter_map(|c| {
            let (product, pool) = pools.get(&c.0)?;
            Some((product.as_str(), pool.as_str(), c.1, c.2, c.3))
        })
        .collect();
    counters.sort_unstable();
    out.push_str("accumulators (product, limit, period, units used, euros used):\n");
    for (product, pool, bucket, units, cents) in counters {
        let period = match bucket {
            b if b >= CONDITION_CODE => format!("dx {}", b - CONDITION_CODE),
            b if b >= CONDITION_NONE => "dx none".to_string(),
            b => b.to_string(),
        };
        let _ = writeln!(
            out,
            "  {product:<28} {pool:<28} {period:>8} {units:>6} {:>10}",
            Cents(cents)
        );
    }
    out.push_str("deductible (year, charged):\n");
    let mut deductible = state.1.clone();
    deductible.sort_unstable();
    for (y, cents) in deductible.into_iter().filter(|(y, _)| in_years(*y)) {
        let _ = writeln!(out, "  {y} {:>10}", Cents(cents));
    }

    out.push_str("lines (run, provider, line_id, service date, code, claimed, basic, deductible, supplementary, member):\n");
    let lines: Vec<(i64, StoredLine)> = history.member_lines(member)?;
    // A credit is always its line's member's: the credits among the member's own lines.
    let mut credited_by: HashMap<(u32, &str), &str> = HashMap::new();
    for (_, l) in &lines {
        if let Some(of) = l.credit_of() {
            credited_by
                .entry((l.provider_agb(), of))
                .or_insert(l.line_id());
        }
    }
    let mut shown: Vec<&(i64, StoredLine)> = lines.iter().filter(|(_, l)| in_years(l.5)).collect();
    shown.sort_by(|(ra, a), (rb, b)| (a.2, ra, a.0, &a.1).cmp(&(b.2, rb, b.0, &b.1)));
    for (run, l) in shown {
        let (agb, id, date, code) = (l.0, &l.1, l.2, &l.3);
        let note = match (l.credit_of(), credited_by.get(&(agb, id.as_str()))) {
            (Some(of), _) => format!("  credit of {of}"),
            (_, Some(by)) => format!("  credited by {by}"),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "  {run:>4} {agb:08} {id:<14} {} {code:<8} {:>9} {:>9} {:>9} {:>9} {:>9}{note}",
            crate::model::Date::from_u32(date).unwrap_or_default(),
            Cents(l.6),
            Cents(l.7),
            Cents(l.8),
            Cents(l.9),
            Cents(l.10)
        );
    }
    Ok(out)
}

/// The run history, oldest first.
pub fn runs(ledger: &Location) -> Result<String, Error> {
    let rows = open(ledger)?.run_rows()?;
    let mut out = String::from(
        "run  started              run date    lines   paid  rejected    claimed      basic deductible supplementary  member\n",
    );
    for r in rows {
        let (n, m) = (r.counts, r.cents);
        let _ = write!(
            out,
            "{:<4} {:<20} {:<10} {:>6} {:>6} {:>9} {:>10} {:>10} {:>10} {:>13} {:>7}",
            r.run_id,
            r.started,
            r.run_date,
            n[0],
            n[1],
            n[2],
            Cents(m[0]),
            Cents(m[1]),
            Cents(m[2]),
            Cents(m[3]),
            Cents(m[4])
        );
        match r.shard {
            Some(shard) => {
                let _ = writeln!(out, "  shard {shard}");
            }
            None => out.push('\n'),
        }
        let files: Vec<serde_json::Value> = serde_json::from_str(&r.inputs).unwrap_or_default();
        for f in files {
            let _ = writeln!(
                out,
                "     {} sha256 {}",
                f["file"].as_str().unwrap_or(""),
                f["sha256"].as_str().unwrap_or("")
            );
        }
    }
    Ok(out)
}
