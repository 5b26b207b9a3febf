//! Invariants that must hold for any input (issue 8), checked with proptest over generated
//! members and lines on the fixture policies, through the real `process` run:
//! every line in exactly one output; euro totals reconcile; per remittance row
//! `claimed = paid_basic + paid_supplementary + member_pays` (all >= 0 on debit lines,
//! `deductible <= paid_basic`); no limit exceeded, recomputed from the remittance rows and the
//! policy definitions (not from the program's counters), and no ledger counter above its limit
//! or below zero; per member and year the deductible within mandatory + voluntary. And
//! determinism: the same lines give the same rows whatever `--threads` and however they are
//! split over files.

mod util;
use declaro::cmd::process::{self, Settings};
use declaro::model::{Cents, Date};
use declaro::policy::{self, Period, PolicySet};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use util::{claims, Dir};

const PRODUCTS: [&str; 7] = [
    "",
    "asr-2024-paramedisch",
    "dsw-2009-av-standaard",
    "dsw-2009-av-top",
    "stadholland-2014-standaard",
    "stadholland-2014-uitgebreid",
    "zk-basis-plus-module",
];

#[rustfmt::skip]
const CODES: [&str; 40] = [
    "1000", "1001", "1100", "1200", "1400", "1700", "OMG", "2000", "2200", "ACNE", "ALT-ACU",
    "ALT-CHIRO", "GLASSES", "FRAME", "HEARING", "WIG", "MATERNITY", "SPA-WEEK", "ORTHO",
    "ORTHO-ALIGNER", "PODO", "PSYCH", "C11", "C13", "M03", "M50", "X10", "X21", "P21", "P30",
    "J50", "GP", "PHARMA", "DBC", "ENURESIS-ALARM", "ROLLATOR", "HEART-TRAINING",
    "RECOVERY-DAY", "TRAVEL-VACCINATION", "1000Z",
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

/// Codes under a count or euro limit in some product: drawn as often as all codes together,
/// so that limits are reached.
#[rustfmt::skip]
const LIMITED: [&str; 26] = [
    "1000", "1001", "1100", "1200", "1700", "OMG", "2000", "ACNE", "ALT-ACU", "ALT-CHIRO",
    "GLASSES", "FRAME", "HEARING", "WIG", "ORTHO", "PODO", "PSYCH", "C11", "M03", "M50", "X10",
    "P21", "ENURESIS-ALARM", "ROLLATOR", "HEART-TRAINING", "RECOVERY-DAY",
];

fn limited_code() -> impl Strategy<Value = usize> {
    let idx: Vec<usize> = LIMITED
        .iter()
        .map(|c| CODES.iter().position(|x| x == c).unwrap())
        .collect();
    prop::sample::select(idx)
}

fn line_strategy(members: usize) -> impl Strategy<Value = GenLine> {
    (
        (
            0..members,
            prop_oneof![0..CODES.len(), limited_code()],
            // 2024-01-01 to 2025-12-30: two calendar years, for the 2- and 5-year limits.
            0u32..730,
            // Mostly a unit or a few; sometimes a long line; now and then the input's upper
            // bound (`input`: quantity 1-9999), which no limit has room for.
            prop_oneof![8 => 1u32..4, 2 => 4u32..41, 1 => Just(9999u32)],
            // 1.00 to 600.00: a pro-rata line's member share is never rounded away.
            100u32..60_000,
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
    prop::collection::vec(member_strategy(), 1..21).prop_flat_map(|ms| {
        let n = ms.len();
        (Just(ms), prop::collection::vec(line_strategy(n), 1..400))
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
    let mut s = claims::head(claims::REGISTER);
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
        let date = Date::from_days_since_epoch(start.days_since_epoch() + i64::from(l.day));
        let list = if code.ends_with('Z') {
            "990"
        } else if code.as_bytes()[0].is_ascii_digit() {
            "012"
        } else {
            ""
        };
        let amount = Cents(i64::from(l.cents)).to_string();
        let copay_cents = l.cents * l.copay_pct / 10;
        let copay = if l.copay_pct == 0 {
            String::new()
        } else {
            Cents(i64::from(copay_cents)).to_string()
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

fn settings(dir: &Path, inputs: Vec<String>, threads: usize, out: &str) -> Settings {
    Settings {
        policies: vec![util::root().join("fixtures/policies")],
        members: dir.join("members.csv"),
        providers: Some(util::root().join("fixtures/providers.csv")),
        ledger: declaro::ledger::Location::Sqlite(dir.join(format!("{out}.db"))),
        out: dir.join(out),
        threads,
        run_date: Date::new(2026, 12, 31).unwrap(),
        progress: false,
        inputs: inputs.into_iter().map(Into::into).collect(),
        ei_return: None,
        dry_run: false,
        shard: declaro::shard::Shard::ALL,
    }
}

fn money(s: &str) -> Cents {
    Cents::parse_signed(s.as_bytes()).unwrap_or_else(|e| panic!("amount {s}: {e}"))
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

    let policies = policy::load(&[util::root().join("fixtures/policies")]).unwrap();
    limits_hold_by_the_rows(&rem, rows, &policies);

    // The ledger's counters within their limits, deductible within mandatory + voluntary.
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
            // Each date, or each condition (diagnosis code), is a window of its own.
            Period::TreatmentDate | Period::Condition => buckets.values().copied().collect(),
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

/// What one paid line adds to one limit of the product that paid it: at least `units` units
/// (signed: a credit gives back), exactly `cents`, one line.
#[derive(Clone, Copy, Default)]
struct Use {
    units: i64,
    cents: i64,
    lines: i64,
}

/// (product index, pool index, use) of one paid line.
type Effect = (usize, usize, Use);

impl std::ops::AddAssign for Use {
    fn add_assign(&mut self, o: Use) {
        self.units += o.units;
        self.cents += o.cents;
        self.lines += o.lines;
    }
}

/// Every count and euro limit of the supplementary products recomputed from `remittance.csv`
/// and the policy definitions, not from the program's counters:
/// - a row's supplementary product (the generator gives each member at most one) is in its
///   `products` column when it paid; the benefit that paid is the product's only benefit for
///   the line's code and code list (codes with a choice of benefits, `when_contract`, are left
///   out), and the limits are that benefit's pools and private limits;
/// - the row uses `paid_supplementary` of each euro limit and, of each count limit, its
///   `quantity` units, or at least 1 when it may have been cut to the units that fit
///   (`SESSION_LIMIT`, `NO_AUTHORIZATION`, or nothing left to the member after basic paid a
///   part), so the units
///   counted are never more than the program's; a credit gives back what the line it names
///   used;
/// - taken per member in service-date order (ties in input order, as adjudicated), no limit
///   exceeds its maximum at any moment, over its period: the service date, the service year
///   and the N-1 before it, or the insurance (one register row per product here).
///
/// Returns how many (line, limit) uses it checked.
fn limits_hold_by_the_rows(rem: &str, rows: &[String], policies: &PolicySet) -> usize {
    let claim: Vec<Vec<&str>> = rows.iter().map(|r| r.split(',').collect()).collect();
    let mut rdr = csv::Reader::from_reader(rem.as_bytes());
    let mut paid: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    // Per member, in service-date order, ties in input order.
    paid.sort_by(|a, b| {
        (&a[5], &a[6], a[1].parse::<usize>().unwrap()).cmp(&(
            &b[5],
            &b[6],
            b[1].parse::<usize>().unwrap(),
        ))
    });
    // What each paid debit used, by (provider, line_id), for the credits that reverse it.
    let mut used_by: BTreeMap<(String, String), Vec<Effect>> = BTreeMap::new();
    // (member, product, pool) -> bucket -> use.
    let mut total: BTreeMap<(String, usize, usize), BTreeMap<u32, Use>> = BTreeMap::new();
    let mut checked = 0usize;
    for r in &paid {
        let c = &claim[r[1].parse::<usize>().unwrap() - 1];
        let (member, date, code, list) = (&r[5], &r[6], &r[7], c[6]);
        let year: u32 = date[..4].parse().unwrap();
        let yyyymmdd: u32 = date.replace('-', "").parse().unwrap();
        let cents = money(&r[13]).0;
        let effects: Vec<Effect> = if c[14] == "C" {
            let key = (c[2].to_string(), c[15].to_string());
            let Some(orig) = used_by.get(&key) else {
                panic!("credit {:?} of a line not paid: {r:?}", &r[3]);
            };
            orig.iter()
                .map(|&(p, pool, u)| {
                    let back = Use {
                        units: -u.units,
                        cents,
                        lines: -1,
                    };
                    (p, pool, back)
                })
                .collect()
        } else {
            let quantity: i64 = r[8].parse().unwrap();
            // Cut to the units that fit: SESSION_LIMIT, or NO_AUTHORIZATION for the units from
            // the session that needs one (AV-Top from the 19th), unless the member was left
            // nothing to pay because basic paid its part and the supplement the rest (README:
            // a layer's refusal is listed only when the member is left to pay something).
            // Without basic, a cut line always leaves the member a share (amounts from 1.00,
            // at most 40 units or 9999 of which at most 42 fit).
            let cut = r[16]
                .split(';')
                .any(|x| x == "SESSION_LIMIT" || x == "NO_AUTHORIZATION")
                || (money(&r[11]) != Cents::ZERO && money(&r[14]) == Cents::ZERO);
            let units = if cut { 1 } else { quantity };
            let mut effects = Vec::new();
            for id in r[15].split('+').filter(|p| *p != "zvw" && !p.is_empty()) {
                let p = policies.index_of(id).unwrap();
                let product = &policies.products[p];
                let candidates = product.candidates(list, code);
                if let [b] = candidates[..] {
                    for &pool in &product.benefits[usize::from(b)].pools {
                        let u = Use {
                            units,
                            cents,
                            lines: 1,
                        };
                        effects.push((p, pool, u));
                    }
                }
            }
            used_by.insert((r[4].to_string(), r[3].to_string()), effects.clone());
            effects
        };
        for (p, pool_index, u) in effects {
            let pool = &policies.products[p].pools[pool_index];
            let buckets = total
                .entry((member.to_string(), p, pool_index))
                .or_default();
            let bucket = match pool.period {
                Period::TreatmentDate => yyyymmdd,
                Period::CalendarYears(_) => year,
                // The generated lines declare no diagnosis: one condition per member.
                Period::InsuranceDuration | Period::Condition => 0,
            };
            *buckets.entry(bucket).or_default() += u;
            // Every window this line's bucket is in.
            let windows: Vec<(u32, Use)> = match pool.period {
                Period::CalendarYears(n) => (year..year + n)
                    .map(|end| {
                        let mut sum = Use::default();
                        for (_, v) in buckets.range(end + 1 - n..=end) {
                            sum += *v;
                        }
                        (end, sum)
                    })
                    .collect(),
                _ => vec![(bucket, buckets[&bucket])],
            };
            for (end, sum) in windows {
                let what = format!(
                    "{member} {} {} ({:?}, bucket {end}) after line {} (record {})",
                    policies.products[p].id, pool.id, pool.period, &r[3], &r[1]
                );
                if let Some(max) = pool.max_units {
                    assert!(
                        sum.units <= i64::from(max),
                        "{what}: at least {} units paid, the maximum is {max}",
                        sum.units
                    );
                }
                if let Some(max) = pool.max_euros {
                    assert!(
                        Cents(sum.cents) <= max,
                        "{what}: {} paid, the maximum is {max}",
                        Cents(sum.cents)
                    );
                }
                if pool.once_per_date {
                    assert!(
                        sum.lines <= 1,
                        "{what}: {} lines paid on one date",
                        sum.lines
                    );
                }
                assert!(
                    sum.units >= 0 && sum.cents >= 0 && sum.lines >= 0,
                    "{what}: below zero"
                );
            }
            checked += 1;
        }
    }
    checked
}

/// A claims file `name` of [`claims::GENERATED`]'s columns and `rows` in `dir`; its path.
fn write_claims(dir: &Dir, name: &str, rows: &[String]) -> String {
    let header = claims::GENERATED;
    dir.create(name, format!("{header}\n{}\n", rows.join("\n")))
}

fn write_night(dir: &Dir, ms: &[GenMember], rows: &[String]) -> String {
    dir.create("members.csv", members_csv(ms));
    write_claims(dir, "claims.csv", rows)
}

/// A generated night written into a new directory: the directory, the claim rows and the
/// claims file.
fn night(ms: &[GenMember], ls: &[GenLine]) -> (Dir, Vec<String>, String) {
    let dir = Dir::new("invariants");
    let rows = claim_rows(ms, ls);
    let input = write_night(&dir, ms, &rows);
    (dir, rows, input)
}

/// The proptest settings of this file: `cases` nights, no persisted failures.
fn cases(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(cases(128))]

    #[test]
    fn invariants_hold_for_any_night((ms, ls) in night_strategy()) {
        let (dir, rows, input) = night(&ms, &ls);
        let report = process::run(&settings(dir.path(), vec![input], 2, "out")).unwrap();
        prop_assert_eq!(report.refused_files, 0);
        check_run(dir.path(), "out", &rows, &ms);
    }
}

proptest! {
    #![proptest_config(cases(32))]

    /// Same lines: one file with 1, 2 or 8 threads, or three files in the same order, give the
    /// same rows (byte for byte for one file; apart from file and record when split).
    #[test]
    fn outputs_do_not_depend_on_threads_or_file_splits((ms, ls) in night_strategy()) {
        let (dir, rows, input) = night(&ms, &ls);
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
            .map(|(i, chunk)| write_claims(&dir, &format!("part{i}.csv"), chunk))
            .collect();
        process::run(&settings(dir.path(), parts, 2, "split")).unwrap();
        for f in ["remittance.csv", "rejections.csv"] {
            // Rows without the `file` and `record` columns, which name where a line came from.
            let one = util::without_origin(&util::read(outs[0].join(f)));
            let split = util::without_origin(&util::read(dir.path().join("split").join(f)));
            prop_assert_eq!(one, split, "{} differs when split over files", f);
        }
    }
}

/// The limit check of [`limits_hold_by_the_rows`] is not vacuous: on a real night of 20
/// sessions (code 1000, DSW AV-Standaard, at most 18 of `fysio-manueel` per calendar year) it
/// sees 18 paid sessions in the pool, and a remittance with a 19th paid session added (the
/// 19th line, refused SESSION_LIMIT, written as paid) makes it fail.
#[test]
fn the_limit_check_counts_the_paid_sessions_and_fails_on_a_19th() {
    let ms = vec![GenMember {
        birth_year: 1980,
        voluntary: 0,
        product: 2,
        late_start: false,
    }];
    assert_eq!(PRODUCTS[2], "dsw-2009-av-standaard");
    let ls: Vec<GenLine> = (0..20)
        .map(|i| GenLine {
            member: 0,
            code: 0,
            day: 10 + 7 * i,
            quantity: 1,
            cents: 3000,
            copay_pct: 0,
            indication: 0,
            referral: false,
            authorization: false,
            provider: 0,
            kind: 0,
            earlier: 0,
        })
        .collect();
    let (dir, rows, input) = night(&ms, &ls);
    process::run(&settings(dir.path(), vec![input], 2, "out")).unwrap();
    check_run(dir.path(), "out", &rows, &ms);
    let policies = policy::load(&[util::root().join("fixtures/policies")]).unwrap();
    let rem = util::read(dir.path().join("out/remittance.csv"));
    // 18 paid sessions, each in the one pool of `fysiotherapie`.
    assert_eq!(rem.lines().count(), 1 + 18, "{rem}");
    assert_eq!(limits_hold_by_the_rows(&rem, &rows, &policies), 18);
    // The 19th line (record 19, L18) as if paid like the 18th.
    let last = rem.lines().last().unwrap();
    let f: Vec<&str> = last.split(',').collect();
    let date19 = rows[18].split(',').nth(5).unwrap();
    let forged = [&[f[0], "19", f[2], "L18", f[4], f[5], date19][..], &f[7..]].concat();
    let doctored = format!("{rem}{}\n", forged.join(","));
    let caught = std::panic::catch_unwind(|| limits_hold_by_the_rows(&doctored, &rows, &policies));
    assert!(caught.is_err(), "a 19th paid session went unnoticed");
}
