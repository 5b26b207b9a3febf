//! `process --shard I/N` and `declaro merge`: a night run as N shards and merged is the night
//! run whole, byte for byte; each shard holds exactly its members' lines; merge refuses what
//! is not the N shards of one night and fails when rows are lost.

mod util;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use util::*;

/// FNV-1a 64 over the member number's bytes, written here again (not taken from the crate).
fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn shard_of(member_id: &str, n: u32) -> u32 {
    (fnv1a64(member_id.as_bytes()) % u64::from(n)) as u32 + 1
}

/// The reasons decided while a line is read and validated, before it is matched to a member.
const READ_REASONS: [&str; 5] = [
    "MALFORMED",
    "MISSING_FIELD",
    "BAD_BSN",
    "BAD_AGB",
    "BAD_DATE",
];

/// A night: its member register and inputs, and whether the provider register is used.
struct Night {
    members: PathBuf,
    inputs: Vec<PathBuf>,
    providers: bool,
}

impl Night {
    /// The fixture night of the README's first command, the XML files with bad lines and a
    /// refused file (so every run of it exits 2).
    fn fixtures() -> Night {
        let mut inputs: Vec<PathBuf> = std::fs::read_dir(root().join("fixtures/claims"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "csv"))
            .map(|p| p.strip_prefix(root()).unwrap().to_path_buf())
            .collect();
        inputs.sort();
        for x in [
            "2024-asr.xml",
            "2024-bad-lines.xml",
            "refused-trailer-total.xml",
        ] {
            inputs.push(PathBuf::from("fixtures/xml").join(x));
        }
        Night {
            members: "fixtures/members.csv".into(),
            inputs,
            providers: true,
        }
    }

    fn generated(dir: &Path) -> Night {
        Night {
            members: dir.join("members.csv"),
            inputs: vec![dir.join("claims.csv")],
            providers: false,
        }
    }

    /// `declaro process` of the night into `out` on `ledger`, with `extra` options.
    #[track_caller]
    fn run(&self, dir: &Dir, out: &str, ledger: &str, extra: &[&str], code: i32) -> PathBuf {
        let mut p = dir
            .process()
            .quiet()
            .members(&self.members)
            .ledger(dir.join(ledger))
            .out(out)
            .args(extra)
            .inputs(&self.inputs);
        if !self.providers {
            p = p.no_providers();
        }
        p.assert_exit(code);
        dir.join(out)
    }

    /// The night as `n` shards, one after another on one ledger `{prefix}.db`, into
    /// `{prefix}{i}`.
    #[track_caller]
    fn shards(&self, dir: &Dir, prefix: &str, n: u32, extra: &[&str], code: i32) -> Vec<PathBuf> {
        (1..=n)
            .map(|i| {
                let shard = format!("{i}/{n}");
                let mut args = vec!["--shard", shard.as_str()];
                args.extend_from_slice(extra);
                let out = format!("{prefix}{i}");
                self.run(dir, &out, &format!("{prefix}.db"), &args, code)
            })
            .collect()
    }
}

/// `declaro merge --out OUT SHARDS...`, expected to exit with `code`; its output.
#[track_caller]
fn merge(dir: &Dir, out: &Path, shards: &[&Path], code: i32) -> std::process::Output {
    let mut c = dir.command();
    c.arg("merge").arg("--out").arg(out);
    for s in shards {
        c.arg(s);
    }
    c.assert_exit(code)
}

/// The member register: BSN -> member number, and the member numbers.
fn register(members: &Path) -> (HashMap<String, String>, HashSet<String>) {
    let rows = csv_maps(&read(root().join(members)));
    let by_bsn = rows
        .iter()
        .map(|r| (r["bsn"].clone(), r["member_id"].clone()))
        .collect();
    let ids = rows.iter().map(|r| r["member_id"].clone()).collect();
    (by_bsn, ids)
}

/// The BSN a line declares: in a CSV file its row's `bsn`; in an XML file the `bsn` of the
/// `<insured>` element around its `<line>` (record = the line's ordinal).
fn declared_bsn(row: &HashMap<String, String>) -> String {
    let text = read(root().join(&row["file"]));
    if !text.starts_with('<') {
        let header = text.lines().next().unwrap();
        let mut parsed = csv_maps(&format!("{header}\n{}\n", row["raw"]));
        return parsed.pop().unwrap().remove("bsn").unwrap_or_default();
    }
    let attr = |element: &str, name: &str| {
        let at = element.find(&format!(" {name}=\""))? + name.len() + 3;
        Some(element[at..at + element[at..].find('"')?].to_string())
    };
    let record: usize = row["record"].parse().unwrap();
    let (mut insured, mut ordinal) = ("", 0);
    let mut rest = text.as_str();
    while let Some(at) = rest.find('<') {
        rest = &rest[at..];
        let element = &rest[..rest.find('>').unwrap() + 1];
        if element.starts_with("<insured ") {
            insured = element;
        } else if element.starts_with("<line ") {
            ordinal += 1;
            if ordinal == record {
                return attr(insured, "bsn").unwrap_or_default();
            }
        }
        rest = &rest[1..];
    }
    panic!("no line {record} in {}", row["file"]);
}

/// The shard (of `n`) that must hold a row, worked out from the row and the register alone: a
/// line matched to a register member is its member's shard's, any other line shard 1's.
fn owner(
    row: &HashMap<String, String>,
    n: u32,
    reg: &(HashMap<String, String>, HashSet<String>),
) -> u32 {
    let reason = row.get("reason").map_or("", String::as_str);
    if READ_REASONS.contains(&reason) || reason == "UNKNOWN_MEMBER" {
        return 1;
    }
    let member = match row["member_id"].as_str() {
        // Named by BSN only: the member the BSN is registered to.
        "" => reg.0.get(&declared_bsn(row)).cloned().unwrap_or_default(),
        m => m.to_string(),
    };
    assert!(
        reg.1.contains(&member),
        "a matched row of no register member: {row:?}"
    );
    shard_of(&member, n)
}

/// The night run whole into `all` and as the `shards`: merged (into `name` of the directory)
/// they are byte-identical, the totals equal, each shard's summary proves own + others =
/// night, and each shard holds exactly the lines it owns. The merge's exit code is `code`.
#[track_caller]
fn assert_merges_into(
    dir: &Dir,
    night: &Night,
    all: &Path,
    shards: &[PathBuf],
    name: &str,
    code: i32,
) {
    let n = shards.len() as u32;
    let merged = dir.join(name);
    // The shards given in another order than their indexes.
    let mut given: Vec<&Path> = shards.iter().map(PathBuf::as_path).collect();
    given.rotate_left(1);
    merge(dir, &merged, &given, code);
    for f in ["remittance.csv", "rejections.csv", "report.html"] {
        let (a, m) = (
            std::fs::read(all.join(f)).unwrap(),
            std::fs::read(merged.join(f)).unwrap(),
        );
        assert!(
            a == m,
            "{f} of the merged shards differs from the unsharded run's"
        );
    }
    let (sa, sm) = (summary(all), summary(&merged));
    for key in [
        "lines",
        "outcomes",
        "rejected_by_reason",
        "reductions_by_reason",
        "totals",
        "paid_per_benefit",
        "input_files",
        "warnings",
        "reconciliation",
        "run_date",
    ] {
        assert_eq!(sa[key], sm[key], "summary.json {key}");
    }
    assert_eq!(sa["setup"]["inputs"], sm["setup"]["inputs"]);
    assert!(sm.get("shard").is_none());
    assert_eq!(sm["merged_from"].as_array().unwrap().len(), shards.len());

    let night_lines = sa["lines"].as_u64().unwrap();
    let reg = register(&night.members);
    let mut own_total = 0;
    let mut claimed_cents = 0i64;
    for (i, out) in shards.iter().enumerate() {
        let i = i as u32 + 1;
        let s = summary(out);
        assert_eq!(s["shard"]["index"], i);
        assert_eq!(s["shard"]["count"], n);
        let own = s["lines"].as_u64().unwrap();
        let others = s["shard"]["lines_of_other_shards"].as_u64().unwrap();
        assert_eq!(s["shard"]["lines_of_night"], night_lines, "shard {i}");
        assert_eq!(own + others, night_lines, "shard {i}: own + others = night");
        assert_eq!(s["reconciliation"]["balanced"], true);
        // Refused files are refused by every shard, the same way.
        assert_eq!(s["input_files"], sa["input_files"], "shard {i}");
        let paid = csv_maps(&read(out.join("remittance.csv")));
        let rejected = csv_maps(&read(out.join("rejections.csv")));
        assert_eq!(
            (paid.len() + rejected.len()) as u64,
            own,
            "shard {i}'s rows"
        );
        for row in paid.iter().chain(&rejected) {
            assert_eq!(
                owner(row, n, &reg),
                i,
                "shard {i} holds a row of another: {row:?}"
            );
        }
        for row in &paid {
            let c = row["claimed"].replace('.', "");
            claimed_cents += c.parse::<i64>().unwrap();
        }
        own_total += own;
    }
    assert_eq!(
        own_total, night_lines,
        "the shards' lines add up to the night's"
    );
    let claimed = sa["totals"]["claimed"].as_str().unwrap().replace('.', "");
    assert_eq!(claimed_cents, claimed.parse::<i64>().unwrap());
}

#[test]
fn the_fixture_night_in_four_shards_merges_into_the_unsharded_night() {
    let dir = Dir::new("shard");
    let night = Night::fixtures();
    let all = night.run(&dir, "all", "all.db", &[], 2);
    let shards = night.shards(&dir, "s", 4, &[], 2);
    assert_merges_into(&dir, &night, &all, &shards, "merged", 2);
    // Lines no member was matched to (bad lines, unknown members) are shard 1's, and the
    // fixture night has them; every shard has lines of its own.
    let s1 = csv_maps(&read(shards[0].join("rejections.csv")));
    assert!(s1.iter().any(|r| r["reason"] == "UNKNOWN_MEMBER"));
    assert!(s1
        .iter()
        .any(|r| READ_REASONS.contains(&r["reason"].as_str())));
    for s in &shards {
        assert!(summary(s)["lines"].as_u64().unwrap() > 0, "{}", s.display());
    }
}

#[test]
fn shard_1_of_1_is_the_unsharded_run_byte_for_byte() {
    let dir = Dir::new("shard");
    let night = Night::fixtures();
    let all = night.run(&dir, "all", "all.db", &[], 2);
    let one = night.run(&dir, "one", "one.db", &["--shard", "1/1"], 2);
    for f in ["remittance.csv", "rejections.csv", "report.html"] {
        assert!(
            std::fs::read(all.join(f)).unwrap() == std::fs::read(one.join(f)).unwrap(),
            "{f}"
        );
    }
    let untimed = |p: &Path| {
        read(p.join("summary.json"))
            .lines()
            .filter(|l| !l.contains("duration_seconds") && !l.contains("lines_per_second"))
            .map(|l| l.to_string() + "\n")
            .collect::<String>()
    };
    assert_eq!(untimed(&all), untimed(&one));
    assert!(!untimed(&all).contains("\"shard\""));
}

#[test]
fn a_bad_shard_and_ei_return_with_shards_are_usage_errors() {
    let dir = Dir::new("shard");
    let night = Night::fixtures();
    for bad in ["0/4", "5/4", "2", "a/b", "1/0"] {
        let o = dir
            .process()
            .arg("--shard")
            .arg(bad)
            .inputs(&night.inputs)
            .assert_exit(3);
        assert!(stderr(&o).contains("--shard"), "{bad}: {}", stderr(&o));
    }
    let o = dir
        .process()
        .args(["--shard", "2/4", "--ei-return"])
        .arg(dir.join("ei"))
        .inputs(&night.inputs)
        .assert_exit(3);
    assert!(stderr(&o).contains("declaro merge"), "{}", stderr(&o));
    assert!(!dir.join("out").exists() && !dir.join("ei").exists());
}

#[test]
fn a_generated_night_in_three_and_four_shards_merges_and_threads_change_nothing() {
    let dir = Dir::new("shard");
    let gen = dir.generate("gen", &["--lines", "20000", "--members", "2000"]);
    let night = Night::generated(&gen);
    let all = night.run(&dir, "all", "all.db", &[], 0);
    let three = night.shards(&dir, "three-", 3, &["--threads", "1"], 0);
    assert_merges_into(&dir, &night, &all, &three, "merged3", 0);
    let four = night.shards(&dir, "four-", 4, &["--threads", "2"], 0);
    assert_merges_into(&dir, &night, &all, &four, "merged4", 0);
    // The shards of three again on two threads: the same outputs.
    let again = night.shards(&dir, "three-2t-", 3, &["--threads", "2"], 0);
    for (a, b) in three.iter().zip(&again) {
        for f in ["remittance.csv", "rejections.csv", "report.html"] {
            let same = std::fs::read(a.join(f)).unwrap() == std::fs::read(b.join(f)).unwrap();
            assert!(same, "{f} of {} on 1 and 2 threads", a.display());
        }
        let (sa, sb) = (summary(a), summary(b));
        for key in ["lines", "shard", "outcomes", "totals", "paid_per_benefit"] {
            assert_eq!(sa[key], sb[key], "{key}");
        }
    }
}

#[test]
fn a_second_night_in_shards_on_the_shards_ledgers_merges_into_the_unsharded_second_night() {
    let dir = Dir::new("shard");
    let args = |night: &'static str| {
        [
            "--lines",
            "6000",
            "--members",
            "600",
            "--seed",
            "7",
            "--night",
            night,
        ]
    };
    let gen1 = dir.generate("gen1", &args("1"));
    let gen2 = dir.generate("gen2", &args("2"));
    let (night1, night2) = (Night::generated(&gen1), Night::generated(&gen2));
    // Unsharded: both nights on one ledger; sharded: both nights' shards on another.
    night1.run(&dir, "all1", "all.db", &[], 0);
    let all2 = night2.run(&dir, "all2", "all.db", &[], 0);
    night1.shards(&dir, "n1-s", 4, &[], 0);
    // Night 2 of each shard on the ledger that night 1's shards left.
    let shards2: Vec<PathBuf> = (1..=4)
        .map(|i| {
            let (shard, ledger) = (format!("{i}/4"), "n1-s.db".to_string());
            night2.run(&dir, &format!("n2-s{i}"), &ledger, &["--shard", &shard], 0)
        })
        .collect();
    assert_merges_into(&dir, &night2, &all2, &shards2, "merged2", 0);
    // Night 2 credits lines of night 1, and they were found (in the shards' ledger).
    let night1_ids: HashSet<String> = csv_maps(&read(gen1.join("claims.csv")))
        .into_iter()
        .map(|r| r["line_id"].clone())
        .collect();
    let related: HashMap<String, String> = csv_maps(&read(gen2.join("claims.csv")))
        .into_iter()
        .filter(|r| r["debit_credit"] == "C")
        .map(|r| (r["line_id"].clone(), r["related_line_id"].clone()))
        .collect();
    let reversed = csv_maps(&read(all2.join("remittance.csv")))
        .into_iter()
        .filter(|r| r["claimed"].starts_with('-'))
        .filter(|r| {
            related
                .get(&r["line_id"])
                .is_some_and(|l| night1_ids.contains(l))
        })
        .count();
    assert!(reversed > 0, "night 2 reverses no line of night 1");
}

#[test]
fn merge_refuses_a_missing_a_repeated_shard_and_shards_of_other_nights() {
    let dir = Dir::new("shard");
    let night = Night::fixtures();
    let s = night.shards(&dir, "s", 4, &[], 2);
    let out = dir.join("merged");
    let refused = |shards: &[&Path], says: &[&str]| {
        let o = merge(&dir, &out, shards, 3);
        for w in says {
            assert!(stderr(&o).contains(w), "{w:?} not in: {}", stderr(&o));
        }
        assert!(!out.join("remittance.csv").exists() && !out.join("summary.json").exists());
    };
    let name = |p: &Path| p.display().to_string();
    refused(&[&s[0], &s[2], &s[3]], &["shard 2/4 missing"]);
    refused(&[&s[0], &s[1], &s[2], &s[2]], &["so is", &name(&s[2])]);
    // Shard 2 of another run date, of other inputs, and a shard of 3.
    let other_date = dir
        .process()
        .quiet()
        .run_date("2025-12-30")
        .ledger(dir.join("d2.db"))
        .out("d2")
        .args(["--shard", "2/4"])
        .inputs(&night.inputs);
    other_date.assert_exit(2);
    let d2 = dir.join("d2");
    refused(
        &[&s[0], &d2, &s[2], &s[3]],
        &["run_date differs", &name(&d2)],
    );
    let fewer = Night {
        inputs: night.inputs[1..].to_vec(),
        ..Night::fixtures()
    };
    let f2 = fewer.run(&dir, "f2", "f2.db", &["--shard", "2/4"], 2);
    refused(
        &[&s[0], &f2, &s[2], &s[3]],
        &["not a shard of the night", &name(&f2)],
    );
    let t2 = night.run(&dir, "t2", "t2.db", &["--shard", "2/3"], 2);
    refused(
        &[&s[0], &t2, &s[2], &s[3]],
        &["shards of one count", &name(&t2)],
    );
    // Into a shard's own directory, or where outputs are already.
    let o = merge(&dir, &s[0], &[&s[0], &s[1], &s[2], &s[3]], 3);
    assert!(stderr(&o).contains("output directory"), "{}", stderr(&o));
    // The four given right: merged.
    merge(&dir, &out, &[&s[0], &s[1], &s[2], &s[3]], 2);
    let o = merge(&dir, &out, &[&s[0], &s[1], &s[2], &s[3]], 3);
    assert!(stderr(&o).contains("holds"), "{}", stderr(&o));
}

#[test]
fn merge_fails_when_a_shard_lost_a_row() {
    let dir = Dir::new("shard");
    let night = Night::fixtures();
    let s = night.shards(&dir, "s", 2, &[], 2);
    // Shard 2's remittance without its last row.
    let path = s[1].join("remittance.csv");
    let text = read(&path);
    let mut rows: Vec<&str> = text.lines().collect();
    assert!(rows.len() > 2);
    rows.pop();
    std::fs::write(&path, rows.join("\n") + "\n").unwrap();
    let out = dir.join("merged");
    let o = merge(&dir, &out, &[&s[0], &s[1]], 1);
    assert!(stderr(&o).contains("expected once"), "{}", stderr(&o));
    assert!(!out.join("remittance.csv").exists());
}

/// A provider's line id paid for a member of one shard, sent again the next night for a member
/// of another shard: the shards share one ledger, so the second shard finds it (`DUPLICATE`)
/// as the unsharded run does. M001 is in shard 2 of 2, M002 in shard 1 (FNV-1a 64 mod 2).
fn a_line_id_paid_in_one_shard_is_a_duplicate_in_another(n: Dir) {
    assert_eq!((shard_of("M001", 2), shard_of("M002", 2)), (2, 1));
    let night = |name: &str, rows: &[&str]| {
        let file = n.create_csv(&format!("{name}.csv"), claims::WITH_CREDITS, table(rows));
        Night {
            members: PathBuf::from("fixtures/members.csv"),
            inputs: vec![PathBuf::from(file)],
            providers: false,
        }
    };
    let n1 = night(
        "n1",
        &["F1 K-1 12345678 M001 1970-04-12 2009-01-06 1000 30.00 - -"],
    );
    let n2 = night(
        "n2",
        &[
            "F2 K-1 12345678 M002 1965-09-30 2009-01-13 1000 30.00 - -",
            "F2 K-2 12345678 M002 1965-09-30 2009-01-20 1000 30.00 - -",
        ],
    );
    let whole = n.ledger().empty(&n, "whole");
    let sharded = n.ledger().arg();
    let run = |night: &Night, out: &str, ledger: &str, shard: Option<&str>| {
        let mut p = n.process().quiet().no_providers().ledger(ledger).out(out);
        if let Some(s) = shard {
            p = p.args(["--shard", s]);
        }
        p.inputs(&night.inputs).ok();
        n.join(out)
    };
    run(&n1, "w1", &whole.arg(), None);
    let w2 = run(&n2, "w2", &whole.arg(), None);
    for (night, k) in [(&n1, "1"), (&n2, "2")] {
        let shards: Vec<PathBuf> = ["1/2", "2/2"]
            .iter()
            .enumerate()
            .map(|(i, s)| run(night, &format!("s{k}-{}", i + 1), &sharded, Some(s)))
            .collect();
        let shards: Vec<&Path> = shards.iter().map(PathBuf::as_path).collect();
        merge(&n, &n.join(format!("m{k}")), &shards, 0);
    }
    for f in ["remittance.csv", "rejections.csv"] {
        assert!(
            read(w2.join(f)) == read(n.join("m2").join(f)),
            "{f} differs"
        );
    }
    let rejected = n.rejections("m2");
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(
        (rejected[0].0.as_str(), rejected[0].1.as_str()),
        ("K-1", "DUPLICATE")
    );
    assert_eq!(n.paid("m2").len(), 1, "K-2 is paid");
}

/// A ledger's shard count is fixed by its first run: a run of another count is refused (exit
/// 3) and changes nothing; explain replays a shard's run as that shard.
fn a_ledger_keeps_its_shard_count_and_explain_replays_a_shard(n: Dir) {
    let f = "fixtures/claims/2024-basic.csv";
    let run = |out: &str, shard: &str| {
        n.process()
            .quiet()
            .out(out)
            .args(["--shard", shard])
            .input(f)
    };
    run("s1", "1/2").ok();
    run("s2", "2/2").ok();
    let o = run("s3", "1/3").assert_exit(3);
    assert!(stderr(&o).contains("shard 1/3"), "{}", stderr(&o));
    let o = n.process().quiet().out("whole").input(f).assert_exit(3);
    assert!(stderr(&o).contains("2 shards"), "{}", stderr(&o));
    assert_eq!(n.ledger().runs(), 2);
    // Shard 2's run saw shard 1's run of the same file: the replay must count that file as
    // processed per shard, or it would refuse it.
    let rows = csv_maps(&read(n.join("s2").join("remittance.csv")));
    let rows = if rows.is_empty() {
        csv_maps(&read(n.join("s2").join("rejections.csv")))
    } else {
        rows
    };
    let row = &rows[0];
    let key = format!("{}/{}", row["provider_agb"], row["line_id"]);
    let e = n
        .command()
        .args(["explain", "--json", "--run", "2", "--ledger"])
        .arg(n.ledger().arg())
        .arg(&key)
        .stdout();
    let e: serde_json::Value = serde_json::from_str(&e).unwrap();
    assert_eq!(e["run"], 2, "{e}");
}

both_backends! {
    a_line_id_paid_in_one_shard_is_a_duplicate_in_another,
    a_ledger_keeps_its_shard_count_and_explain_replays_a_shard,
}
