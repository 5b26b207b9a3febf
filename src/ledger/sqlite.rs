//! The SQLite ledger: one file, opened with `BEGIN IMMEDIATE` and held until the commit at the
//! end, so a second run on the same ledger is refused, and a run that dies leaves the ledger as
//! it was (SQLite rolls the journal back on the next open).

use super::{Ledger, LedgerError, LineKey, MemberChange, MemberQuery, RunRecord};
use crate::adjudicate::{Accumulators, Effect, MemberState, PoolKey, Prior, Used};
use crate::model::{Cents, Total};
use crate::night::{Night, Outcome, Payment, Products};
use crate::policy::PolicySet;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS run (
    run_id INTEGER PRIMARY KEY,
    started TEXT NOT NULL,
    finished TEXT NOT NULL,
    run_date TEXT NOT NULL,
    inputs TEXT NOT NULL,
    lines INTEGER NOT NULL,
    paid_lines INTEGER NOT NULL,
    rejected_lines INTEGER NOT NULL,
    claimed_cents INTEGER NOT NULL,
    paid_basic_cents INTEGER NOT NULL,
    deductible_cents INTEGER NOT NULL,
    paid_supplementary_cents INTEGER NOT NULL,
    member_pays_cents INTEGER NOT NULL,
    staged TEXT
);
CREATE TABLE IF NOT EXISTS accumulator (
    member_id TEXT NOT NULL,
    product TEXT NOT NULL,
    pool TEXT NOT NULL,
    bucket INTEGER NOT NULL,
    units INTEGER NOT NULL,
    cents INTEGER NOT NULL,
    PRIMARY KEY (member_id, product, pool, bucket)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS deductible (
    member_id TEXT NOT NULL,
    year INTEGER NOT NULL,
    cents INTEGER NOT NULL,
    PRIMARY KEY (member_id, year)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS processed_line (
    provider_agb INTEGER NOT NULL,
    line_id TEXT NOT NULL,
    run_id INTEGER NOT NULL,
    member_id TEXT NOT NULL,
    service_date INTEGER NOT NULL,
    code TEXT NOT NULL,
    year INTEGER NOT NULL,
    claimed_cents INTEGER NOT NULL,
    paid_basic_cents INTEGER NOT NULL,
    deductible_cents INTEGER NOT NULL,
    paid_supplementary_cents INTEGER NOT NULL,
    member_pays_cents INTEGER NOT NULL,
    products TEXT NOT NULL,
    effects TEXT NOT NULL,
    credit_of TEXT,
    credited_by TEXT,
    PRIMARY KEY (provider_agb, line_id)
) WITHOUT ROWID;
";

/// Effects as stored: `product|pool|bucket|units|cents` joined by `;`, into a reused buffer.
fn encode_effects(out: &mut String, effects: &[Effect], policies: &PolicySet) {
    use std::fmt::Write as _;
    out.clear();
    for e in effects {
        let p = &policies.products[e.key.product as usize];
        if !out.is_empty() {
            out.push(';');
        }
        let _ = write!(
            out,
            "{}|{}|{}|{}|{}",
            p.id, p.pools[e.key.pool as usize].id, e.key.bucket, e.units, e.euros.0
        );
    }
}

fn decode_effects(text: &str, policies: &PolicySet) -> Vec<Effect> {
    text.split(';')
        .filter_map(|e| {
            let f: Vec<&str> = e.split('|').collect();
            let [product, pool, bucket, units, cents] = f.as_slice() else {
                return None;
            };
            // A pool that no longer exists in the policies has nothing to give back.
            let pi = policies.index_of(product)?;
            let qi = policies.products[pi]
                .pools
                .iter()
                .position(|p| p.id == *pool)?;
            Some(Effect {
                key: PoolKey {
                    product: pi as u16,
                    pool: qi as u16,
                    bucket: bucket.parse().ok()?,
                },
                units: units.parse().ok()?,
                euros: Cents(cents.parse().ok()?),
            })
        })
        .collect()
}

fn product_indexes(text: &str, policies: &PolicySet) -> Products {
    let mut p = Products::default();
    for i in text.split('+').filter_map(|id| policies.index_of(id)) {
        p.push(i);
    }
    p
}

/// The SQLite ledger, holding its write transaction from open to commit.
pub struct SqliteLedger {
    conn: Connection,
    path: String,
}

impl SqliteLedger {
    /// Opens (or creates, mode 0640) the ledger and takes the write lock for this run.
    pub fn open(path: &Path) -> Result<SqliteLedger, LedgerError> {
        let shown = path.display().to_string();
        if !path.exists() {
            crate::output::create_private(path).map_err(|e| LedgerError::Io(shown.clone(), e))?;
        }
        let sql = |source| LedgerError::Sql {
            path: shown.clone(),
            source,
        };
        let conn = Connection::open(path).map_err(sql)?;
        // A bigger page cache keeps the inserts of a large night in memory until the commit.
        conn.execute_batch("PRAGMA cache_size = -131072")
            .map_err(sql)?;
        conn.busy_timeout(std::time::Duration::from_secs(2))
            .map_err(sql)?;
        match conn.execute_batch("BEGIN IMMEDIATE") {
            Ok(()) => {}
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) =>
            {
                return Err(LedgerError::Busy(shown));
            }
            Err(e) => return Err(sql(e)),
        }
        conn.execute_batch(SCHEMA).map_err(sql)?;
        let mut ledger = SqliteLedger { conn, path: shown };
        ledger.finish_interrupted_publish()?;
        Ok(ledger)
    }

    /// A run that committed but died before renaming its outputs: rename them now, so a
    /// committed run always ends with its outputs in place.
    fn finish_interrupted_publish(&mut self) -> Result<(), LedgerError> {
        let pending: Vec<(i64, String)> = {
            let mut stmt = self
                .conn
                .prepare("SELECT run_id, staged FROM run WHERE staged IS NOT NULL")
                .map_err(|e| self.sql(e))?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(|e| self.sql(e))?;
            rows.collect::<Result<_, _>>().map_err(|e| self.sql(e))?
        };
        for (run_id, staged) in pending {
            let pairs: Vec<(String, String)> = serde_json::from_str(&staged).unwrap_or_default();
            for (tmp, dest) in pairs {
                if Path::new(&tmp).exists() {
                    std::fs::rename(&tmp, &dest).map_err(|e| LedgerError::Io(dest.clone(), e))?;
                }
            }
            tracing::warn!(run_id, "outputs of an interrupted run were put in place");
            self.published(run_id)?;
        }
        Ok(())
    }

    /// Whether a table has no rows (the first runs on a new ledger skip their look-ups).
    fn is_empty(&self, table: &str) -> Result<bool, LedgerError> {
        let q = format!("SELECT EXISTS (SELECT 1 FROM {table})");
        let any: bool = self
            .conn
            .query_row(&q, [], |r| r.get(0))
            .map_err(|e| self.sql(e))?;
        Ok(!any)
    }

    /// A line paid in an earlier run, with its member, for a credit of this run to reverse.
    fn prior(
        &mut self,
        provider_agb: u32,
        line_id: &str,
        policies: &PolicySet,
    ) -> Result<Option<(String, Prior)>, LedgerError> {
        type Row = (
            String,
            u32,
            i64,
            i64,
            i64,
            i64,
            i64,
            String,
            String,
            Option<String>,
        );
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT member_id, year, claimed_cents, paid_basic_cents, deductible_cents,
                        paid_supplementary_cents, member_pays_cents, products, effects, credited_by
                 FROM processed_line WHERE provider_agb = ?1 AND line_id = ?2 AND credit_of IS NULL",
            )
            .map_err(|e| self.sql(e))?;
        let row: Option<Row> = stmt
            .query_row(params![provider_agb, line_id], |r| {
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
                ))
            })
            .optional()
            .map_err(|e| self.sql(e))?;
        Ok(row.map(
            |(member, year, claimed, pb, ded, ps, mp, products, effects, credited_by)| {
                let _ = mp;
                let payment = Payment {
                    year: u16::try_from(year).unwrap_or(u16::MAX),
                    paid_basic: Cents(pb),
                    deductible: Cents(ded),
                    paid_supplementary: Cents(ps),
                    products: product_indexes(&products, policies),
                    reasons: crate::model::Reasons::default(),
                };
                let prior = Prior {
                    claimed: Cents(claimed),
                    payment,
                    effects: decode_effects(&effects, policies),
                    credited: credited_by.is_some(),
                };
                (member, prior)
            },
        ))
    }

    /// The accumulators of each member as earlier runs left them.
    fn load_accumulators(
        &mut self,
        member_ids: &[&str],
        policies: &PolicySet,
    ) -> Result<Vec<Accumulators>, LedgerError> {
        let mut out = vec![Accumulators::default(); member_ids.len()];
        let (no_pools, no_deductible) =
            (self.is_empty("accumulator")?, self.is_empty("deductible")?);
        if no_pools && no_deductible {
            return Ok(out);
        }
        let sql = |e| LedgerError::Sql {
            path: self.path.clone(),
            source: e,
        };
        let mut order: Vec<usize> = (0..member_ids.len()).collect();
        order.sort_unstable_by_key(|&i| member_ids[i]);
        let mut pools = self
            .conn
            .prepare_cached(
                "SELECT product, pool, bucket, units, cents FROM accumulator WHERE member_id = ?1",
            )
            .map_err(sql)?;
        let mut deductible = self
            .conn
            .prepare_cached("SELECT year, cents FROM deductible WHERE member_id = ?1")
            .map_err(sql)?;
        for i in order {
            let acc = &mut out[i];
            if !no_pools {
                let mut rows = pools.query([member_ids[i]]).map_err(sql)?;
                while let Some(r) = rows.next().map_err(sql)? {
                    let (product, pool): (String, String) =
                        (r.get(0).map_err(sql)?, r.get(1).map_err(sql)?);
                    // A pool that no longer exists in the policies has nothing left to limit.
                    let Some(pi) = policies.index_of(&product) else {
                        continue;
                    };
                    let Some(qi) = policies.products[pi]
                        .pools
                        .iter()
                        .position(|p| p.id == pool)
                    else {
                        continue;
                    };
                    let key = PoolKey {
                        product: pi as u16,
                        pool: qi as u16,
                        bucket: r.get(2).map_err(sql)?,
                    };
                    let used = Used {
                        units: r.get(3).map_err(sql)?,
                        euros: Cents(r.get(4).map_err(sql)?),
                    };
                    acc.pools.push((key, used));
                }
            }
            if !no_deductible {
                let mut rows = deductible.query([member_ids[i]]).map_err(sql)?;
                while let Some(r) = rows.next().map_err(sql)? {
                    acc.deductible
                        .push((r.get(0).map_err(sql)?, Cents(r.get(1).map_err(sql)?)));
                }
            }
            acc.pools.sort_unstable_by_key(|(k, _)| *k);
            acc.deductible.sort_unstable_by_key(|(y, _)| *y);
        }
        Ok(out)
    }

    fn sql(&self, source: rusqlite::Error) -> LedgerError {
        LedgerError::Sql {
            path: self.path.clone(),
            source,
        }
    }
}

impl Ledger for SqliteLedger {
    fn processed(&mut self, keys: &[LineKey<'_>]) -> Result<Vec<bool>, LedgerError> {
        let mut out = vec![false; keys.len()];
        if self.is_empty("processed_line")? {
            return Ok(out);
        }
        // Looked up in key order: neighbouring keys share B-tree pages.
        let mut order: Vec<usize> = (0..keys.len()).collect();
        order.sort_unstable_by_key(|&i| keys[i]);
        let mut stmt = self
            .conn
            .prepare_cached("SELECT 1 FROM processed_line WHERE provider_agb = ?1 AND line_id = ?2")
            .map_err(|e| LedgerError::Sql {
                path: self.path.clone(),
                source: e,
            })?;
        for i in order {
            out[i] = stmt
                .exists(params![keys[i].0, keys[i].1])
                .map_err(|e| LedgerError::Sql {
                    path: self.path.clone(),
                    source: e,
                })?;
        }
        Ok(out)
    }

    fn load(
        &mut self,
        members: &[MemberQuery<'_>],
        policies: &PolicySet,
    ) -> Result<Vec<MemberState>, LedgerError> {
        let ids: Vec<&str> = members.iter().map(|m| m.member_id).collect();
        let accumulators = self.load_accumulators(&ids, policies)?;
        let mut states = Vec::with_capacity(members.len());
        for (m, acc) in members.iter().zip(accumulators) {
            let mut state = MemberState {
                acc,
                ..MemberState::default()
            };
            for &(agb, related) in &m.credits {
                if let Some((owner, prior)) = self.prior(agb, related, policies)? {
                    if owner == m.member_id {
                        state.priors.insert((agb, related.into()), prior);
                    }
                }
            }
            states.push(state);
        }
        Ok(states)
    }

    fn record(
        &mut self,
        started: &str,
        night: &Night,
        members: &[MemberChange<'_>],
        policies: &PolicySet,
    ) -> Result<i64, LedgerError> {
        let c = &self.conn;
        let sql = |source| LedgerError::Sql {
            path: self.path.clone(),
            source,
        };
        // The row is completed by `commit`; inside the transaction nobody else sees it.
        c.execute(
            "INSERT INTO run (started, finished, run_date, inputs, lines, paid_lines, rejected_lines,
                claimed_cents, paid_basic_cents, deductible_cents, paid_supplementary_cents, member_pays_cents)
             VALUES (?1, ?1, '', '', 0, 0, 0, 0, 0, 0, 0, 0)",
            [started],
        )
        .map_err(sql)?;
        let run_id = c.last_insert_rowid();
        {
            let mut put = c
                .prepare_cached(
                    "INSERT OR REPLACE INTO accumulator (member_id, product, pool, bucket, units, cents)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(sql)?;
            let mut ded = c
                .prepare_cached("INSERT OR REPLACE INTO deductible (member_id, year, cents) VALUES (?1, ?2, ?3)")
                .map_err(sql)?;
            for m in members {
                let (member, acc) = (m.member_id, m.acc);
                for (k, u) in &acc.pools {
                    let p = &policies.products[k.product as usize];
                    put.execute(params![
                        member,
                        p.id,
                        p.pools[k.pool as usize].id,
                        k.bucket,
                        u.units,
                        u.euros.0
                    ])
                    .map_err(sql)?;
                }
                for (year, used) in &acc.deductible {
                    ded.execute(params![member, year, used.0]).map_err(sql)?;
                }
            }
            let mut insert = c
                .prepare_cached(
                    "INSERT INTO processed_line (provider_agb, line_id, run_id, member_id, service_date, code,
                        year, claimed_cents, paid_basic_cents, deductible_cents, paid_supplementary_cents,
                        member_pays_cents, products, effects, credit_of)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                )
                .map_err(sql)?;
            let mut credited = c
                .prepare_cached(
                    "UPDATE processed_line SET credited_by = ?3 WHERE provider_agb = ?1 AND line_id = ?2",
                )
                .map_err(sql)?;
            // Inserted in key order: a large night would otherwise touch B-tree pages at
            // random, far beyond SQLite's cache.
            let mut lines: Vec<(&str, &crate::adjudicate::PaidLine, &[Effect])> = members
                .iter()
                .flat_map(|m| {
                    m.adjudicated
                        .paid
                        .iter()
                        .map(move |p| (m.member_id, p, m.adjudicated.effects_of(p)))
                })
                .collect();
            lines.sort_unstable_by(|a, b| {
                let (la, lb) = (
                    &night.lines[a.1.seq as usize],
                    &night.lines[b.1.seq as usize],
                );
                (la.provider_agb, night.line_id(la)).cmp(&(lb.provider_agb, night.line_id(lb)))
            });
            let mut effects = String::new();
            for &(member_id, paid, fx) in &lines {
                let line = &night.lines[paid.seq as usize];
                let Outcome::Paid(p) = night.outcomes[paid.seq as usize] else {
                    continue;
                };
                encode_effects(&mut effects, fx, policies);
                let products: Vec<&str> = p
                    .products
                    .iter()
                    .map(|i| policies.products[i].id.as_str())
                    .collect();
                let claimed = line.signed_amount();
                insert
                    .execute(params![
                        line.provider_agb,
                        night.line_id(line),
                        run_id,
                        member_id,
                        line.service_date.as_u32(),
                        night.code(line).1,
                        p.year,
                        claimed.0,
                        p.paid_basic.0,
                        p.deductible.0,
                        p.paid_supplementary.0,
                        p.member_pays(claimed).0,
                        products.join("+"),
                        effects,
                        line.credit().then(|| night.related_line_id(line)),
                    ])
                    .map_err(sql)?;
            }
            // After all inserts: a credit may come before the line it reverses in input order.
            for &(_, paid, _) in &lines {
                let line = &night.lines[paid.seq as usize];
                if line.credit() {
                    credited
                        .execute(params![
                            line.provider_agb,
                            night.related_line_id(line),
                            night.line_id(line)
                        ])
                        .map_err(sql)?;
                }
            }
        }
        Ok(run_id)
    }

    fn commit(
        &mut self,
        run_id: i64,
        run: &RunRecord,
        before_commit: &mut dyn FnMut() -> std::io::Result<()>,
    ) -> Result<(), LedgerError> {
        let c = &self.conn;
        let sql = |source| LedgerError::Sql {
            path: self.path.clone(),
            source,
        };
        let cents = |t: Total| {
            t.to_i64()
                .ok_or_else(|| LedgerError::Overflow(self.path.clone(), t.to_string()))
        };
        c.execute(
            "UPDATE run SET finished = strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), run_date = ?2, inputs = ?3,
                lines = ?4, paid_lines = ?5, rejected_lines = ?6, claimed_cents = ?7, paid_basic_cents = ?8,
                deductible_cents = ?9, paid_supplementary_cents = ?10, member_pays_cents = ?11, staged = ?12
             WHERE run_id = ?1",
            params![
                run_id,
                run.run_date,
                run.inputs,
                run.lines,
                run.paid_lines,
                run.rejected_lines,
                cents(run.claimed)?,
                cents(run.paid_basic)?,
                cents(run.deductible)?,
                cents(run.paid_supplementary)?,
                cents(run.member_pays)?,
                run.staged,
            ],
        )
        .map_err(sql)?;
        // The outputs must be on disk before the ledger says the run happened.
        before_commit().map_err(|e| LedgerError::Io("outputs".into(), e))?;
        c.execute_batch("COMMIT").map_err(sql)?;
        Ok(())
    }

    fn published(&mut self, run_id: i64) -> Result<(), LedgerError> {
        // Outside the run's transaction (committed above): a small one of its own.
        self.conn
            .execute("UPDATE run SET staged = NULL WHERE run_id = ?1", [run_id])
            .map_err(|e| self.sql(e))?;
        Ok(())
    }
}
