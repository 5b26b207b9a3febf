//! Exit codes, refusals, registers, policies and the ledger across runs, through the binary.

#[path = "util/formats.rs"]
mod formats;
mod util;
use std::path::Path;
use util::claims::{self, MINIMAL};
use util::*;

/// The a.s.r. fixture night run against the member register `register` written into `dir`
/// as `name`, expected to exit with `code`; its output.
fn asr_night_with_register(
    dir: &Dir,
    name: &str,
    register: &str,
    code: i32,
) -> std::process::Output {
    let members = dir.create(name, register);
    let run = dir.process().ledger_in_out().members(members);
    run.input("fixtures/claims/2024-asr.csv").assert_exit(code)
}

#[test]
fn a_file_without_a_required_column_is_refused_whole_and_the_others_are_processed() {
    let dir = Dir::new("cli");
    let bad = dir.create_csv(
        "bad.csv",
        &MINIMAL.replace("service_date,", ""),
        table(&["F 1 45678901 M020 1982-03-03 1000 26.59"]),
    );
    let run = dir.process().ledger_in_out();
    run.input(&bad)
        .input("fixtures/claims/2024-asr.csv")
        .assert_exit(2);
    let s = dir.summary("out");
    let refused = s["input_files"][0]["refused"].as_str().unwrap();
    assert!(
        refused.contains("bad.csv line 1") && refused.contains("service_date"),
        "{refused}"
    );
    assert_same_csv(
        &read(dir.join("out/remittance.csv")),
        &expected("2024-asr", "remittance.csv"),
        "remittance",
    );
    assert_eq!(s["lines"], 15);
}

#[test]
fn an_empty_file_is_refused() {
    let dir = Dir::new("cli");
    let empty = dir.create("empty.csv", "");
    let o = dir.process().ledger_in_out().input(&empty).assert_exit(2);
    assert!(stderr(&o).contains("empty.csv"), "{}", stderr(&o));
}

#[test]
fn a_bad_member_register_row_is_exit_3_naming_file_line_and_field() {
    let dir = Dir::new("cli");
    let register = claims::csv_text_of(
        claims::REGISTER,
        &[
            "M1 111222333 1980-01-01 zvw 2024-01-01 - -",
            "M2 111222334 1980-01-01 zvw 2024-01-01 - -",
        ],
    );
    let o = asr_night_with_register(&dir, "members.csv", &register, 3);
    let e = stderr(&o);
    assert!(e.contains("members.csv line 3: field bsn"), "{e}");
    assert!(
        e.contains("******334") && !e.contains("111222334"),
        "BSN must be masked: {e}"
    );
    assert!(
        !dir.join("out/remittance.csv").exists(),
        "nothing may be written"
    );
}

#[test]
fn an_unknown_product_in_the_register_is_exit_3() {
    let dir = Dir::new("cli");
    let register = claims::csv_text_of(
        claims::REGISTER_WITHOUT_VOLUNTARY,
        &["M1 111222333 1980-01-01 nope 2024-01-01 -"],
    );
    let o = asr_night_with_register(&dir, "m.csv", &register, 3);
    let e = stderr(&o);
    assert!(e.contains("m.csv line 2: field product"), "{e}");
}

#[test]
fn check_policy_accepts_the_fixtures_and_names_file_and_line_of_an_error() {
    let dir = Dir::new("cli");
    let text = dir
        .command()
        .args(["check-policy", "fixtures/policies"])
        .stdout();
    for id in [
        "zvw",
        "asr-2024-paramedisch",
        "dsw-2009-av-standaard",
        "dsw-2009-av-top",
    ] {
        assert!(text.contains(&format!("ok {id} ")), "{text}");
    }
    let bad = dir.create(
        "bad.toml",
        "[product]\nid = \"x\"\nname = \"X\"\nlayer = \"supplementary\"\n\n[[benefit]]\nid = \"a\"\nname = \"A\"\ncodes = [\"1000\"]\nmax_per_unit = \"27,50\"\n",
    );
    let o = dir.command().args(["check-policy", &bad]).assert_exit(3);
    let e = stderr(&o);
    assert!(e.contains("bad.toml line 6") && e.contains("27,50"), "{e}");
}

/// A 2018 line among 2024 lines: the fixture zvw policy has no mandatory deductible for 2018,
/// so that line is rejected YEAR_NOT_CONFIGURED and the run goes on (exit 0) with a warning
/// in the log and in summary.json; the 2024 lines are paid as ever.
#[test]
fn a_line_of_a_year_without_a_mandatory_deductible_is_rejected_and_the_night_goes_on() {
    let dir = Dir::new("cli");
    let f = dir.create_csv(
        "c.csv",
        MINIMAL,
        table(&[
            "F 1 56789012 M030 1978-08-08 2024-05-01 PHARMA 20.00",
            "F 2 56789012 M030 1978-08-08 2018-05-01 PHARMA 10.00",
            "F 3 56789012 M030 1978-08-08 2024-06-01 PHARMA 30.00",
        ]),
    );
    let members = dir.create_csv(
        "m.csv",
        claims::REGISTER_WITHOUT_VOLUNTARY,
        table(&["M030 111222333 1978-08-08 zvw 2010-01-01 -"]),
    );
    let out = dir.join("out");
    let o = dir
        .process()
        .ledger_in_out()
        .members(members)
        .input(&f)
        .ok();
    assert!(
        stderr(&o)
            .contains("YEAR_NOT_CONFIGURED: product zvw has no mandatory deductible for 2018"),
        "{}",
        stderr(&o)
    );
    let rej = read(out.join("rejections.csv"));
    assert_eq!(rej.lines().count(), 2, "{rej}");
    assert!(
        rej.contains(",2,F,2,56789012,M030,2018-05-01,PHARMA,10.00,YEAR_NOT_CONFIGURED,"),
        "{rej}"
    );
    // 2024: 20.00 and 30.00 paid by basic, all of it charged to the 385.00 deductible.
    let rem = read(out.join("remittance.csv"));
    assert!(rem.contains(",1,F,1,56789012,M030,2024-05-01,PHARMA,1,2024,20.00,20.00,20.00,0.00,0.00,zvw,DEDUCTIBLE"), "{rem}");
    assert!(rem.contains(",3,F,3,56789012,M030,2024-06-01,PHARMA,1,2024,30.00,30.00,30.00,0.00,0.00,zvw,DEDUCTIBLE"), "{rem}");
    let s = summary(&out);
    assert_eq!(s["rejected_by_reason"]["YEAR_NOT_CONFIGURED"], 1);
    assert!(
        s["warnings"][0].as_str().unwrap().contains("for 2018"),
        "{s}"
    );
    let text = dir
        .command()
        .args(["check-policy", "fixtures/policies"])
        .run();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("mandatory deductible for 2009, 2014, 2024-2026"),
        "{text}"
    );
}

/// Sessions 1-10 in one run and 11-20 in the next give the same rows as 1-20 at once;
/// re-running a night pays nothing (every line DUPLICATE).
#[test]
fn the_ledger_carries_sessions_to_the_next_run_and_a_rerun_pays_nothing() {
    let dir = Dir::new("cli");
    let all = read(root().join("fixtures/claims/2009-dsw-standaard.csv"));
    let mut lines: Vec<&str> = all.lines().collect();
    let header = lines.remove(0);
    // M001's examination and first 10 sessions tonight, the rest tomorrow.
    let night1 = format!("{header}\n{}\n", lines[..11].join("\n"));
    let night2 = format!("{header}\n{}\n", lines[11..].join("\n"));
    let f1 = dir.create("n1.csv", &night1);
    let f2 = dir.create("n2.csv", &night2);
    dir.process().out("o1").input(&f1).ok();
    dir.process().out("o2").input(&f2).ok();
    let exp_rows = without_origin(&expected("2009-dsw-standaard", "remittance.csv"));
    let got = [dir.paid("o1"), dir.paid("o2")].concat();
    // Compare without file and record, which differ between the split files.
    assert_eq!(got, exp_rows);

    // The same two files again: both were processed (same sha256), so the run is a no-op.
    let o3 = dir.join("o3");
    let o = dir.process().out("o3").inputs([&f1, &f2]).ok();
    assert!(
        stderr(&o).contains("processed by run 1, run 2 already"),
        "{}",
        stderr(&o)
    );
    assert!(
        !o3.join("remittance.csv").exists(),
        "a no-op writes nothing"
    );
    // The same lines in a file of other bytes: every paid line is a DUPLICATE of its key.
    let both = dir.create("both.csv", format!("{header}\n{}\n", lines.join("\n")));
    let o3 = dir.join("o3b");
    dir.process().out("o3b").input(&both).ok();
    assert_eq!(
        read(o3.join("remittance.csv")).lines().count(),
        1,
        "a rerun pays nothing"
    );
    let s = summary(&o3);
    assert_eq!(s["totals"]["paid_supplementary"], "0.00");
    assert_eq!(s["rejected_by_reason"]["DUPLICATE"], 74);
    assert_eq!(
        s["rejected_by_reason"]["SESSION_LIMIT"], 6,
        "lines refused before are refused again"
    );
}

#[cfg(unix)]
#[test]
fn outputs_and_ledger_are_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let dir = Dir::new("cli");
    let out = dir.join("out");
    let line = formats::m001_session("1", "");
    let pm304 = dir.create_bytes("practice.dat", &formats::pm304("12345678", "F1", &[line]));
    let run = dir.process().no_providers().ledger_in_out();
    let run = run.arg("--ei-return").arg(out.join("ei"));
    let run = run.inputs(["fixtures/claims/2024-bad-lines.csv", &pm304]);
    run.wrapped("sh", &["-c", "umask 000; exec \"$@\"", "sh"])
        .ok();
    for f in [
        "remittance.csv",
        "rejections.csv",
        "summary.json",
        "ledger.db",
        "ei/practice.pm305",
    ] {
        let mode = std::fs::metadata(out.join(f)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o007, 0, "{f} is readable by others: {mode:o}");
        assert_eq!(mode & 0o600, 0o600, "{f}: {mode:o}");
    }
    // The directories that --out and --ei-return create were drwxrwxrwx under umask 000, so
    // any local user could plant a link in them.
    for d in [out.clone(), out.join("ei")] {
        let mode = std::fs::metadata(&d).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o750, "{}: {mode:o}", d.display());
    }
}

#[test]
fn a_second_run_on_a_ledger_in_use_is_refused_with_exit_3() {
    let dir = Dir::new("cli");
    let ledger = dir.join("ledger.db");
    // Hold the write lock the way a running declaro does.
    let conn = rusqlite::Connection::open(&ledger).unwrap();
    conn.execute_batch("CREATE TABLE t(x); BEGIN IMMEDIATE; INSERT INTO t VALUES (1);")
        .unwrap();
    let o = dir
        .process()
        .input("fixtures/claims/2024-asr.csv")
        .assert_exit(3);
    assert!(
        stderr(&o).contains("in use by another run"),
        "{}",
        stderr(&o)
    );
    drop(conn);
}

#[test]
fn no_bsn_reaches_stderr_even_at_trace_level() {
    let dir = Dir::new("cli");
    let run = dir
        .process()
        .no_providers()
        .ledger_in_out()
        .env("RUST_LOG", "trace");
    let o = run.input("fixtures/claims/2024-bad-lines.csv").ok();
    let err = stderr(&o);
    assert!(err.contains("line rejected"), "trace logging is on: {err}");
    for cols in fixture_members() {
        assert!(!err.contains(&cols[1]), "a BSN leaked to stderr");
        assert!(!err.contains(&cols[2]), "a birth date leaked to stderr");
    }
    assert!(!err.contains("123456789"));
}

/// `generate` nights 1 and 2 run one after the other on one ledger: night 2 credits paid lines
/// of night 1, and none of its line ids collides with one of night 1.
#[test]
fn generated_nights_run_one_after_another_on_one_ledger() {
    let dir = Dir::new("cli");
    let ledger = dir.join("ledger.db");
    let mut nights = Vec::new();
    for night in ["1", "2"] {
        let args = [
            "--lines",
            "2000",
            "--members",
            "200",
            "--seed",
            "5",
            "--night",
            night,
        ];
        let gen = dir.generate(&format!("gen{night}"), &args);
        let out = dir.join(format!("out{night}"));
        let run = dir
            .process()
            .no_providers()
            .quiet()
            .members(gen.join("members.csv"));
        run.ledger(&ledger)
            .out(&out)
            .input(gen.join("claims.csv"))
            .ok();
        nights.push((gen, out));
    }
    let (gen2, out2) = &nights[1];
    // Which night-1 line each credit of night 2 reverses.
    let related: std::collections::HashMap<String, String> =
        csv_maps(&read(gen2.join("claims.csv")))
            .into_iter()
            .filter(|r| r.get("debit_credit").map(String::as_str) == Some("C"))
            .map(|r| (r["line_id"].clone(), r["related_line_id"].clone()))
            .collect();
    let credits_of_night1 = csv_maps(&read(out2.join("remittance.csv")))
        .iter()
        .filter(|r| r["claimed"].starts_with('-'))
        .filter(|r| {
            related
                .get(&r["line_id"])
                .is_some_and(|l| l.starts_with("N1L"))
        })
        .count();
    assert!(credits_of_night1 > 0, "night 2 pays back lines of night 1");

    let duplicates: Vec<String> = csv_maps(&read(out2.join("rejections.csv")))
        .into_iter()
        .filter(|r| r["reason"] == "DUPLICATE")
        .map(|r| r["message"].clone())
        .collect();
    assert!(
        duplicates
            .iter()
            .any(|m| m.contains("occurs earlier in this run")),
        "the in-night duplicates are found: {duplicates:?}"
    );
    for m in &duplicates {
        assert!(
            m.contains("occurs earlier in this run") || m.contains("was credited before"),
            "only in-night duplicates and repeated credits: {m}"
        );
    }
}

/// A night that will not fit in the memory the run may use is refused after reading, with
/// how many lines fit, before anything is adjudicated or written (exit 3).
#[test]
fn a_night_too_large_for_memory_is_refused_up_front_with_what_fits() {
    let dir = Dir::new("cli");
    let out = dir.join("out");
    // 182 lines of 260 bytes do not fit in 10 KB: 39 do.
    let run = dir
        .process()
        .no_providers()
        .ledger_in_out()
        .env("DECLARO_MEMORY", "10K");
    let o = run
        .input("fixtures/claims/2024-asr-night.csv")
        .assert_exit(3);
    assert!(
        stderr(&o).contains("at most 39 lines fit"),
        "{}",
        stderr(&o)
    );
    assert!(!out.join("remittance.csv").exists());
}

/// The disk fills up while the outputs are written (a file size limit stands in for it): the run
/// exits 1 with a clear message, removes its temporary files and leaves the ledger as it was.
#[cfg(unix)]
#[test]
fn a_full_disk_while_writing_leaves_no_temporary_files_and_the_ledger_as_it_was() {
    let dir = Dir::new("cli");
    let gen = |night: &str, lines: &str, out: &str| {
        let args = ["--lines", lines, "--members", "2000", "--night", night];
        dir.generate(out, &args)
    };
    let (n1, n2) = (gen("1", "500", "n1"), gen("2", "20000", "n2"));
    let ledger = dir.join("ledger.db");
    // The night under `sh`, with a file size limit of `limit` blocks where given.
    let run = |night: &Path, out: &Path, limit: Option<u32>| {
        let ulimit = limit.map_or(String::new(), |l| format!("ulimit -f {l}; "));
        let run = Process::new(out).no_providers().quiet().ledger(&ledger);
        let run = run
            .members(n1.join("members.csv"))
            .input(night.join("claims.csv"));
        run.wrapped("sh", &["-c", &format!("{ulimit}exec \"$@\""), "sh"])
            .run()
    };
    let o = run(&n1, &dir.join("out1"), None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let runs = || -> i64 {
        let c = rusqlite::Connection::open(&ledger).unwrap();
        c.query_row("SELECT count(*) FROM run", [], |r| r.get(0))
            .unwrap()
    };
    let before = std::fs::read(&ledger).unwrap();
    // 2,000 blocks of 512 bytes (1 MB): the 20,000-line night's remittance alone is larger.
    let out = dir.join("out2");
    let o = run(&n2, &out, Some(2000));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("internal error"), "{}", stderr(&o));
    let left: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        left.is_empty(),
        "left behind in {}: {left:?}",
        out.display()
    );
    assert_eq!(runs(), 1);
    assert_eq!(
        std::fs::read(&ledger).unwrap(),
        before,
        "the ledger changed"
    );
}

/// The README's command run twice, as a cron retry after a commit would: the second run finds
/// every input processed by run 1 and is a no-op (exit 0): the outputs stay byte for byte.
#[test]
fn the_readme_command_run_twice_leaves_the_first_runs_outputs_as_they_were() {
    let dir = Dir::new("cli");
    let out = dir.join("out");
    let inputs = [
        "fixtures/claims/2024-asr.csv",
        "fixtures/claims/2024-basic.csv",
    ];
    Process::new(&out).quiet().inputs(inputs).ok();
    let before: Vec<Vec<u8>> = ["remittance.csv", "rejections.csv", "summary.json"]
        .iter()
        .map(|f| std::fs::read(out.join(f)).unwrap())
        .collect();
    let o = Process::new(&out).quiet().inputs(inputs).ok();
    assert!(
        stderr(&o).contains("processed by run 1 already"),
        "{}",
        stderr(&o)
    );
    for (f, b) in ["remittance.csv", "rejections.csv", "summary.json"]
        .iter()
        .zip(&before)
    {
        assert_eq!(&std::fs::read(out.join(f)).unwrap(), b, "{f} changed");
    }
}

/// A new file set into an output directory that holds a committed run's outputs is refused
/// before anything is read (exit 3), naming that run; the outputs stay.
#[test]
fn new_inputs_into_a_used_output_directory_are_refused_naming_its_run() {
    let dir = Dir::new("cli");
    let out = dir.join("out");
    Process::new(&out)
        .quiet()
        .input("fixtures/claims/2024-asr.csv")
        .ok();
    let before = std::fs::read(out.join("remittance.csv")).unwrap();
    let o = Process::new(&out)
        .quiet()
        .input("fixtures/claims/2024-basic.csv")
        .assert_exit(3);
    assert!(
        stderr(&o).contains("holds the outputs of run 1"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read(out.join("remittance.csv")).unwrap(), before);
}

/// The same files again into a new output directory: a no-op (exit 0) that writes nothing
/// there, not even the directory's files, and says which run processed them.
#[test]
fn processed_files_into_a_new_output_directory_write_nothing() {
    let dir = Dir::new("cli");
    let asr = "fixtures/claims/2024-asr.csv";
    dir.process().out("first").input(asr).ok();
    let again = dir.join("again");
    let o = dir.process().out("again").input(asr).ok();
    let e = stderr(&o);
    assert!(
        e.contains(&format!(
            "processed by run 1 already: nothing to do, nothing written to {}",
            again.display()
        )),
        "{e}"
    );
    assert!(
        !e.contains("lines read"),
        "no closing summary for a no-op: {e}"
    );
    let left: Vec<_> = std::fs::read_dir(&again)
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}

/// A file already processed, sent again beside a new one into a new output directory: it is
/// refused whole as ALREADY_PROCESSED (exit 2), the new one is processed.
#[test]
fn an_input_processed_before_is_refused_as_already_processed_beside_a_new_one() {
    let dir = Dir::new("cli");
    let asr = "fixtures/claims/2024-asr.csv";
    dir.process().quiet().out("first").input(asr).ok();
    let out = dir.join("second");
    dir.process()
        .quiet()
        .out("second")
        .inputs([
            "fixtures/claims/2024-asr.csv",
            "fixtures/claims/2024-basic.csv",
        ])
        .assert_exit(2);
    let s = summary(&out);
    assert_eq!(s["input_files"][0]["reason"], "ALREADY_PROCESSED");
    assert!(s["input_files"][0]["refused"]
        .as_str()
        .unwrap()
        .contains("processed by run 1"));
    assert!(s["input_files"][1]["refused"].is_null());
    let basic_rows = read(root().join("tests/expected/2024-basic/remittance.csv"))
        .lines()
        .count();
    assert_eq!(read(out.join("remittance.csv")).lines().count(), basic_rows);
}

/// Under a terminal the progress bar moves through reading (bytes), adjudicating (members) and
/// writing (rows); without a terminal, or with --quiet, there is none. `script` (util-linux)
/// gives the run a pseudo-terminal.
#[cfg(unix)]
#[test]
fn a_progress_bar_is_drawn_on_a_terminal_and_not_elsewhere() {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var_os("DECLARO_REQUIRE_ALL_TESTS").is_none(),
            "`script` (util-linux) is needed for this test"
        );
        eprintln!("SKIPPED: no `script` command to give the run a pseudo-terminal");
        return;
    }
    let dir = Dir::new("cli");
    let gen = dir.generate("gen", &["--lines", "100000", "--members", "10000"]);
    let cmd = |out: &str, extra: &[&str]| {
        let run = dir
            .process()
            .no_providers()
            .ledger_in_out()
            .out(out)
            .args(extra);
        let run = run.members(gen.join("members.csv"));
        run.input(gen.join("claims.csv")).shell_line()
    };
    let pty = |c: String| {
        let o = TestCommand::program("script", Some(dir.path()))
            .args(["-qfec", &c, "/dev/null"])
            .run();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let drawn = pty(cmd("tty", &[]));
    for stage in ["reading", "adjudicating", "writing"] {
        assert!(drawn.contains(stage), "no {stage} stage drawn: {drawn:?}");
    }
    assert!(!pty(cmd("quiet", &["--quiet"])).contains("reading"));
    let piped = TestCommand::program("sh", Some(dir.path()))
        .args(["-c", &cmd("piped", &[])])
        .run();
    assert!(
        !stderr(&piped).contains("adjudicating"),
        "{}",
        stderr(&piped)
    );
}

/// The closing summary on stderr gives the figures of summary.json: lines, euros, the top
/// rejection reasons, refused files and where the outputs are; none with --quiet.
#[test]
fn the_closing_summary_gives_the_figures_of_summary_json() {
    let dir = Dir::new("cli");
    let out = dir.join("out");
    let o = Process::new(&out)
        .inputs([
            "fixtures/claims/2024-bad-lines.csv",
            "fixtures/xml/refused-malformed.xml",
            "fixtures/claims/2024-basic.csv",
        ])
        .assert_exit(2);
    let e = stderr(&o);
    let s = summary(&out);
    let t = &s["totals"];
    for expect in [
        "declaro: run 1 committed".to_string(),
        format!(
            "lines read      {}: {} paid, {} rejected",
            s["lines"], s["outcomes"]["paid"], s["outcomes"]["rejected"]
        ),
        format!(
            "paid            basic {}, supplementary {}; deductible charged {}",
            t["paid_basic"].as_str().unwrap(),
            t["paid_supplementary"].as_str().unwrap(),
            t["deductible"].as_str().unwrap()
        ),
        "refused file    fixtures/xml/refused-malformed.xml: MALFORMED_FILE".to_string(),
        format!("outputs         {}", out.join("remittance.csv").display()),
    ] {
        assert!(e.contains(&expect), "{expect:?} not in:\n{e}");
    }
    // Top five reasons by count (ties by name), the rest counted so the line adds up.
    let mut reasons: Vec<(std::cmp::Reverse<u64>, &str)> = s["rejected_by_reason"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (std::cmp::Reverse(v.as_u64().unwrap()), k.as_str()))
        .collect();
    reasons.sort();
    let (top, rest) = reasons.split_at(reasons.len().min(5));
    let top: Vec<String> = top.iter().map(|(n, r)| format!("{r} {}", n.0)).collect();
    let mut line = format!("rejections      {}", top.join(", "));
    if !rest.is_empty() {
        let more: u64 = rest.iter().map(|(n, _)| n.0).sum();
        line += &format!(", {more} more under {} other reasons", rest.len());
    }
    assert!(e.contains(&format!("{line}\n")), "{line:?} not in:\n{e}");
    let quiet = Process::new(dir.join("q"))
        .quiet()
        .input("fixtures/claims/2024-basic.csv")
        .run();
    assert!(!stderr(&quiet).contains("lines read"), "{}", stderr(&quiet));
}

/// The reconciliation reads the written files back: a remittance row that the writer lost, or
/// one written in another line's place (as many rows, one line twice), stops the run before
/// the commit (exit 1). Nothing is committed and nothing is left in `--out`; the same run
/// without the fault then commits as usual.
#[test]
fn the_reconciliation_catches_a_lost_or_repeated_row_in_the_written_files() {
    let dir = Dir::new("cli");
    let out = dir.join("out");
    let inputs = ["fixtures/claims/2024-asr.csv"];
    for (fault, says) in [
        ("lose-a-row", "is in the outputs 0 time(s), expected 1"),
        ("copy-a-row", "is in the outputs 2 time(s), expected 1"),
    ] {
        let run = dir
            .process()
            .no_providers()
            .quiet()
            .out("out")
            .env("DECLARO_FAULT", fault);
        let o = run.inputs(inputs).assert_exit(1);
        let err = stderr(&o);
        assert!(
            err.contains("reconciliation failed: ") && err.contains(says),
            "{fault}: {err}"
        );
        let left = files_in(&out);
        assert!(left.is_empty(), "{fault}: {left:?}");
    }
    dir.process().quiet().inputs(inputs).ok();
    let s = summary(&out);
    assert_eq!(s["reconciliation"]["lines_out"], 15);
    assert_eq!(s["reconciliation"]["balanced"], true);
    assert_same_csv(
        &read(out.join("remittance.csv")),
        &expected("2024-asr", "remittance.csv"),
        "after the faults",
    );
}

/// An input file whose name is not UTF-8 once stopped the whole night (exit 3, "invalid UTF-8
/// was detected"). It is read like any other; outputs name it with the odd byte replaced.
#[cfg(unix)]
#[test]
fn an_input_file_whose_name_is_not_utf8_is_processed() {
    use std::os::unix::ffi::OsStrExt;
    let dir = Dir::new("cli");
    let name = std::ffi::OsStr::from_bytes(b"n\xe9e.csv");
    let odd = dir.join(name);
    std::fs::copy(util::root().join("fixtures/claims/2024-asr.csv"), &odd).unwrap();
    let out = dir.join("out");
    let run = dir.process().no_providers().ledger_in_out().quiet();
    run.input(&odd).input("fixtures/claims/2024-basic.csv").ok();
    let s = summary(&out);
    let shown = format!("{}/n\u{fffd}e.csv", dir.path().display());
    assert_eq!(s["input_files"][0]["file"], shown.as_str());
    // The 15 lines of 2024-asr.csv are all in the outputs, under the replaced name.
    let rows = read(out.join("remittance.csv")) + &read(out.join("rejections.csv"));
    assert_eq!(rows.lines().filter(|l| l.starts_with(&shown)).count(), 15);
}

/// Every bound of a policy is checked: `authorization_from_session = 0` once underflowed in
/// adjudication. Each bad value below is refused by `check-policy` (exit 3) with the file, the
/// line of the benefit and what is wrong, and `process` refuses it before reading (exit 3).
#[test]
fn check_policy_refuses_every_out_of_bounds_value() {
    let head = "[product]\nid = \"x\"\nname = \"X\"\nlayer = \"supplementary\"\n\n";
    let benefit = "[[benefit]]\nid = \"a\"\nname = \"A\"\ncodes = [\"1000\"]\n";
    let cases = [
        (
            "authorization_from_session = 0\nauthorization_pool = \"p\"\n",
            "authorization_from_session counts sessions from 1, not 0",
        ),
        (
            "age_min = 18\nage_max = 17\n",
            "age_min 18 is above age_max 17",
        ),
        ("age_max = 1800\n", "age_max is above 130"),
        (
            "min_insured_months = 0\n",
            "min_insured_months = 0 requires nothing",
        ),
        ("max_per_unit = \"0.00\"\n", "max_per_unit = 0 pays nothing"),
        (
            "limits = [{ period = \"calendar-year\", max_units = 0 }]\n",
            "a maximum of 0 pays nothing",
        ),
        (
            "limits = [{ period = \"calendar-year\", max_euros = \"0\" }]\n",
            "a maximum of 0 pays nothing",
        ),
    ];
    for (extra, says) in cases {
        let dir = Dir::new("cli");
        let pool = if extra.contains("authorization_pool") {
            "[[pool]]\nid = \"p\"\nperiod = \"calendar-year\"\n\n"
        } else {
            ""
        };
        let bad = dir.create("bad.toml", format!("{head}{pool}{benefit}{extra}"));
        let o = dir.command().args(["check-policy", &bad]).assert_exit(3);
        let e = stderr(&o);
        assert!(
            e.contains("bad.toml line ") && e.contains(says),
            "{extra}: {e}"
        );
        Process::new(dir.join("out"))
            .quiet()
            .policy(&bad)
            .input("fixtures/claims/2024-asr.csv")
            .assert_exit(3);
        assert!(!dir.join("out/remittance.csv").exists());
    }
}

/// A duplicate key (provider AGB + line_id) is taken only by a line that passed the screening
/// before the duplicate check: the field checks, the register match and the run date. A line
/// rejected for any of those leaves its line_id free for a correct line later in the night.
#[test]
fn only_a_line_that_passes_screening_takes_its_duplicate_key() {
    let dir = Dir::new("cli");
    let h = claims::head(claims::ALL);
    let row = |id: &str, member: &str, date: &str, qty: &str| {
        format!("K1,{id},45678901,{member},,1999-09-09,{date},,1000,{qty},,,,26.59,,,,\n")
    };
    let text = [
        h.to_string(),
        row("K-1", "M040", "2024-03-01", "0"), // MALFORMED (quantity 0)
        row("K-1", "M040", "2024-03-02", "1"), // paid: K-1 is free
        row("K-2", "M040", "2026-01-05", "1"), // FUTURE_DATE (run date 2025-12-31)
        row("K-2", "M040", "2024-03-03", "1"), // paid
        row("K-3", "M999", "2024-03-04", "1"), // UNKNOWN_MEMBER
        row("K-3", "M040", "2024-03-05", "1"), // paid
        row("K-4", "M040", "2024-03-06", "1"), // paid: takes K-4
        row("K-4", "M040", "2024-03-07", "1"), // DUPLICATE
    ]
    .concat();
    let f = dir.create("keys.csv", &text);
    let out = dir.join("out");
    Process::new(&out).quiet().input(&f).ok();
    let reasons: Vec<(String, String)> = csv::Reader::from_path(out.join("rejections.csv"))
        .unwrap()
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[1].to_string(), r[9].to_string())
        })
        .collect();
    let want: Vec<(String, String)> = [
        ("1", "MALFORMED"),
        ("3", "FUTURE_DATE"),
        ("5", "UNKNOWN_MEMBER"),
        ("8", "DUPLICATE"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(reasons, want);
    let paid: Vec<String> = csv::Reader::from_path(out.join("remittance.csv"))
        .unwrap()
        .records()
        .map(|r| r.unwrap()[1].to_string())
        .collect();
    assert_eq!(paid, ["2", "4", "6", "7"]);
}

/// A register row with birth date `19800230` once printed `field birth_date: "19800230" is not
/// a date`. The error names the file, line and field, and never the value.
#[test]
fn a_bad_birth_date_in_the_register_is_named_by_line_and_field_not_value() {
    let dir = Dir::new("cli");
    let members = dir.create_csv(
        "members.csv",
        claims::REGISTER_WITHOUT_VOLUNTARY,
        table(&["M1 111222333 19800230 zvw 2024-01-01 -"]),
    );
    let o = Process::new(dir.join("out"))
        .members(&members)
        .quiet()
        .input("fixtures/claims/2024-asr.csv")
        .assert_exit(3);
    let e = stderr(&o);
    assert!(
        e.contains("members.csv") && e.contains("line 2") && e.contains("birth_date"),
        "{e}"
    );
    assert!(!e.contains("19800230") && !e.contains("1980-02-30"), "{e}");
    assert!(!e.contains("111222333"), "{e}");
}

/// `.NAME.tmp` has a predictable name: a symlink planted there once made declaro overwrite the
/// link's target with rejection rows (raw BSNs included) and chmod it 0640. The link is now
/// removed, never followed: the target keeps its bytes and its mode, and the outputs are right.
#[cfg(unix)]
#[test]
fn a_symlink_planted_at_a_temporary_output_name_is_not_followed() {
    use std::os::unix::fs::PermissionsExt;
    let dir = Dir::new("cli");
    let out = dir.join("out");
    std::fs::create_dir(&out).unwrap();
    let victim = dir.join("victim.txt");
    std::fs::write(&victim, "precious\n").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).unwrap();
    for name in [
        ".remittance.csv.tmp",
        ".rejections.csv.tmp",
        ".summary.json.tmp",
    ] {
        std::os::unix::fs::symlink(&victim, out.join(name)).unwrap();
    }
    Process::new(&out)
        .quiet()
        .input("fixtures/claims/2024-bad-lines.csv")
        .ok();
    assert_eq!(read(&victim), "precious\n");
    let mode = std::fs::metadata(&victim).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644);
    assert_same_csv(
        &read(out.join("rejections.csv")),
        &expected("2024-bad-lines", "rejections.csv"),
        "rejections",
    );
    for name in [
        ".remittance.csv.tmp",
        ".rejections.csv.tmp",
        ".summary.json.tmp",
    ] {
        assert!(
            std::fs::symlink_metadata(out.join(name)).is_err(),
            "{name} left behind"
        );
    }
}

/// Run totals are exact: `to_cents` once saturated at i64::MAX, so the run's claimed total was
/// wrong while the summary said otherwise. 93,000 PHARMA lines of 999,999,999,999.99 (the
/// largest amount a line may carry) over the fixture members insured under zvw claim
/// 93,000 x 99,999,999,999,999 = 9,299,999,999,999,907,000 cents, above i64::MAX
/// (9,223,372,036,854,775,807). A dry run reports that total exactly; a real run cannot record
/// it in the ledger's 64-bit columns and stops (exit 1) with nothing committed, never a
/// saturated number.
#[test]
fn run_totals_beyond_64_bits_are_exact_or_refused_never_saturated() {
    let dir = Dir::new("cli");
    let members: Vec<(String, String)> =
        csv::Reader::from_path(util::root().join("fixtures/members.csv"))
            .unwrap()
            .records()
            .map(|r| r.unwrap())
            .filter(|r| &r[3] == "zvw" && &r[4] <= "2024-01-01" && r[5].is_empty())
            .map(|r| (r[0].to_string(), r[2].to_string()))
            .collect();
    assert!(members.len() > 20, "{members:?}");
    let mut text = claims::head(claims::WITH_QUANTITY);
    for i in 0..93_000 {
        let (id, birth) = &members[i % members.len()];
        // A member's lines differ in quantity, else they would be one care declared again
        // (DUPLICATE_CARE).
        let quantity = 1 + i / members.len();
        text.push_str(&format!(
            "B,L{i},45678901,{id},{birth},2024-06-01,PHARMA,{quantity},999999999999.99\n"
        ));
    }
    let f = dir.create("huge.csv", &text);
    let dry = dir.join("dry");
    dir.process()
        .quiet()
        .arg("--dry-run")
        .out("dry")
        .input(&f)
        .ok();
    let s = summary(&dry);
    assert_eq!(s["totals"]["claimed"], "92999999999999070.00");
    assert_eq!(s["reconciliation"]["claimed_read"], "92999999999999070.00");
    assert_eq!(s["reconciliation"]["balanced"], true);
    let out = dir.join("out");
    let o = dir.process().quiet().input(&f).assert_exit(1);
    assert!(
        stderr(&o).contains("does not fit a 64-bit number of cents"),
        "{}",
        stderr(&o)
    );
    assert!(!out.join("remittance.csv").exists());
    let runs = dir
        .command()
        .args(["ledger", "--ledger"])
        .arg(dir.join("ledger.db"))
        .arg("runs")
        .run();
    assert!(!String::from_utf8_lossy(&runs.stdout).contains("huge.csv"));
}

/// `report.html` beside `summary.json`: the same totals and reconciliation, every rejection
/// reason with its Vektis code and count, the refused file, paid amounts per layer and product,
/// the providers' rejection shares and the amount bands; self-contained (no script, no link
/// out) and without personal data; the same bytes from the same night.
#[test]
fn report_html_shows_the_night_without_personal_data() {
    let dir = Dir::new("cli");
    let broken = dir.create("broken.xml", "<declaration><insured>");
    let mut inputs: Vec<String> = std::fs::read_dir(root().join("fixtures/claims"))
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .collect();
    inputs.sort();
    inputs.push(broken);
    let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let mut reports = Vec::new();
    for run in ["a", "b"] {
        let out = dir.join(run);
        let night = dir.process().quiet().ledger(dir.join(format!("{run}.db")));
        night.out(run).inputs(&refs).assert_exit(2);
        reports.push(read(out.join("report.html")));
    }
    assert_eq!(reports[0], reports[1], "the same night, the same report");
    let html = &reports[0];
    let s = summary(&dir.join("a"));
    for key in [
        "claimed",
        "paid_basic",
        "deductible",
        "paid_supplementary",
        "member_pays",
    ] {
        let v = s["totals"][key].as_str().unwrap();
        assert!(
            html.contains(&format!(
                "<td class=\"n\" data-summary=\"/totals/{key}\">{v}</td>"
            )),
            "{key} {v}"
        );
    }
    assert!(html.contains(
        "<p class=\"good\" data-summary=\"/reconciliation/balanced\" data-value=\"true\">Balanced:"
    ));
    let by_reason = s["rejected_by_reason"].as_object().unwrap();
    assert!(by_reason.len() > 5);
    let vektis = [
        ("UNKNOWN_CODE", "0582"),
        ("DUPLICATE", "8021"),
        ("BAD_BSN", "0435"),
    ];
    for (reason, n) in by_reason {
        let code = vektis.iter().find(|(r, _)| r == reason).map(|(_, c)| *c);
        let row = match code {
            Some(c) => format!(
                "<tr><td>{reason}</td><td>{c}</td><td class=\"n\" \
                 data-summary=\"/rejected_by_reason/{reason}\">{n}</td>"
            ),
            None => format!("<tr><td>{reason}</td><td>"),
        };
        assert!(html.contains(&row), "{row}");
    }
    assert!(html.contains("<td>MALFORMED_FILE</td>"), "the refused file");
    assert!(html.contains("broken.xml"));
    assert!(html.contains("<tr><td>basic</td><td>zvw</td>"));
    assert!(html.contains("<tr><td>supplementary</td><td>asr-2024-paramedisch</td>"));
    assert!(html.contains("<td>12345678</td>"), "a provider's share");
    assert!(
        !html.contains("<td>00000000</td>"),
        "unreadable AGBs are no provider"
    );
    assert!(html.contains("<td>under 10</td>") && html.contains("<td>1000 and more</td>"));
    for needle in ["<script", "http://", "https://", "src=", "<link"] {
        assert!(!html.contains(needle), "{needle}");
    }
    // No BSN, member number or birth date of the register (names are in no input).
    assert_no_member_data(html, "the report");
}

/// Dry runs of `input` over one ledger (`l.db` of `dir`), without a provider register: `a` on
/// the fixture policies, `b` on `policies`.
fn dry_runs_a_and_b(dir: &Dir, policies: &Path, input: &str) {
    let fixtures = root().join("fixtures/policies");
    for (out, policy) in [("a", fixtures.as_path()), ("b", policies)] {
        let run = dir.process().no_providers().quiet().arg("--dry-run");
        let run = run.policy(policy).ledger(dir.join("l.db")).out(out);
        run.input(input).ok();
    }
}

/// `declaro diff`: two dry runs over one ledger, the second with the a.s.r. tariff for code
/// 1000 raised from 26.59 to 30.00. Line A-001 of `2024-asr.csv` (35.00, capped) is then paid
/// 30.00 instead of 26.59: +3.41 for asr-2024-paramedisch, -3.41 for the member, still
/// TARIFF_CAP (30.00 < 35.00); nothing else changes. A run against itself changes nothing.
#[test]
fn diff_of_two_dry_runs_shows_what_a_policy_change_costs() {
    let dir = Dir::new("cli");
    let policies = dir.copy_policies("policies", |_, text| {
        text.replace("\"1000\" = \"26.59\"", "\"1000\" = \"30.00\"")
    });
    dry_runs_a_and_b(&dir, &policies, "fixtures/claims/2024-asr.csv");
    let diff = |a: &str, b: &str, json: bool| {
        let mut c = dir.command();
        c.arg("diff").arg(dir.join(a)).arg(dir.join(b));
        if json {
            c.arg("--json");
        }
        c.stdout()
    };
    let d: serde_json::Value = serde_json::from_str(&diff("a", "b", true)).unwrap();
    assert_eq!(d["changed_lines"], 1);
    assert_eq!(d["only_in_a"], 0);
    assert_eq!(
        d["paid_per_product"]["supplementary asr-2024-paramedisch"]["delta"],
        "3.41"
    );
    assert_eq!(d["totals"]["member_pays"]["delta"], "-3.41");
    // Per benefit: code 1000 is a.s.r.'s fysiotherapie; every other benefit is unchanged.
    let benefits = d["paid_per_benefit"].as_object().unwrap();
    assert_eq!(
        benefits["asr-2024-paramedisch fysiotherapie"]["delta"],
        "3.41"
    );
    for (k, v) in benefits {
        if k != "asr-2024-paramedisch fysiotherapie" {
            assert_eq!(v["delta"], "0.00", "{k}");
        }
    }
    assert!(benefits.contains_key("asr-2024-paramedisch oefentherapie"));
    assert_eq!(d["totals"]["paid_basic"]["delta"], "0.00");
    assert_eq!(d["lines_per_reason"]["TARIFF_CAP"]["delta"], "+0");
    let c = &d["largest_changes"][0];
    assert_eq!(c["line_id"], "A-001");
    assert_eq!(c["a"], "paid 26.59 (TARIFF_CAP)");
    assert_eq!(c["b"], "paid 30.00 (TARIFF_CAP)");
    assert_eq!(c["paid_delta"], "3.41");
    assert!(diff("a", "b", false).contains("1 with another outcome in B"));
    let same: serde_json::Value = serde_json::from_str(&diff("a", "a", true)).unwrap();
    assert_eq!(same["changed_lines"], 0);
    assert_eq!(same["largest_changes"].as_array().unwrap().len(), 0);
}

/// `declaro diff` per benefit: the DSW AV-Standaard 2009 pool `fysio-manueel` (physiotherapy
/// and manual therapy together) raised from 18 to 20 sessions a year, on
/// `2009-dsw-standaard.csv`. Four lines were its 19th session and become paid:
/// - S001-19 and S001-20 (M001, fysiotherapie, 30.00 each, tariff 27.50): +27.50 each;
/// - M003-FT2 (M003: 9 manual therapy + 8 orthomanual + FT1 = 18 before it; 30.00): +27.50;
/// - M002-MT9 (M002: 10 fysio + 8 manual therapy before it; 42.00, tariff 39.00): +39.00.
///
/// So fysiotherapie +82.50, manuele-therapie +39.00, supplementary +121.50, the member
/// +10.50 (3 x 2.50 + 3.00), 4 rejected lines fewer (SESSION_LIMIT -4, TARIFF_CAP +4); every
/// other benefit 0.00.
#[test]
fn diff_per_benefit_of_a_raised_session_maximum_is_the_hand_worked_difference() {
    let dir = Dir::new("cli");
    let policies = dir.copy_policies("policies", |name, text| {
        if name != "dsw-2009-av-standaard.toml" {
            return text;
        }
        let pool = "id = \"fysio-manueel\"\nperiod = \"calendar-year\"\nmax_units = 18";
        assert!(text.contains(pool));
        text.replace(pool, &pool.replace("18", "20"))
    });
    dry_runs_a_and_b(&dir, &policies, "fixtures/claims/2009-dsw-standaard.csv");
    let o = dir
        .command()
        .arg("diff")
        .arg(dir.join("a"))
        .arg(dir.join("b"))
        .arg("--json")
        .ok();
    let d: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let delta = |section: &str, key: &str| d[section][key]["delta"].as_str().unwrap().to_string();
    let benefits = d["paid_per_benefit"].as_object().unwrap();
    for (k, _) in benefits {
        let want = match k.as_str() {
            "dsw-2009-av-standaard fysiotherapie" => "82.50",
            "dsw-2009-av-standaard manuele-therapie" => "39.00",
            _ => "0.00",
        };
        assert_eq!(delta("paid_per_benefit", k), want, "{k}");
    }
    assert!(benefits.contains_key("dsw-2009-av-standaard fysiotherapie"));
    assert_eq!(delta("totals", "paid_supplementary"), "121.50");
    assert_eq!(delta("totals", "member_pays"), "10.50");
    assert_eq!(delta("totals", "rejected_lines"), "-4");
    assert_eq!(delta("lines_per_reason", "SESSION_LIMIT"), "-4");
    assert_eq!(delta("lines_per_reason", "TARIFF_CAP"), "+4");
    assert_eq!(d["changed_lines"], 4);
    // Each run's benefits add up to what it paid.
    for run in ["a", "b"] {
        let s = summary(&dir.join(run));
        let cents = |v: &serde_json::Value| -> i64 {
            let t = v.as_str().unwrap().replace('.', "");
            t.parse().unwrap()
        };
        let by_benefit: i64 = s["paid_per_benefit"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| cents(&r["paid"]))
            .sum();
        let paid = cents(&s["totals"]["paid_basic"]) + cents(&s["totals"]["paid_supplementary"]);
        assert_eq!(by_benefit, paid, "run {run}");
    }
}
