//! `declaro ledger show|runs`: the ledger in human-readable form, opened read-only.

use crate::model::Cents;
use crate::Error;
use rusqlite::{Connection, OpenFlags};
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

/// The accumulators, deductible and lines of one member, optionally of one year.
pub fn show(path: &Path, member: &str, year: Option<u32>) -> Result<String, Error> {
    let conn = open(path)?;
    let e = sql(path);
    let mut out = format!("member {member}\n");
    let (lo, hi) = year.map_or((0, u32::MAX), |y| (y, y));
    // Per-date buckets are yyyymmdd; their year is bucket / 10000.
    let mut stmt = conn
        .prepare(
            "SELECT product, pool, bucket, units, cents FROM accumulator
             WHERE member_id = ?1 AND (CASE WHEN bucket > 9999 THEN bucket / 10000 ELSE bucket END) BETWEEN ?2 AND ?3
             ORDER BY product, pool, bucket",
        )
        .map_err(&e)?;
    let rows = stmt
        .query_map(rusqlite::params![member, lo, hi], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, u32>(2)?,
                r.get::<_, u32>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })
        .map_err(&e)?;
    out.push_str("accumulators (product, limit, period, units used, euros used):\n");
    for r in rows {
        let (product, pool, bucket, units, cents) = r.map_err(&e)?;
        let _ = writeln!(
            out,
            "  {product:<28} {pool:<28} {bucket:>8} {units:>6} {:>10}",
            Cents(cents)
        );
    }
    out.push_str("deductible (year, charged):\n");
    let mut stmt = conn
        .prepare("SELECT year, cents FROM deductible WHERE member_id = ?1 AND year BETWEEN ?2 AND ?3 ORDER BY year")
        .map_err(&e)?;
    let rows = stmt
        .query_map(rusqlite::params![member, lo, hi], |r| {
            Ok((r.get::<_, u32>(0)?, r.get::<_, i64>(1)?))
        })
        .map_err(&e)?;
    for r in rows {
        let (y, cents) = r.map_err(&e)?;
        let _ = writeln!(out, "  {y} {:>10}", Cents(cents));
    }
    out.push_str("lines (run, provider, line_id, service date, code, claimed, basic, deductible, supplementary, member):\n");
    let mut stmt = conn
        .prepare(
            "SELECT run_id, provider_agb, line_id, service_date, code, claimed_cents, paid_basic_cents,
                    deductible_cents, paid_supplementary_cents, member_pays_cents, credit_of, credited_by
             FROM processed_line WHERE member_id = ?1 AND year BETWEEN ?2 AND ?3
             ORDER BY service_date, run_id, provider_agb, line_id",
        )
        .map_err(&e)?;
    type Row = (
        i64,
        u32,
        String,
        u32,
        String,
        i64,
        i64,
        i64,
        i64,
        i64,
        Option<String>,
        Option<String>,
    );
    let rows = stmt
        .query_map(rusqlite::params![member, lo, hi], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
                r.get(9)?,
                r.get(10)?,
                r.get(11)?,
            ))
        })
        .map_err(&e)?;
    for r in rows {
        let (run, agb, id, date, code, c, pb, d, ps, mp, credit_of, credited_by): Row =
            r.map_err(&e)?;
        let note = match (credit_of, credited_by) {
            (Some(of), _) => format!("  credit of {of}"),
            (_, Some(by)) => format!("  credited by {by}"),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "  {run:>4} {agb:08} {id:<14} {}-{:02}-{:02} {code:<8} {:>9} {:>9} {:>9} {:>9} {:>9}{note}",
            date / 10_000,
            date / 100 % 100,
            date % 100,
            Cents(c),
            Cents(pb),
            Cents(d),
            Cents(ps),
            Cents(mp)
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
            "SELECT run_id, started, finished, run_date, lines, paid_lines, rejected_lines, claimed_cents,
                    paid_basic_cents, deductible_cents, paid_supplementary_cents, member_pays_cents, inputs
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
