//! Promises of the README (and the contract) that no other test held the program to, and the
//! boundaries that mutation testing found unguarded: each test writes its own registers and
//! declarations, runs the binary and compares with values worked out by hand from the policies
//! in `fixtures/policies/` (the arithmetic is in the comments).

#[path = "util/formats.rs"]
mod formats;
mod util;

use std::path::{Path, PathBuf};
use std::process::Output;
use util::claims::{bsn, MINIMAL, WITH_BSN, WITH_QUANTITY};
use util::{read, root, summary, table, Dir, Process};

/// Register rows written as [`table`] rows `id i birth product start end voluntary`, `i` the
/// member's number for a BSN of its own.
fn register(rows: &[&str]) -> Vec<Vec<String>> {
    table(rows)
        .into_iter()
        .map(|mut r| {
            r[1] = bsn(30_000_000, r[1].parse().unwrap());
            r
        })
        .collect()
}

/// One night: the member register of `members` ([`register`] rows) and the declaration file
/// `c.csv` of `lines` ([`table`] rows of [`WITH_QUANTITY`]'s columns) on the fixture policies
/// and provider register, run on `run_date` into `out`; its directory.
fn night(members: &[&str], lines: &[&str], run_date: &str) -> Dir {
    let dir = Dir::new("promises");
    let m = dir.members(register(members));
    let f = dir.create_csv("c.csv", WITH_QUANTITY, table(lines));
    dir.process()
        .members(m)
        .run_date(run_date)
        .quiet()
        .input(f)
        .ok();
    dir
}

/// (line_id, reason) of every rejection of `out`.
fn reasons(dir: &Dir, out: &str) -> Vec<(String, String)> {
    dir.rejections(out)
        .into_iter()
        .map(|(id, reason, _)| (id, reason))
        .collect()
}

/// `[(line_id, reason)]` as owned strings, to compare with [`reasons`].
fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// A. README promises
// ---------------------------------------------------------------------------------------------

/// README "Workload": "The same seed and night give the same files." Twice the same arguments
/// (CSV and XML, nights 1 and 2) give byte-identical files; another seed gives other lines, so
/// the comparison is not between two empty or constant files.
#[test]
fn generate_gives_byte_identical_files_for_the_same_seed_and_night() {
    let case = Dir::new("generate");
    let generate = |out: &str, seed: &str, night: &str, format: &str| -> PathBuf {
        let dir = case.join(out);
        case.command()
            .args(["generate", "--lines", "400", "--members", "60"])
            .args([
                "--seed", seed, "--night", night, "--format", format, "--out",
            ])
            .arg(&dir)
            .ok();
        dir
    };
    let bytes = |dir: &Path, f: &str| std::fs::read(dir.join(f)).unwrap();
    for (night, format, claims) in [
        ("1", "csv", "claims.csv"),
        ("2", "csv", "claims.csv"),
        ("1", "xml", "claims.xml"),
    ] {
        let a = generate(&format!("a{night}{format}"), "7", night, format);
        let b = generate(&format!("b{night}{format}"), "7", night, format);
        for f in ["members.csv", claims] {
            assert_eq!(
                bytes(&a, f),
                bytes(&b, f),
                "{f} of night {night} ({format}) differs between two runs of one seed"
            );
        }
    }
    let a = case.join("a1csv");
    // 400 lines under a header row.
    assert_eq!(read(a.join("claims.csv")).lines().count(), 401);
    let other = generate("other", "8", "1", "csv");
    assert_ne!(
        bytes(&a, "claims.csv"),
        bytes(&other, "claims.csv"),
        "seeds 7 and 8 gave the same night"
    );
}

/// README "The ledger": `declaro ledger runs --ledger FILE` lists the committed runs; the `run`
/// table holds for each its start time, run date, input files with sha256, counts and euro
/// totals. Two nights of different inputs on one ledger give two runs, worked out by hand:
///
/// M-R1 (born 1980, zvw from 2024, mandatory deductible 2024 = 385.00):
/// - night 1: PHARMA 20.00 and 30.00, both charged to the deductible in full (50.00 used);
///   a line of an unknown code (5.00) rejected. 3 lines, 2 paid, 1 rejected; claimed, basic and
///   deductible 50.00, supplementary and member 0.00 (the euro totals are those of the
///   remittance: claimed = basic + supplementary + member).
/// - night 2: GP 35.00 (exempt from the deductible) and PHARMA 400.00, of which the remaining
///   385.00 - 50.00 = 335.00 of the deductible is charged. 2 lines, 2 paid, 0 rejected; claimed
///   and basic 435.00, deductible 335.00, supplementary and member 0.00.
#[test]
fn ledger_runs_lists_each_committed_run_with_date_counts_totals_and_inputs() {
    let case = Dir::new("ledger-runs");
    let m = case.members(register(&["R1 1 1980-01-01 zvw 2024-01-01 - -"]));
    let n1 = case.create_csv(
        "n1.csv",
        WITH_QUANTITY,
        table(&[
            "F 1 56789012 R1 1980-01-01 2024-05-01 PHARMA 1 20.00",
            "F 2 56789012 R1 1980-01-01 2024-06-01 PHARMA 1 30.00",
            "F 3 56789012 R1 1980-01-01 2024-06-02 NO-SUCH-CODE 1 5.00",
        ]),
    );
    let n2 = case.create_csv(
        "n2.csv",
        WITH_QUANTITY,
        table(&[
            "F 4 56789012 R1 1980-01-01 2024-07-01 GP 1 35.00",
            "F 5 56789012 R1 1980-01-01 2024-08-01 PHARMA 1 400.00",
        ]),
    );
    let ledger = case.join("ledger.db").display().to_string();
    for (out, run_date, input) in [("o1", "2025-12-31", &n1), ("o2", "2025-06-30", &n2)] {
        let run = case.process().members(&m).run_date(run_date).out(out);
        run.quiet().input(input).ok();
    }
    assert_eq!(case.rejections("o1")[0].1, "UNKNOWN_CODE");

    let text = case
        .command()
        .args(["ledger", "runs", "--ledger", &ledger])
        .stdout();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let mut at = 0;
    for col in [
        "run",
        "started",
        "run date",
        "lines",
        "paid",
        "rejected",
        "claimed",
        "basic",
        "deductible",
        "supplementary",
        "member",
    ] {
        let i = header[at..]
            .find(col)
            .unwrap_or_else(|| panic!("no column {col:?} (in order) in {header:?}"));
        at += i + col.len();
    }
    let sha = |p: &str| {
        use sha2::Digest;
        let d = sha2::Sha256::digest(std::fs::read(p).unwrap());
        d.iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    let rest: Vec<&str> = lines.collect();
    assert_eq!(rest.len(), 4, "two runs of one input file each: {text}");
    let expect = [
        (
            "1",
            "2025-12-31",
            ["3", "2", "1", "50.00", "50.00", "50.00", "0.00", "0.00"],
            &n1,
        ),
        (
            "2",
            "2025-06-30",
            ["2", "2", "0", "435.00", "435.00", "335.00", "0.00", "0.00"],
            &n2,
        ),
    ];
    for (k, (id, run_date, figures, input)) in expect.iter().enumerate() {
        let cols: Vec<&str> = rest[2 * k].split_whitespace().collect();
        assert_eq!(cols.len(), 11, "{:?}", rest[2 * k]);
        assert_eq!(cols[0], *id, "{text}");
        // The start time: a date and time (ISO 8601), not the run date.
        assert!(
            cols[1].len() >= 19 && cols[1].as_bytes()[4] == b'-' && cols[1].contains('T'),
            "start time {:?}",
            cols[1]
        );
        assert_eq!(cols[2], *run_date, "{text}");
        assert_eq!(&cols[3..], figures, "run {id}: {text}");
        let file_line: Vec<&str> = rest[2 * k + 1].split_whitespace().collect();
        assert_eq!(
            file_line,
            [input.as_str(), "sha256", &sha(input)],
            "run {id}: {text}"
        );
    }
}

/// The BSNs (9 digits) and birth dates (`YYYY-MM-DD` and `YYYYMMDD`) of every member of a
/// register and of every declaration CSV given: the personal data that must not leak.
fn personal_data(register: &Path, claims: &[&Path]) -> Vec<String> {
    let mut found = Vec::new();
    for p in std::iter::once(register).chain(claims.iter().copied()) {
        let text = read(p);
        let mut r = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(text.as_bytes());
        let header: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
        for rec in r.records().flatten() {
            for (h, v) in header.iter().zip(rec.iter()) {
                let v = v.trim();
                if h == "bsn" && v.len() == 9 && v.bytes().all(|b| b.is_ascii_digit()) {
                    found.push(v.to_string());
                }
                if h == "birth_date" && v.len() == 10 && v.as_bytes()[4] == b'-' {
                    found.push(v.to_string());
                    found.push(v.replace('-', ""));
                }
            }
        }
    }
    found.sort();
    found.dedup();
    assert!(found.len() > 20, "too few values to look for: {found:?}");
    found
}

/// `--log-format json` with the closing summary off (`--quiet`) and every log level on: each
/// stderr line is one JSON object, the rejected lines are logged, and no BSN or birth date of
/// the register or the inputs appears (README "Personal data": "BSNs, names and birth dates
/// never reach the terminal").
#[test]
fn log_format_json_gives_one_json_object_per_log_line_without_bsn_or_birth_date() {
    let case = Dir::new("log-json");
    let o = case
        .process()
        .no_providers()
        .ledger_in_out()
        .env("RUST_LOG", "trace")
        .args(["--quiet", "--log-format", "json"])
        .inputs([
            "fixtures/claims/2024-bad-lines.csv",
            "fixtures/claims/2024-basic.csv",
        ])
        .ok();
    let err = util::stderr(&o);
    let mut messages = Vec::new();
    for l in err.lines() {
        let v: serde_json::Value = serde_json::from_str(l)
            .unwrap_or_else(|e| panic!("not a JSON object ({e}): {l:?}\nall of stderr:\n{err}"));
        assert!(v.is_object(), "not an object: {l}");
        messages.push(v["fields"]["message"].as_str().unwrap_or("").to_string());
    }
    assert!(
        messages.iter().any(|m| m.contains("line rejected")),
        "trace logging is on and lines are rejected: {messages:?}"
    );
    let pd = personal_data(
        &root().join("fixtures/members.csv"),
        &[
            &root().join("fixtures/claims/2024-bad-lines.csv"),
            &root().join("fixtures/claims/2024-basic.csv"),
        ],
    );
    for v in pd {
        assert!(
            !err.contains(&v),
            "{v} (a BSN or birth date) reached stderr"
        );
    }
}

/// `--log-format json` makes stderr machine-readable: every line a JSON object, also the
/// closing summary, the note on refused files (exit 2) and a fatal error (exit 3), which were
/// plain text once.
#[test]
fn log_format_json_makes_every_stderr_line_a_json_object() {
    let case = Dir::new("log-json-exit");
    let run = |inputs: &[&str], members: &str, out: &str, code: i32| {
        let run = case.process().no_providers().ledger_in_out().out(out);
        let run = run.members(members).args(["--log-format", "json"]);
        run.inputs(inputs).assert_exit(code)
    };
    let asr = "fixtures/claims/2024-asr.csv";
    let refused = "fixtures/xml/refused-trailer-total.xml";
    let members = "fixtures/members.csv";
    let cases = [
        (
            run(&["fixtures/claims/2024-basic.csv"], members, "a", 0),
            0,
            "run 1 committed",
        ),
        (
            run(&[refused, asr], members, "b", 2),
            2,
            "1 input file(s) refused; see summary.json",
        ),
        (
            run(&[asr], "no-such-register.csv", "c", 3),
            3,
            "no-such-register.csv",
        ),
    ];
    for (o, code, says) in cases {
        assert_eq!(o.status.code(), Some(code), "{}", util::stderr(&o));
        let mut messages = Vec::new();
        for l in util::stderr(&o).lines() {
            let v: serde_json::Value = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("exit {code}: not JSON ({e}): {l:?}"));
            assert!(v.is_object(), "exit {code}: not a JSON object: {l:?}");
            messages.push(
                v["fields"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            );
        }
        assert!(
            messages.iter().any(|m| m.contains(says)),
            "exit {code}: no event says {says:?}: {messages:?}"
        );
    }
}

/// A register or policy error stops a run before anything is read (exit 3): nothing in `--out`,
/// a ledger that exists keeps its bytes, and a ledger that did not exist is not created.
fn assert_refused_before_anything(
    case: &Dir,
    o: &Output,
    names: &str,
    ledger: &Path,
    before: &[u8],
) {
    let err = util::stderr(o);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(err.contains(names), "{names} not named: {err}");
    for out in ["o-used", "o-new"] {
        let files = util::files_in(&case.join(out));
        assert!(files.is_empty(), "{out}: {files:?}");
    }
    assert_eq!(std::fs::read(ledger).unwrap(), before, "the ledger changed");
}

/// Runs the a.s.r. fixture night into `o-used` on a ledger that holds run 1, and into `o-new`
/// with its default ledger (`o-new/ledger.db`, which does not exist), with the policy and
/// provider register given; returns the two outputs.
fn refused_twice(case: &Dir, policy: &str, providers: &str) -> (Output, Output) {
    let run = |out: &str| {
        case.process()
            .quiet()
            .policy(policy)
            .providers(providers)
            .out(out)
    };
    let used = run("o-used").input("fixtures/claims/2024-asr.csv").run();
    let new = run("o-new").ledger_in_out();
    let new = new.input("fixtures/claims/2024-asr.csv").run();
    assert!(
        !case.join("o-new").join("ledger.db").exists(),
        "a ledger was created"
    );
    (used, new)
}

/// A ledger holding one committed run (of the basic fixture night), and its bytes.
fn committed_ledger(case: &Dir) -> (PathBuf, Vec<u8>) {
    let ledger = case.join("ledger.db");
    let first = case.process().quiet().out("first");
    first.input("fixtures/claims/2024-basic.csv").ok();
    let bytes = std::fs::read(&ledger).unwrap();
    (ledger, bytes)
}

/// README "Inputs": "A bad register or policy stops the run before anything is read (exit 3)";
/// exit code 3 "usage or configuration error (nothing committed)". A provider register with a
/// 7-digit AGB.
#[test]
fn a_bad_provider_register_is_exit_3_with_nothing_written_and_the_ledger_unchanged() {
    let case = Dir::new("bad-providers");
    let (ledger, before) = committed_ledger(&case);
    let bad = case.create(
        "providers.csv",
        "provider_agb,contracts\n12345678,\n4567890,zk-plus\n",
    );
    let (used, new) = refused_twice(&case, "fixtures/policies", &bad);
    for o in [&used, &new] {
        assert_refused_before_anything(&case, o, "providers.csv line 3", &ledger, &before);
    }
}

/// The same for a policy directory holding the fixture policies and one broken file (an amount
/// with a decimal comma).
#[test]
fn a_bad_policy_directory_is_exit_3_with_nothing_written_and_the_ledger_unchanged() {
    let case = Dir::new("bad-policies");
    let (ledger, before) = committed_ledger(&case);
    let dir = case.copy_policies("policies", |_, text| text);
    std::fs::write(
        dir.join("broken.toml"),
        "[product]\nid = \"broken\"\nname = \"B\"\nlayer = \"supplementary\"\n\n[[benefit]]\nid = \"a\"\nname = \"A\"\ncodes = [\"1000\"]\nmax_per_unit = \"27,50\"\n",
    )
    .unwrap();
    let (used, new) = refused_twice(&case, &dir.display().to_string(), "fixtures/providers.csv");
    for o in [&used, &new] {
        assert_refused_before_anything(&case, o, "broken.toml", &ledger, &before);
    }
}

/// README "Field checks": "quantity 1-9999" (`input::Raw::parse`: `(1..=9999).contains(&q)`,
/// else MALFORMED "field quantity ... must be a whole number from 1 to 9999"). VISIT-KM counts
/// kilometres at 0.18 per km (DSW AV-Standaard 2009, children up to 17). Member Q1, born 2000:
/// - 9999 km declared at 2000.00: at most 9999 x 0.18 = 1799.82, the member pays
///   2000.00 - 1799.82 = 200.18 (TARIFF_CAP); the count really is 9999 (9999 x 0.18 < 2000.00).
/// - 10000 km: MALFORMED, naming the field and the value.
#[test]
fn quantity_9999_is_accepted_and_10000_is_rejected_as_malformed() {
    let case = night(
        &[
            "Q1 1 2000-01-01 zvw 2008-01-01 - -",
            "Q1 1 2000-01-01 dsw-2009-av-standaard 2008-01-01 - -",
        ],
        &[
            "F Q-1 12345678 Q1 2000-01-01 2009-05-01 VISIT-KM 9999 2000.00",
            "F Q-2 12345678 Q1 2000-01-01 2009-05-02 VISIT-KM 10000 2000.00",
        ],
        "2025-12-31",
    );
    assert_eq!(
        case.paid("out"),
        ["F,Q-1,12345678,Q1,2009-05-01,VISIT-KM,9999,2009,2000.00,0.00,0.00,1799.82,200.18,dsw-2009-av-standaard,TARIFF_CAP"]
    );
    let rej = case.rejections("out");
    assert_eq!(rej.len(), 1, "{rej:?}");
    assert_eq!(rej[0].0, "Q-2");
    assert_eq!(rej[0].1, "MALFORMED");
    assert!(
        rej[0].2.contains("quantity") && rej[0].2.contains("10000") && rej[0].2.contains("9999"),
        "{}",
        rej[0].2
    );
}

/// README "The ledger": "the next run on that ledger finishes an interrupted rename". The
/// retry of the same night is `tests/ledger.rs`'s
/// `a_run_killed_after_its_commit_is_finished_by_the_retry_which_does_nothing_more`; here the
/// next run is another night into another directory, and it too puts run 1's outputs in place,
/// equal to those of run 1 done without the crash.
#[test]
fn the_next_run_of_another_night_finishes_the_renames_of_a_run_killed_after_its_commit() {
    let case = Dir::new("crash-next");
    let (n1, n2) = (
        "fixtures/claims/2024-asr.csv",
        "fixtures/claims/2024-basic.csv",
    );
    // The uninterrupted run on its own ledger.
    case.process().quiet().out("o1").input(n1).ok();
    // Redo with a crash into `crashed`, on a ledger of its own.
    let crash_ledger = case.join("crash.db");
    let crashed = case.process().quiet().ledger(&crash_ledger).out("crashed");
    let o = crashed
        .env("DECLARO_CRASH_AT", "after-commit")
        .input(n1)
        .run();
    assert!(!o.status.success(), "the run was to die after its commit");
    assert!(!case.join("crashed").join("remittance.csv").exists());
    let next = case.process().quiet().ledger(&crash_ledger).out("next");
    next.input(n2).ok();
    for f in ["remittance.csv", "rejections.csv"] {
        assert_eq!(
            read(case.join("crashed").join(f)),
            read(case.join("o1").join(f)),
            "{f} of the interrupted run"
        );
    }
    let no_timing = |p: &Path| {
        let mut v = summary(p);
        v["timing"] = serde_json::Value::Null;
        v
    };
    assert_eq!(
        no_timing(&case.join("crashed")),
        no_timing(&case.join("o1"))
    );
    let left: Vec<String> = util::files_in(&case.join("crashed"))
        .into_iter()
        .filter(|f| f.ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    // And the next night itself was processed as on any ledger.
    assert_eq!(
        read(case.join("next").join("remittance.csv"))
            .lines()
            .count(),
        read(root().join("tests/expected/2024-basic/remittance.csv"))
            .lines()
            .count()
    );
}

/// An age limit at its edges (contract 2: "a member born 2006-03-01 is 18 from 2024-03-01 on").
/// DSW AV-Standaard 2009 `brilmontuur`: FRAME, `age_max = 17`, one frame of at most 46.00 per
/// calendar year. A1 and A2 are born 1991-06-15 (two members, so the one-per-year limit plays
/// no part): A1's frame on 2009-06-14 (age 17) is paid 40.00 in full; A2's on 2009-06-15 (18
/// that day) is AGE_LIMIT (zvw does not cover FRAME).
/// `tand-c-codes`: C11, `age_min = 22`, 100%. A3, born 1987-03-10: C11 on 2009-03-09 (age 21)
/// is AGE_LIMIT; on 2009-03-10 (22) it is paid 21.00 in full.
#[test]
fn an_age_limited_benefit_pays_up_to_its_edge_birthday_and_not_past_it() {
    let case = night(
        &[
            "A1 1 1991-06-15 zvw 2008-01-01 - -",
            "A1 1 1991-06-15 dsw-2009-av-standaard 2008-01-01 - -",
            "A2 2 1991-06-15 zvw 2008-01-01 - -",
            "A2 2 1991-06-15 dsw-2009-av-standaard 2008-01-01 - -",
            "A3 3 1987-03-10 zvw 2008-01-01 - -",
            "A3 3 1987-03-10 dsw-2009-av-standaard 2008-01-01 - -",
        ],
        &[
            "F 1 12345678 A1 1991-06-15 2009-06-14 FRAME 1 40.00",
            "F 2 12345678 A2 1991-06-15 2009-06-15 FRAME 1 40.00",
            "F 3 12345678 A3 1987-03-10 2009-03-09 C11 1 21.00",
            "F 4 12345678 A3 1987-03-10 2009-03-10 C11 1 21.00",
        ],
        "2025-12-31",
    );
    assert_eq!(
        case.paid("out"),
        [
            "F,1,12345678,A1,2009-06-14,FRAME,1,2009,40.00,0.00,0.00,40.00,0.00,dsw-2009-av-standaard,",
            "F,4,12345678,A3,2009-03-10,C11,1,2009,21.00,0.00,0.00,21.00,0.00,dsw-2009-av-standaard,",
        ]
    );
    assert_eq!(
        reasons(&case, "out"),
        owned(&[("2", "AGE_LIMIT"), ("3", "AGE_LIMIT")])
    );
}

/// The deductible exemption (zvw `exempt_under_age = 18`: "The deductible does not apply to
/// members under 18 on the service date"). E1, born 2006-03-01, zvw from 2024 (mandatory
/// 385.00): PHARMA 20.00 on 2024-02-29 (age 17) is paid by basic with no deductible; PHARMA
/// 30.00 on 2024-03-01 (18 that day) is charged to the deductible in full (30.00 < 385.00).
/// Also mutation-tests `adjudicate::charge_deductible`'s `age < a` (as `<=` the 18th birthday
/// would still be exempt).
#[test]
fn the_deductible_applies_from_the_18th_birthday_not_the_day_before() {
    let case = night(
        &["E1 1 2006-03-01 zvw 2024-01-01 - -"],
        &[
            "F 1 56789012 E1 2006-03-01 2024-02-29 PHARMA 1 20.00",
            "F 2 56789012 E1 2006-03-01 2024-03-01 PHARMA 1 30.00",
        ],
        "2025-12-31",
    );
    assert_eq!(
        case.paid("out"),
        [
            "F,1,56789012,E1,2024-02-29,PHARMA,1,2024,20.00,20.00,0.00,0.00,0.00,zvw,",
            "F,2,56789012,E1,2024-03-01,PHARMA,1,2024,30.00,30.00,30.00,0.00,0.00,zvw,DEDUCTIBLE",
        ]
    );
}

/// The exemption in a year the basic policy has no mandatory deductible for (2018): README
/// "Lines the basic product does not charge (... members under the exemption age) do not need
/// the year". E2, born 2000-05-10: PHARMA 10.00 on 2018-05-09 (17) is paid without a
/// deductible; on 2018-05-10 (18) it would be charged, so it is YEAR_NOT_CONFIGURED.
/// Mutation-tests `adjudicate::unconfigured_year`'s `age < a`.
#[test]
fn a_year_without_a_deductible_is_needed_from_the_18th_birthday_not_the_day_before() {
    let case = night(
        &["E2 1 2000-05-10 zvw 2017-01-01 - -"],
        &[
            "F 1 56789012 E2 2000-05-10 2018-05-09 PHARMA 1 10.00",
            "F 2 56789012 E2 2000-05-10 2018-05-10 PHARMA 1 10.00",
        ],
        "2025-12-31",
    );
    assert_eq!(
        case.paid("out"),
        ["F,1,56789012,E2,2018-05-09,PHARMA,1,2018,10.00,10.00,0.00,0.00,0.00,zvw,"]
    );
    assert_eq!(
        reasons(&case, "out"),
        owned(&[("2", "YEAR_NOT_CONFIGURED")])
    );
}

/// README "Outputs": `summary.json` holds "No personal data"; "Personal data": "summary.json
/// holds counts and totals only" (and `output::summary`: "no BSN, no member number, no birth
/// date"). Every fixture night in CSV, the a.s.r. night in XML and a PM304 file whose 02 record
/// carries a name (Jansen), a BSN and a birth date: none of the BSNs, birth dates, member
/// numbers or the name appears in summary.json, which does count the lines.
#[test]
fn summary_json_holds_no_bsn_birth_date_member_number_or_name() {
    let case = Dir::new("summary-personal");
    let d = formats::m001_session("P-1", "100023757");
    let pm304 = case.create_bytes("practice.dat", &formats::pm304("12345678", "F1", &[d]));
    assert!(read(&pm304).contains("Jansen"), "the name is in the input");
    let csvs: Vec<PathBuf> = std::fs::read_dir(root().join("fixtures/claims"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let mut inputs: Vec<String> = csvs.iter().map(|p| p.display().to_string()).collect();
    inputs.push("fixtures/xml/2024-asr.xml".into());
    inputs.push(pm304);
    let out = case.join("out");
    Process::new(&out).quiet().inputs(&inputs).ok();
    let text = read(out.join("summary.json"));
    assert!(
        summary(&out)["lines"].as_u64().unwrap() > 300,
        "the night was read: {text}"
    );
    let csv_refs: Vec<&Path> = csvs.iter().map(PathBuf::as_path).collect();
    let mut look_for = personal_data(&root().join("fixtures/members.csv"), &csv_refs);
    look_for.push("Jansen".into());
    // Member numbers (M001 ... M069: no other text of summary.json holds such a string).
    for row in util::fixture_members() {
        look_for.push(row[0].clone());
    }
    for v in &look_for {
        assert!(
            !text.contains(v.as_str()),
            "{v} is in summary.json:\n{text}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// B. Boundaries that no test guarded (mutants killed)
// ---------------------------------------------------------------------------------------------

/// `adjudicate::charge_deductible`: `paid.min(cap - used).max(ZERO)`. The room can be below
/// zero when the cap falls under what a year used: V1 (born 1980) holds zvw with a voluntary
/// deductible of 500.00 until 2024-06-30 and without one from 2024-07-01.
/// - PHARMA 900.00 on 2024-03-01: cap 385.00 + 500.00 = 885.00, all of it charged.
/// - PHARMA 20.00 on 2024-08-01: cap 385.00, used 885.00, room -500.00: nothing is charged
///   (not -500.00), basic pays 20.00 in full.
#[test]
fn a_deductible_used_beyond_a_lowered_cap_charges_nothing_more_and_gives_nothing_back() {
    let case = night(
        &[
            "V1 1 1980-01-01 zvw 2024-01-01 2024-06-30 500",
            "V1 1 1980-01-01 zvw 2024-07-01 - -",
        ],
        &[
            "F 1 56789012 V1 1980-01-01 2024-03-01 PHARMA 1 900.00",
            "F 2 56789012 V1 1980-01-01 2024-08-01 PHARMA 1 20.00",
        ],
        "2025-12-31",
    );
    assert_eq!(
        case.paid("out"),
        [
            "F,1,56789012,V1,2024-03-01,PHARMA,1,2024,900.00,900.00,885.00,0.00,0.00,zvw,DEDUCTIBLE",
            "F,2,56789012,V1,2024-08-01,PHARMA,1,2024,20.00,20.00,0.00,0.00,0.00,zvw,",
        ]
    );
}

/// Contract 4.1: `line_id` is "unique per provider"; README: the duplicate key is "provider AGB +
/// `line_id`". Within one night: provider 56789012's line X and provider 67890123's line X are
/// two lines, both paid; 56789012's X again is DUPLICATE. PHARMA for D1 (born 1980, 2024
/// deductible 385.00): 10.00 and 11.00 charged to the deductible in full (21.00 < 385.00).
#[test]
fn one_line_id_from_two_providers_is_two_lines_and_from_one_provider_a_duplicate() {
    let case = night(
        &["D1 1 1980-01-01 zvw 2024-01-01 - -"],
        &[
            "F X 56789012 D1 1980-01-01 2024-05-01 PHARMA 1 10.00",
            "F X 67890123 D1 1980-01-01 2024-05-02 PHARMA 1 11.00",
            "F X 56789012 D1 1980-01-01 2024-05-03 PHARMA 1 12.00",
        ],
        "2025-12-31",
    );
    assert_eq!(
        case.paid("out"),
        [
            "F,X,56789012,D1,2024-05-01,PHARMA,1,2024,10.00,10.00,10.00,0.00,0.00,zvw,DEDUCTIBLE",
            "F,X,67890123,D1,2024-05-02,PHARMA,1,2024,11.00,11.00,11.00,0.00,0.00,zvw,DEDUCTIBLE",
        ]
    );
    let rej = case.rejections("out");
    assert_eq!(rej.len(), 1, "{rej:?}");
    assert_eq!(rej[0].1, "DUPLICATE");
    assert!(rej[0].2.contains("earlier in this run"), "{}", rej[0].2);
}

/// The same across runs (the key paid in an earlier run): night 1 pays 56789012's line Y
/// (10.00); night 2 pays 67890123's line Y (11.00, 10.00 + 11.00 < 385.00, all deductible) and
/// refuses 56789012's Y again as DUPLICATE.
#[test]
fn one_line_id_paid_in_an_earlier_run_is_a_duplicate_only_for_the_same_provider() {
    let case = night(
        &["D1 1 1980-01-01 zvw 2024-01-01 - -"],
        &["F Y 56789012 D1 1980-01-01 2024-05-01 PHARMA 1 10.00"],
        "2025-12-31",
    );
    let n2 = case.create_csv(
        "n2.csv",
        WITH_QUANTITY,
        table(&[
            "F Y 67890123 D1 1980-01-01 2024-05-02 PHARMA 1 11.00",
            "F Y 56789012 D1 1980-01-01 2024-05-03 PHARMA 1 12.00",
        ]),
    );
    let members = case.join("members.csv");
    case.process()
        .members(members)
        .quiet()
        .out("o2")
        .input(n2)
        .ok();
    assert_eq!(
        case.paid("o2"),
        ["F,Y,67890123,D1,2024-05-02,PHARMA,1,2024,11.00,11.00,11.00,0.00,0.00,zvw,DEDUCTIBLE"]
    );
    assert_eq!(reasons(&case, "o2"), owned(&[("Y", "DUPLICATE")]));
}

/// README "Screening": "service date not after `--run-date`". Run date 2024-06-30: a PHARMA line
/// of that date is paid (20.00, all deductible for F1, born 1980); one of 2024-07-01 is
/// FUTURE_DATE.
#[test]
fn a_line_dated_on_the_run_date_is_paid_and_one_a_day_later_is_future_date() {
    let case = night(
        &["F1 1 1980-01-01 zvw 2024-01-01 - -"],
        &[
            "F 1 56789012 F1 1980-01-01 2024-06-30 PHARMA 1 20.00",
            "F 2 56789012 F1 1980-01-01 2024-07-01 PHARMA 1 20.00",
        ],
        "2024-06-30",
    );
    assert_eq!(
        case.paid("out"),
        ["F,1,56789012,F1,2024-06-30,PHARMA,1,2024,20.00,20.00,20.00,0.00,0.00,zvw,DEDUCTIBLE"]
    );
    assert_eq!(reasons(&case, "out"), owned(&[("2", "FUTURE_DATE")]));
}

/// `adjudicate_line`: each layer covers what the earlier layers left, `amount - paid_basic -
/// paid_supplementary` (cargo-mutants: `- paid_supplementary` -> `+` was missed). T1 holds two
/// supplements that both cover code 1000 (since 2020, so no waiting period): a.s.r. pays its
/// maximum 26.59 of a 35.00 session, DSW AV-Standaard (at most 27.50 per session) the 8.41 left.
/// The member pays nothing, and the line is never paid more than it claims (the mutant paid
/// 26.59 + 27.50 = 54.09).
#[test]
fn a_second_supplement_covers_only_what_the_first_left() {
    let case = Dir::new("two-supplements");
    let members = case.members(table(&[
        "T1 111222333 1980-01-01 zvw 2020-01-01 - -",
        "T1 111222333 1980-01-01 asr-2024-paramedisch 2020-01-01 - -",
        "T1 111222333 1980-01-01 dsw-2009-av-standaard 2020-01-01 - -",
    ]));
    let claims = case.create_csv(
        "c.csv",
        MINIMAL,
        table(&["B 1 45678901 T1 1980-01-01 2024-03-01 1000 35.00"]),
    );
    case.process().members(members).quiet().input(claims).ok();
    assert_eq!(
        case.paid("out"),
        ["B,1,45678901,T1,2024-03-01,1000,1,2024,35.00,0.00,0.00,35.00,0.00,asr-2024-paramedisch+dsw-2009-av-standaard,"]
    );
}

/// `screen::wanted`: a line that names its member by BSN only makes the register keep that
/// member (cargo-mutants: `p.bsn != 0` -> `==` was missed, since every other test's member was
/// also named by number). T2 is named by no member_id tonight; its PHARMA line of 12.00 on
/// 2024-05-01 is paid by zvw, all of it deductible (385.00 left).
#[test]
fn a_member_named_by_bsn_only_is_found_in_the_register() {
    let case = Dir::new("bsn-only");
    let members = case.members(table(&[
        "T1 111222333 1980-01-01 zvw 2020-01-01 - -",
        "T2 123456782 1981-02-02 zvw 2020-01-01 - -",
    ]));
    let claims = case.create_csv(
        "c.csv",
        WITH_BSN,
        table(&[
            "B 1 45678901 T1 - 1980-01-01 2024-05-01 PHARMA 10.00",
            "B 2 45678901 - 123456782 1981-02-02 2024-05-01 PHARMA 12.00",
        ]),
    );
    case.process().members(members).quiet().input(claims).ok();
    assert_eq!(
        case.paid("out"),
        [
            "B,1,45678901,T1,2024-05-01,PHARMA,1,2024,10.00,10.00,10.00,0.00,0.00,zvw,DEDUCTIBLE",
            "B,2,45678901,T2,2024-05-01,PHARMA,1,2024,12.00,12.00,12.00,0.00,0.00,zvw,DEDUCTIBLE",
        ]
    );
}

/// `Layer::pay`: an authorization needed "from session 19" (DSW AV-Top 2009, physiotherapy)
/// leaves sessions 1-18 untouched (cargo-mutants: `room < allowed` -> `<=` was missed, which
/// marks session 18 NO_AUTHORIZATION although it fits). A1 holds zvw and AV-Top since 2008;
/// 19 sessions of code 1000 at 30.00 in 2009 without an authorization number: sessions 1-18 are
/// paid AV-Top's 27.50 per session, the member pays 2.50 and the only reason is TARIFF_CAP (a
/// reason is listed where the member is left something, so the mutant's NO_AUTHORIZATION would
/// show); session 19 is NO_AUTHORIZATION.
#[test]
fn sessions_before_the_authorization_threshold_carry_no_authorization_reason() {
    let case = Dir::new("authorization-threshold");
    let members = case.members(table(&[
        "A1 111222333 1970-01-01 zvw 2008-01-01 - -",
        "A1 111222333 1970-01-01 dsw-2009-av-top 2008-01-01 - -",
    ]));
    let rows = (1..=19u32).map(|i| {
        let (month, day) = (i.div_ceil(2), if i % 2 == 1 { 10 } else { 20 });
        let row = format!("B {i} 45678901 A1 1970-01-01 2009-{month:02}-{day} 1000 30.00");
        table(&[&row]).remove(0)
    });
    let claims = case.create_csv("c.csv", MINIMAL, rows);
    let run = case.process().members(members).run_date("2009-12-31");
    run.quiet().input(claims).ok();
    let paid = case.paid("out");
    assert_eq!(paid.len(), 18, "{paid:?}");
    for row in &paid {
        assert!(
            row.ends_with(",30.00,0.00,0.00,27.50,2.50,dsw-2009-av-top,TARIFF_CAP"),
            "{row}"
        );
    }
    assert_eq!(reasons(&case, "out"), owned(&[("19", "NO_AUTHORIZATION")]));
}
