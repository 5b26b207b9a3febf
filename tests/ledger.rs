//! Nightly runs on one ledger: credits, exactly-once, continuity of every limit period,
//! crash safety (kill -9) and concurrent runs.

mod util;
use std::path::Path;
use util::claims::{self, WITH_CREDITS};
use util::*;

/// `declaro process --quiet` on the fixture policies and member register (no provider
/// register), run date 2025-12-31, on the ledger `ledger.db` of `dir`.
fn night(dir: &Dir) -> Process {
    dir.process().no_providers().quiet()
}

/// Runs [`night`] into `out` on `inputs`; asserts exit 0.
fn run(dir: &Dir, out: &str, inputs: &[&str]) -> std::process::Output {
    night(dir).out(out).inputs(inputs).ok()
}

/// A claims file of [`WITH_CREDITS`]'s columns.
fn claims(dir: &Dir, name: &str, rows: Vec<Vec<String>>) -> String {
    dir.create_csv(name, WITH_CREDITS, rows)
}

/// `declaro ledger show --member M001` of the ledger of `dir`.
fn show_m001(dir: &Dir) -> String {
    let show = ["ledger", "show", "--member", "M001", "--ledger"];
    dir.command().args(show).arg(ledger(dir)).stdout()
}

fn ledger(dir: &Dir) -> String {
    dir.ledger().arg()
}

/// The 10th column of rejection rows without `file` and `record`: the reasons.
fn reasons(rows: &[String]) -> Vec<String> {
    rows.iter().map(|r| fields(r)[7].clone()).collect()
}

/// M001 (fixtures, DSW AV-Standaard 2009, born 1970-04-12): weekly physio at 30.00 from 6 Jan.
fn sessions(from: usize, to: usize) -> Vec<Vec<String>> {
    (from..=to)
        .map(|i| {
            let date = date_2009(6 + 7 * (i - 1));
            let row = format!("F1 S-{i:02} 12345678 M001 1970-04-12 {date} 1000 30.00 - -");
            table(&[&row]).remove(0)
        })
        .collect()
}

/// Day `day_of_year` (1 = 1 January) of 2009, by the crate's own day numbers.
fn date_2009(day_of_year: usize) -> String {
    use declaro::model::Date;
    let first = Date::parse("2009-01-01").unwrap().days_since_epoch();
    Date::from_days_since_epoch(first + day_of_year as i64 - 1).to_string()
}

const PAID: &str =
    "12345678,M001,{date},1000,1,2009,30.00,0.00,0.00,27.50,2.50,dsw-2009-av-standaard,TARIFF_CAP";

fn paid_row(i: usize) -> String {
    format!("F1,S-{i:02},") + &PAID.replace("{date}", &date_2009(6 + 7 * (i - 1)))
}

// Session 5 is on 3 Feb 2009. Its credit: claimed -30.00, supplementary -27.50, member -2.50,
// which gives the session back: the 19th line becomes the 18th paid session.
const CREDIT_ROW: &str =
    "F1,C-05,12345678,M001,2009-02-03,1000,1,2009,-30.00,0.00,0.00,-27.50,-2.50,dsw-2009-av-standaard,";
const CREDIT: &str = "F1 C-05 12345678 M001 1970-04-12 2009-02-03 1000 30.00 C S-05";

fn a_credit_in_the_same_run_reverses_the_line_and_frees_its_session(n: Dir) {
    let rows = [sessions(1, 18), table(&[CREDIT]), sessions(19, 20)].concat();
    let f = claims(&n, "night.csv", rows);
    run(&n, "o", &[&f]);
    let mut expected: Vec<String> = (1..=18).map(paid_row).collect();
    expected.push(CREDIT_ROW.into());
    expected.push(paid_row(19));
    assert_eq!(n.paid("o"), expected);
    let rej = n.rejected("o");
    assert_eq!(rej.len(), 1);
    assert!(
        rej[0].starts_with("F1,S-20,") && rej[0].contains("SESSION_LIMIT"),
        "{rej:?}"
    );
    let s = n.summary("o");
    assert_eq!(
        s["totals"]["paid_supplementary"], "495.00",
        "18 x 27.50 net"
    );
    assert_eq!(s["reconciliation"]["balanced"], true);
}

fn a_credit_in_a_later_run_frees_a_session_and_a_second_credit_is_duplicate(n: Dir) {
    let f1 = claims(&n, "n1.csv", sessions(1, 18));
    run(&n, "o1", &[&f1]);
    let f2 = claims(&n, "n2.csv", [table(&[CREDIT]), sessions(19, 20)].concat());
    run(&n, "o2", &[&f2]);
    assert_eq!(n.paid("o2"), vec![CREDIT_ROW.to_string(), paid_row(19)]);
    assert!(n.rejected("o2")[0].contains("SESSION_LIMIT"));

    let rows = table(&[
        CREDIT,
        "F1 C-05b 12345678 M001 1970-04-12 2009-02-03 1000 30.00 C S-05",
        "F1 C-77 12345678 M001 1970-04-12 2009-02-03 1000 30.00 C S-77",
        "F1 C-06 12345678 M001 1970-04-12 2009-02-10 1000 31.00 C S-06",
        "F1 C-07 12345678 M002 1965-09-30 2009-02-17 1000 30.00 C S-07",
    ]);
    let f3 = claims(&n, "n3.csv", rows);
    run(&n, "o3", &[&f3]);
    assert!(n.paid("o3").is_empty());
    let reasons = reasons(&n.rejected("o3"));
    // C-05 again: its key was processed; C-05b: S-05 was credited before; C-77: no such line;
    // C-06: amount differs from the line's 30.00; C-07: S-07 is M001's, not M002's.
    assert_eq!(
        reasons,
        [
            "DUPLICATE",
            "DUPLICATE",
            "UNMATCHED_CREDIT",
            "UNMATCHED_CREDIT",
            "UNMATCHED_CREDIT"
        ]
    );

    let text = show_m001(&n);
    assert!(
        text.contains("credited by C-05") && text.contains("credit of S-05"),
        "{text}"
    );
    assert!(
        text.contains("fysio-manueel") && text.contains("    18     495.00"),
        "{text}"
    );
}

/// Deductible 2024 is 385.00 (M030: born 1978, zvw from 2024). A medicine of 100.00 charges
/// 100.00; its credit gives it back; a later medicine of 400.00 is charged the full 385.00.
fn a_credit_gives_the_deductible_back(n: Dir) {
    let rows = table(&[
        "P P-1 56789012 M030 1978-08-08 2024-02-01 PHARMA 100.00 - -",
        "P CP-1 56789012 M030 1978-08-08 2024-02-01 PHARMA 100.00 C P-1",
        "P P-2 56789012 M030 1978-08-08 2024-03-01 PHARMA 400.00 - -",
    ]);
    let f = claims(&n, "d.csv", rows);
    run(&n, "o", &[&f]);
    assert_eq!(
        n.paid("o"),
        [
            "P,P-1,56789012,M030,2024-02-01,PHARMA,1,2024,100.00,100.00,100.00,0.00,0.00,zvw,DEDUCTIBLE",
            "P,CP-1,56789012,M030,2024-02-01,PHARMA,1,2024,-100.00,-100.00,-100.00,0.00,0.00,zvw,",
            "P,P-2,56789012,M030,2024-03-01,PHARMA,1,2024,400.00,400.00,385.00,0.00,0.00,zvw,DEDUCTIBLE",
        ]
    );
}

/// A supplementary product with one benefit per limit period: (id, name, code, limit).
fn periods_policy() -> String {
    let mut toml = String::from(
        "[product]\nid = \"test-periods\"\nname = \"One limit of each period\"\n\
         layer = \"supplementary\"\n",
    );
    for (id, name, code, limit) in [
        (
            "per-date",
            "once per treatment date, at most 25.00",
            "D1",
            r#"period = "treatment-date", once_per_date = true, max_euros = "25.00""#,
        ),
        (
            "per-year",
            "3 per calendar year",
            "Y1",
            r#"period = "calendar-year", max_units = 3"#,
        ),
        (
            "per-2-years",
            "100.00 per 2 calendar years",
            "Y2",
            r#"period = "2-calendar-years", max_euros = "100.00""#,
        ),
        (
            "per-5-years",
            "2 per 5 calendar years",
            "Y5",
            r#"period = "5-calendar-years", max_units = 2"#,
        ),
        (
            "insurance",
            "2 for the duration of the insurance",
            "INS",
            r#"period = "insurance-duration", max_units = 2"#,
        ),
    ] {
        toml += &format!(
            "\n[[benefit]]\nid = \"{id}\"\nname = \"{name}\"\ncodes = [\"{code}\"]\n\
             limits = [{{ {limit} }}]\n"
        );
    }
    toml
}

/// The same lines in one run and spread over three nights (one per year) give the same rows.
fn every_limit_period_continues_across_runs(n: Dir) {
    let pdir = n.create_dir("policies");
    std::fs::copy(
        root().join("fixtures/policies/zvw.toml"),
        pdir.join("zvw.toml"),
    )
    .unwrap();
    std::fs::write(pdir.join("test.toml"), periods_policy()).unwrap();
    let members = n.create_csv(
        "members.csv",
        claims::REGISTER_WITHOUT_VOLUNTARY,
        table(&[
            "T1 111222333 1980-01-01 zvw 2024-01-01 -",
            "T1 111222333 1980-01-01 test-periods 2024-01-01 -",
        ]),
    );
    let split_ledger = n.ledger().empty(&n, "split");
    let run_on = |out: &str, f: &str, ledger: &str| {
        let run = night(&n)
            .policy(&pdir)
            .members(&members)
            .ledger(ledger)
            .run_date("2026-12-31");
        run.out(out).input(f).ok();
    };
    // id, service date, code, amount.
    let line = |row: &str| {
        let f: Vec<&str> = row.split_whitespace().collect();
        let row = format!(
            "B {} 12345678 T1 1980-01-01 {} {} {} - -",
            f[0], f[1], f[2], f[3]
        );
        table(&[&row]).remove(0)
    };
    let y2024: Vec<_> = [
        "1 2024-03-01 D1 30.00",
        // Another treatment that day (another amount: the same one would be the same care
        // declared twice, DUPLICATE_CARE).
        "2 2024-03-01 D1 31.00",
        "3 2024-03-02 D1 20.00",
        "4 2024-04-01 Y1 10.00",
        "5 2024-04-02 Y1 10.00",
        "6 2024-04-03 Y1 10.00",
        "7 2024-04-04 Y1 10.00",
        "8 2024-05-01 Y2 60.00",
        "9 2024-06-01 INS 10.00",
        "10 2024-07-01 Y5 10.00",
    ]
    .map(line)
    .to_vec();
    let y2025: Vec<_> = [
        "11 2025-04-01 Y1 10.00",
        "12 2025-05-01 Y2 60.00",
        "13 2025-06-01 INS 10.00",
    ]
    .map(line)
    .to_vec();
    let y2026: Vec<_> = [
        "14 2026-05-01 Y2 60.00",
        "15 2026-06-01 INS 10.00",
        "16 2026-07-01 Y5 10.00",
        "17 2026-07-02 Y5 10.00",
        "18 2026-03-01 D1 30.00",
    ]
    .map(line)
    .to_vec();
    let all = claims(&n, "all.csv", [&y2024[..], &y2025, &y2026].concat());
    run_on("once", &all, &n.ledger().arg());
    let once = n.paid("once");
    let once_rej = n.rejected("once");
    let mut split = Vec::new();
    let mut split_rej = Vec::new();
    for (name, rows) in [("a", &y2024), ("b", &y2025), ("c", &y2026)] {
        let f = claims(&n, &format!("{name}.csv"), rows.clone());
        run_on(name, &f, &split_ledger.arg());
        split.extend(n.paid(name));
        split_rej.extend(n.rejected(name));
    }
    assert_eq!(split, once);
    assert_eq!(reasons(&split_rej), reasons(&once_rej));
    // Hand-worked: D1 30.00 -> 25.00; the second D1 that day SAME_DAY; Y1 3 a year; Y2 60.00,
    // then 40.00 (100 per 2025+2024), then 60.00 (2026+2025 hold 40); INS twice ever; Y5 twice
    // in 2022-2026.
    let paid: Vec<(String, String)> = once
        .iter()
        .map(|r| {
            let f = fields(r);
            (f[1].clone(), f[11].clone())
        })
        .collect();
    let want = [
        ("1", "25.00"),
        ("3", "20.00"),
        ("4", "10.00"),
        ("5", "10.00"),
        ("6", "10.00"),
        ("8", "60.00"),
        ("9", "10.00"),
        ("10", "10.00"),
        ("11", "10.00"),
        ("12", "40.00"),
        ("13", "10.00"),
        ("14", "60.00"),
        ("16", "10.00"),
        ("18", "25.00"),
    ];
    assert_eq!(paid, want.map(|(a, b)| (a.to_string(), b.to_string())));
    assert_eq!(
        reasons(&once_rej),
        [
            "SAME_DAY",
            "SESSION_LIMIT",
            "SESSION_LIMIT",
            "SESSION_LIMIT"
        ]
    );
}

/// A big night of a.s.r. lines for the fixture members M050-M069.
fn big_night(n: &Dir, lines: usize) -> String {
    let mut s = String::with_capacity(lines * 70);
    s.push_str(&claims::head(WITH_CREDITS));
    let members: Vec<(String, String)> = fixture_members()
        .into_iter()
        .filter(|f| f.iter().any(|c| c.contains("asr-2024")))
        .map(|f| (f[0].clone(), f[2].clone()))
        .filter(|(m, _)| m.as_str() >= "M050")
        .collect();
    for i in 0..lines {
        let (m, b) = &members[i % members.len()];
        let day = 1 + (i / members.len()) % 28;
        // A member's lines of one day differ in amount: the same care twice would be
        // DUPLICATE_CARE.
        let cents = 3000 + i / (members.len() * 28);
        s += &format!(
            "K,K{i},45678901,{m},{b},2024-05-{day:02},1000,{},,\n",
            declaro::model::Cents(cents as i64)
        );
    }
    n.create("big.csv", s)
}

/// kill -9 at several moments: the ledger keeps only the earlier run; the run done again gives
/// byte-identical outputs to an uninterrupted run on a copy of the ledger.
fn a_run_killed_at_any_moment_leaves_the_ledger_as_it_was(n: Dir) {
    let small = claims(&n, "small.csv", sessions(1, 5));
    run(&n, "first", &[&small]);
    let copy = n.ledger().copy(&n, "copy");
    let big = big_night(&n, 200_000);
    // Each attempt into an output directory of its own; at least two kills must land mid-run
    // (before the commit) for the test to mean anything.
    let mut mid_run = 0;
    for delay_ms in [5, 40, 120, 300] {
        let out = format!("killed-{delay_ms}");
        let mut child = night(&n)
            .out(&out)
            .input(&big)
            .command()
            .cmd()
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        let status = child.wait().unwrap();
        if status.success() {
            // Finished before the kill: undo by restoring the copy and try the next moment.
            n.ledger().restore(&copy);
            continue;
        }
        mid_run += 1;
        assert_eq!(
            n.ledger().runs(),
            1,
            "killed after {delay_ms} ms: ledger changed"
        );
        assert!(
            !n.join(&out).join("remittance.csv").exists(),
            "no partial outputs in place"
        );
    }
    assert!(
        mid_run >= 2,
        "only {mid_run} kills landed before the run ended"
    );
    run(&n, "again", &[&big]);
    night(&n).ledger(copy.arg()).out("clean").input(&big).ok();
    for f in ["remittance.csv", "rejections.csv"] {
        assert!(
            read(n.join("again").join(f)) == read(n.join("clean").join(f)),
            "{f} differs"
        );
    }
    let strip_timing = |p: &Path| {
        let mut v = summary(p);
        v["timing"] = serde_json::Value::Null;
        v
    };
    assert_eq!(
        strip_timing(&n.join("again")),
        strip_timing(&n.join("clean"))
    );
}

/// Two runs on one ledger at once: the second waits or is refused (exit 3); never both half.
fn concurrent_runs_do_not_corrupt_the_ledger(n: Dir) {
    let big = big_night(&n, 100_000);
    let small = claims(&n, "small.csv", sessions(1, 5));
    let mut first = night(&n)
        .out("big")
        .input(&big)
        .command()
        .cmd()
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(30));
    let second = night(&n).out("small").input(&small).run();
    assert!(first.wait().unwrap().success());
    match second.status.code() {
        Some(3) => assert!(
            stderr(&second).contains("in use by another run"),
            "{}",
            stderr(&second)
        ),
        Some(0) => {}
        other => panic!("second run: {other:?} {}", stderr(&second)),
    }
    let lines = n.ledger().processed_lines();
    let expected = 100_000 + if second.status.success() { 5 } else { 0 };
    assert_eq!(lines, expected);
}

#[test]
fn the_ledger_stores_no_bsn_or_birth_date() {
    let n = Dir::new("ledger");
    run(&n, "o", &["fixtures/claims/2024-basic.csv"]);
    let c = rusqlite::Connection::open(ledger(&n)).unwrap();
    let mut stmt = c
        // Tables and views: member ids are keys of the JSON in `member_state` and
        // `run_lines`, and a column only of the views over them.
        .prepare("SELECT sql FROM sqlite_master WHERE type IN ('table', 'view')")
        .unwrap();
    let schema: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let schema = schema.join("\n").to_lowercase();
    assert!(schema.contains("member_id"));
    for forbidden in ["bsn", "birth", "name"] {
        assert!(
            !schema.contains(forbidden),
            "ledger schema has a {forbidden} column:\n{schema}"
        );
    }
    let dump: String = {
        let mut s = c
            .prepare("SELECT group_concat(member_id || effects, ' ') FROM processed_line")
            .unwrap();
        s.query_row([], |r| r.get(0)).unwrap()
    };
    let raw: String = c
        .query_row(
            "SELECT (SELECT group_concat(members, ' ') FROM member_state) || ' ' ||
                    (SELECT group_concat(lines, ' ') FROM run_lines)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    for f in fixture_members() {
        assert!(!dump.contains(&f[1]));
        for birth in [f[2].to_string(), f[2].replace('-', "")] {
            assert!(!raw.contains(&f[1]) && !raw.contains(&birth), "{birth}");
        }
    }
}

/// Regression: a credit in an earlier input file than the line it reverses (dated after it, so
/// adjudicated after it) must still mark that line as credited in the ledger; a second credit
/// of it in a later run is then `DUPLICATE`, not a second reversal.
fn a_credit_listed_before_its_line_still_marks_it_credited(n: Dir) {
    let credit_rows = table(&["F1 C-01 12345678 M001 1970-04-12 2009-01-20 1000 30.00 C S-01"]);
    let credit = claims(&n, "a.csv", credit_rows);
    let debit = claims(&n, "b.csv", sessions(1, 1));
    run(&n, "o1", &[&credit, &debit]);
    assert_eq!(
        n.paid("o1").len(),
        2,
        "the line and its credit are both in the remittance"
    );
    let again_rows = table(&["F1 C-02 12345678 M001 1970-04-12 2009-01-21 1000 30.00 C S-01"]);
    let again = claims(&n, "c.csv", again_rows);
    run(&n, "o2", &[&again]);
    let rej = n.rejected("o2");
    assert_eq!(rej.len(), 1);
    assert!(
        rej[0].contains("DUPLICATE") && rej[0].contains("credited before"),
        "{rej:?}"
    );
}

/// Three nights on one ledger: credits across nights, a second credit of a line credited the
/// night before, and limits and the deductible carried from night to night.
///
/// Worked by hand (fixtures: M001 and M002 on DSW AV-Standaard 2009, physio 1000 at 30.00 →
/// 27.50 paid, 2.50 member, `TARIFF_CAP`, 18 sessions per year in `fysio-manueel`; M030 on zvw
/// from 2024, deductible 2024 385.00, pharmacy paid in full by the basic product):
///
/// - Night 1: M001 S-01..S-10 paid (10 sessions, 275.00). M030 P-1 100.00: basic 100.00, all
///   of it deductible (100.00 of 385.00).
/// - Night 2, in service-date order: M001 C-05 reverses S-05 (-30.00, -27.50, -2.50; 9
///   sessions, 247.50), S-11..S-19 are sessions 10-18, all paid (18, 495.00). M030 CP-1
///   reverses P-1 (-100.00 basic and deductible: 0.00 charged), then P-2 400.00: basic 400.00,
///   deductible 385.00. M002 C-07 names S-07, which is M001's: `UNMATCHED_CREDIT`.
/// - Night 3: M001 C-05b names S-05 again, credited the night before: `DUPLICATE` ("credited
///   before"). C-06 (10 Feb) reverses S-06: 17 sessions. S-20 (19 May) is the 18th: paid.
///   S-21 (26 May) would be the 19th: `SESSION_LIMIT`. M030 P-3 50.00: basic 50.00, nothing
///   left to charge to the deductible (385.00 charged).
/// - After night 3: M001 `fysio-manueel` 2009 = 18 sessions, 18 x 27.50 = 495.00; M030's
///   deductible 2024 = 385.00; 11 + 12 + 3 = 26 lines in the ledger (paid lines and credits).
fn three_nights_carry_credits_limits_and_the_deductible(n: Dir) {
    let rows = [
        sessions(1, 10),
        table(&["P P-1 56789012 M030 1978-08-08 2024-02-01 PHARMA 100.00 - -"]),
    ]
    .concat();
    let f1 = claims(&n, "n1.csv", rows);
    run(&n, "o1", &[&f1]);
    let mut want: Vec<String> = (1..=10).map(paid_row).collect();
    want.push(
        "P,P-1,56789012,M030,2024-02-01,PHARMA,1,2024,100.00,100.00,100.00,0.00,0.00,zvw,DEDUCTIBLE"
            .into(),
    );
    assert_eq!(n.paid("o1"), want);
    assert!(n.rejected("o1").is_empty());

    let rows = [
        table(&[CREDIT]),
        sessions(11, 19),
        table(&[
            "P CP-1 56789012 M030 1978-08-08 2024-02-01 PHARMA 100.00 C P-1",
            "P P-2 56789012 M030 1978-08-08 2024-03-01 PHARMA 400.00 - -",
            "F1 C-07 12345678 M002 1965-09-30 2009-02-17 1000 30.00 C S-07",
        ]),
    ]
    .concat();
    let f2 = claims(&n, "n2.csv", rows);
    run(&n, "o2", &[&f2]);
    let mut want = vec![CREDIT_ROW.to_string()];
    want.extend((11..=19).map(paid_row));
    want.push(
        "P,CP-1,56789012,M030,2024-02-01,PHARMA,1,2024,-100.00,-100.00,-100.00,0.00,0.00,zvw,"
            .into(),
    );
    want.push(
        "P,P-2,56789012,M030,2024-03-01,PHARMA,1,2024,400.00,400.00,385.00,0.00,0.00,zvw,DEDUCTIBLE"
            .into(),
    );
    assert_eq!(n.paid("o2"), want);
    let rej = n.rejected("o2");
    assert_eq!(rej.len(), 1);
    assert!(
        rej[0].starts_with("F1,C-07,") && rej[0].contains("UNMATCHED_CREDIT"),
        "{rej:?}"
    );

    let rows = [
        table(&[
            "F1 C-05b 12345678 M001 1970-04-12 2009-02-03 1000 30.00 C S-05",
            "F1 C-06 12345678 M001 1970-04-12 2009-02-10 1000 30.00 C S-06",
        ]),
        sessions(20, 21),
        table(&["P P-3 56789012 M030 1978-08-08 2024-04-01 PHARMA 50.00 - -"]),
    ]
    .concat();
    let f3 = claims(&n, "n3.csv", rows);
    run(&n, "o3", &[&f3]);
    assert_eq!(
        n.paid("o3"),
        [
            "F1,C-06,12345678,M001,2009-02-10,1000,1,2009,-30.00,0.00,0.00,-27.50,-2.50,dsw-2009-av-standaard,".to_string(),
            paid_row(20),
            "P,P-3,56789012,M030,2024-04-01,PHARMA,1,2024,50.00,50.00,0.00,0.00,0.00,zvw,".into(),
        ]
    );
    let rej = n.rejected("o3");
    assert_eq!(rej.len(), 2, "{rej:?}");
    assert!(
        rej[0].starts_with("F1,C-05b,")
            && rej[0].contains("DUPLICATE")
            && rej[0].contains("credited before"),
        "{rej:?}"
    );
    assert!(
        rej[1].starts_with("F1,S-21,") && rej[1].contains("SESSION_LIMIT"),
        "{rej:?}"
    );

    // The tables (SQLite: its views) show the state the three nights left.
    let l = n.ledger();
    let acc = l.rows(
        "SELECT units, cents FROM accumulator WHERE member_id = 'M001'
         AND product = 'dsw-2009-av-standaard' AND pool = 'fysio-manueel' AND bucket = 2009",
        "SELECT units::text, cents::text FROM accumulator a JOIN pool_ids p ON p.id = a.pool_id
         WHERE member_id = 'M001' AND p.product = 'dsw-2009-av-standaard'
         AND p.pool = 'fysio-manueel' AND bucket = 2009",
    );
    assert_eq!(acc, [["18", "49500"]]);
    let ded = l.rows(
        "SELECT cents FROM deductible WHERE member_id = 'M030' AND year = 2024",
        "SELECT cents::text FROM deductible WHERE member_id = 'M030' AND year = 2024",
    );
    assert_eq!(ded, [["38500"]]);
    assert_eq!(l.processed_lines(), 26);
    let credited = l.rows(
        "SELECT line_id, credited_by FROM processed_line WHERE credited_by IS NOT NULL
         ORDER BY line_id",
        "SELECT p.line_id, c.line_id FROM processed_line p JOIN processed_line c
         ON c.provider_agb = p.provider_agb AND c.credit_of = p.line_id
         AND c.member_id = p.member_id ORDER BY p.line_id COLLATE \"C\"",
    );
    assert_eq!(
        credited,
        [["P-1", "CP-1"], ["S-05", "C-05"], ["S-06", "C-06"]]
    );

    let text = show_m001(&n);
    for part in [
        "    18     495.00",
        "credited by C-05",
        "credited by C-06",
        "credit of S-06",
    ] {
        assert!(text.contains(part), "{part}:\n{text}");
    }
    assert!(!text.contains("C-05b"), "{text}");
}

/// A ledger of the first schema (a `processed_line` table) is refused, not migrated: exit 3,
/// saying which schema it has, and the file is left as it was.
#[test]
fn a_ledger_of_the_old_schema_is_refused_with_exit_3() {
    let n = Dir::new("ledger");
    let c = rusqlite::Connection::open(ledger(&n)).unwrap();
    c.execute_batch(
        "CREATE TABLE processed_line (provider_agb INTEGER, line_id TEXT, PRIMARY KEY (provider_agb, line_id));",
    )
    .unwrap();
    drop(c);
    let before = std::fs::read(ledger(&n)).unwrap();
    let o = night(&n)
        .out("o")
        .input("fixtures/claims/2024-basic.csv")
        .assert_exit(3);
    assert!(
        stderr(&o).contains("has schema 1") && stderr(&o).contains("reads ledger schema 2"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read(ledger(&n)).unwrap(), before);
    assert!(!n.join("o").join("remittance.csv").exists());
}

/// A dry run writes its outputs as a real run would, and leaves the ledger's runs, lines and
/// counters as they were: the same night run for real afterwards pays the same.
fn a_dry_run_writes_the_outputs_and_commits_nothing(n: Dir) {
    let f = claims(&n, "n.csv", sessions(1, 3));
    run(&n, "real1", &["fixtures/claims/2024-basic.csv"]);
    let before = n.ledger().dump();
    night(&n).out("dry").arg("--dry-run").input(&f).ok();
    assert_eq!(n.ledger().dump(), before, "a dry run changed the ledger");
    let s = summary(&n.join("dry"));
    assert_eq!(s["dry_run"], true);
    let dry = read(n.join("dry").join("remittance.csv"));
    assert_eq!(dry.lines().count(), 4, "three sessions paid: {dry}");
    // The real run of the same night gives the same rows.
    run(&n, "real2", &[&f]);
    assert_eq!(read(n.join("real2").join("remittance.csv")), dry);
}

/// Killed after the ledger committed and before the outputs were renamed into place: the next
/// run on that ledger finishes the renames, finds every input processed and does nothing, and
/// the outputs are those of an uninterrupted run.
fn a_run_killed_after_its_commit_is_finished_by_the_retry_which_does_nothing_more(n: Dir) {
    let f = claims(&n, "n.csv", sessions(1, 4));
    let crash = night(&n).out("o").env("DECLARO_CRASH_AT", "after-commit");
    let o = crash.input(&f).run();
    assert!(!o.status.success(), "the run was to die after its commit");
    assert_eq!(n.ledger().runs(), 1, "the run had committed");
    assert!(!n.join("o").join("remittance.csv").exists());
    assert!(n.join("o").join(".remittance.csv.tmp").exists());
    let o = run(&n, "o", &[&f]);
    assert!(
        stderr(&o).contains("processed by run 1 already"),
        "{}",
        stderr(&o)
    );
    assert_eq!(n.ledger().runs(), 1);
    // The same night on a new ledger, uninterrupted, gives the same rows.
    let clean = Dir::new("ledger");
    run(&clean, "o", &[&f]);
    for f in ["remittance.csv", "rejections.csv"] {
        assert_eq!(
            read(n.join("o").join(f)),
            read(clean.join("o").join(f)),
            "{f}"
        );
    }
    let left: Vec<_> = files_in(&n.join("o"))
        .into_iter()
        .filter(|f| f.ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// `DUPLICATE_CARE` (Vektis 0587): the same care (provider, member, service date, code,
/// quantity and amount) declared again under another line id, in the same night or after an
/// earlier run paid it, pays nothing. A credit frees the care (credit and declare again is how
/// a provider corrects), and another amount is another care. M001, DSW AV-Standaard 2009.
fn the_same_care_under_another_line_id_is_duplicate_care_until_a_credit_reverses_it(n: Dir) {
    // line_id, service date, amount, the line it credits (`-` for a debit).
    let night_of = |rows: &[&str]| -> Vec<Vec<String>> {
        rows.iter()
            .map(|row| {
                let f: Vec<&str> = row.split_whitespace().collect();
                let dc = if f[3] == "-" { "D" } else { "C" };
                let row = format!(
                    "F1 {} 12345678 M001 1970-04-12 {} 1000 {} {dc} {}",
                    f[0], f[1], f[2], f[3]
                );
                table(&[&row]).remove(0)
            })
            .collect()
    };
    let night1 = night_of(&[
        "S-01 2009-01-06 30.00 -",
        "S-02 2009-01-06 30.00 -",
        "S-03 2009-01-06 31.00 -",
        "S-04 2009-01-13 30.00 -",
        "S-05 2009-01-13 30.00 S-04",
        "S-06 2009-01-13 30.00 -",
    ]);
    let night2 = night_of(&[
        "S-11 2009-01-06 30.00 -",
        "S-13 2009-01-13 30.00 S-06",
        "S-14 2009-01-13 30.00 -",
    ]);
    let night3 = night_of(&["S-21 2009-01-13 30.00 -"]);
    let reasons = |out: &str| -> Vec<String> {
        n.rejections(out)
            .iter()
            .map(|(id, reason, message)| format!("{id} {reason}: {message}"))
            .collect()
    };
    let paid =
        |out: &str| -> Vec<String> { n.paid(out).iter().map(|r| fields(r)[1].clone()).collect() };
    let care = "the same care (provider 12345678, member, service date, code, quantity and amount) as line_id";
    let f = claims(&n, "a.csv", night1);
    run(&n, "a", &[&f]);
    // S-02 repeats S-01; S-03 has another amount (the physio benefit then decides); S-06
    // repeats S-04, which S-05 reversed: declared again, paid.
    assert_eq!(
        reasons("a"),
        [format!(
            "S-02 DUPLICATE_CARE: {care} S-01 earlier in this run"
        )]
    );
    assert_eq!(paid("a"), ["S-01", "S-03", "S-04", "S-05", "S-06"]);
    let f = claims(&n, "b.csv", night2);
    run(&n, "b", &[&f]);
    // S-11 repeats S-01 of night 1; S-14 repeats S-06, reversed tonight by S-13.
    assert_eq!(
        reasons("b"),
        [format!(
            "S-11 DUPLICATE_CARE: {care} S-01, paid in an earlier run"
        )]
    );
    assert_eq!(paid("b"), ["S-13", "S-14"]);
    let f = claims(&n, "c.csv", night3);
    run(&n, "c", &[&f]);
    // S-04 and S-06 were credited; S-14 of night 2 holds the care.
    assert_eq!(
        reasons("c"),
        [format!(
            "S-21 DUPLICATE_CARE: {care} S-14, paid in an earlier run"
        )]
    );
    let s = n.summary("c");
    assert_eq!(s["rejected_by_reason"]["DUPLICATE_CARE"], 1);
}

both_backends! {
    a_credit_in_the_same_run_reverses_the_line_and_frees_its_session,
    a_credit_in_a_later_run_frees_a_session_and_a_second_credit_is_duplicate,
    a_credit_gives_the_deductible_back,
    every_limit_period_continues_across_runs,
    a_run_killed_at_any_moment_leaves_the_ledger_as_it_was,
    concurrent_runs_do_not_corrupt_the_ledger,
    a_credit_listed_before_its_line_still_marks_it_credited,
    three_nights_carry_credits_limits_and_the_deductible,
    a_dry_run_writes_the_outputs_and_commits_nothing,
    a_run_killed_after_its_commit_is_finished_by_the_retry_which_does_nothing_more,
    the_same_care_under_another_line_id_is_duplicate_care_until_a_credit_reverses_it,
}
