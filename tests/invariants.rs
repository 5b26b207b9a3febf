//! Invariants that must hold for any input (issue 8), checked with proptest over generated
//! members and lines on the fixture policies, through the real `process` run:
//! every line in exactly one output; euro totals reconcile; per remittance row
//! `claimed = paid_basic + paid_supplementary + member_pays` (all >= 0 on debit lines,
//! `deductible <= paid_basic`); no counter above its limit or below zero; per member and year
//! the deductible within mandatory + voluntary. And determinism: the same lines give the same
//! rows whatever `--threads` and however they are split over files.

mod util;
use declaro::cmd::process::{self, Settings};
use declaro::model::{Cents, Date};
use declaro::policy::{self, Period};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const PRODUCTS: [&str; 7] = [
    "",
    "asr-2024-paramedisch",
    "dsw-2009-av-standaard",
    "dsw-2009-av-top",
    "stadholland-2014-standaard",
    "stadholland-2014-uitgebreid",
    "zk-basis-plus-module",
];

const CODES: [&str; 40] = [
    "1000",
    "1001",
    "1100",
    "1200",
    "1400",
    "1700",
    "OMG",
    "2000",
    "2200",
    "ACNE",
    "ALT-ACU",
    "ALT-CHIRO",
    "GLASSES",
    "FRAME",
    "HEARING",
    "WIG",
    "MATERNITY",
    "SPA-WEEK",
    "ORTHO",
    "ORTHO-ALIGNER",
    "PODO",
    "PSYCH",
    "C11",
    "C13",
    "M03",
    "M50",
    "X10",
    "X21",
    "P21",
    "P30",
    "J50",
    "GP",
    "PHARMA",
    "DBC",
    "ENURESIS-ALARM",
    "ROLLATOR",
    "HEART-TRAINING",
    "RECOVERY-DAY",
    "TRAVEL-VACCINATION",
    "1000Z",
];

const PROVIDERS: [&str; 3] = ["12345678", "45678901", "89012345"];

#[derive(Debug, Clone)]
struct GenMember {
    birth_year: u32,
    voluntary: u32,
    product: usize,
    late_start: bool,
}

#[derive(Debug, Clone)]
struct GenLine {
    member: usize,
    code: usize,
    day: u32,
    quantity: u32,
    cents: u32,
    copay_pct: u32,
    indication: usize,
    referral: bool,
    authorization: bool,
    provider: usize,
    /// 0: a new line; 1: a credit of an earlier line; 2: an earlier line sent again.
    kind: u8,
    earlier: usize,
}

fn member_strategy() -> impl Strategy<Value = GenMember> {
    (
        1940u32..2020,
        0u32..6,
        0usize..PRODUCTS.len(),
        any::<bool>(),
    )
        .prop_map(|(birth_year, v, product, late_start)| GenMember {
            birth_year,
            voluntary: v * 100,
            product,
            late_start,
        })
}

fn line_strategy(members: usize) -> impl Strategy<Value = GenLine> {
    (
        (
            0..members,
            0..CODES.len(),
            0u32..700,
            1u32..4,
            1u32..60_000,
            0u32..4,
        ),
        (
            0usize..4,
            any::<bool>(),
            any::<bool>(),
            0..PROVIDERS.len(),
            prop_oneof![8 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8)],
            0usize..1000,
        ),
    )
        .prop_map(
            |(
                (member, code, day, quantity, cents, copay_pct),
                (indication, referral, authorization, provider, kind, earlier),
            )| GenLine {
                member,
                code,
                day,
                quantity,
                cents,
                copay_pct,
                indication,
                referral,
                authorization,
                provider,
                kind,
                earlier,
            },
        )
}

fn night_strategy() -> impl Strategy<Value = (Vec<GenMember>, Vec<GenLine>)> {
    prop::collection::vec(member_strategy(), 1..5).prop_flat_map(|ms| {
        let n = ms.len();
        (Just(ms), prop::collection::vec(line_strategy(n), 1..60))
    })
}

/// A valid BSN for member `i` (elfproef).
fn bsn(i: usize) -> String {
    let mut head = 20_000_000 + i as u64 * 7919;
    loop {
        let d: Vec<u64> = format!("{head:08}")
            .bytes()
            .map(|b| u64::from(b - b'0'))
            .collect();
        let check = d
            .iter()
            .enumerate()
            .map(|(k, x)| x * (9 - k as u64))
            .sum::<u64>()
            % 11;
        if check < 10 {
            return format!("{head:08}{check}");
        }
        head += 1;
    }
}

fn members_csv(ms: &[GenMember]) -> String {
    let mut s =
        String::from("member_id,bsn,birth_date,product,start_date,end_date,voluntary_deductible\n");
    for (i, m) in ms.iter().enumerate() {
        let birth = format!("{}-06-15", m.birth_year);
        let vol = if m.voluntary == 0 {
            String::new()
        } else {
            format!("{}.00", m.voluntary)
        };
        s += &format!("P{i},{},{birth},zvw,2023-01-01,,{vol}\n", bsn(i));
        if !PRODUCTS[m.product].is_empty() {
            let start = if m.late_start {
                "2024-03-01"
            } else {
                "2023-01-01"
            };
            s += &format!(
                "P{i},{},{birth},{},{start},,\n",
                bsn(i),
                PRODUCTS[m.product]
            );
        }
    }
    s
}

const HEADER: &str = "batch_id,line_id,provider_agb,member_id,birth_date,service_date,code_list,code,quantity,indication,referral,authorization,amount,legal_copay,debit_credit,related_line_id\n";

/// The claim rows, one string per line (without newline).
fn claim_rows(ms: &[GenMember], ls: &[GenLine]) -> Vec<String> {
    let mut rows: Vec<String> = Vec::new();
    let mut debits: Vec<(usize, String)> = Vec::new();
    let start = Date::new(2024, 1, 1).unwrap();
    for (n, l) in ls.iter().enumerate() {
        if l.kind == 2 && !debits.is_empty() {
            let (_, row) = &debits[l.earlier % debits.len()];
            rows.push(row.clone());
            continue;
        }
        if l.kind == 1 && !debits.is_empty() {
            let (_, row) = &debits[l.earlier % debits.len()];
            let f: Vec<&str> = row.split(',').collect();
            // Same batch, provider, member, date, code and amount; D -> C naming the line.
            rows.push(format!(
                "{},CR{n},{},{},{},{},{},{},{},{},{},{},{},{},C,{}",
                f[0],
                f[2],
                f[3],
                f[4],
                f[5],
                f[6],
                f[7],
                f[8],
                f[9],
                f[10],
                f[11],
                f[12],
                f[13],
                f[1]
            ));
            continue;
        }
        let m = &ms[l.member];
        let code = CODES[l.code];
        let date = Date::from_days_since_epoch(days(start) + i64::from(l.day));
        let list = if code.ends_with('Z') {
            "990"
        } else if code.as_bytes()[0].is_ascii_digit() {
            "012"
        } else {
            ""
        };
        let amount = format!("{}.{:02}", l.cents / 100, l.cents % 100);
        let copay_cents = l.cents * l.copay_pct / 10;
        let copay = if l.copay_pct == 0 {
            String::new()
        } else {
            format!("{}.{:02}", copay_cents / 100, copay_cents % 100)
        };
        let row = format!(
            "B{},L{n},{},P{},{}-06-15,{date},{list},{code},{},{},{},{},{amount},{copay},D,",
            l.member,
            PROVIDERS[l.provider],
            l.member,
            m.birth_year,
            l.quantity,
            ["", "001", "008", "009"][l.indication],
            if l.referral { "Y" } else { "N" },
            if l.authorization { "MACH-1" } else { "" },
        );
        debits.push((n, row.clone()));
        rows.push(row);
    }
    rows
}

fn days(d: Date) -> i64 {
    // Days since 1970-01-01 by counting from a known date; small helper for the generator.
    let mut lo = 0i64;
    let mut hi = 40_000i64;
    while lo < hi {
        let mid = (lo + hi) / 2;
        if Date::from_days_since_epoch(mid) < d {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

fn settings(dir: &Path, inputs: Vec<String>, threads: usize, out: &str) -> Settings {
    Settings {
        policies: vec![util::root().join("fixtures/policies")],
        members: dir.join("members.csv"),
        providers: Some(util::root().join("fixtures/providers.csv")),
        ledger: dir.join(format!("{out}.db")),
        out: dir.join(out),
        threads,
        run_date: Date::new(2026, 12, 31).unwrap(),
        progress: false,
        inputs: inputs.into_iter().map(Into::into).collect(),
        ei_return: None,
        dry_run: false,
    }
}

fn money(s: &str) -> Cents {
    let (neg, abs) = s.strip_prefix('-').map_or((false, s), |a| (true, a));
    let v = Cents::parse(abs).unwrap_or_else(|e| panic!("amount {s}: {e}"));
    if neg {
        -v
    } else {
        v
    }
}

/// (units, cents) used per bucket of one counter.
type Buckets = BTreeMap<u32, (i64, i64)>;

/// Checks every invariant on one finished run.
fn check_run(dir: &Path, out: &str, rows: &[String], ms: &[GenMember]) {
    let out_dir = dir.join(out);
    let rem = util::read(out_dir.join("remittance.csv"));
    let rej = util::read(out_dir.join("rejections.csv"));
    let mut rem_rdr = csv::Reader::from_reader(rem.as_bytes());
    let mut rej_rdr = csv::Reader::from_reader(rej.as_bytes());
    let mut seen = vec![0u32; rows.len()];
    let mut claimed_out = Cents::ZERO;
    for r in rem_rdr.records() {
        let r = r.unwrap();
        let record: usize = r[1].parse().unwrap();
        seen[record - 1] += 1;
        let (c, pb, d, ps, mp) = (
            money(&r[10]),
            money(&r[11]),
            money(&r[12]),
            money(&r[13]),
            money(&r[14]),
        );
        assert_eq!(c, pb + ps + mp, "identity on {:?}", r);
        claimed_out += c.abs();
        if c > Cents::ZERO {
            assert!(
                pb >= Cents::ZERO && ps >= Cents::ZERO && mp >= Cents::ZERO,
                "negative part on a debit: {r:?}"
            );
            assert!(
                d >= Cents::ZERO && d <= pb,
                "deductible outside 0..paid_basic: {r:?}"
            );
        } else {
            assert!(
                pb <= Cents::ZERO && ps <= Cents::ZERO && mp <= Cents::ZERO && d <= Cents::ZERO,
                "credit: {r:?}"
            );
        }
    }
    for r in rej_rdr.records() {
        let r = r.unwrap();
        let record: usize = r[1].parse().unwrap();
        seen[record - 1] += 1;
        claimed_out += Cents::parse(&r[8]).unwrap_or_default();
    }
    assert!(
        seen.iter().all(|&n| n == 1),
        "every line exactly once: {seen:?}"
    );
    let claimed_in: Cents = rows
        .iter()
        .map(|r| Cents::parse(r.split(',').nth(12).unwrap()).unwrap())
        .sum();
    assert_eq!(claimed_in, claimed_out, "euro totals reconcile");

    // Counters within their limits, deductible within mandatory + voluntary.
    let policies = policy::load(&[util::root().join("fixtures/policies")]).unwrap();
    let conn = rusqlite::Connection::open(dir.join(format!("{out}.db"))).unwrap();
    let mut stmt = conn
        .prepare("SELECT member_id, product, pool, bucket, units, cents FROM accumulator")
        .unwrap();
    let mut used: BTreeMap<(String, String, String), Buckets> = BTreeMap::new();
    let acc_rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, u32>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, i64>(5)?,
            ))
        })
        .unwrap();
    for row in acc_rows {
        let (m, p, q, bucket, units, cents) = row.unwrap();
        assert!(
            units >= 0 && cents >= 0,
            "counter below zero: {m} {p} {q} {bucket}"
        );
        used.entry((m, p, q))
            .or_default()
            .insert(bucket, (units, cents));
    }
    for ((m, p, q), buckets) in &used {
        let product = &policies.products[policies.index_of(p).unwrap()];
        let pool = product.pools.iter().find(|x| x.id == *q).unwrap();
        let windows: Vec<(i64, i64)> = match pool.period {
            Period::TreatmentDate => buckets.values().copied().collect(),
            Period::CalendarYears(n) => buckets
                .keys()
                .map(|&y| {
                    buckets
                        .range(y + 1 - n..=y)
                        .fold((0, 0), |a, (_, v)| (a.0 + v.0, a.1 + v.1))
                })
                .collect(),
            Period::InsuranceDuration => {
                vec![buckets.values().fold((0, 0), |a, v| (a.0 + v.0, a.1 + v.1))]
            }
        };
        for (units, cents) in windows {
            if let Some(max) = pool.max_units {
                assert!(
                    units <= i64::from(max),
                    "{m} {p} {q}: {units} units over {max}"
                );
            }
            if let Some(max) = pool.max_euros {
                assert!(Cents(cents) <= max, "{m} {p} {q}: {cents} cents over {max}");
            }
        }
    }
    let zvw = &policies.products[policies.index_of("zvw").unwrap()];
    let mandatory = &zvw.deductible.as_ref().unwrap().mandatory;
    let mut stmt = conn
        .prepare("SELECT member_id, year, cents FROM deductible")
        .unwrap();
    let ded = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, u32>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })
        .unwrap();
    for row in ded {
        let (m, year, cents) = row.unwrap();
        let i: usize = m[1..].parse().unwrap();
        let cap = mandatory[&year] + Cents(i64::from(ms[i].voluntary) * 100);
        assert!(
            cents >= 0 && Cents(cents) <= cap,
            "{m} {year}: deductible {cents} cents over {cap}"
        );
    }
}

fn write_night(dir: &Path, ms: &[GenMember], rows: &[String]) -> String {
    std::fs::write(dir.join("members.csv"), members_csv(ms)).unwrap();
    let p = dir.join("claims.csv");
    std::fs::write(&p, format!("{HEADER}{}\n", rows.join("\n"))).unwrap();
    p.display().to_string()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_for_any_night((ms, ls) in night_strategy()) {
        let dir = tempfile::tempdir().unwrap();
        let rows = claim_rows(&ms, &ls);
        let input = write_night(dir.path(), &ms, &rows);
        let report = process::run(&settings(dir.path(), vec![input], 2, "out")).unwrap();
        prop_assert_eq!(report.refused_files, 0);
        check_run(dir.path(), "out", &rows, &ms);
    }
}

/// Rows without the `file` and `record` columns, which name where a line came from.
fn without_origin(text: &str) -> Vec<String> {
    text.lines()
        .skip(1)
        .map(|r| r.splitn(3, ',').nth(2).unwrap().to_string())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, failure_persistence: None, ..ProptestConfig::default() })]

    /// Same lines: one file with 1, 2 or 8 threads, or three files in the same order, give the
    /// same rows (byte for byte for one file; apart from file and record when split).
    #[test]
    fn outputs_do_not_depend_on_threads_or_file_splits((ms, ls) in night_strategy()) {
        let dir = tempfile::tempdir().unwrap();
        let rows = claim_rows(&ms, &ls);
        let input = write_night(dir.path(), &ms, &rows);
        let mut outs: Vec<PathBuf> = Vec::new();
        for t in [1usize, 2, 8] {
            let name = format!("t{t}");
            process::run(&settings(dir.path(), vec![input.clone()], t, &name)).unwrap();
            outs.push(dir.path().join(name));
        }
        for f in ["remittance.csv", "rejections.csv"] {
            let first = util::read(outs[0].join(f));
            for o in &outs[1..] {
                prop_assert_eq!(&first, &util::read(o.join(f)), "{} differs between thread counts", f);
            }
        }
        let third = rows.len().div_ceil(3);
        let parts: Vec<String> = rows
            .chunks(third.max(1))
            .enumerate()
            .map(|(i, chunk)| {
                let p = dir.path().join(format!("part{i}.csv"));
                std::fs::write(&p, format!("{HEADER}{}\n", chunk.join("\n"))).unwrap();
                p.display().to_string()
            })
            .collect();
        process::run(&settings(dir.path(), parts, 2, "split")).unwrap();
        for f in ["remittance.csv", "rejections.csv"] {
            let one = without_origin(&util::read(outs[0].join(f)));
            let split = without_origin(&util::read(dir.path().join("split").join(f)));
            prop_assert_eq!(one, split, "{} differs when split over files", f);
        }
    }
}
