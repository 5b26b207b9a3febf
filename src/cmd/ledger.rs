//! `declaro ledger show|runs`: the ledger in human-readable form, opened read-only.

use crate::ledger::format::{self, StoredLine, StoredMember};
use crate::ledger::{schema_of, LedgerError, Schema};
use crate::model::Cents;
use crate::policy::{CONDITION_CODE, CONDITION_NONE};
use crate::Error;
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

fn open(path: &Path) -> Result<Connection, Error> {
    if !path.exists() {
        return Err(Error::Usage(format!(
            "ledger {} does not exist",
            path.display()
        )));
    }
    Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| Error::Usage(format!("ledger {}: {e}", path.display())))
}

fn sql(path: &Path) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |e| Error::Usage(format!("ledger {}: {e}", path.display()))
}

/// The partitions of a schema-2 ledger; any other file is refused.
fn partitions(conn: &Connection, path: &Path) -> Result<u32, Error> {
    match schema_of(conn).map_err(sql(path))? {
        Schema::Current { partitions } => Ok(partitions),
        Schema::Empty => Err(Error::Usage(format!(
            "ledger {} is not a declaro ledger: it has no tables",
            path.display()
        ))),
        Schema::Other(found) => Err(LedgerError::Schema {
            path: path.display().to_string(),
            found,
        }
        .into()),
    }
}

fn damaged(path: &Path) -> impl Fn(serde_json::Error) -> Error + '_ {
    move |e| Error::Internal(format!("ledger {} is damaged: {e}", path.display()))
}

/// The accumulators, deductible and lines of one member, optionally of one year: read from
/// the member's partition in `member_state` and in each run's `run_lines`.
pub fn show(path: &Path, member: &str, year: Option<u32>) -> Result<String, Error> {
    let conn = open(path)?;
    let e = sql(path);
    let bad = damaged(path);
    let part = format::part_of(member, partitions(&conn, path)?);
    let mut out = format!("member {member}\n");
    let (lo, hi) = year.map_or((0, u32::MAX), |y| (y, y));
    let in_years = |y: u32| (lo..=hi).contains(&y);

    let mut pools: HashMap<u32, (String, String)> = HashMap::new();
    let mut stmt = conn
        .prepare("SELECT id, product, pool FROM pool_ids")
        .map_err(&e)?;
    for r in stmt
        .query_map([], |r| Ok((r.get::<_, u32>(0)?, r.get(1)?, r.get(2)?)))
        .map_err(&e)?
    {
        let (id, product, pool) = r.map_err(&e)?;
        pools.insert(id, (product, pool));
    }
    let text: Option<String> = conn
        .query_row(
            "SELECT members FROM member_state WHERE part = ?1",
            [part],
            |r| r.get(0),
        )
        .optional()
        .map_err(&e)?;
    let state: StoredMember = match &text {
        Some(t) => {
            let m = format::members(t).map_err(&bad)?;
            match format::find(&m, member) {
                Some(raw) => serde_json::from_str(raw.get()).map_err(&bad)?,
                None => StoredMember::default(),
            }
        }
        None => StoredMember::default(),
    };

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
    let mut lines: Vec<(i64, StoredLine)> = Vec::new();
    let mut stmt = conn
        .prepare("SELECT run_id, lines FROM run_lines WHERE part = ?1 ORDER BY run_id")
        .map_err(&e)?;
    let mut rows = stmt.query([part]).map_err(&e)?;
    while let Some(r) = rows.next().map_err(&e)? {
        let run: i64 = r.get(0).map_err(&e)?;
        let text = r
            .get_ref(1)
            .and_then(|v| v.as_str().map_err(Into::into))
            .map_err(&e)?;
        let m = format::members(text).map_err(&bad)?;
        if let Some(raw) = format::find(&m, member) {
            let ls: Vec<StoredLine> = serde_json::from_str(raw.get()).map_err(&bad)?;
            lines.extend(ls.into_iter().map(|l| (run, l)));
        }
    }
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
pub fn runs(path: &Path) -> Result<String, Error> {
    let conn = open(path)?;
    let e = sql(path);
    let mut stmt = conn
        .prepare(
            "SELECT run_id, started, finished, run_date, lines, paid_lines, rejected_lines,
                    claimed_cents, paid_basic_cents, deductible_cents, paid_supplementary_cents,
                    member_pays_cents, inputs
             FROM run ORDER BY run_id",
        )
        .map_err(&e)?;
    let mut out = String::from(
        "run  started              run date    lines   paid  rejected    claimed      basic deductible supplementary  member\n",
    );
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(3)?,
                [r.get::<_, i64>(4)?, r.get(5)?, r.get(6)?],
                [
                    r.get::<_, i64>(7)?,
                    r.get(8)?,
                    r.get(9)?,
                    r.get(10)?,
                    r.get(11)?,
                ],
                r.get::<_, String>(12)?,
            ))
        })
        .map_err(&e)?;
    for r in rows {
        let (id, started, run_date, n, m, inputs) = r.map_err(&e)?;
        let _ = writeln!(
            out,
            "{id:<4} {started:<20} {run_date:<10} {:>6} {:>6} {:>9} {:>10} {:>10} {:>10} {:>13} {:>7}",
            n[0],
            n[1],
            n[2],
            Cents(m[0]),
            Cents(m[1]),
            Cents(m[2]),
            Cents(m[3]),
            Cents(m[4])
        );
        let files: Vec<serde_json::Value> = serde_json::from_str(&inputs).unwrap_or_default();
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
