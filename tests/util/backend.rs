//! The two ledger backends under test: a SQLite file, or a database of its own on the
//! PostgreSQL server that `DECLARO_TEST_POSTGRES` names (a URL of a database to connect to,
//! such as `postgres://postgres@127.0.0.1:54329/postgres`; `.ci/postgres` starts one).
//!
//! Without that variable the PostgreSQL tests print `SKIPPED` and pass, unless
//! `DECLARO_REQUIRE_ALL_TESTS` is set (as `.ci/run` does): then they fail.
//!
//! [`both_backends!`] turns each `fn name(n: Dir)` into a test per backend,
//! `sqlite::name` and `postgres::name`.

use super::Dir;
use std::sync::atomic::{AtomicU32, Ordering};

/// A ledger a test runs on.
pub enum Ledger {
    Sqlite(std::path::PathBuf),
    /// `server` is the URL of `DECLARO_TEST_POSTGRES`, `db` the test's database on it.
    Postgres {
        server: String,
        db: String,
    },
}

/// The server of `DECLARO_TEST_POSTGRES`, or `None` after saying `SKIPPED` (a failure when
/// `DECLARO_REQUIRE_ALL_TESTS` is set).
pub fn postgres_server(test: &str) -> Option<String> {
    match std::env::var("DECLARO_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("DECLARO_REQUIRE_ALL_TESTS").is_none(),
                "{test}: DECLARO_TEST_POSTGRES is not set and DECLARO_REQUIRE_ALL_TESTS is: \
                 start a server with .ci/postgres DIR and export the URL it prints"
            );
            eprintln!("SKIPPED {test}: no PostgreSQL server (set DECLARO_TEST_POSTGRES)");
            None
        }
    }
}

/// A connection to the server (its own database).
fn admin(server: &str) -> postgres::Client {
    postgres::Client::connect(server, postgres::NoTls)
        .unwrap_or_else(|e| panic!("cannot connect to {server}: {e}"))
}

/// `server` with its database replaced by `db`.
fn url_of(server: &str, db: &str) -> String {
    let (base, query) = match server.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (server, String::new()),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    format!("{base}/{db}{query}")
}

/// A fresh database name, unique on the server for this process.
fn fresh_name(test: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let clean: String = test
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(30)
        .collect();
    format!(
        "declaro_t_{}_{}_{clean}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

impl Ledger {
    /// A new, empty database on `server`.
    pub fn new_postgres(server: &str, test: &str) -> Ledger {
        let db = fresh_name(test);
        admin(server)
            .batch_execute(&format!("CREATE DATABASE {db}"))
            .unwrap();
        Ledger::Postgres {
            server: server.to_string(),
            db,
        }
    }

    /// What `--ledger` is given.
    pub fn arg(&self) -> String {
        match self {
            Ledger::Sqlite(p) => p.display().to_string(),
            Ledger::Postgres { server, db } => url_of(server, db),
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Ledger::Postgres { .. })
    }

    /// One integer of a query (the tables `run` and `processed_line` exist in both backends:
    /// a table in PostgreSQL, a view in SQLite).
    pub fn count(&self, sql: &str) -> i64 {
        match self {
            Ledger::Sqlite(p) => {
                let c = rusqlite::Connection::open(p).unwrap();
                c.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap()
            }
            Ledger::Postgres { .. } => {
                let mut c = postgres::Client::connect(&self.arg(), postgres::NoTls).unwrap();
                c.query_one(sql, &[]).unwrap().get::<_, i64>(0)
            }
        }
    }

    /// The rows of a query, every column as text: `sqlite` on a SQLite ledger, `pg` on a
    /// PostgreSQL one (whose columns must be `text`).
    pub fn rows(&self, sqlite: &str, pg: &str) -> Vec<Vec<String>> {
        match self {
            Ledger::Sqlite(p) => {
                let c = rusqlite::Connection::open(p).unwrap();
                let mut stmt = c.prepare(sqlite).unwrap();
                let n = stmt.column_count();
                let rows = stmt
                    .query_map([], |r| {
                        (0..n)
                            .map(|i| {
                                Ok(match r.get_ref(i)? {
                                    rusqlite::types::ValueRef::Null => String::new(),
                                    rusqlite::types::ValueRef::Integer(i) => i.to_string(),
                                    rusqlite::types::ValueRef::Real(f) => f.to_string(),
                                    rusqlite::types::ValueRef::Text(t) => {
                                        String::from_utf8_lossy(t).into_owned()
                                    }
                                    rusqlite::types::ValueRef::Blob(_) => "(blob)".into(),
                                })
                            })
                            .collect::<rusqlite::Result<Vec<String>>>()
                    })
                    .unwrap();
                rows.map(Result::unwrap).collect()
            }
            Ledger::Postgres { .. } => {
                let mut c = postgres::Client::connect(&self.arg(), postgres::NoTls).unwrap();
                c.query(pg, &[])
                    .unwrap()
                    .iter()
                    .map(|r| {
                        (0..r.len())
                            .map(|i| r.get::<_, Option<String>>(i).unwrap_or_default())
                            .collect()
                    })
                    .collect()
            }
        }
    }

    /// The committed runs.
    pub fn runs(&self) -> i64 {
        self.count("SELECT count(*) FROM run")
    }

    /// The lines committed runs paid or credited.
    pub fn processed_lines(&self) -> i64 {
        self.count("SELECT count(*) FROM processed_line")
    }

    /// The member state and lines as text, to compare a ledger before and after.
    pub fn dump(&self) -> Vec<String> {
        let queries: &[&str] = match self {
            Ledger::Sqlite(_) => &[
                "SELECT CAST(count(*) AS TEXT) FROM run",
                "SELECT CAST(count(*) AS TEXT) FROM processed_line",
                "SELECT coalesce(group_concat(member_id || product || pool || bucket || units || cents), '') FROM accumulator",
                "SELECT coalesce(group_concat(member_id || year || cents), '') FROM deductible",
            ],
            Ledger::Postgres { .. } => &[
                "SELECT count(*)::text FROM run",
                "SELECT count(*)::text FROM processed_line",
                "SELECT coalesce(string_agg(a::text, ' ' ORDER BY a::text), '') FROM accumulator a",
                "SELECT coalesce(string_agg(d::text, ' ' ORDER BY d::text), '') FROM deductible d",
            ],
        };
        match self {
            Ledger::Sqlite(p) => {
                let c = rusqlite::Connection::open(p).unwrap();
                queries
                    .iter()
                    .map(|q| c.query_row(q, [], |r| r.get::<_, String>(0)).unwrap())
                    .collect()
            }
            Ledger::Postgres { .. } => {
                let mut c = postgres::Client::connect(&self.arg(), postgres::NoTls).unwrap();
                queries
                    .iter()
                    .map(|q| c.query_one(*q, &[]).unwrap().get::<_, String>(0))
                    .collect()
            }
        }
    }

    /// A copy of the ledger as it is now (no run may be using it).
    pub fn copy(&self, dir: &Dir, name: &str) -> Ledger {
        match self {
            Ledger::Sqlite(p) => {
                let to = dir.join(format!("{name}.db"));
                std::fs::copy(p, &to).unwrap();
                Ledger::Sqlite(to)
            }
            Ledger::Postgres { server, db } => {
                let to = fresh_name(name);
                admin(server)
                    .batch_execute(&format!("CREATE DATABASE {to} TEMPLATE {db}"))
                    .unwrap();
                Ledger::Postgres {
                    server: server.clone(),
                    db: to,
                }
            }
        }
    }

    /// A new, empty ledger of the same backend.
    pub fn empty(&self, dir: &Dir, name: &str) -> Ledger {
        match self {
            Ledger::Sqlite(_) => Ledger::Sqlite(dir.join(format!("{name}.db"))),
            Ledger::Postgres { server, .. } => Ledger::new_postgres(server, name),
        }
    }

    /// Makes this ledger what `from` is (no run may be using either).
    pub fn restore(&self, from: &Ledger) {
        match (self, from) {
            (Ledger::Sqlite(to), Ledger::Sqlite(from)) => {
                std::fs::copy(from, to).unwrap();
            }
            (Ledger::Postgres { server, db }, Ledger::Postgres { db: from, .. }) => {
                let mut c = admin(server);
                c.batch_execute(&format!("DROP DATABASE {db} WITH (FORCE)"))
                    .unwrap();
                c.batch_execute(&format!("CREATE DATABASE {db} TEMPLATE {from}"))
                    .unwrap();
            }
            _ => panic!("restore across backends"),
        }
    }
}

impl Drop for Ledger {
    fn drop(&mut self) {
        if let Ledger::Postgres { server, db } = self {
            if let Ok(mut c) = postgres::Client::connect(server, postgres::NoTls) {
                let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"));
            }
        }
    }
}

/// `both_backends! { name, ... }`: for each `fn name(n: Dir)` of the file, the tests
/// `sqlite::name` (the ledger `ledger.db` of the directory) and `postgres::name` (a database
/// of its own; skipped without a server, see [`postgres_server`]).
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    super::$name($crate::util::Dir::new(stringify!($name)));
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $name() {
                    if let Some(d) = $crate::util::Dir::on_postgres(stringify!($name)) {
                        super::$name(d);
                    }
                }
            )*
        }
    };
}
