//! What only the PostgreSQL ledger has: the same bytes as SQLite on the same nights, its
//! tables free of personal data, its schema check, its lock per shard, and a password that no
//! message shows. Skipped without a server (see `tests/util/backend.rs`).

mod util;
use util::backend::postgres_server;
use util::*;

/// A summary without what differs between two runs of the same night (timing, paths).
fn comparable(out: &std::path::Path) -> serde_json::Value {
    let mut v = summary(out);
    v["timing"] = serde_json::Value::Null;
    v["setup"]["ledger_after_run"] = serde_json::Value::Null;
    v
}

/// The fixture night, then two generated nights over one population (the second with credits
/// of the first's lines), on a SQLite ledger and on a PostgreSQL one: the same rows byte for
/// byte, and the same `ledger show` of a member.
#[test]
fn the_same_nights_give_the_same_bytes_on_sqlite_and_postgres() {
    let Some(pg) = Dir::on_postgres("same_bytes") else {
        return;
    };
    let lite = Dir::new("same_bytes");
    let g1 = pg.generate(
        "g1",
        &["--lines", "20000", "--members", "2000", "--seed", "7"],
    );
    let g2 = pg.generate(
        "g2",
        &[
            "--lines",
            "20000",
            "--members",
            "2000",
            "--seed",
            "7",
            "--night",
            "2",
        ],
    );
    let members = g1.join("members.csv");
    let fixtures = fixture_claims();
    for dir in [&pg, &lite] {
        dir.process().quiet().out("fixtures").inputs(&fixtures).ok();
        let generated = |out: &str, claims: std::path::PathBuf| {
            let run = dir.process().quiet().no_providers().members(&members);
            run.ledger(dir.join("generated.db").display().to_string())
                .out(out)
                .input(claims)
        };
        if dir.ledger().is_postgres() {
            let l = dir.ledger().empty(dir, "generated");
            let run = |out: &str, claims: std::path::PathBuf| {
                generated(out, claims).ledger(l.arg()).ok();
            };
            run("n1", g1.join("claims.csv"));
            run("n2", g2.join("claims.csv"));
            let show = ["ledger", "show", "--member", "G00000441", "--ledger"];
            let text = dir.command().args(show).arg(l.arg()).stdout();
            std::fs::write(dir.join("show.txt"), text).unwrap();
        } else {
            generated("n1", g1.join("claims.csv")).ok();
            generated("n2", g2.join("claims.csv")).ok();
            let show = ["ledger", "show", "--member", "G00000441", "--ledger"];
            let text = dir
                .command()
                .args(show)
                .arg(dir.join("generated.db"))
                .stdout();
            std::fs::write(dir.join("show.txt"), text).unwrap();
        }
    }
    for out in ["fixtures", "n1", "n2"] {
        for f in ["remittance.csv", "rejections.csv"] {
            let (a, b) = (read(pg.join(out).join(f)), read(lite.join(out).join(f)));
            assert!(a == b, "{out}/{f} differs between PostgreSQL and SQLite");
        }
        let (mut a, mut b) = (comparable(&pg.join(out)), comparable(&lite.join(out)));
        // The inputs are the same files by the same names, read from two directories.
        a["setup"]["inputs"] = serde_json::Value::Null;
        b["setup"]["inputs"] = serde_json::Value::Null;
        a["setup"]["members"]["path"] = serde_json::Value::Null;
        b["setup"]["members"]["path"] = serde_json::Value::Null;
        assert_eq!(a, b, "{out}/summary.json");
    }
    // Night 2 credits lines of night 1, so the ledger carried something between the nights.
    let credits = read(pg.join("n2").join("remittance.csv"))
        .lines()
        .filter(|l| l.contains(",-"))
        .count();
    assert!(credits > 10, "{credits} credits paid in night 2");
    let show = read(pg.join("show.txt"));
    assert!(
        show.contains("accumulators") && show.lines().count() > 4,
        "{show}"
    );
    assert_eq!(show, read(lite.join("show.txt")));
}

/// No column is named for a BSN, a name or a birth date, and no row holds one.
#[test]
fn the_postgres_ledger_stores_no_bsn_or_birth_date() {
    let Some(n) = Dir::on_postgres("no_bsn") else {
        return;
    };
    n.process()
        .quiet()
        .out("o")
        .input("fixtures/claims/2024-basic.csv")
        .ok();
    let l = n.ledger();
    let columns = l.rows(
        "",
        "SELECT string_agg(table_name || '.' || column_name, ' ') FROM information_schema.columns
         WHERE table_schema = 'public'",
    );
    let columns = columns[0][0].to_lowercase();
    assert!(columns.contains("processed_line.member_id"), "{columns}");
    for forbidden in ["bsn", "birth", "name"] {
        assert!(
            !columns.contains(forbidden),
            "a {forbidden} column: {columns}"
        );
    }
    let mut dump = String::new();
    for table in ["run", "accumulator", "deductible", "processed_line", "meta"] {
        let q = format!("SELECT coalesce(string_agg(t::text, ' '), '') FROM {table} t");
        dump += &l.rows("", &q)[0][0];
    }
    assert!(
        fixture_members().iter().any(|f| dump.contains(&f[0])),
        "the dump holds the member numbers: {dump}"
    );
    for f in fixture_members() {
        for birth in [f[2].to_string(), f[2].replace('-', "")] {
            assert!(!dump.contains(&f[1]), "BSN of {}", f[0]);
            assert!(!dump.contains(&birth), "birth date of {}", f[0]);
        }
    }
}

/// A database whose `meta` says another schema is refused (exit 3) and left alone; a server
/// that cannot be reached is a configuration error (exit 3) whose message masks the password.
#[test]
fn another_schema_is_refused_and_no_message_shows_the_password() {
    let Some(n) = Dir::on_postgres("schema") else {
        return;
    };
    let mut c = postgres::Client::connect(&n.ledger().arg(), postgres::NoTls).unwrap();
    c.batch_execute(
        "CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL);
         INSERT INTO meta VALUES ('schema', 'pg0');",
    )
    .unwrap();
    let o = n
        .process()
        .quiet()
        .out("o")
        .input("fixtures/claims/2024-basic.csv")
        .assert_exit(3);
    assert!(stderr(&o).contains("has schema pg0"), "{}", stderr(&o));
    assert!(!n.join("o").join("remittance.csv").exists());
    let tables: i64 = c
        .query_one(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(tables, 1, "nothing was created beside meta");

    // Port 1 on the loopback: nothing listens there.
    let o = n
        .process()
        .quiet()
        .out("unreachable")
        .ledger("postgres://claims:s3cret-pw@127.0.0.1:1/ledger")
        .input("fixtures/claims/2024-basic.csv")
        .assert_exit(3);
    let err = stderr(&o);
    assert!(
        err.contains("postgres://claims:***@127.0.0.1:1/ledger"),
        "{err}"
    );
    assert!(err.contains("cannot connect"), "{err}");
    assert!(!err.contains("s3cret"), "{err}");
}

/// While another session holds a shard's lock, a run of that shard is refused (exit 3) and
/// changes nothing; once the lock is released it runs.
#[test]
fn a_run_of_a_shard_whose_lock_is_held_is_refused() {
    let Some(n) = Dir::on_postgres("lock") else {
        return;
    };
    assert!(postgres_server("lock").is_some());
    // Create the tables with a first run, then hold shard 1's lock as a run would.
    n.process()
        .quiet()
        .out("o1")
        .input("fixtures/claims/2024-basic.csv")
        .ok();
    let mut holder = postgres::Client::connect(&n.ledger().arg(), postgres::NoTls).unwrap();
    holder
        .execute("SELECT pg_advisory_lock($1, 1)", &[&0x6465_636c_i32])
        .unwrap();
    let o = n
        .process()
        .quiet()
        .out("o2")
        .input("fixtures/claims/2024-asr.csv")
        .assert_exit(3);
    assert!(
        stderr(&o).contains("in use by another run"),
        "{}",
        stderr(&o)
    );
    assert_eq!(n.ledger().runs(), 1);
    holder
        .execute("SELECT pg_advisory_unlock($1, 1)", &[&0x6465_636c_i32])
        .unwrap();
    n.process()
        .quiet()
        .out("o2")
        .input("fixtures/claims/2024-asr.csv")
        .ok();
    assert_eq!(n.ledger().runs(), 2);
}

/// The fixture night and a generated night, each run unsharded on SQLite, unsharded on
/// PostgreSQL, and as 4 shards at the same moment on one PostgreSQL ledger then merged: the
/// same `remittance.csv`, `rejections.csv` and `report.html`, byte for byte.
#[test]
fn four_shards_at_once_on_postgres_merge_into_the_unsharded_sqlite_night() {
    let Some(n) = Dir::on_postgres("four_shards") else {
        return;
    };
    let g = n.generate(
        "g",
        &["--lines", "20000", "--members", "2000", "--seed", "3"],
    );
    let fixtures: Vec<std::path::PathBuf> =
        fixture_claims().iter().map(|f| root().join(f)).collect();
    let nights: [(&str, Vec<std::path::PathBuf>, std::path::PathBuf); 2] = [
        ("fixtures", fixtures, root().join("fixtures/members.csv")),
        (
            "generated",
            vec![g.join("claims.csv")],
            g.join("members.csv"),
        ),
    ];
    for (name, inputs, members) in &nights {
        let run = || {
            n.process()
                .quiet()
                .no_providers()
                .members(members)
                .inputs(inputs)
        };
        run()
            .ledger(n.join(format!("{name}.db")))
            .out(format!("{name}-sqlite"))
            .ok();
        let whole = n.ledger().empty(&n, name);
        run().ledger(whole.arg()).out(format!("{name}-pg")).ok();
        let sharded = n.ledger().empty(&n, &format!("{name}_shards"));
        let children: Vec<std::process::Child> = (1..=4)
            .map(|i| {
                run()
                    .ledger(sharded.arg())
                    .out(format!("{name}-{i}"))
                    .args(["--shard", &format!("{i}/4")])
                    .command()
                    .cmd()
                    .spawn()
                    .unwrap()
            })
            .collect();
        for c in children {
            let o = c.wait_with_output().unwrap();
            assert!(o.status.success(), "{name}: a shard failed: {o:?}");
        }
        assert_eq!(sharded.runs(), 4, "{name}: four runs committed");
        let mut merge = n.command();
        merge
            .arg("merge")
            .arg("--out")
            .arg(n.join(format!("{name}-merged")));
        for i in 1..=4 {
            merge.arg(n.join(format!("{name}-{i}")));
        }
        merge.ok();
        for f in ["remittance.csv", "rejections.csv", "report.html"] {
            let lite = read(n.join(format!("{name}-sqlite")).join(f));
            for other in ["pg", "merged"] {
                let got = read(n.join(format!("{name}-{other}")).join(f));
                assert!(
                    got == lite,
                    "{name}-{other}/{f} differs from the SQLite run's"
                );
            }
        }
        // The ledgers agree on what was paid.
        assert_eq!(sharded.processed_lines(), whole.processed_lines(), "{name}");
        // `ledger runs` on PostgreSQL lists the four runs, each with its shard.
        let runs = n
            .command()
            .args(["ledger", "runs", "--ledger"])
            .arg(sharded.arg())
            .stdout();
        for i in 1..=4 {
            assert!(runs.contains(&format!("  shard {i}/4\n")), "{runs}");
        }
    }
}

/// A table altered by hand (a column of another type) is a damaged ledger: `ledger show` and
/// the next run fail with exit 1, saying so, never a panic; the run commits nothing.
#[test]
fn a_column_of_another_type_is_a_damaged_ledger_not_a_panic() {
    let Some(n) = Dir::on_postgres("damaged") else {
        return;
    };
    n.process()
        .quiet()
        .out("o1")
        .input("fixtures/claims/2024-basic.csv")
        .ok();
    let mut c = postgres::Client::connect(&n.ledger().arg(), postgres::NoTls).unwrap();
    c.batch_execute("ALTER TABLE deductible ALTER cents TYPE numeric")
        .unwrap();
    let show = ["ledger", "show", "--member", "M030", "--ledger"];
    let o = n.command().args(show).arg(n.ledger().arg()).assert_exit(1);
    assert!(
        stderr(&o).contains("is damaged") && stderr(&o).contains("a column of another type"),
        "{}",
        stderr(&o)
    );
    // A night of M030, whose deductible row the run must read.
    let rows = table(&["P P-9 56789012 M030 1978-08-08 2024-02-03 PHARMA 10.00 - -"]);
    let night = n.create_csv("m030.csv", util::claims::WITH_CREDITS, rows);
    let o = n.process().quiet().out("o2").input(night).assert_exit(1);
    assert!(stderr(&o).contains("is damaged"), "{}", stderr(&o));
    assert_eq!(n.ledger().runs(), 1);
}
