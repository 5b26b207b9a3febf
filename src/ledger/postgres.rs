//! The PostgreSQL ledger (`--ledger postgres://...`): the same [`Ledger`] calls as the SQLite
//! one, with plain relational tables that the rest of an insurer's systems can query.
//!
//! - **One transaction per run**, from open to [`Ledger::commit`]; a run that dies (kill -9, a
//!   lost connection) is rolled back by the server, so the ledger stays as it was.
//! - **A lock per shard**: the run holds `pg_try_advisory_xact_lock(LOCK_SPACE, shard)` for its
//!   transaction, so a second run of the same shard is refused (`Busy`) while the shards of a
//!   night run side by side. A ledger's shard count is fixed by its first run (`meta.shards`):
//!   the members are disjoint across its shards, so their runs never write the same rows.
//! - **Batches**: tonight's keys are looked up with `unnest` over arrays, 50,000 at a time; the
//!   run's lines and the changed members' counters are written with `COPY`.
//! - **Tables**: `run` (one row per committed run, with its shard), `product_ids` and
//!   `pool_ids` (ids in counters and lines), `accumulator` and `deductible` (each member's
//!   current state, one row per counter), `processed_line` (every line a run paid or credited,
//!   the key `(provider_agb, line_id)` unique; `credit_of` names the line a credit reversed).
//!   A snapshot for `declaro explain` rebuilds a member's state from `processed_line` up to a
//!   run, as the SQLite ledger does from `run_lines`.

use super::format::{Counter, StoredLine, StoredMember};
use super::ids::{Ids, Resolved};
use super::step;
use super::{
    Care, History, Ledger, LedgerError, LineKey, MemberQuery, RunChanges, RunRecord, RunRow,
};
use crate::adjudicate::MemberState;
use crate::model::Total;
use crate::night::Outcome;
use crate::policy::PolicySet;
use crate::shard::Shard;
use postgres::{Client, NoTls, Row};
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use std::cell::RefCell;
use std::io::Write;

/// The schema this code reads and writes (`meta.schema`).
const SCHEMA_VERSION: &str = "pg1";
/// The first key of declaro's advisory locks ("decl"); the second is the shard, 0 for setup.
const LOCK_SPACE: i32 = 0x6465_636c;
/// Keys per look-up statement.
const BATCH: usize = 50_000;
/// The run's transaction, its look-ups planned as index probes. Told the size of a batch of
/// 50,000 keys, the planner prefers to sort all of `processed_line` and merge-join it (on a
/// 1.6M-line ledger: 3 s a batch, 118 s for a 2M-line night's cares, against 1 s a batch
/// probing the index); every look-up here is a probe by design, so joins that read the whole
/// table are switched off for the transaction.
const PLAN: &str = "BEGIN; SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key text PRIMARY KEY,
    value text NOT NULL
);
CREATE TABLE IF NOT EXISTS run (
    run_id bigserial PRIMARY KEY,
    shard integer NOT NULL,
    shards integer NOT NULL,
    started text NOT NULL,
    finished text NOT NULL,
    run_date text NOT NULL,
    inputs jsonb NOT NULL,
    lines bigint NOT NULL,
    paid_lines bigint NOT NULL,
    rejected_lines bigint NOT NULL,
    claimed_cents bigint NOT NULL,
    paid_basic_cents bigint NOT NULL,
    deductible_cents bigint NOT NULL,
    paid_supplementary_cents bigint NOT NULL,
    member_pays_cents bigint NOT NULL,
    staged text,
    out_dir text
);
CREATE TABLE IF NOT EXISTS product_ids (
    id serial PRIMARY KEY,
    product text NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS pool_ids (
    id serial PRIMARY KEY,
    product text NOT NULL,
    pool text NOT NULL,
    UNIQUE (product, pool)
);
CREATE TABLE IF NOT EXISTS accumulator (
    member_id text NOT NULL,
    pool_id integer NOT NULL,
    bucket bigint NOT NULL,
    units bigint NOT NULL,
    cents bigint NOT NULL,
    PRIMARY KEY (member_id, pool_id, bucket)
);
CREATE TABLE IF NOT EXISTS deductible (
    member_id text NOT NULL,
    year integer NOT NULL,
    cents bigint NOT NULL,
    PRIMARY KEY (member_id, year)
);
CREATE TABLE IF NOT EXISTS processed_line (
    provider_agb bigint NOT NULL,
    line_id text NOT NULL,
    run_id bigint NOT NULL,
    seq integer NOT NULL,
    member_id text NOT NULL,
    service_date integer NOT NULL,
    code text NOT NULL,
    quantity integer NOT NULL,
    year integer NOT NULL,
    claimed_cents bigint NOT NULL,
    paid_basic_cents bigint NOT NULL,
    deductible_cents bigint NOT NULL,
    paid_supplementary_cents bigint NOT NULL,
    member_pays_cents bigint NOT NULL,
    products integer[] NOT NULL,
    effects jsonb NOT NULL,
    credit_of text,
    diagnosis bigint,
    PRIMARY KEY (provider_agb, line_id)
);
CREATE INDEX IF NOT EXISTS processed_line_care
    ON processed_line (member_id, provider_agb, service_date);
CREATE INDEX IF NOT EXISTS processed_line_credit ON processed_line (provider_agb, credit_of)
    WHERE credit_of IS NOT NULL;
";

/// The columns of `processed_line` that make a [`StoredLine`], in its order.
const LINE_COLUMNS: &str = "provider_agb, line_id, service_date, code, quantity, year, \
    claimed_cents, paid_basic_cents, deductible_cents, paid_supplementary_cents, \
    member_pays_cents, products, effects::text, credit_of";

/// A PostgreSQL ledger: a run's (holding its transaction and its shard's lock from open to
/// commit), a read-only snapshot for `explain`, or a reader for `declaro ledger`.
pub struct PgLedger {
    client: Client,
    /// The URL as given, for a second connection that stores new ids.
    url: String,
    /// The URL without its password, for messages.
    shown: String,
    shard: Shard,
    ids: Ids,
    /// Counters of pools the policies no longer have, by member, written back unchanged.
    kept: FxHashMap<Box<str>, Vec<Counter>>,
    /// A snapshot's newest run (see [`PgLedger::snapshot`]); `None` for a run's own ledger.
    upto: Option<i64>,
    writable: bool,
}

/// Whether a `--ledger` value names a PostgreSQL database.
pub fn is_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

/// A URL with its password replaced by `***`, for messages and logs.
pub fn shown_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, tail) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let tail = mask_query_password(tail);
    match authority.rsplit_once('@') {
        Some((user, host)) => match user.split_once(':') {
            Some((name, _)) => format!("{scheme}://{name}:***@{host}{tail}"),
            None => format!("{scheme}://{user}@{host}{tail}"),
        },
        None => format!("{scheme}://{authority}{tail}"),
    }
}

/// `?password=...` in a URL's query, masked.
fn mask_query_password(tail: &str) -> String {
    let Some((path, query)) = tail.split_once('?') else {
        return tail.to_string();
    };
    let parts: Vec<String> = query
        .split('&')
        .map(|p| match p.split_once('=') {
            Some(("password", _)) => "password=***".to_string(),
            _ => p.to_string(),
        })
        .collect();
    format!("{path}?{}", parts.join("&"))
}

impl PgLedger {
    fn connect(url: &str) -> Result<(Client, String), LedgerError> {
        let shown = shown_url(url);
        let client = Client::connect(url, NoTls).map_err(|e| LedgerError::Unreachable {
            url: shown.clone(),
            reason: e.to_string(),
        })?;
        Ok((client, shown))
    }

    fn new(client: Client, url: &str, shown: String, shard: Shard, upto: Option<i64>) -> Self {
        PgLedger {
            client,
            url: url.to_string(),
            shown,
            shard,
            ids: Ids::default(),
            kept: FxHashMap::default(),
            upto,
            writable: upto.is_none(),
        }
    }

    /// Connects, creates the tables on a new database, begins the run's transaction and takes
    /// the lock of `shard` (refused as `Busy` when another run holds it).
    pub fn open(url: &str, shard: Shard) -> Result<PgLedger, LedgerError> {
        let (client, shown) = PgLedger::connect(url)?;
        let mut l = PgLedger::new(client, url, shown, shard, None);
        l.set_up()?;
        l.client.batch_execute(PLAN).map_err(|e| l.pg(e))?;
        // As the SQLite ledger's busy timeout: wait up to two seconds for a run that holds the
        // shard to finish, then refuse.
        let waited = std::time::Instant::now();
        let locked = loop {
            let locked: bool = l
                .client
                .query_one(
                    "SELECT pg_try_advisory_xact_lock($1, $2)",
                    &[&LOCK_SPACE, &(shard.index() as i32)],
                )
                .map_err(|e| l.pg(e))?
                .try_get(0)
                .map_err(|e| LedgerError::Damaged(l.shown.clone(), e.to_string()))?;
            if locked || waited.elapsed() > std::time::Duration::from_secs(2) {
                break locked;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        if !locked {
            let _ = l.client.batch_execute("ROLLBACK");
            return Err(LedgerError::Busy(format!("{} (shard {shard})", l.shown)));
        }
        l.read_ids()?;
        l.finish_interrupted_publish()?;
        Ok(l)
    }

    /// The ledger as it stood when run `upto` had committed, read-only (`declaro explain`):
    /// lookups see runs up to `upto` only, and members' states are rebuilt from their lines.
    /// `shard` is the run's: its inputs count as processed per shard.
    pub fn snapshot(url: &str, upto: i64, shard: Shard) -> Result<PgLedger, LedgerError> {
        let mut l = PgLedger::reader(url)?;
        l.upto = Some(upto);
        l.shard = shard;
        Ok(l)
    }

    /// A read-only view of the newest committed state, without a lock.
    pub fn reader(url: &str) -> Result<PgLedger, LedgerError> {
        let (client, shown) = PgLedger::connect(url)?;
        let mut l = PgLedger::new(client, url, shown, Shard::ALL, Some(i64::MAX));
        l.client
            .batch_execute(
                &PLAN.replace("BEGIN", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"),
            )
            .map_err(|e| l.pg(e))?;
        match l.schema()? {
            Some(v) if v == SCHEMA_VERSION => {}
            Some(found) => {
                return Err(LedgerError::Schema {
                    path: l.shown.clone(),
                    found,
                })
            }
            None => {
                return Err(LedgerError::Damaged(
                    l.shown.clone(),
                    "no declaro ledger in this database: no run has committed to it".into(),
                ))
            }
        }
        l.read_ids()?;
        Ok(l)
    }

    /// Creates the tables of a new ledger and checks the schema and shard count, in a short
    /// transaction of its own under the setup lock (shards may start at the same moment).
    fn set_up(&mut self) -> Result<(), LedgerError> {
        self.client.batch_execute("BEGIN").map_err(|e| self.pg(e))?;
        self.client
            .execute("SELECT pg_advisory_xact_lock($1, 0)", &[&LOCK_SPACE])
            .map_err(|e| self.pg(e))?;
        let version = self.schema()?;
        match version.as_deref() {
            None => {
                self.client.batch_execute(SCHEMA).map_err(|e| self.pg(e))?;
                self.client
                    .execute(
                        "INSERT INTO meta (key, value) VALUES ('schema', $1), ('shards', $2)",
                        &[&SCHEMA_VERSION, &self.shard.count().to_string()],
                    )
                    .map_err(|e| self.pg(e))?;
            }
            Some(SCHEMA_VERSION) => {
                let shards: String = self
                    .client
                    .query_one("SELECT value FROM meta WHERE key = 'shards'", &[])
                    .map_err(|e| self.pg(e))?
                    .try_get(0)
                    .map_err(|e| LedgerError::Damaged(self.shown.clone(), e.to_string()))?;
                if shards != self.shard.count().to_string() {
                    let _ = self.client.batch_execute("ROLLBACK");
                    return Err(LedgerError::Shards {
                        ledger: self.shown.clone(),
                        holds: super::holds_shards(&shards),
                        asked: self.shard.to_string(),
                    });
                }
            }
            Some(other) => {
                let found = other.to_string();
                let _ = self.client.batch_execute("ROLLBACK");
                return Err(LedgerError::Schema {
                    path: self.shown.clone(),
                    found,
                });
            }
        }
        self.client.batch_execute("COMMIT").map_err(|e| self.pg(e))
    }

    /// `meta.schema`, or `None` in a database without declaro's tables.
    fn schema(&mut self) -> Result<Option<String>, LedgerError> {
        let has_meta: bool = self
            .client
            .query_one("SELECT to_regclass('meta') IS NOT NULL", &[])
            .map_err(|e| self.pg(e))?
            .try_get(0)
            .map_err(|e| LedgerError::Damaged(self.shown.clone(), e.to_string()))?;
        if !has_meta {
            return Ok(None);
        }
        let row = self
            .client
            .query_opt("SELECT value FROM meta WHERE key = 'schema'", &[])
            .map_err(|e| self.pg(e))?;
        match row {
            Some(r) => Ok(Some(col(&r, 0, &self.shown)?)),
            None => Ok(Some("(none)".into())),
        }
    }

    fn read_ids(&mut self) -> Result<(), LedgerError> {
        let mut ids = Ids::default();
        for r in self
            .client
            .query("SELECT id, product FROM product_ids", &[])
            .map_err(|e| self.pg(e))?
        {
            ids.products.insert(
                col(&r, 1, &self.shown)?,
                col::<i32>(&r, 0, &self.shown)? as u32,
            );
        }
        for r in self
            .client
            .query("SELECT id, product, pool FROM pool_ids", &[])
            .map_err(|e| self.pg(e))?
        {
            ids.pools.insert(
                (col(&r, 1, &self.shown)?, col(&r, 2, &self.shown)?),
                col::<i32>(&r, 0, &self.shown)? as u32,
            );
        }
        self.ids = ids;
        Ok(())
    }

    fn pg(&self, source: postgres::Error) -> LedgerError {
        LedgerError::Postgres {
            url: self.shown.clone(),
            source,
        }
    }

    fn damaged(&self, what: impl std::fmt::Display) -> LedgerError {
        LedgerError::Damaged(self.shown.clone(), what.to_string())
    }

    /// Whether no run this ledger sees paid a line (the first night skips its look-ups).
    fn no_lines(&mut self) -> Result<bool, LedgerError> {
        let row = self
            .client
            .query_one(
                "SELECT NOT EXISTS (SELECT 1 FROM processed_line WHERE run_id <= $1)",
                &[&self.upto()],
            )
            .map_err(|e| self.pg(e))?;
        col(&row, 0, &self.shown)
    }

    fn upto(&self) -> i64 {
        self.upto.unwrap_or(i64::MAX)
    }

    fn writable(&self) -> Result<(), LedgerError> {
        if self.writable {
            Ok(())
        } else {
            Err(self.damaged("a snapshot of the ledger is read-only"))
        }
    }

    /// A run of this shard that committed but died before renaming its outputs: rename them
    /// now (as the SQLite ledger does).
    fn finish_interrupted_publish(&mut self) -> Result<(), LedgerError> {
        let pending: Vec<(i64, String)> = self
            .client
            .query(
                "SELECT run_id, staged FROM run WHERE staged IS NOT NULL AND shard = $1",
                &[&(self.shard.index() as i32)],
            )
            .map_err(|e| self.pg(e))?
            .iter()
            .map(|r| Ok((col(r, 0, &self.shown)?, col(r, 1, &self.shown)?)))
            .collect::<Result<_, LedgerError>>()?;
        super::put_in_place(self, pending)
    }

    /// A `processed_line` row (its [`LINE_COLUMNS`] from `at`) as a stored line.
    fn stored_line(&self, r: &Row, at: usize) -> Result<StoredLine, LedgerError> {
        let effects: String = col(r, at + 12, &self.shown)?;
        let effects: Vec<Counter> = serde_json::from_str(&effects)
            .map_err(|e| self.damaged(format!("processed_line effects: {e}")))?;
        let products: Vec<i32> = col(r, at + 11, &self.shown)?;
        Ok(StoredLine(
            col::<i64>(r, at, &self.shown)? as u32,
            col(r, at + 1, &self.shown)?,
            col::<i32>(r, at + 2, &self.shown)? as u32,
            col(r, at + 3, &self.shown)?,
            col::<i32>(r, at + 4, &self.shown)? as u32,
            col::<i32>(r, at + 5, &self.shown)? as u32,
            col(r, at + 6, &self.shown)?,
            col(r, at + 7, &self.shown)?,
            col(r, at + 8, &self.shown)?,
            col(r, at + 9, &self.shown)?,
            col(r, at + 10, &self.shown)?,
            products.into_iter().map(|p| p as u32).collect(),
            effects,
            col(r, at + 13, &self.shown)?,
        ))
    }

    /// Members' states rebuilt from their lines of runs up to `upto` (a snapshot's `load`).
    fn rebuild(
        &mut self,
        members: &[MemberQuery<'_>],
        policies: &PolicySet,
    ) -> Result<Vec<MemberState>, LedgerError> {
        let resolved = self.ids.resolve(policies);
        let mut states: Vec<MemberState> = (0..members.len()).map(|_| Default::default()).collect();
        let index: FxHashMap<&str, usize> = members
            .iter()
            .enumerate()
            .map(|(i, m)| (m.member_id, i))
            .collect();
        for chunk in members.chunks(BATCH) {
            let ids: Vec<&str> = chunk.iter().map(|m| m.member_id).collect();
            let q = format!(
                "SELECT member_id, {LINE_COLUMNS} FROM processed_line \
                 WHERE member_id = ANY($1) AND run_id <= $2 ORDER BY run_id, seq"
            );
            let rows = self
                .client
                .query(&q, &[&ids, &self.upto()])
                .map_err(|e| self.pg(e))?;
            for r in &rows {
                let member: &str = col(r, 0, &self.shown)?;
                let Some(&i) = index.get(member) else {
                    continue;
                };
                let l = self.stored_line(r, 1)?;
                let (agb, id) = (l.provider_agb(), l.line_id().to_owned());
                let credit_of = l.credit_of().map(str::to_owned);
                let prior = resolved.prior(l, false);
                states[i].apply_stored(agb, &id, prior, credit_of.as_deref());
            }
        }
        Ok(states)
    }

    /// Tonight's members' earlier paid lines that their credits name, marked credited when a
    /// committed credit reversed them.
    fn load_priors(
        &mut self,
        members: &[MemberQuery<'_>],
        resolved: &Resolved,
        states: &mut [MemberState],
    ) -> Result<(), LedgerError> {
        let credits: Vec<(usize, LineKey<'_>)> = members
            .iter()
            .enumerate()
            .flat_map(|(i, m)| m.credits.iter().map(move |&k| (i, k)))
            .collect();
        if credits.is_empty() || self.no_lines()? {
            return Ok(());
        }
        let q = format!(
            "SELECT k.i, EXISTS (SELECT 1 FROM processed_line c WHERE c.provider_agb = \
             p.provider_agb AND c.credit_of = p.line_id AND c.member_id = p.member_id AND \
             c.run_id <= $5), {} FROM unnest($1::text[], $2::bigint[], $3::text[], $4::int[]) \
             AS k(member, agb, id, i) JOIN processed_line p ON p.provider_agb = k.agb AND \
             p.line_id = k.id AND p.member_id = k.member WHERE p.credit_of IS NULL AND \
             p.run_id <= $5",
            LINE_COLUMNS
                .split(", ")
                .map(|c| format!("p.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        for (n, chunk) in credits.chunks(BATCH).enumerate() {
            let member: Vec<&str> = chunk.iter().map(|c| members[c.0].member_id).collect();
            let agb: Vec<i64> = chunk.iter().map(|c| i64::from(c.1 .0)).collect();
            let id: Vec<&str> = chunk.iter().map(|c| c.1 .1).collect();
            let at: Vec<i32> = (0..chunk.len()).map(|i| (n * BATCH + i) as i32).collect();
            let rows = self
                .client
                .query(&q, &[&member, &agb, &id, &at, &self.upto()])
                .map_err(|e| self.pg(e))?;
            for r in &rows {
                let c = col::<i32>(r, 0, &self.shown)? as usize;
                let credited: bool = col(r, 1, &self.shown)?;
                let line = self.stored_line(r, 2)?;
                let (m, (agb, related)) = credits[c];
                states[m]
                    .priors
                    .insert((agb, related.into()), resolved.prior(line, credited));
            }
        }
        Ok(())
    }

    /// A second connection, outside the run's transaction, that stores a new product or pool
    /// id at once: shards that start together then never wait on each other's transactions.
    fn new_id(
        &self,
        side: &RefCell<Option<Client>>,
        sql: &str,
        names: &[&str],
    ) -> Result<u32, LedgerError> {
        let mut side = side.borrow_mut();
        if side.is_none() {
            *side = Some(PgLedger::connect(&self.url)?.0);
        }
        let c = side
            .as_mut()
            .ok_or_else(|| self.damaged("no second connection"))?;
        let params: Vec<&(dyn postgres::types::ToSql + Sync)> = names
            .iter()
            .map(|n| n as &(dyn postgres::types::ToSql + Sync))
            .collect();
        let insert = format!("INSERT INTO {sql} ON CONFLICT DO NOTHING");
        c.execute(&insert, &params).map_err(|e| self.pg(e))?;
        let select = match names.len() {
            1 => "SELECT id FROM product_ids WHERE product = $1",
            _ => "SELECT id FROM pool_ids WHERE product = $1 AND pool = $2",
        };
        let row = c.query_one(select, &params).map_err(|e| self.pg(e))?;
        let id: i32 = col(&row, 0, &self.shown)?;
        Ok(id as u32)
    }

    /// Streams rows into `COPY table (columns) FROM STDIN` (text format).
    fn copy_in(&mut self, table: &str, columns: &str, rows: &[u8]) -> Result<(), LedgerError> {
        if rows.is_empty() {
            return Ok(());
        }
        let q = format!("COPY {table} ({columns}) FROM STDIN");
        let shown = self.shown.clone();
        let pg = |source| LedgerError::Postgres {
            url: shown.clone(),
            source,
        };
        let mut w = self.client.copy_in(&q).map_err(pg)?;
        w.write_all(rows)
            .map_err(|e| LedgerError::Io(shown.clone(), e))?;
        w.finish().map_err(pg)?;
        Ok(())
    }

    /// Deletes the rows of `members` from a table of member state.
    fn delete_members(&mut self, table: &str, members: &[&str]) -> Result<(), LedgerError> {
        let q = format!("DELETE FROM {table} WHERE member_id = ANY($1)");
        for chunk in members.chunks(BATCH) {
            self.client.execute(&q, &[&chunk]).map_err(|e| self.pg(e))?;
        }
        Ok(())
    }
}

/// Column `i` of a row. A column of another type than the schema's (a table altered by hand)
/// is a damaged ledger, not a panic.
fn col<'r, T: postgres::types::FromSql<'r>>(
    r: &'r Row,
    i: usize,
    shown: &str,
) -> Result<T, LedgerError> {
    r.try_get(i).map_err(|e| {
        let what = format!("a column of another type than schema {SCHEMA_VERSION} has ({e})");
        LedgerError::Damaged(shown.to_string(), what)
    })
}

/// Appends a paid line's `processed_line` row in `COPY`'s text format.
fn line_row(
    out: &mut Vec<u8>,
    night: &crate::night::Night,
    m: &super::MemberChange<'_>,
    paid: &crate::adjudicate::PaidLine,
    assigned: &super::ids::Assigned,
    run_id: i64,
    seq: i64,
) {
    let line = &night.lines[paid.seq as usize];
    let Outcome::Paid(p) = night.outcomes[paid.seq as usize] else {
        return;
    };
    let claimed = line.signed_amount();
    copy_int(out, line.provider_agb, false);
    copy_text(out, night.line_id(line));
    out.push(b'\t');
    copy_int(out, run_id, false);
    copy_int(out, seq, false);
    copy_text(out, m.member_id);
    out.push(b'\t');
    copy_int(out, line.service_date.as_u32(), false);
    copy_text(out, night.code(line).1);
    out.push(b'\t');
    copy_int(out, line.quantity, false);
    copy_int(out, p.year, false);
    for a in [
        claimed.0,
        p.paid_basic.0,
        p.deductible.0,
        p.paid_supplementary.0,
        p.member_pays(claimed).0,
    ] {
        copy_int(out, a, false);
    }
    out.push(b'{');
    for (i, product) in p.products.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(
            itoa::Buffer::new()
                .format(assigned.products[product])
                .as_bytes(),
        );
    }
    out.extend_from_slice(b"}\t[");
    for (i, e) in m.adjudicated.effects_of(paid).iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        super::format::push_counter(out, assigned.counter(e.key, e.units, e.euros));
    }
    out.extend_from_slice(b"]\t");
    if line.credit() {
        copy_text(out, night.related_line_id(line));
    } else {
        out.extend_from_slice(b"\\N");
    }
    out.push(b'\t');
    match night.diagnosis(line) {
        Some(d) => copy_int(out, d, true),
        None => out.extend_from_slice(b"\\N\n"),
    }
}

/// Appends a text field in `COPY`'s text format (backslash escapes).
fn copy_text(out: &mut Vec<u8>, s: &str) {
    for &b in s.as_bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(b),
        }
    }
}

/// Appends an integer field and the separator after it.
fn copy_int(out: &mut Vec<u8>, i: impl itoa::Integer, last: bool) {
    out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
    out.push(if last { b'\n' } else { b'\t' });
}

impl Ledger for PgLedger {
    fn processed(&mut self, keys: &[LineKey<'_>]) -> Result<Vec<bool>, LedgerError> {
        let mut out = vec![false; keys.len()];
        if keys.is_empty() || self.no_lines()? {
            return Ok(out);
        }
        let t0 = std::time::Instant::now();
        let q = "SELECT k.i FROM unnest($1::bigint[], $2::text[], $3::int[]) AS k(agb, id, i) \
                 WHERE EXISTS (SELECT 1 FROM processed_line p WHERE p.provider_agb = k.agb \
                 AND p.line_id = k.id AND p.run_id <= $4)";
        for (n, chunk) in keys.chunks(BATCH).enumerate() {
            let agb: Vec<i64> = chunk.iter().map(|k| i64::from(k.0)).collect();
            let id: Vec<&str> = chunk.iter().map(|k| k.1).collect();
            let at: Vec<i32> = (0..chunk.len()).map(|i| (n * BATCH + i) as i32).collect();
            for r in self
                .client
                .query(q, &[&agb, &id, &at, &self.upto()])
                .map_err(|e| self.pg(e))?
            {
                out[col::<i32>(&r, 0, &self.shown)? as usize] = true;
            }
        }
        step("ledger processed", t0, keys.len());
        Ok(out)
    }

    fn paid_care<'q>(
        &mut self,
        n: usize,
        care: &(dyn Fn(usize) -> Care<'q> + Sync + 'q),
    ) -> Result<Vec<Option<String>>, LedgerError> {
        let mut out: Vec<Option<String>> = vec![None; n];
        if n == 0 || self.no_lines()? {
            return Ok(out);
        }
        let q = "SELECT k.i, p.line_id FROM unnest($1::text[], $2::bigint[], $3::int[], \
                 $4::text[], $5::int[], $6::bigint[], $7::bigint[], $8::int[]) AS k(member, \
                 agb, date, code, qty, claimed, diagnosis, i) JOIN processed_line p ON \
                 p.member_id = k.member AND p.provider_agb = k.agb AND p.service_date = k.date \
                 AND p.code = k.code AND p.quantity = k.qty AND p.claimed_cents = k.claimed AND \
                 p.diagnosis IS NOT DISTINCT FROM k.diagnosis WHERE p.credit_of IS NULL AND \
                 p.run_id <= $9 AND NOT EXISTS (SELECT 1 FROM processed_line c WHERE \
                 c.provider_agb = p.provider_agb AND c.credit_of = p.line_id AND c.member_id = \
                 p.member_id AND c.run_id <= $9)";
        let t0 = std::time::Instant::now();
        let mut start = 0;
        while start < n {
            let end = (start + BATCH).min(n);
            let cares: Vec<Care<'q>> = (start..end).map(care).collect();
            let member: Vec<&str> = cares.iter().map(|c| c.member_id).collect();
            let agb: Vec<i64> = cares.iter().map(|c| i64::from(c.provider_agb)).collect();
            let date: Vec<i32> = cares.iter().map(|c| c.service_date as i32).collect();
            let code: Vec<&str> = cares.iter().map(|c| c.code).collect();
            let qty: Vec<i32> = cares.iter().map(|c| i32::from(c.quantity)).collect();
            let claimed: Vec<i64> = cares.iter().map(|c| c.claimed).collect();
            let diagnosis: Vec<Option<i64>> =
                cares.iter().map(|c| c.diagnosis.map(i64::from)).collect();
            let at: Vec<i32> = (start..end).map(|i| i as i32).collect();
            let rows = self
                .client
                .query(
                    q,
                    &[
                        &member,
                        &agb,
                        &date,
                        &code,
                        &qty,
                        &claimed,
                        &diagnosis,
                        &at,
                        &self.upto(),
                    ],
                )
                .map_err(|e| self.pg(e))?;
            for r in rows {
                let i = col::<i32>(&r, 0, &self.shown)? as usize;
                let id: String = col(&r, 1, &self.shown)?;
                // The earliest line id (by bytes) of the same care, as the SQLite ledger picks.
                let slot = &mut out[i];
                if slot.as_deref().is_none_or(|s| id.as_str() < s) {
                    *slot = Some(id);
                }
            }
            start = end;
        }
        step("ledger paid care", t0, n);
        Ok(out)
    }

    fn load(
        &mut self,
        members: &[MemberQuery<'_>],
        policies: &PolicySet,
    ) -> Result<Vec<MemberState>, LedgerError> {
        if self.upto.is_some() {
            return self.rebuild(members, policies);
        }
        self.kept.clear();
        let resolved = self.ids.resolve(policies);
        let index: FxHashMap<&str, usize> = members
            .iter()
            .enumerate()
            .map(|(i, m)| (m.member_id, i))
            .collect();
        let mut stored: Vec<StoredMember> = vec![StoredMember::default(); members.len()];
        for chunk in members.chunks(BATCH) {
            let ids: Vec<&str> = chunk.iter().map(|m| m.member_id).collect();
            for r in self
                .client
                .query(
                    "SELECT member_id, pool_id, bucket, units, cents FROM accumulator \
                     WHERE member_id = ANY($1)",
                    &[&ids],
                )
                .map_err(|e| self.pg(e))?
            {
                if let Some(&i) = index.get(col::<&str>(&r, 0, &self.shown)?) {
                    stored[i].0.push(Counter(
                        col::<i32>(&r, 1, &self.shown)? as u32,
                        col::<i64>(&r, 2, &self.shown)? as u32,
                        col::<i64>(&r, 3, &self.shown)? as u32,
                        col(&r, 4, &self.shown)?,
                    ));
                }
            }
            for r in self
                .client
                .query(
                    "SELECT member_id, year, cents FROM deductible WHERE member_id = ANY($1)",
                    &[&ids],
                )
                .map_err(|e| self.pg(e))?
            {
                if let Some(&i) = index.get(col::<&str>(&r, 0, &self.shown)?) {
                    stored[i].1.push((
                        col::<i32>(&r, 1, &self.shown)? as u32,
                        col(&r, 2, &self.shown)?,
                    ));
                }
            }
        }
        let mut states = Vec::with_capacity(members.len());
        for (m, mut s) in members.iter().zip(stored) {
            s.0.sort_unstable();
            let (acc, kept) = resolved.accumulators(s);
            if !kept.is_empty() {
                self.kept.insert(m.member_id.into(), kept);
            }
            states.push(MemberState {
                acc,
                ..Default::default()
            });
        }
        self.load_priors(members, &resolved, &mut states)?;
        Ok(states)
    }

    fn record(&mut self, run: &RunChanges<'_>) -> Result<i64, LedgerError> {
        let RunChanges {
            started,
            night,
            members,
            policies,
        } = *run;
        self.writable()?;
        // The row is completed by `commit`; inside the transaction nobody else sees it.
        let run_id: i64 = self
            .client
            .query_one(
                "INSERT INTO run (shard, shards, started, finished, run_date, inputs, lines,
                    paid_lines, rejected_lines, claimed_cents, paid_basic_cents,
                    deductible_cents, paid_supplementary_cents, member_pays_cents)
                 VALUES ($1, $2, $3, $3, '', '[]', 0, 0, 0, 0, 0, 0, 0, 0) RETURNING run_id",
                &[
                    &(self.shard.index() as i32),
                    &(self.shard.count() as i32),
                    &started,
                ],
            )
            .map_err(|e| self.pg(e))?
            .try_get(0)
            .map_err(|e| LedgerError::Damaged(self.shown.clone(), e.to_string()))?;
        let side = RefCell::new(None);
        let mut ids = std::mem::take(&mut self.ids);
        let assigned = ids.assign(
            night,
            members,
            policies,
            &mut |product| self.new_id(&side, "product_ids (product) VALUES ($1)", &[product]),
            &mut |product, pool| {
                let sql = "pool_ids (product, pool) VALUES ($1, $2)";
                self.new_id(&side, sql, &[product, pool])
            },
        );
        self.ids = ids;
        let assigned = assigned?;
        drop(side);

        let (mut accs, mut deds) = (Vec::new(), Vec::new());
        // Each paid line: its key, its member and its place among the member's paid lines,
        // and its adjudication order. The rows go to COPY in key order, so the primary key
        // grows at its right edge instead of at random pages.
        let mut order: Vec<(u32, &str, u32, u32, i64)> = Vec::new();
        let mut seq: i64 = 0;
        let mut member_ids: Vec<&str> = Vec::with_capacity(members.len());
        for (mi, m) in members.iter().enumerate() {
            member_ids.push(m.member_id);
            let mut counters: Vec<Counter> = m
                .acc
                .pools
                .iter()
                .map(|(k, u)| assigned.counter(*k, u.units, u.euros))
                .collect();
            counters.extend(self.kept.get(m.member_id).into_iter().flatten());
            counters.sort_unstable();
            for c in &counters {
                copy_text(&mut accs, m.member_id);
                accs.push(b'\t');
                copy_int(&mut accs, c.0, false);
                copy_int(&mut accs, c.1, false);
                copy_int(&mut accs, c.2, false);
                copy_int(&mut accs, c.3, true);
            }
            for (year, cents) in &m.acc.deductible {
                copy_text(&mut deds, m.member_id);
                deds.push(b'\t');
                copy_int(&mut deds, *year, false);
                copy_int(&mut deds, cents.0, true);
            }
            for (pi, paid) in m.adjudicated.paid.iter().enumerate() {
                let line = &night.lines[paid.seq as usize];
                if let Outcome::Paid(_) = night.outcomes[paid.seq as usize] {
                    order.push((
                        line.provider_agb,
                        night.line_id(line),
                        mi as u32,
                        pi as u32,
                        seq,
                    ));
                    seq += 1;
                }
            }
        }
        let t0 = std::time::Instant::now();
        order.par_sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        // Streamed: the rows are rendered one at a time into the COPY, never held together.
        {
            let shown = self.shown.clone();
            let pg = |source| LedgerError::Postgres {
                url: shown.clone(),
                source,
            };
            let io = |e| LedgerError::Io(shown.clone(), e);
            let copy = self
                .client
                .copy_in(
                    "COPY processed_line (provider_agb, line_id, run_id, seq, member_id, \
                     service_date, code, quantity, year, claimed_cents, paid_basic_cents, \
                     deductible_cents, paid_supplementary_cents, member_pays_cents, products, \
                     effects, credit_of, diagnosis) FROM STDIN",
                )
                .map_err(pg)?;
            let mut w = std::io::BufWriter::with_capacity(1 << 20, copy);
            let mut row = Vec::with_capacity(256);
            for &(_, _, mi, pi, seq) in &order {
                let m = &members[mi as usize];
                let paid = &m.adjudicated.paid[pi as usize];
                row.clear();
                line_row(&mut row, night, m, paid, &assigned, run_id, seq);
                w.write_all(&row).map_err(io)?;
            }
            let copy = w.into_inner().map_err(|e| io(e.into_error()))?;
            copy.finish().map_err(pg)?;
        }
        drop(order);
        step("ledger copy lines", t0, seq as usize);
        let t0 = std::time::Instant::now();
        self.delete_members("accumulator", &member_ids)?;
        self.delete_members("deductible", &member_ids)?;
        self.copy_in(
            "accumulator",
            "member_id, pool_id, bucket, units, cents",
            &accs,
        )?;
        self.copy_in("deductible", "member_id, year, cents", &deds)?;
        step("ledger rewrite member state", t0, member_ids.len());
        self.kept.clear();
        Ok(run_id)
    }

    fn run_of_input(&mut self, sha256: &str) -> Result<Option<i64>, LedgerError> {
        if sha256.is_empty() {
            return Ok(None);
        }
        let row = self
            .client
            .query_opt(
                "SELECT run_id FROM run, jsonb_array_elements(run.inputs) AS f
                 WHERE f->>'sha256' = $1 AND f->>'refused' IS NULL AND run_id <= $2
                   AND shard = $3
                 ORDER BY run_id LIMIT 1",
                &[&sha256, &self.upto(), &(self.shard.index() as i32)],
            )
            .map_err(|e| self.pg(e))?;
        row.map(|r| col(&r, 0, &self.shown)).transpose()
    }

    fn run_of_outputs(&mut self, out_dir: &str) -> Result<Option<i64>, LedgerError> {
        let row = self
            .client
            .query_one(
                "SELECT max(run_id) FROM run WHERE out_dir = $1",
                &[&out_dir],
            )
            .map_err(|e| self.pg(e))?;
        col(&row, 0, &self.shown)
    }

    fn commit(
        &mut self,
        run_id: i64,
        run: &RunRecord,
        before_commit: &mut dyn FnMut() -> std::io::Result<()>,
    ) -> Result<(), LedgerError> {
        self.writable()?;
        let cents = |t: Total| {
            t.to_i64()
                .ok_or_else(|| LedgerError::Overflow(self.shown.clone(), t.to_string()))
        };
        let sums = [
            cents(run.sums.claimed)?,
            cents(run.sums.paid_basic)?,
            cents(run.sums.deductible)?,
            cents(run.sums.paid_supplementary)?,
            cents(run.sums.member_pays)?,
        ];
        let counts = [
            run.lines as i64,
            run.paid_lines as i64,
            run.rejected_lines as i64,
        ];
        self.client
            .execute(
                "UPDATE run SET finished = to_char(now() AT TIME ZONE 'UTC',
                    'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), run_date = $2, inputs = $3::text::jsonb,
                    lines = $4, paid_lines = $5, rejected_lines = $6, claimed_cents = $7,
                    paid_basic_cents = $8, deductible_cents = $9,
                    paid_supplementary_cents = $10, member_pays_cents = $11, staged = $12,
                    out_dir = $13
                 WHERE run_id = $1",
                &[
                    &run_id,
                    &run.run_date,
                    &run.inputs,
                    &counts[0],
                    &counts[1],
                    &counts[2],
                    &sums[0],
                    &sums[1],
                    &sums[2],
                    &sums[3],
                    &sums[4],
                    &run.staged,
                    &run.out_dir,
                ],
            )
            .map_err(|e| self.pg(e))?;
        // The outputs must be on disk before the ledger says the run happened.
        before_commit().map_err(|e| LedgerError::Io("outputs".into(), e))?;
        self.client.batch_execute("COMMIT").map_err(|e| self.pg(e))
    }

    fn roll_back(&mut self) -> Result<(), LedgerError> {
        self.client
            .batch_execute("ROLLBACK")
            .map_err(|e| self.pg(e))
    }

    fn last_run(&mut self) -> Result<i64, LedgerError> {
        if self.schema()?.is_none() {
            return Ok(0);
        }
        let row = self
            .client
            .query_one(
                "SELECT coalesce(max(run_id), 0)::bigint FROM run WHERE run_id <= $1",
                &[&self.upto()],
            )
            .map_err(|e| self.pg(e))?;
        col(&row, 0, &self.shown)
    }

    fn published(&mut self, run_id: i64) -> Result<(), LedgerError> {
        self.writable()?;
        self.client
            .execute("UPDATE run SET staged = NULL WHERE run_id = $1", &[&run_id])
            .map_err(|e| self.pg(e))?;
        Ok(())
    }

    fn runs(&mut self) -> Result<Vec<(i64, String)>, LedgerError> {
        let rows = self
            .client
            .query(
                "SELECT run_id, out_dir FROM run WHERE out_dir IS NOT NULL AND run_id <= $1 \
                 ORDER BY run_id",
                &[&self.upto()],
            )
            .map_err(|e| self.pg(e))?;
        rows.iter()
            .map(|r| Ok((col(r, 0, &self.shown)?, col(r, 1, &self.shown)?)))
            .collect()
    }
}

impl History for PgLedger {
    fn pools(&mut self) -> Result<FxHashMap<u32, (String, String)>, LedgerError> {
        Ok(self.ids.pool_names())
    }

    fn member(&mut self, member_id: &str) -> Result<StoredMember, LedgerError> {
        let mut s = StoredMember::default();
        for r in self
            .client
            .query(
                "SELECT pool_id, bucket, units, cents FROM accumulator WHERE member_id = $1",
                &[&member_id],
            )
            .map_err(|e| self.pg(e))?
        {
            s.0.push(Counter(
                col::<i32>(&r, 0, &self.shown)? as u32,
                col::<i64>(&r, 1, &self.shown)? as u32,
                col::<i64>(&r, 2, &self.shown)? as u32,
                col(&r, 3, &self.shown)?,
            ));
        }
        for r in self
            .client
            .query(
                "SELECT year, cents FROM deductible WHERE member_id = $1",
                &[&member_id],
            )
            .map_err(|e| self.pg(e))?
        {
            s.1.push((
                col::<i32>(&r, 0, &self.shown)? as u32,
                col(&r, 1, &self.shown)?,
            ));
        }
        Ok(s)
    }

    fn member_lines(&mut self, member_id: &str) -> Result<Vec<(i64, StoredLine)>, LedgerError> {
        let q = format!(
            "SELECT run_id, {LINE_COLUMNS} FROM processed_line WHERE member_id = $1 \
             ORDER BY run_id, seq"
        );
        let rows = self
            .client
            .query(&q, &[&member_id])
            .map_err(|e| self.pg(e))?;
        rows.iter()
            .map(|r| Ok((col(r, 0, &self.shown)?, self.stored_line(r, 1)?)))
            .collect()
    }

    fn run_rows(&mut self) -> Result<Vec<RunRow>, LedgerError> {
        let rows = self
            .client
            .query(
                "SELECT run_id, started, run_date, lines, paid_lines, rejected_lines,
                    claimed_cents, paid_basic_cents, deductible_cents, paid_supplementary_cents,
                    member_pays_cents, inputs::text, shard, shards
                 FROM run ORDER BY run_id",
                &[],
            )
            .map_err(|e| self.pg(e))?;
        let at = |r: &Row, i: usize| col::<i64>(r, i, &self.shown);
        rows.iter()
            .map(|r| {
                let shard: (i32, i32) = (col(r, 12, &self.shown)?, col(r, 13, &self.shown)?);
                Ok(RunRow {
                    run_id: at(r, 0)?,
                    started: col(r, 1, &self.shown)?,
                    run_date: col(r, 2, &self.shown)?,
                    counts: [at(r, 3)?, at(r, 4)?, at(r, 5)?],
                    cents: [at(r, 6)?, at(r, 7)?, at(r, 8)?, at(r, 9)?, at(r, 10)?],
                    inputs: col(r, 11, &self.shown)?,
                    shard: Shard::new(shard.0 as u32, shard.1 as u32).filter(|s| !s.is_all()),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_shown_without_its_password() {
        assert_eq!(
            shown_url("postgres://claims:s3cret@db.example:5432/ledger"),
            "postgres://claims:***@db.example:5432/ledger"
        );
        assert_eq!(
            shown_url("postgresql://claims@db/ledger?sslmode=disable&password=x"),
            "postgresql://claims@db/ledger?sslmode=disable&password=***"
        );
        assert_eq!(shown_url("postgres://db/ledger"), "postgres://db/ledger");
        assert!(is_url("postgres://db/x") && is_url("postgresql://db/x"));
        assert!(!is_url("ledger.db") && !is_url("./postgres://x"));
    }

    #[test]
    fn copy_text_escapes_what_the_text_format_needs() {
        let mut out = Vec::new();
        copy_text(&mut out, "a\tb\\c\nd\re");
        assert_eq!(out, b"a\\tb\\\\c\\nd\\re");
    }
}
