//! The SQLite ledger, schema 2: one file, opened with `BEGIN IMMEDIATE` and held until the
//! commit at the end, so a second run on the same ledger is refused, and a run that dies leaves
//! the ledger as it was (SQLite rolls the journal back on the next open).
//!
//! Few, large rows, appended in key order. The members are spread over `partitions` (4096 in a
//! new ledger) by a stable hash; a partition's member states are one JSON row of
//! `member_state`, rewritten when one of its members is in the night, and a run's lines are one
//! JSON row of `run_lines` per partition it touched. The keys of a run's lines are sorted blobs
//! of 64-bit entries (`line_keys`, and `credited` for the lines its credits reversed): tonight's
//! keys are hashed, sorted and merge-joined against them, one chunk in memory at a time, and
//! every hash match is confirmed against the lines in `run_lines`. [`super::format`] describes
//! the hashes and the JSON; views (`accumulator`, `deductible`, `processed_line`) show the
//! tables as rows for `sqlite3`.

use super::format::{self, Counter, LineOut, StoredLine, StoredMember, CHUNK};
use super::ids::{Assigned, Ids, Resolved};
use super::{
    Care, History, Ledger, LedgerError, LineKey, MemberChange, MemberQuery, RunChanges, RunRecord,
    RunRow,
};
use crate::adjudicate::{Accumulators, MemberState};
use crate::model::Total;
use crate::night::{Night, Outcome};
use crate::policy::PolicySet;
use crate::shard::Shard;
use rayon::prelude::*;
use rusqlite::{params, Connection, OptionalExtension};
use rustc_hash::FxHashMap;
use std::path::Path;
use std::time::Instant;

const SCHEMA: &str = "
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE run (
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
    staged TEXT,
    out_dir TEXT,
    shard INTEGER
);
CREATE TABLE product_ids (
    id INTEGER PRIMARY KEY,
    product TEXT NOT NULL UNIQUE
);
CREATE TABLE pool_ids (
    id INTEGER PRIMARY KEY,
    product TEXT NOT NULL,
    pool TEXT NOT NULL,
    UNIQUE (product, pool)
);
CREATE TABLE member_state (
    part INTEGER PRIMARY KEY,
    members TEXT NOT NULL
);
CREATE TABLE run_lines (
    run_id INTEGER NOT NULL,
    part INTEGER NOT NULL,
    lines TEXT NOT NULL,
    PRIMARY KEY (run_id, part)
) WITHOUT ROWID;
CREATE TABLE line_keys (
    run_id INTEGER NOT NULL,
    chunk INTEGER NOT NULL,
    keys BLOB NOT NULL,
    PRIMARY KEY (run_id, chunk)
) WITHOUT ROWID;
CREATE TABLE credited (
    run_id INTEGER NOT NULL,
    chunk INTEGER NOT NULL,
    keys BLOB NOT NULL,
    PRIMARY KEY (run_id, chunk)
) WITHOUT ROWID;
CREATE TABLE care_keys (
    run_id INTEGER NOT NULL,
    chunk INTEGER NOT NULL,
    keys BLOB NOT NULL,
    PRIMARY KEY (run_id, chunk)
) WITHOUT ROWID;
CREATE VIEW accumulator AS
SELECT m.key AS member_id, p.product AS product, p.pool AS pool,
       c.value ->> 1 AS bucket, c.value ->> 2 AS units, c.value ->> 3 AS cents
FROM member_state AS s, json_each(s.members) AS m, json_each(m.value, '$[0]') AS c
JOIN pool_ids AS p ON p.id = c.value ->> 0;
CREATE VIEW deductible AS
SELECT m.key AS member_id, d.value ->> 0 AS year, d.value ->> 1 AS cents
FROM member_state AS s, json_each(s.members) AS m, json_each(m.value, '$[1]') AS d;
CREATE VIEW processed_line AS
SELECT r.run_id AS run_id, m.key AS member_id,
       l.value ->> 0 AS provider_agb, l.value ->> 1 AS line_id, l.value ->> 2 AS service_date,
       l.value ->> 3 AS code, l.value ->> 4 AS quantity, l.value ->> 5 AS year,
       l.value ->> 6 AS claimed_cents, l.value ->> 7 AS paid_basic_cents,
       l.value ->> 8 AS deductible_cents, l.value ->> 9 AS paid_supplementary_cents,
       l.value ->> 10 AS member_pays_cents,
       (SELECT group_concat(product, '+') FROM
           (SELECT p.product AS product FROM json_each(l.value, '$[11]') AS x
            JOIN product_ids AS p ON p.id = x.value ORDER BY x.key)) AS products,
       l.value -> 12 AS effects,
       l.value ->> 13 AS credit_of,
       (SELECT c.value ->> 1
        FROM run_lines AS r2, json_each(r2.lines) AS m2, json_each(m2.value) AS c
        WHERE r2.part = r.part AND m2.key = m.key
          AND c.value ->> 0 = l.value ->> 0 AND c.value ->> 13 = l.value ->> 1
        LIMIT 1) AS credited_by
FROM run_lines AS r, json_each(r.lines) AS m, json_each(m.value) AS l;
";

/// Partitions rendered at once by `record` (their JSON is in memory together).
const WINDOW: usize = 64;

/// What a ledger file is, by its tables and `meta`.
pub(crate) enum Schema {
    /// No tables yet: a new ledger.
    Empty,
    /// Schema 2 with this many partitions.
    Current { partitions: u32 },
    /// Anything else, described.
    Other(String),
}

/// Tells the schema of an open ledger file.
pub(crate) fn schema_of(conn: &Connection) -> rusqlite::Result<Schema> {
    let mut stmt =
        conn.prepare("SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")?;
    let objects: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let has = |t: &str, n: &str| objects.iter().any(|(a, b)| a == t && b == n);
    if objects.is_empty() {
        return Ok(Schema::Empty);
    }
    if has("table", "processed_line") {
        return Ok(Schema::Other("1 (a processed_line table)".into()));
    }
    if !has("table", "meta") {
        return Ok(Schema::Other("unknown (no meta table)".into()));
    }
    let value = |key: &str| -> rusqlite::Result<Option<String>> {
        conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
    };
    match value("schema")?.as_deref() {
        Some(format::SCHEMA_VERSION) => {}
        Some(other) => return Ok(Schema::Other(other.to_string())),
        None => return Ok(Schema::Other("unknown (no schema in meta)".into())),
    }
    let p = value("partitions")?;
    match p.as_deref().and_then(|p| p.parse::<u32>().ok()) {
        Some(partitions) if (1..=format::MAX_PARTITIONS).contains(&partitions) => {
            Ok(Schema::Current { partitions })
        }
        _ => Ok(Schema::Other(format!(
            "2 with partitions = {}, outside 1..=65536",
            p.unwrap_or_else(|| "(none)".into())
        ))),
    }
}

/// Whether `table` has the column `column`.
fn has_column(conn: &Connection, table: &str, column: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2)",
        [table, column],
        |r| r.get(0),
    )
}

/// The ids of `product_ids` and `pool_ids`.
fn read_ids(conn: &Connection) -> rusqlite::Result<Ids> {
    let mut ids = Ids::default();
    let mut stmt = conn.prepare("SELECT id, product FROM product_ids")?;
    for r in stmt.query_map([], |r| Ok((r.get::<_, u32>(0)?, r.get::<_, String>(1)?)))? {
        let (id, product) = r?;
        ids.products.insert(product, id);
    }
    let mut stmt = conn.prepare("SELECT id, product, pool FROM pool_ids")?;
    for r in stmt.query_map([], |r| {
        Ok((
            r.get::<_, u32>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
        ))
    })? {
        let (id, product, pool) = r?;
        ids.pools.insert((product, pool), id);
    }
    Ok(ids)
}

/// What `load` read for `record` to rewrite.
#[derive(Default)]
struct Loaded {
    /// The `member_state` text of each of tonight's partitions that has one, by part.
    parts: Vec<(u32, String)>,
    /// Counters of pools the policies no longer have, by member, written back unchanged.
    kept: FxHashMap<Box<str>, Vec<Counter>>,
}

/// One match of a merge-join: the run, the partition its entry names, and the sought index.
type Found = (i64, u32, u32);

/// The SQLite ledger, holding its write transaction from open to commit.
pub struct SqliteLedger {
    conn: Connection,
    path: String,
    partitions: u32,
    ids: Ids,
    loaded: Loaded,
    /// A read-only view of the ledger as it stood after this run (see
    /// [`SqliteLedger::snapshot`]); `None` for a run's own ledger.
    upto: Option<i64>,
    /// The run's shard (a snapshot's: all).
    shard: Shard,
    /// Whether `run` has the `shard` column (a snapshot of an older ledger may lack it).
    shard_column: bool,
}

impl SqliteLedger {
    /// Opens (or creates, mode 0640) the ledger and takes the write lock for this run.
    pub fn open(path: &Path) -> Result<SqliteLedger, LedgerError> {
        SqliteLedger::open_shard(path, Shard::ALL)
    }

    /// [`SqliteLedger::open`] for a run of `shard`. The shards of a night share one ledger
    /// (their runs take turns: the file is locked by a run). Its shard count is fixed by its
    /// first run (`meta.shards`; absent: 1); a run of another count is refused. Each run
    /// records its shard (`run.shard`), so an input counts as processed per shard.
    pub fn open_shard(path: &Path, shard: Shard) -> Result<SqliteLedger, LedgerError> {
        let ledger = SqliteLedger::open_with(path, format::NEW_PARTITIONS, shard)?;
        let sql = |e| ledger.sql(e);
        let holds: Option<String> = ledger
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'shards'", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(sql)?;
        let count = shard.count().to_string();
        match holds {
            Some(h) if h == count => {}
            None if shard.is_all() => {}
            None if ledger.is_empty("run")? => {
                ledger
                    .conn
                    .execute(
                        "INSERT INTO meta (key, value) VALUES ('shards', ?1)",
                        [&count],
                    )
                    .map_err(sql)?;
            }
            h => {
                return Err(LedgerError::Shards {
                    ledger: ledger.path.clone(),
                    holds: super::holds_shards(h.as_deref().unwrap_or("1")),
                    asked: shard.to_string(),
                })
            }
        }
        Ok(ledger)
    }

    /// The committed ledger, read-only and without the lock (`declaro ledger show|runs`).
    pub fn reader(path: &Path) -> Result<SqliteLedger, LedgerError> {
        let shown = path.display().to_string();
        if !path.exists() {
            return Err(LedgerError::Damaged(
                shown,
                "the file does not exist".into(),
            ));
        }
        let l = SqliteLedger::snapshot(path, i64::MAX)?;
        match schema_of(&l.conn).map_err(|e| l.sql(e))? {
            Schema::Current { .. } => Ok(l),
            _ => Err(LedgerError::Damaged(
                shown,
                "it is not a declaro ledger: it has no tables".into(),
            )),
        }
    }

    /// [`SqliteLedger::open`], creating a new ledger with `partitions` partitions.
    fn open_with(path: &Path, partitions: u32, shard: Shard) -> Result<SqliteLedger, LedgerError> {
        let shown = path.display().to_string();
        if !path.exists() {
            crate::output::create_private(path).map_err(|e| LedgerError::Io(shown.clone(), e))?;
        }
        let sql = |source| LedgerError::Sql {
            path: shown.clone(),
            source,
        };
        let conn = Connection::open(path).map_err(sql)?;
        // A modest page cache: the dirty pages of a big night spill to the file rather than
        // stay in memory until the commit.
        conn.execute_batch("PRAGMA cache_size = -16384")
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
        let partitions = match schema_of(&conn).map_err(sql)? {
            Schema::Current { partitions } => partitions,
            Schema::Empty => {
                conn.execute_batch(SCHEMA).map_err(sql)?;
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema', ?1), ('partitions', ?2)",
                    params![format::SCHEMA_VERSION, partitions.to_string()],
                )
                .map_err(sql)?;
                partitions
            }
            Schema::Other(found) => return Err(LedgerError::Schema { path: shown, found }),
        };
        // Schema 2 ledgers written before runs recorded their output directory.
        let has_out_dir: bool = conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM pragma_table_info('run') WHERE name = 'out_dir')",
                [],
                |r| r.get(0),
            )
            .map_err(sql)?;
        if !has_out_dir {
            conn.execute_batch("ALTER TABLE run ADD COLUMN out_dir TEXT")
                .map_err(sql)?;
        }
        // Schema 2 ledgers written before runs recorded their shard: every run was of 1/1.
        if !has_column(&conn, "run", "shard").map_err(sql)? {
            conn.execute_batch("ALTER TABLE run ADD COLUMN shard INTEGER")
                .map_err(sql)?;
        }
        // Schema 2 ledgers written before paid lines' care was kept: their lines are simply
        // not found as the same care.
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS care_keys (run_id INTEGER NOT NULL, chunk INTEGER NOT \
             NULL, keys BLOB NOT NULL, PRIMARY KEY (run_id, chunk)) WITHOUT ROWID",
        )
        .map_err(sql)?;
        let ids = read_ids(&conn).map_err(sql)?;
        let mut ledger = SqliteLedger {
            conn,
            path: shown,
            partitions,
            ids,
            loaded: Loaded::default(),
            upto: None,
            shard,
            shard_column: true,
        };
        ledger.finish_interrupted_publish()?;
        Ok(ledger)
    }

    /// The ledger as it stood when run `upto` had committed and no later run had, read-only and
    /// without the write lock (`declaro explain` replays a run against it): lookups see runs
    /// up to `upto` only, and a member's state is rebuilt from the lines those runs paid and
    /// credited, in run order, instead of read from `member_state`, which holds the newest.
    pub fn snapshot(path: &Path, upto: i64) -> Result<SqliteLedger, LedgerError> {
        SqliteLedger::snapshot_of(path, upto, Shard::ALL)
    }

    /// [`SqliteLedger::snapshot`] as a run of `shard` saw it (its inputs processed per shard).
    pub fn snapshot_of(path: &Path, upto: i64, shard: Shard) -> Result<SqliteLedger, LedgerError> {
        let shown = path.display().to_string();
        let sql = |source| LedgerError::Sql {
            path: shown.clone(),
            source,
        };
        let mut conn =
            Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .map_err(sql)?;
        conn.busy_timeout(std::time::Duration::from_secs(2))
            .map_err(sql)?;
        // One read transaction: every lookup sees the same committed ledger.
        conn.execute_batch("BEGIN").map_err(sql)?;
        let partitions = match schema_of(&conn).map_err(sql)? {
            Schema::Current { partitions } => partitions,
            Schema::Empty => {
                // A ledger no run has committed to (a dry run's): an empty one, in memory.
                conn = Connection::open_in_memory().map_err(sql)?;
                conn.execute_batch(SCHEMA).map_err(sql)?;
                format::NEW_PARTITIONS
            }
            Schema::Other(found) => return Err(LedgerError::Schema { path: shown, found }),
        };
        let ids = read_ids(&conn).unwrap_or_default();
        let shard_column = has_column(&conn, "run", "shard").unwrap_or(false);
        Ok(SqliteLedger {
            conn,
            path: shown,
            partitions,
            ids,
            loaded: Loaded::default(),
            upto: Some(upto),
            shard,
            shard_column,
        })
    }

    /// The newest run a lookup sees.
    fn upto(&self) -> i64 {
        self.upto.unwrap_or(i64::MAX)
    }

    /// A snapshot's members' states, rebuilt from the lines of runs up to `upto`: each paid
    /// debit line adds its counters and deductible, each credit gives back those of the line it
    /// names (as [`crate::adjudicate::MemberState::apply_stored`] does).
    fn rebuild(
        &self,
        members: &[MemberQuery<'_>],
        policies: &PolicySet,
    ) -> Result<Vec<MemberState>, LedgerError> {
        let resolved = self.ids.resolve(policies);
        let mut states = Vec::with_capacity(members.len());
        if self.is_empty("run_lines")? {
            states.resize_with(members.len(), MemberState::default);
            return Ok(states);
        }
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT run_id, lines FROM run_lines WHERE part = ?1 AND run_id <= ?2 \
                 ORDER BY run_id",
            )
            .map_err(|e| self.sql(e))?;
        for m in members {
            let part = format::part_of(m.member_id, self.partitions);
            let mut state = MemberState::default();
            let mut rows = stmt
                .query(params![part, self.upto()])
                .map_err(|e| self.sql(e))?;
            while let Some(r) = rows.next().map_err(|e| self.sql(e))? {
                let run: i64 = r.get(0).map_err(|e| self.sql(e))?;
                let text: String = r.get(1).map_err(|e| self.sql(e))?;
                let damaged = |e: serde_json::Error| {
                    self.damaged(format!("run_lines of run {run} partition {part}: {e}"))
                };
                let parsed = format::members(&text).map_err(damaged)?;
                for l in format::lines_of(&parsed, m.member_id).map_err(damaged)? {
                    let (agb, id) = (l.provider_agb(), l.line_id().to_owned());
                    let credit_of = l.credit_of().map(str::to_owned);
                    let prior = resolved.prior(l, false);
                    state.apply_stored(agb, &id, prior, credit_of.as_deref());
                }
            }
            states.push(state);
        }
        Ok(states)
    }

    /// Refuses to change a snapshot.
    fn writable(&self) -> Result<(), LedgerError> {
        match self.upto {
            None => Ok(()),
            Some(_) => Err(self.damaged("a snapshot of the ledger is read-only")),
        }
    }

    /// A run that committed but died before renaming its outputs: rename them now, so a
    /// committed run always ends with its outputs in place.
    fn finish_interrupted_publish(&mut self) -> Result<(), LedgerError> {
        let pending: Vec<(i64, String)> = {
            let mut stmt = self
                .conn
                .prepare(
                    "SELECT run_id, staged FROM run WHERE staged IS NOT NULL \
                     AND coalesce(shard, 1) = ?1",
                )
                .map_err(|e| self.sql(e))?;
            let rows = stmt
                .query_map([self.shard.index()], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(|e| self.sql(e))?;
            rows.collect::<Result<_, _>>().map_err(|e| self.sql(e))?
        };
        super::put_in_place(self, pending)
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

    fn sql(&self, source: rusqlite::Error) -> LedgerError {
        LedgerError::Sql {
            path: self.path.clone(),
            source,
        }
    }

    fn damaged(&self, what: impl std::fmt::Display) -> LedgerError {
        LedgerError::Damaged(self.path.clone(), what.to_string())
    }

    /// Merge-joins `sought` (values with their index, sorted) against the sorted entries of
    /// every run in `table` (`line_keys` or `credited`), comparing `entry >> shift` with the
    /// value: 16 compares the hash48 alone, 0 the whole entry. Streams the chunks in key order,
    /// one in memory at a time.
    fn merge_join(
        &self,
        table: &str,
        sought: &[(u64, u32)],
        shift: u32,
    ) -> Result<Vec<Found>, LedgerError> {
        let mut found = Vec::new();
        if sought.is_empty() {
            return Ok(found);
        }
        let q =
            format!("SELECT run_id, keys FROM {table} WHERE run_id <= ?1 ORDER BY run_id, chunk");
        let mut stmt = self.conn.prepare(&q).map_err(|e| self.sql(e))?;
        let mut rows = stmt.query([self.upto()]).map_err(|e| self.sql(e))?;
        let (mut run, mut j) = (None, 0usize);
        while let Some(r) = rows.next().map_err(|e| self.sql(e))? {
            let run_id: i64 = r.get(0).map_err(|e| self.sql(e))?;
            if run != Some(run_id) {
                (run, j) = (Some(run_id), 0);
            }
            if j == sought.len() {
                // Everything sought is below this run's remaining entries.
                continue;
            }
            let blob = r
                .get_ref(1)
                .and_then(|v| v.as_blob().map_err(Into::into))
                .map_err(|e| self.sql(e))?;
            merge_chunk(blob, sought, shift, &mut j, |part, i| {
                found.push((run_id, part, i));
            });
        }
        Ok(found)
    }

    /// Confirms merge-join matches against the lines in `run_lines`: each (run, partition) row
    /// is read once, and `check` gets its text and the sought indexes matched in it, rows in
    /// parallel a window at a time. A row that is missing has no lines.
    fn confirm<R: Send>(
        &self,
        mut found: Vec<Found>,
        check: impl Fn(&str, &mut dyn Iterator<Item = u32>) -> Result<Vec<R>, String> + Sync,
    ) -> Result<Vec<R>, LedgerError> {
        found.sort_unstable();
        found.dedup();
        let groups: Vec<&[Found]> = found.chunk_by(|a, b| (a.0, a.1) == (b.0, b.1)).collect();
        let mut stmt = self
            .conn
            .prepare_cached("SELECT lines FROM run_lines WHERE run_id = ?1 AND part = ?2")
            .map_err(|e| self.sql(e))?;
        let mut out = Vec::new();
        for window in groups.chunks(WINDOW) {
            let mut texts = Vec::with_capacity(window.len());
            for g in window {
                let text: Option<String> = stmt
                    .query_row(params![g[0].0, g[0].1], |r| r.get(0))
                    .optional()
                    .map_err(|e| self.sql(e))?;
                texts.push(text);
            }
            let checked: Vec<Result<Vec<R>, String>> = window
                .par_iter()
                .zip(texts.par_iter())
                .map(|(g, text)| match text {
                    Some(t) => check(t, &mut g.iter().map(|f| f.2)).map_err(|e| {
                        format!("run_lines of run {} partition {}: {e}", g[0].0, g[0].1)
                    }),
                    None => Ok(Vec::new()),
                })
                .collect();
            for c in checked {
                out.extend(c.map_err(|e| self.damaged(e))?);
            }
        }
        Ok(out)
    }

    /// Tonight's members' earlier lines that their credits name: merge-joined on the whole
    /// entry (so only lines of the credit's own partition), confirmed under the credit's member
    /// as a paid line (`credit_of` null), and marked credited when a credit of an earlier run
    /// reversed it.
    fn load_priors(
        &self,
        members: &[MemberQuery<'_>],
        parts: &[u32],
        resolved: &Resolved,
        states: &mut [MemberState],
    ) -> Result<(), LedgerError> {
        let credits: Vec<(usize, LineKey<'_>)> = members
            .iter()
            .enumerate()
            .flat_map(|(i, m)| m.credits.iter().map(move |&k| (i, k)))
            .collect();
        if credits.is_empty() || self.is_empty("line_keys")? {
            return Ok(());
        }
        let entries = |which: &mut dyn Iterator<Item = usize>| {
            let mut s: Vec<(u64, u32)> = which
                .map(|c| {
                    let (m, (agb, related)) = credits[c];
                    (format::entry(agb, related, parts[m]), c as u32)
                })
                .collect();
            s.sort_unstable();
            s
        };
        // Each candidate's member's lines in one (run, partition) row, the row parsed once.
        let lines_of = |text: &str, cs: &mut dyn Iterator<Item = u32>| {
            let m = format::members(text).map_err(|e| e.to_string())?;
            let mut out: Vec<(u32, Vec<StoredLine>)> = Vec::new();
            for c in cs {
                let member = members[credits[c as usize].0].member_id;
                let lines = format::lines_of(&m, member).map_err(|e| e.to_string())?;
                out.push((c, lines));
            }
            Ok::<_, String>(out)
        };
        let sought = entries(&mut (0..credits.len()));
        let found = self.merge_join("line_keys", &sought, 0)?;
        let priors: Vec<(u32, StoredLine)> = self.confirm(found, |text, cs| {
            let mut out = Vec::new();
            for (c, lines) in lines_of(text, cs)? {
                let (_, (agb, related)) = credits[c as usize];
                let line = lines.into_iter().find(|l| {
                    l.provider_agb() == agb && l.line_id() == related && l.credit_of().is_none()
                });
                out.extend(line.map(|l| (c, l)));
            }
            Ok(out)
        })?;
        let mut credited = vec![false; credits.len()];
        if !priors.is_empty() && !self.is_empty("credited")? {
            let sought = entries(&mut priors.iter().map(|(c, _)| *c as usize));
            let found = self.merge_join("credited", &sought, 0)?;
            let hits: Vec<u32> = self.confirm(found, |text, cs| {
                let mut out = Vec::new();
                for (c, lines) in lines_of(text, cs)? {
                    let (_, (agb, related)) = credits[c as usize];
                    if lines
                        .iter()
                        .any(|l| l.provider_agb() == agb && l.credit_of() == Some(related))
                    {
                        out.push(c);
                    }
                }
                Ok(out)
            })?;
            for c in hits {
                credited[c as usize] = true;
            }
        }
        for (c, line) in priors {
            let (m, (agb, related)) = credits[c as usize];
            let prior = resolved.prior(line, credited[c as usize]);
            states[m].priors.insert((agb, related.into()), prior);
        }
        Ok(())
    }

    /// Inserts sorted entries as chunks of [`CHUNK`] little-endian `u64`s.
    fn insert_entries(&self, table: &str, run_id: i64, entries: &[u64]) -> Result<(), LedgerError> {
        let q = format!("INSERT INTO {table} (run_id, chunk, keys) VALUES (?1, ?2, ?3)");
        let mut stmt = self.conn.prepare(&q).map_err(|e| self.sql(e))?;
        let mut buf = Vec::with_capacity(CHUNK.min(entries.len()) * 8);
        for (i, chunk) in entries.chunks(CHUNK).enumerate() {
            buf.clear();
            for e in chunk {
                buf.extend_from_slice(&e.to_le_bytes());
            }
            stmt.execute(params![run_id, i as i64, &buf[..]])
                .map_err(|e| self.sql(e))?;
        }
        Ok(())
    }

    /// Writes one raw entry, as a hash collision would (tests only).
    #[cfg(test)]
    fn inject_entry(&self, table: &str, run_id: i64, entry: u64) {
        let q = format!("INSERT INTO {table} (run_id, chunk, keys) VALUES (?1, ?2, ?3)");
        let chunk: i64 = self
            .conn
            .query_row(
                &format!("SELECT coalesce(max(chunk), -1) + 1 FROM {table} WHERE run_id = ?1"),
                [run_id],
                |r| r.get(0),
            )
            .unwrap();
        self.conn
            .execute(&q, params![run_id, chunk, &entry.to_le_bytes()[..]])
            .unwrap();
    }
}

/// Each of `n` members' partition, and their indexes sorted by (partition, member id).
fn partitioned<'a>(
    n: usize,
    member_id: impl Fn(usize) -> &'a str + Sync,
    partitions: u32,
) -> (Vec<u32>, Vec<u32>) {
    let parts: Vec<u32> = (0..n)
        .into_par_iter()
        .map(|i| format::part_of(member_id(i), partitions))
        .collect();
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.par_sort_unstable_by(|&a, &b| {
        let (a, b) = (a as usize, b as usize);
        (parts[a], member_id(a)).cmp(&(parts[b], member_id(b)))
    });
    (parts, order)
}

/// Advances `*j` through `sought` alongside one chunk of entries (sorted little-endian
/// `u64`s), calling `hit(part, index)` for every sought value equal to `entry >> shift`.
/// `*j` carries over to the next chunk of the same run: a run of equal values may straddle
/// two chunks, so it stays at the start of the last equal run of `sought`.
fn merge_chunk(
    blob: &[u8],
    sought: &[(u64, u32)],
    shift: u32,
    j: &mut usize,
    mut hit: impl FnMut(u32, u32),
) {
    let n = blob.len() / 8;
    let at = |i: usize| {
        let b: [u8; 8] = blob[i * 8..i * 8 + 8].try_into().unwrap_or_default();
        u64::from_le_bytes(b)
    };
    let mut i = 0;
    while i < n && *j < sought.len() {
        let e = at(i);
        let (h, t) = (e >> shift, sought[*j].0);
        if h < t {
            i = gallop(i, n, |k| at(k) >> shift < t);
        } else if h > t {
            *j = gallop(*j, sought.len(), |k| sought[k].0 < h);
        } else {
            let part = format::entry_part(e);
            for s in sought[*j..].iter().take_while(|s| s.0 == h) {
                hit(part, s.1);
            }
            i += 1;
        }
    }
}

/// The first index in `lo..hi` where `below` is false, given `below(lo)`: exponential then
/// binary search, so a few sought keys against a large run cost their logarithms.
fn gallop(mut lo: usize, hi: usize, below: impl Fn(usize) -> bool) -> usize {
    let mut step = 1;
    while lo + step < hi && below(lo + step) {
        lo += step;
        step *= 2;
    }
    let (mut a, mut b) = (lo + 1, (lo + step).min(hi));
    while a < b {
        let m = a + (b - a) / 2;
        if below(m) {
            a = m + 1;
        } else {
            b = m;
        }
    }
    a
}

/// One partition as `record` writes it, in buffers reused from window to window.
#[derive(Default)]
struct Rendered {
    /// Its new `member_state` JSON (empty: no member left).
    state: Vec<u8>,
    /// Its `run_lines` JSON (empty: no line tonight).
    lines: Vec<u8>,
    /// The `line_keys`, `credited` and `care_keys` entries of its lines.
    keys: Vec<u64>,
    credited: Vec<u64>,
    care: Vec<u64>,
}

/// Renders one partition: its new `member_state` JSON (tonight's `group` of members, sorted,
/// merged with the other members of `old`, copied byte for byte), the JSON of tonight's lines
/// and their key entries.
#[allow(clippy::too_many_arguments)]
fn render_partition(
    out: &mut Rendered,
    part: u32,
    old: Option<&str>,
    group: &[u32],
    members: &[MemberChange<'_>],
    night: &Night,
    ids: &Assigned,
    kept: &FxHashMap<Box<str>, Vec<Counter>>,
) -> Result<(), String> {
    let Rendered {
        state,
        lines,
        keys,
        credited,
        care,
    } = out;
    state.clear();
    lines.clear();
    keys.clear();
    credited.clear();
    care.clear();
    let olds = match old {
        Some(t) => format::members(t).map_err(|e| e.to_string())?,
        None => Vec::new(),
    };
    let mut counters: Vec<Counter> = Vec::new();
    let mut deductible: Vec<(u32, i64)> = Vec::new();
    let mut next = 0;
    let mut first = true;
    let mut entry = |state: &mut Vec<u8>, key: &str| {
        state.push(if first { b'{' } else { b',' });
        first = false;
        format::push_str(state, key);
        state.push(b':');
    };
    for &i in group {
        let m = &members[i as usize];
        while next < olds.len() && olds[next].0 .0.as_ref() < m.member_id {
            entry(state, &olds[next].0 .0);
            state.extend_from_slice(olds[next].1.get().as_bytes());
            next += 1;
        }
        if next < olds.len() && olds[next].0 .0 == m.member_id {
            next += 1;
        }
        counters.clear();
        counters.extend(
            m.acc
                .pools
                .iter()
                .map(|(k, u)| ids.counter(*k, u.units, u.euros)),
        );
        counters.extend(kept.get(m.member_id).into_iter().flatten());
        counters.sort_unstable();
        deductible.clear();
        deductible.extend(m.acc.deductible.iter().map(|(y, c)| (*y, c.0)));
        if counters.is_empty() && deductible.is_empty() {
            continue;
        }
        entry(state, m.member_id);
        format::push_member(state, &counters, &deductible);
    }
    for (k, raw) in &olds[next..] {
        entry(state, &k.0);
        state.extend_from_slice(raw.get().as_bytes());
    }
    if !first {
        state.push(b'}');
    }

    // The partition's lines are spread over the night: ask for all of them before the first is
    // needed, so the cache misses overlap instead of coming one after another.
    let paid = || {
        group
            .iter()
            .flat_map(|&i| &members[i as usize].adjudicated.paid)
    };
    for p in paid() {
        crate::night::prefetch(&night.lines[p.seq as usize]);
        crate::night::prefetch(&night.outcomes[p.seq as usize]);
    }
    for p in paid() {
        let at = night.lines[p.seq as usize].text as usize;
        if let Some(b) = night.text.get(at) {
            crate::night::prefetch(b);
        }
    }
    let mut first = true;
    for &i in group {
        let m = &members[i as usize];
        let mut any = false;
        for paid in &m.adjudicated.paid {
            let line = &night.lines[paid.seq as usize];
            let Outcome::Paid(p) = night.outcomes[paid.seq as usize] else {
                continue;
            };
            if !any {
                lines.push(if first { b'{' } else { b',' });
                first = false;
                format::push_str(lines, m.member_id);
                lines.extend_from_slice(b":[");
                any = true;
            } else {
                lines.push(b',');
            }
            let line_id = night.line_id(line);
            keys.push(format::entry(line.provider_agb, line_id, part));
            let claimed = line.signed_amount();
            if line.credit() {
                let of = night.related_line_id(line);
                credited.push(format::entry(line.provider_agb, of, part));
            } else {
                let h = format::care_hash48(
                    line.provider_agb,
                    line.service_date.as_u32(),
                    night.code(line).1,
                    line.quantity,
                    claimed.0,
                    night.diagnosis(line),
                );
                care.push(format::care_entry(h, part));
            }
            let row = LineOut {
                provider_agb: line.provider_agb,
                line_id,
                service_date: line.service_date.as_u32(),
                code: night.code(line).1,
                quantity: line.quantity,
                year: p.year,
                amounts: [
                    claimed.0,
                    p.paid_basic.0,
                    p.deductible.0,
                    p.paid_supplementary.0,
                    p.member_pays(claimed).0,
                ],
                credit_of: line.credit().then(|| night.related_line_id(line)),
            };
            format::push_line(
                lines,
                &row,
                p.products.iter().map(|i| ids.products[i]),
                m.adjudicated
                    .effects_of(paid)
                    .iter()
                    .map(|e| ids.counter(e.key, e.units, e.euros)),
            );
        }
        if any {
            lines.push(b']');
        }
    }
    if !first {
        lines.push(b'}');
    }
    Ok(())
}

fn text(json: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(json).map_err(|e| e.to_string())
}

impl Ledger for SqliteLedger {
    fn processed(&mut self, keys: &[LineKey<'_>]) -> Result<Vec<bool>, LedgerError> {
        let mut out = vec![false; keys.len()];
        if keys.is_empty() || self.is_empty("line_keys")? {
            return Ok(out);
        }
        let started = Instant::now();
        let mut sought: Vec<(u64, u32)> = keys
            .par_iter()
            .enumerate()
            .map(|(i, &(agb, id))| (format::hash48(agb, id), i as u32))
            .collect();
        sought.par_sort_unstable();
        let found = self.merge_join("line_keys", &sought, 16)?;
        drop(sought);
        let candidates = found.len();
        let confirmed = self.confirm(found, |text, cs| {
            let parsed = format::line_heads(text).map_err(|e| e.to_string())?;
            let mut heads: Vec<(u32, &str)> = parsed
                .iter()
                .map(|h| (h.provider_agb, h.line_id.0.as_ref()))
                .collect();
            heads.sort_unstable();
            Ok(cs
                .filter(|&c| heads.binary_search(&keys[c as usize]).is_ok())
                .collect())
        })?;
        for c in confirmed {
            out[c as usize] = true;
        }
        tracing::debug!(
            target: "declaro::phase",
            keys = keys.len(),
            candidates,
            seconds = format!("{:.3}", started.elapsed().as_secs_f64()),
            "ledger processed"
        );
        Ok(out)
    }

    fn paid_care<'q>(
        &mut self,
        n: usize,
        care: &(dyn Fn(usize) -> Care<'q> + Sync + 'q),
    ) -> Result<Vec<Option<String>>, LedgerError> {
        let mut out = vec![None; n];
        if n == 0 || self.is_empty("care_keys")? {
            return Ok(out);
        }
        let started = Instant::now();
        let partitions = self.partitions;
        let part = |c: &Care<'_>| format::part_of(c.member_id, partitions);
        let mut sought: Vec<(u64, u32)> = (0..n)
            .into_par_iter()
            .map(|i| {
                let c = care(i);
                let h = format::care_hash48(
                    c.provider_agb,
                    c.service_date,
                    c.code,
                    c.quantity,
                    c.claimed,
                    c.diagnosis,
                );
                (format::care_entry(h, part(&c)), i as u32)
            })
            .collect();
        sought.par_sort_unstable();
        let found = self.merge_join("care_keys", &sought, 0)?;
        drop(sought);
        // Each candidate's member's lines in one (run, partition) row, the row parsed once.
        let lines_of = |text: &str, cs: &mut dyn Iterator<Item = u32>| {
            let m = format::members(text).map_err(|e| e.to_string())?;
            let mut out: Vec<(u32, Vec<StoredLine>)> = Vec::new();
            for c in cs {
                let lines =
                    format::lines_of(&m, care(c as usize).member_id).map_err(|e| e.to_string())?;
                out.push((c, lines));
            }
            Ok::<_, String>(out)
        };
        // The paid debit lines of the same care, confirmed field by field.
        let paid: Vec<(u32, String)> = self.confirm(found, |text, cs| {
            let mut out = Vec::new();
            for (c, lines) in lines_of(text, cs)? {
                let q = care(c as usize);
                out.extend(
                    lines
                        .into_iter()
                        .filter(|l| {
                            l.provider_agb() == q.provider_agb
                                && l.2 == q.service_date
                                && l.3 == q.code
                                && l.4 == u32::from(q.quantity)
                                && l.6 == q.claimed
                                && l.credit_of().is_none()
                        })
                        .map(|l| (c, l.1)),
                );
            }
            Ok(out)
        })?;
        // Of those, the ones that a committed run credited do not count.
        let mut credited: Vec<bool> = vec![false; paid.len()];
        if !paid.is_empty() && !self.is_empty("credited")? {
            let mut sought: Vec<(u64, u32)> = paid
                .iter()
                .enumerate()
                .map(|(i, (c, id))| {
                    let q = care(*c as usize);
                    (format::entry(q.provider_agb, id, part(&q)), i as u32)
                })
                .collect();
            sought.sort_unstable();
            let found = self.merge_join("credited", &sought, 0)?;
            let hits: Vec<u32> = self.confirm(found, |text, ps| {
                let m = format::members(text).map_err(|e| e.to_string())?;
                let mut out = Vec::new();
                for p in ps {
                    let (c, id) = &paid[p as usize];
                    let q = care(*c as usize);
                    let lines = format::lines_of(&m, q.member_id).map_err(|e| e.to_string())?;
                    if lines.iter().any(|l| {
                        l.provider_agb() == q.provider_agb && l.credit_of() == Some(id.as_str())
                    }) {
                        out.push(p);
                    }
                }
                Ok(out)
            })?;
            for p in hits {
                credited[p as usize] = true;
            }
        }
        let mut paid: Vec<((u32, String), bool)> = paid.into_iter().zip(credited).collect();
        // The earliest line id first, whatever order the rows came in.
        paid.sort_unstable();
        for ((c, id), credited) in paid {
            let slot = &mut out[c as usize];
            if !credited && slot.is_none() {
                *slot = Some(id);
            }
        }
        tracing::debug!(
            target: "declaro::phase",
            care = n,
            seconds = format!("{:.3}", started.elapsed().as_secs_f64()),
            "ledger paid care"
        );
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
        let started = Instant::now();
        self.loaded = Loaded::default();
        let mut states: Vec<MemberState> =
            (0..members.len()).map(|_| MemberState::default()).collect();
        let resolved = self.ids.resolve(policies);
        let (parts, order) = partitioned(members.len(), |i| members[i].member_id, self.partitions);
        let groups: Vec<&[u32]> = order
            .chunk_by(|&a, &b| parts[a as usize] == parts[b as usize])
            .collect();
        if !self.is_empty("member_state")? {
            let mut texts: Vec<(u32, String, usize)> = Vec::new();
            {
                let mut stmt = self
                    .conn
                    .prepare_cached("SELECT members FROM member_state WHERE part = ?1")
                    .map_err(|e| self.sql(e))?;
                for (g, group) in groups.iter().enumerate() {
                    let part = parts[group[0] as usize];
                    let t: Option<String> = stmt
                        .query_row([part], |r| r.get(0))
                        .optional()
                        .map_err(|e| self.sql(e))?;
                    if let Some(t) = t {
                        texts.push((part, t, g));
                    }
                }
            }
            type Parsed = Vec<(u32, Accumulators, Vec<Counter>)>;
            let parsed: Vec<Result<Parsed, String>> = texts
                .par_iter()
                .map(|(part, text, g)| {
                    let m = format::members(text)
                        .map_err(|e| format!("member_state partition {part}: {e}"))?;
                    let mut out = Vec::new();
                    for &i in groups[*g] {
                        let id = members[i as usize].member_id;
                        if let Some(raw) = format::find(&m, id) {
                            let s: StoredMember = serde_json::from_str(raw.get())
                                .map_err(|e| format!("member_state partition {part}: {e}"))?;
                            let (acc, kept) = resolved.accumulators(s);
                            out.push((i, acc, kept));
                        }
                    }
                    Ok(out)
                })
                .collect();
            for r in parsed {
                for (i, acc, kept) in r.map_err(|e| self.damaged(e))? {
                    states[i as usize].acc = acc;
                    if !kept.is_empty() {
                        self.loaded
                            .kept
                            .insert(members[i as usize].member_id.into(), kept);
                    }
                }
            }
            self.loaded.parts = texts.into_iter().map(|(p, t, _)| (p, t)).collect();
        }
        self.load_priors(members, &parts, &resolved, &mut states)?;
        super::step("ledger load", started, members.len());
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
        let t0 = Instant::now();
        // The row is completed by `commit`; inside the transaction nobody else sees it.
        self.conn
            .execute(
                "INSERT INTO run (started, finished, run_date, inputs, lines, paid_lines,
                    rejected_lines, claimed_cents, paid_basic_cents, deductible_cents,
                    paid_supplementary_cents, member_pays_cents, shard)
                 VALUES (?1, ?1, '', '', 0, 0, 0, 0, 0, 0, 0, 0, ?2)",
                params![started, self.shard.index()],
            )
            .map_err(|e| self.sql(e))?;
        let run_id = self.conn.last_insert_rowid();
        let ids = {
            let (conn, path) = (&self.conn, &self.path);
            let sql = |source| LedgerError::Sql {
                path: path.clone(),
                source,
            };
            self.ids.assign(
                night,
                members,
                policies,
                &mut |product| {
                    conn.execute("INSERT INTO product_ids (product) VALUES (?1)", [product])
                        .map_err(sql)?;
                    Ok(conn.last_insert_rowid() as u32)
                },
                &mut |product, pool| {
                    conn.execute(
                        "INSERT INTO pool_ids (product, pool) VALUES (?1, ?2)",
                        [product, pool],
                    )
                    .map_err(sql)?;
                    Ok(conn.last_insert_rowid() as u32)
                },
            )?
        };
        let loaded = std::mem::take(&mut self.loaded);
        let (parts, order) = partitioned(members.len(), |i| members[i].member_id, self.partitions);
        let groups: Vec<&[u32]> = order
            .chunk_by(|&a, &b| parts[a as usize] == parts[b as usize])
            .collect();

        // The partitions' old texts: as `load` read them, or read now.
        let mut extra: Vec<(u32, String)> = Vec::new();
        if !self.is_empty("member_state")? {
            let mut stmt = self
                .conn
                .prepare_cached("SELECT members FROM member_state WHERE part = ?1")
                .map_err(|e| self.sql(e))?;
            for g in &groups {
                let part = parts[g[0] as usize];
                if loaded.parts.binary_search_by_key(&part, |x| x.0).is_err() {
                    let t: Option<String> = stmt
                        .query_row([part], |r| r.get(0))
                        .optional()
                        .map_err(|e| self.sql(e))?;
                    extra.extend(t.map(|t| (part, t)));
                }
            }
        }
        let old_of = |part: u32| -> Option<&str> {
            [&loaded.parts, &extra].into_iter().find_map(|v| {
                v.binary_search_by_key(&part, |x| x.0)
                    .ok()
                    .map(|i| v[i].1.as_str())
            })
        };

        let (mut keys, mut credited, mut care): (Vec<u64>, Vec<u64>, Vec<u64>) =
            (Vec::new(), Vec::new(), Vec::new());
        {
            let c = &self.conn;
            let sql = |source| LedgerError::Sql {
                path: self.path.clone(),
                source,
            };
            let mut put_state = c
                .prepare_cached(
                    "INSERT OR REPLACE INTO member_state (part, members) VALUES (?1, ?2)",
                )
                .map_err(sql)?;
            let mut drop_state = c
                .prepare_cached("DELETE FROM member_state WHERE part = ?1")
                .map_err(sql)?;
            let mut put_lines = c
                .prepare_cached("INSERT INTO run_lines (run_id, part, lines) VALUES (?1, ?2, ?3)")
                .map_err(sql)?;
            let mut bufs: Vec<Rendered> = (0..WINDOW).map(|_| Rendered::default()).collect();
            for window in groups.chunks(WINDOW) {
                let rendered: Vec<Result<(), String>> = bufs[..window.len()]
                    .par_iter_mut()
                    .zip(window.par_iter())
                    .map(|(out, group)| {
                        let part = parts[group[0] as usize];
                        render_partition(
                            out,
                            part,
                            old_of(part),
                            group,
                            members,
                            night,
                            &ids,
                            &loaded.kept,
                        )
                        .map_err(|e| format!("member_state partition {part}: {e}"))
                    })
                    .collect();
                for ((r, group), out) in rendered.into_iter().zip(window).zip(&bufs) {
                    let (state, lines) = (&out.state, &out.lines);
                    keys.extend_from_slice(&out.keys);
                    credited.extend_from_slice(&out.credited);
                    care.extend_from_slice(&out.care);
                    r.map_err(|e| self.damaged(e))?;
                    let part = parts[group[0] as usize];
                    if state.is_empty() {
                        if old_of(part).is_some() {
                            drop_state.execute([part]).map_err(sql)?;
                        }
                    } else {
                        let t = text(state).map_err(|e| self.damaged(e))?;
                        put_state.execute(params![part, t]).map_err(sql)?;
                    }
                    if !lines.is_empty() {
                        let t = text(lines).map_err(|e| self.damaged(e))?;
                        put_lines.execute(params![run_id, part, t]).map_err(sql)?;
                    }
                }
            }
        }
        drop(loaded);
        drop(extra);
        super::step("ledger record partitions", t0, groups.len());

        let t1 = Instant::now();
        keys.par_sort_unstable();
        self.insert_entries("line_keys", run_id, &keys)?;
        let n = keys.len();
        drop(keys);
        credited.par_sort_unstable();
        self.insert_entries("credited", run_id, &credited)?;
        care.par_sort_unstable();
        self.insert_entries("care_keys", run_id, &care)?;
        super::step("ledger record keys", t1, n);
        Ok(run_id)
    }

    fn run_of_input(&mut self, sha256: &str) -> Result<Option<i64>, LedgerError> {
        if sha256.is_empty() {
            return Ok(None);
        }
        // Per shard: shard 2 of a night still has to process what shard 1's run did.
        let shard = if self.shard_column {
            "AND coalesce(shard, 1) = ?3"
        } else {
            "AND ?3 > 0"
        };
        self.conn
            .query_row(
                &format!(
                    "SELECT run_id FROM run, json_each(run.inputs) AS f
                     WHERE f.value->>'sha256' = ?1 AND f.value->>'refused' IS NULL
                       AND run_id <= ?2 {shard}
                     ORDER BY run_id LIMIT 1"
                ),
                params![sha256, self.upto(), self.shard.index()],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sql(e))
    }

    fn run_of_outputs(&mut self, out_dir: &str) -> Result<Option<i64>, LedgerError> {
        self.conn
            .query_row(
                "SELECT max(run_id) FROM run WHERE out_dir = ?1",
                [out_dir],
                |r| r.get(0),
            )
            .map_err(|e| self.sql(e))
    }

    fn commit(
        &mut self,
        run_id: i64,
        run: &RunRecord,
        before_commit: &mut dyn FnMut() -> std::io::Result<()>,
    ) -> Result<(), LedgerError> {
        self.writable()?;
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
            "UPDATE run SET finished = strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), run_date = ?2,
                inputs = ?3, lines = ?4, paid_lines = ?5, rejected_lines = ?6, claimed_cents = ?7,
                paid_basic_cents = ?8, deductible_cents = ?9, paid_supplementary_cents = ?10,
                member_pays_cents = ?11, staged = ?12, out_dir = ?13
             WHERE run_id = ?1",
            params![
                run_id,
                run.run_date,
                run.inputs,
                run.lines,
                run.paid_lines,
                run.rejected_lines,
                cents(run.sums.claimed)?,
                cents(run.sums.paid_basic)?,
                cents(run.sums.deductible)?,
                cents(run.sums.paid_supplementary)?,
                cents(run.sums.member_pays)?,
                run.staged,
                run.out_dir,
            ],
        )
        .map_err(sql)?;
        // The outputs must be on disk before the ledger says the run happened.
        before_commit().map_err(|e| LedgerError::Io("outputs".into(), e))?;
        c.execute_batch("COMMIT").map_err(sql)?;
        Ok(())
    }

    fn roll_back(&mut self) -> Result<(), LedgerError> {
        self.conn.execute_batch("ROLLBACK").map_err(|e| self.sql(e))
    }

    fn last_run(&mut self) -> Result<i64, LedgerError> {
        self.conn
            .query_row(
                "SELECT coalesce(max(run_id), 0) FROM run WHERE run_id <= ?1",
                [self.upto()],
                |r| r.get(0),
            )
            .map_err(|e| self.sql(e))
    }

    fn runs(&mut self) -> Result<Vec<(i64, String)>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT run_id, out_dir FROM run WHERE out_dir IS NOT NULL AND run_id <= ?1 \
                 ORDER BY run_id",
            )
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map([self.upto()], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| self.sql(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sql(e))
    }

    fn published(&mut self, run_id: i64) -> Result<(), LedgerError> {
        self.writable()?;
        // Outside the run's transaction (committed above): a small one of its own.
        self.conn
            .execute("UPDATE run SET staged = NULL WHERE run_id = ?1", [run_id])
            .map_err(|e| self.sql(e))?;
        Ok(())
    }
}

impl History for SqliteLedger {
    fn pools(&mut self) -> Result<FxHashMap<u32, (String, String)>, LedgerError> {
        Ok(self.ids.pool_names())
    }

    fn member(&mut self, member_id: &str) -> Result<StoredMember, LedgerError> {
        let part = format::part_of(member_id, self.partitions);
        let text: Option<String> = self
            .conn
            .query_row(
                "SELECT members FROM member_state WHERE part = ?1",
                [part],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sql(e))?;
        let Some(text) = text else {
            return Ok(StoredMember::default());
        };
        let damaged = |e: serde_json::Error| self.damaged(format!("member_state {part}: {e}"));
        let m = format::members(&text).map_err(damaged)?;
        match format::find(&m, member_id) {
            Some(raw) => serde_json::from_str(raw.get()).map_err(damaged),
            None => Ok(StoredMember::default()),
        }
    }

    fn member_lines(&mut self, member_id: &str) -> Result<Vec<(i64, StoredLine)>, LedgerError> {
        let part = format::part_of(member_id, self.partitions);
        let mut lines = Vec::new();
        let mut stmt = self
            .conn
            .prepare("SELECT run_id, lines FROM run_lines WHERE part = ?1 ORDER BY run_id")
            .map_err(|e| self.sql(e))?;
        let mut rows = stmt.query([part]).map_err(|e| self.sql(e))?;
        while let Some(r) = rows.next().map_err(|e| self.sql(e))? {
            let run: i64 = r.get(0).map_err(|e| self.sql(e))?;
            let text = r
                .get_ref(1)
                .and_then(|v| v.as_str().map_err(Into::into))
                .map_err(|e| self.sql(e))?;
            let damaged =
                |e: serde_json::Error| self.damaged(format!("run_lines {run} {part}: {e}"));
            let m = format::members(text).map_err(damaged)?;
            let ls = format::lines_of(&m, member_id).map_err(damaged)?;
            lines.extend(ls.into_iter().map(|l| (run, l)));
        }
        Ok(lines)
    }

    fn run_rows(&mut self) -> Result<Vec<RunRow>, LedgerError> {
        let count: u32 = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'shards'", [], |r| {
                r.get::<_, String>(0)
            })
            .optional()
            .map_err(|e| self.sql(e))?
            .and_then(|s| s.parse().ok())
            .unwrap_or(1);
        let shard = if self.shard_column {
            "coalesce(shard, 1)"
        } else {
            "1"
        };
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT run_id, started, run_date, lines, paid_lines, rejected_lines,
                        claimed_cents, paid_basic_cents, deductible_cents,
                        paid_supplementary_cents, member_pays_cents, inputs, {shard}
                 FROM run ORDER BY run_id"
            ))
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(RunRow {
                    run_id: r.get(0)?,
                    started: r.get(1)?,
                    run_date: r.get(2)?,
                    counts: [r.get(3)?, r.get(4)?, r.get(5)?],
                    cents: [r.get(6)?, r.get(7)?, r.get(8)?, r.get(9)?, r.get(10)?],
                    inputs: r.get(11)?,
                    shard: Shard::new(r.get(12)?, count).filter(|s| !s.is_all()),
                })
            })
            .map_err(|e| self.sql(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sql(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adjudicate::{Adjudicated, Effect, PaidLine, PoolKey, Used};
    use crate::model::Cents;
    use crate::model::Date;
    use crate::night::{code_key, flag, push_text, Line, Payment, Products};
    use std::collections::BTreeMap;

    const AGB: u32 = 12_345_678;

    fn policies() -> PolicySet {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/policies");
        crate::policy::load(&[dir]).unwrap()
    }

    /// The key of DSW AV-Standaard's `fysio-manueel` pool in 2009.
    fn fysio(policies: &PolicySet) -> PoolKey {
        let product = policies.index_of("dsw-2009-av-standaard").unwrap();
        let pool = policies.products[product]
            .pools
            .iter()
            .position(|p| p.id == "fysio-manueel")
            .unwrap();
        PoolKey {
            product: product as u16,
            pool: pool as u16,
            bucket: 2009,
        }
    }

    fn acc(key: PoolKey, units: u32, cents: i64, deductible: &[(u32, i64)]) -> Accumulators {
        Accumulators {
            pools: vec![(
                key,
                Used {
                    units,
                    euros: Cents(cents),
                },
            )],
            deductible: deductible.iter().map(|&(y, c)| (y, Cents(c))).collect(),
        }
    }

    /// One paid line (or credit, naming `credit_of`) of a test night.
    struct Paid {
        member: &'static str,
        id: &'static str,
        credit_of: Option<&'static str>,
        cents: i64,
        units: u32,
    }

    fn paid(member: &'static str, id: &'static str, cents: i64) -> Paid {
        Paid {
            member,
            id,
            credit_of: None,
            cents,
            units: 1,
        }
    }

    /// Opens the ledger, loads the members (and the lines their credits name), records `lines`
    /// with each member's new accumulators, and commits. Returns the run id and the states
    /// `load` gave.
    fn night(
        path: &Path,
        partitions: u32,
        lines: &[Paid],
        accs: &[(&str, Accumulators)],
    ) -> (i64, Vec<MemberState>) {
        let policies = policies();
        let key = fysio(&policies);
        let product = usize::from(key.product);
        let mut n = Night::default();
        let code = n.codes.intern(&code_key(b"", b"1000"));
        let mut adjudicated: BTreeMap<&str, Adjudicated> = BTreeMap::new();
        for l in lines {
            let seq = n.lines.len() as u32;
            let text = push_text(&mut n.text, l.id.as_bytes());
            if let Some(of) = l.credit_of {
                push_text(&mut n.text, of.as_bytes());
            }
            let credit = l.credit_of.is_some();
            n.lines.push(Line {
                amount: Cents(l.cents),
                text,
                code,
                provider_agb: AGB,
                service_date: Date::new(2009, 2, 3).unwrap(),
                quantity: 1,
                flags: if credit { flag::CREDIT } else { 0 },
                ..Line::default()
            });
            let mut products = Products::default();
            products.push(product);
            let sign = if credit { -1 } else { 1 };
            n.outcomes.push(Outcome::Paid(Payment {
                paid_supplementary: Cents(sign * l.cents),
                products,
                year: 2009,
                ..Payment::default()
            }));
            let a = adjudicated.entry(l.member).or_default();
            let from = a.effects.len() as u32;
            if !credit {
                a.effects.push(Effect {
                    key,
                    units: l.units,
                    euros: Cents(l.cents),
                });
            }
            a.paid.push(PaidLine {
                seq,
                effects: (from, a.effects.len() as u32),
            });
        }
        let queries: Vec<MemberQuery<'_>> = accs
            .iter()
            .map(|(m, _)| MemberQuery {
                member_id: m,
                credits: lines
                    .iter()
                    .filter(|l| l.member == *m)
                    .filter_map(|l| l.credit_of.map(|of| (AGB, of)))
                    .collect(),
            })
            .collect();
        let none = Adjudicated::default();
        let changes: Vec<MemberChange<'_>> = accs
            .iter()
            .map(|(m, acc)| MemberChange {
                member_id: m,
                acc,
                adjudicated: adjudicated.get(m).unwrap_or(&none),
            })
            .collect();
        let mut ledger = SqliteLedger::open_with(path, partitions, Shard::ALL).unwrap();
        let states = ledger.load(&queries, &policies).unwrap();
        let run = ledger
            .record(&RunChanges {
                started: "2026-01-01T00:00:00Z",
                night: &n,
                members: &changes,
                policies: &policies,
            })
            .unwrap();
        ledger
            .commit(run, &RunRecord::default(), &mut || Ok(()))
            .unwrap();
        (run, states)
    }

    fn load(path: &Path, queries: &[MemberQuery<'_>]) -> Vec<MemberState> {
        let mut ledger = SqliteLedger::open(path).unwrap();
        ledger.load(queries, &policies()).unwrap()
    }

    fn member_state(path: &Path, part: u32) -> String {
        let c = Connection::open(path).unwrap();
        c.query_row(
            "SELECT members FROM member_state WHERE part = ?1",
            [part],
            |r| r.get(0),
        )
        .unwrap()
    }

    #[test]
    fn the_key_hash_and_the_entry_layout_are_fnv1a_64() {
        assert_eq!(format::fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(format::fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(format::fnv1a64(b"M001"), 0x8c2f_9dad_428c_908b);
        assert_eq!(format::part_of("M001", 4096), 139);
        // FNV-1a 64 of 12345678 as 4 little-endian bytes, then "S-05": 0x767be392afbe359f.
        assert_eq!(format::hash48(AGB, "S-05"), 0x767b_e392_afbe);
        let e = format::entry(AGB, "S-05", 139);
        assert_eq!(e, 0x767b_e392_afbe_008b);
        assert_eq!(format::entry_part(e), 139);
    }

    #[test]
    fn a_merge_join_finds_equal_hashes_across_chunk_boundaries() {
        let blob = |v: &[u64]| v.iter().flat_map(|e| e.to_le_bytes()).collect::<Vec<u8>>();
        // One run in two chunks; hash 7 is in both (partitions 1 and 2).
        let chunks = [
            blob(&[1 << 16, 5 << 16 | 3, 7 << 16 | 1]),
            blob(&[7 << 16 | 2, 9 << 16]),
        ];
        let sought = [(0, 10), (5, 11), (7, 12), (7, 13), (8, 14)];
        let mut hits = Vec::new();
        let mut j = 0;
        for c in &chunks {
            merge_chunk(c, &sought, 16, &mut j, |part, i| hits.push((part, i)));
        }
        assert_eq!(hits, [(3, 11), (1, 12), (1, 13), (2, 12), (2, 13)]);
        // Whole entries: only the exact partition.
        let (mut hits, mut j) = (Vec::new(), 0);
        for c in &chunks {
            merge_chunk(c, &[(7 << 16 | 2, 0)], 0, &mut j, |part, i| {
                hits.push((part, i))
            });
        }
        assert_eq!(hits, [(2, 0)]);
        for n in [1, 2, 3, 10, 100] {
            let v: Vec<u64> = (0..n).collect();
            for t in 0..=n {
                assert_eq!(gallop(0, v.len(), |k| v[k] < t.max(1)), t.max(1) as usize);
            }
        }
    }

    #[test]
    fn a_member_state_with_an_id_that_needs_escapes_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.db");
        let key = fysio(&policies());
        let id: &'static str = "M\"\\\n\u{1}é";
        let a = acc(key, 3, 8250, &[(2009, 1000), (2010, 0)]);
        night(&path, 4096, &[paid(id, "S-01", 2750)], &[(id, a.clone())]);
        let states = load(
            &path,
            &[MemberQuery {
                member_id: id,
                credits: vec![],
            }],
        );
        assert_eq!(states[0].acc, a);
        let text = member_state(&path, format::part_of(id, 4096));
        assert!(text.starts_with(r#"{"M\"\\\n\u0001é":[[["#), "{text}");
        // The views unescape it.
        let c = Connection::open(&path).unwrap();
        let (m, units): (String, u32) = c
            .query_row("SELECT member_id, units FROM accumulator", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((m.as_str(), units), (id, 3));
        let line: String = c
            .query_row("SELECT member_id FROM processed_line", [], |r| r.get(0))
            .unwrap();
        assert_eq!(line, id);
    }

    #[test]
    fn a_partition_rewrite_keeps_the_other_members_json_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.db");
        let key = fysio(&policies());
        // One partition: every member shares the row.
        night(
            &path,
            1,
            &[paid("A", "S-01", 2750), paid("B", "S-02", 2750)],
            &[("A", acc(key, 1, 2750, &[])), ("B", acc(key, 1, 2750, &[]))],
        );
        // B's JSON written by hand, with spaces that a rewrite by declaro would not make.
        let text = member_state(&path, 0);
        let b = format::find(&format::members(&text).unwrap(), "B")
            .unwrap()
            .get()
            .to_string();
        let spaced = b.replace(',', ", ");
        let edited = text.replace(&format!("\"B\":{b}"), &format!("\"B\":{spaced}"));
        assert_ne!(edited, text);
        Connection::open(&path)
            .unwrap()
            .execute("UPDATE member_state SET members = ?1", [&edited])
            .unwrap();

        night(
            &path,
            1,
            &[paid("A", "S-03", 2750)],
            &[("A", acc(key, 2, 5500, &[]))],
        );
        let text = member_state(&path, 0);
        assert!(text.contains(&format!(",\"B\":{spaced}}}")), "{text}");
        let m = format::members(&text).unwrap();
        assert_eq!(format::find(&m, "B").unwrap().get(), spaced);
        let a: StoredMember = serde_json::from_str(format::find(&m, "A").unwrap().get()).unwrap();
        assert_eq!(a.0[0].2, 2, "A's sessions");
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn counters_of_a_pool_the_policies_no_longer_have_are_kept_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.db");
        let key = fysio(&policies());
        night(
            &path,
            1,
            &[paid("A", "S-01", 2750)],
            &[("A", acc(key, 1, 2750, &[]))],
        );
        // Pool id 999: a pool of a product that is gone (no id in `pool_ids` either).
        let text = member_state(&path, 0);
        let edited = text.replacen("[[[", "[[[999,2009,5,100],[", 1);
        Connection::open(&path)
            .unwrap()
            .execute("UPDATE member_state SET members = ?1", [&edited])
            .unwrap();
        let q = [MemberQuery {
            member_id: "A",
            credits: vec![],
        }];
        assert_eq!(load(&path, &q)[0].acc, acc(key, 1, 2750, &[]));
        night(
            &path,
            1,
            &[paid("A", "S-02", 2750)],
            &[("A", acc(key, 2, 5500, &[]))],
        );
        let text = member_state(&path, 0);
        let m = format::members(&text).unwrap();
        let a: StoredMember = serde_json::from_str(format::find(&m, "A").unwrap().get()).unwrap();
        assert_eq!(a.0.len(), 2, "{text}");
        assert_eq!(a.0[1], Counter(999, 2009, 5, 100));
        assert_eq!((a.0[0].2, a.0[0].3), (2, 5500));
    }

    #[test]
    fn processed_confirms_the_exact_key_and_rejects_an_equal_hash() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.db");
        let key = fysio(&policies());
        let (run, _) = night(
            &path,
            4096,
            &[paid("M001", "S-05", 2750)],
            &[("M001", acc(key, 1, 2750, &[]))],
        );
        let mut ledger = SqliteLedger::open(&path).unwrap();
        // A collision: an entry with the hash48 of S-99 in M001's partition, whose row in
        // `run_lines` holds S-05 only.
        let part = format::part_of("M001", 4096);
        ledger.inject_entry("line_keys", run, format::entry(AGB, "S-99", part));
        let keys = [
            (AGB, "S-05"),
            (AGB, "S-99"),
            (AGB, "S-06"),
            (AGB + 1, "S-05"),
        ];
        let sought: Vec<(u64, u32)> = {
            let mut s: Vec<(u64, u32)> = keys
                .iter()
                .enumerate()
                .map(|(i, k)| (format::hash48(k.0, k.1), i as u32))
                .collect();
            s.sort_unstable();
            s
        };
        let found = ledger.merge_join("line_keys", &sought, 16).unwrap();
        let mut matched: Vec<u32> = found.iter().map(|f| f.2).collect();
        matched.sort_unstable();
        assert_eq!(matched, [0, 1], "S-05 and the injected S-99 match by hash");
        assert_eq!(
            ledger.processed(&keys).unwrap(),
            [true, false, false, false]
        );
    }

    #[test]
    fn a_credit_finds_its_members_line_only_and_a_credited_line_is_marked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.db");
        let key = fysio(&policies());
        // One partition for A and B, so B's look-up of A's line matches the whole entry.
        night(
            &path,
            1,
            &[paid("A", "S-01", 2750), paid("A", "S-02", 2750)],
            &[("A", acc(key, 2, 5500, &[]))],
        );
        let query = |m: &'static str, of: &'static str| MemberQuery {
            member_id: m,
            credits: vec![(AGB, of)],
        };
        let states = load(&path, &[query("B", "S-01"), query("A", "S-01")]);
        assert!(states[0].priors.is_empty(), "A's line is not B's to credit");
        let prior = &states[1].priors[&(AGB, "S-01".into())];
        assert_eq!(prior.claimed, Cents(2750));
        assert_eq!(prior.payment.paid_supplementary, Cents(2750));
        assert_eq!(prior.effects.len(), 1);
        assert_eq!((prior.effects[0].key, prior.effects[0].units), (key, 1));
        assert!(!prior.credited);

        let credit = Paid {
            member: "A",
            id: "C-01",
            credit_of: Some("S-01"),
            cents: 2750,
            units: 0,
        };
        night(&path, 1, &[credit], &[("A", acc(key, 1, 2750, &[]))]);
        let states = load(&path, &[query("A", "S-01"), query("A", "S-02")]);
        assert!(states[0].priors[&(AGB, "S-01".into())].credited);
        assert!(!states[1].priors[&(AGB, "S-02".into())].credited);
        // A credit line is not a line to credit.
        assert!(load(&path, &[query("A", "C-01")])[0].priors.is_empty());
    }

    #[test]
    fn a_ledger_of_another_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        for (name, sql, found) in [
            ("old.db", "CREATE TABLE processed_line (x);", "schema 1"),
            (
                "three.db",
                "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                 INSERT INTO meta VALUES ('schema', '3');",
                "schema 3",
            ),
        ] {
            let path = dir.path().join(name);
            Connection::open(&path).unwrap().execute_batch(sql).unwrap();
            let Err(e) = SqliteLedger::open(&path) else {
                panic!("{name} opened");
            };
            let text = e.to_string();
            assert!(matches!(e, LedgerError::Schema { .. }), "{text}");
            assert!(
                text.contains(found) && text.contains("reads ledger schema 2"),
                "{text}"
            );
        }
    }
}
