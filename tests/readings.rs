//! The readings of issue 14 (docs/interpretations.md, "Registers"; README, "Interpretations"):
//! back-to-back register rows are one insurance, the waiting period looks at the continuous
//! basic insurance, a trajectory's deductible is its start year's, the Basis Plus Module's
//! "eerste 20 zittingen" are counted per condition, and full dentures above a threshold per jaw
//! need an authorization. Each test writes its own registers and declarations, runs the binary
//! on the fixture policies and compares with amounts worked out by hand (in the comments).

#[path = "util/formats.rs"]
mod formats;
mod util;

use util::claims::WITH_TRAJECTORY;
use util::{read, table, Dir};

/// A provider holding the `zk-plus` contract in `fixtures/providers.csv` (a Pluspraktijk).
const PLUS: &str = "45678901";
/// A provider without contract tags.
const OTHER: &str = "12345678";

/// `declaro process` on the fixture policies and provider register and the case's
/// `members.csv`, run date 2025-12-31, into `out`, with the ledger `ledger.db` of the case
/// directory; asserts exit 0.
fn run(case: &Dir, out: &str, inputs: &[&str]) {
    let members = case.join("members.csv");
    case.process()
        .quiet()
        .members(members)
        .out(out)
        .inputs(inputs)
        .ok();
}

/// The outcomes (see [`outcomes`]) of one night of the fixture policies on the register of
/// `members` ([`register`] rows) and the plain lines `lines` (rows `id member date code amount`
/// of [`plain`]'s arguments).
fn plain_night(members: &[&str], lines: &[&str]) -> Vec<String> {
    let case = Dir::new("readings");
    case.members(register(members));
    let lines = table(lines)
        .into_iter()
        .map(|f| plain(&f[0], &f[1], &f[2], &f[3], &f[4]));
    let claims = case.create_csv("c.csv", WITH_TRAJECTORY, lines);
    run(&case, "out", &[&claims]);
    outcomes(&case, "out")
}

/// `line_id -> (paid_basic, deductible, paid_supplementary, member_pays, products, reasons)`
/// for a paid line, `line_id -> (reason)` for a rejected one, in line-id order of the
/// input: one string per line, `"id: ..."`.
fn outcomes(case: &Dir, out: &str) -> Vec<String> {
    let out = case.join(out);
    let mut got: Vec<String> = util::csv_file_records(out.join("remittance.csv"))
        .iter()
        .map(|row| format!("{}: {}", row[3], row[11..=16].join(" ")))
        .collect();
    for (id, reason, _) in util::rejections(&out) {
        got.push(format!("{id}: {reason}"));
    }
    got.sort_by_key(|s| {
        let id = s.split(':').next().unwrap().to_string();
        (id.len(), id)
    });
    got
}

/// A valid BSN (elfproef) for member number `i`.
fn bsn(i: u64) -> String {
    util::claims::bsn(40_000_000, i)
}

/// A register row of member `id` (number `i` for its BSN, born 1970-01-01).
fn row(i: u64, id: &str, product: &str, start: &str, end: &str, voluntary: &str) -> Vec<String> {
    let bsn = bsn(i);
    [id, &bsn, "1970-01-01", product, start, end, voluntary]
        .map(String::from)
        .to_vec()
}

/// Register rows written as [`table`] rows `id i product start end voluntary` ([`row`]'s
/// arguments).
fn register(rows: &[&str]) -> Vec<Vec<String>> {
    table(rows)
        .iter()
        .map(|r| row(r[1].parse().unwrap(), &r[0], &r[2], &r[3], &r[4], &r[5]))
        .collect()
}

/// A declaration line of [`WITH_TRAJECTORY`]'s columns; the fields after `amount` given as written
/// (`trajectory_start,diagnosis`).
#[allow(clippy::too_many_arguments)]
fn line(
    id: &str,
    agb: &str,
    member: &str,
    date: &str,
    list_code: (&str, &str),
    csi_referral_auth: (&str, &str, &str),
    amount: &str,
    rest: &str,
) -> Vec<String> {
    let (list, code) = list_code;
    let (csi, referral, auth) = csi_referral_auth;
    format!(
        "F,{id},{agb},{member},1970-01-01,{date},{list},{code},1,{csi},{referral},{auth},{amount},{rest}"
    )
    .split(',')
    .map(String::from)
    .collect()
}

/// A plain line: no code list, CSI, referral or authorization.
fn plain(id: &str, member: &str, date: &str, code: &str, amount: &str) -> Vec<String> {
    line(
        id,
        OTHER,
        member,
        date,
        ("", code),
        ("", "", ""),
        amount,
        ",",
    )
}

// ---------------------------------------------------------------------------------------------
// Rules 1 and 2: continuous insurance, waiting period
// ---------------------------------------------------------------------------------------------

/// Homeopathic medicine (HOMEO-MED) is 100% in DSW AV-Standaard 2009, which waits 2 months when
/// it starts later than the basic insurance; zvw knows no HOMEO-MED, so the supplement pays the
/// whole line (20.00) or nothing.
///
/// R1: zvw since 2008-01-01; AV-Standaard 2008-10-01..2008-12-31, renewed 2009-01-01 (back to
/// back). One insurance since 2008-10-01: waiting until 2008-12-01. 2008-11-30 waits, 2009-01-15
/// is paid (the renewal row starts no new waiting period, which would last until 2009-03-01).
///
/// R2: AV-Standaard 2008-10-01..2008-12-30, again from 2009-01-01: a gap of one day
/// (2008-12-31), so a new insurance from 2009-01-01, later than the basic insurance's start:
/// waiting until 2009-03-01. 2009-02-28 waits, 2009-03-01 is paid.
///
/// R3: AV-Standaard 2009-07-01..2009-07-31 and 2009-08-01 open (a split in the middle of the
/// waiting period): waiting until 2009-09-01, two months after the original start, not
/// 2009-10-01 (two months after the split). 2009-08-31 waits, 2009-09-01 is paid.
#[test]
fn back_to_back_rows_are_one_insurance_for_the_waiting_period_and_a_gap_starts_a_new_one() {
    let got = plain_night(
        &[
            "R1 1 zvw 2008-01-01 - -",
            "R1 1 dsw-2009-av-standaard 2008-10-01 2008-12-31 -",
            "R1 1 dsw-2009-av-standaard 2009-01-01 - -",
            "R2 2 zvw 2008-01-01 - -",
            "R2 2 dsw-2009-av-standaard 2008-10-01 2008-12-30 -",
            "R2 2 dsw-2009-av-standaard 2009-01-01 - -",
            "R3 3 zvw 2008-01-01 - -",
            "R3 3 dsw-2009-av-standaard 2009-07-01 2009-07-31 -",
            "R3 3 dsw-2009-av-standaard 2009-08-01 - -",
        ],
        &[
            "1 R1 2008-11-30 HOMEO-MED 20.00",
            "2 R1 2009-01-15 HOMEO-MED 20.00",
            "3 R2 2009-02-28 HOMEO-MED 20.00",
            "4 R2 2009-03-01 HOMEO-MED 20.00",
            "5 R3 2009-08-31 HOMEO-MED 20.00",
            "6 R3 2009-09-01 HOMEO-MED 20.00",
        ],
    );
    assert_eq!(
        got,
        [
            "1: WAITING_PERIOD",
            "2: 0.00 0.00 20.00 0.00 dsw-2009-av-standaard ",
            "3: WAITING_PERIOD",
            "4: 0.00 0.00 20.00 0.00 dsw-2009-av-standaard ",
            "5: WAITING_PERIOD",
            "6: 0.00 0.00 20.00 0.00 dsw-2009-av-standaard ",
        ]
    );
}

/// The waiting period compares the supplement's start with the start of the continuous basic
/// insurance, not with the start of the basic row held on the service date.
///
/// W1 holds zvw since 2009-01-01, its row split on 2009-07-01 (2009-01-01..2009-06-30 and
/// 2009-07-01 open), and adds AV-Standaard on 2009-07-01: basic since January, the supplement
/// from July, so it waits until 2009-09-01. 2009-08-01 waits; 2009-09-01 is paid 20.00.
///
/// W2 took zvw and AV-Standaard together on 2009-01-01; both rows split on 2009-07-01: no
/// waiting period at all (2009-02-01 is paid).
///
/// W3's basic insurance has a gap: zvw 2008-01-01..2008-12-30 and from 2009-01-01; the
/// supplement starts 2009-01-01 with the new basic insurance: no waiting period (2009-01-10 paid).
#[test]
fn the_waiting_period_compares_with_the_continuous_basic_insurance() {
    let got = plain_night(
        &[
            "W1 11 zvw 2009-01-01 2009-06-30 -",
            "W1 11 zvw 2009-07-01 - -",
            "W1 11 dsw-2009-av-standaard 2009-07-01 - -",
            "W2 12 zvw 2009-01-01 2009-06-30 -",
            "W2 12 zvw 2009-07-01 - -",
            "W2 12 dsw-2009-av-standaard 2009-01-01 2009-06-30 -",
            "W2 12 dsw-2009-av-standaard 2009-07-01 - -",
            "W3 13 zvw 2008-01-01 2008-12-30 -",
            "W3 13 zvw 2009-01-01 - -",
            "W3 13 dsw-2009-av-standaard 2009-01-01 - -",
        ],
        &[
            "1 W1 2009-08-01 HOMEO-MED 20.00",
            "2 W1 2009-09-01 HOMEO-MED 20.00",
            "3 W2 2009-02-01 HOMEO-MED 20.00",
            "4 W2 2009-08-01 HOMEO-MED 20.00",
            "5 W3 2009-01-10 HOMEO-MED 20.00",
        ],
    );
    assert_eq!(
        got,
        [
            "1: WAITING_PERIOD",
            "2: 0.00 0.00 20.00 0.00 dsw-2009-av-standaard ",
            "3: 0.00 0.00 20.00 0.00 dsw-2009-av-standaard ",
            "4: 0.00 0.00 20.00 0.00 dsw-2009-av-standaard ",
            "5: 0.00 0.00 20.00 0.00 dsw-2009-av-standaard ",
        ]
    );
}

/// AV-Standaard's oncology programme (ONCO-REHAB): "75%, maximaal € 250,– voor de duur van de
/// verzekering". zvw knows no ONCO-REHAB.
///
/// D1: AV-Standaard 2008-01-01..2008-12-31, renewed 2009-01-01. 2008-06-01, 200.00: 75% = 150.00
/// paid (member 50.00, PERCENTAGE). 2009-03-01, 200.00: 75% = 150.00, but the insurance's 250.00
/// has 250.00 - 150.00 = 100.00 left: paid 100.00, the member 100.00 (AMOUNT_LIMIT;PERCENTAGE).
///
/// D2: the same, but the first row ends 2008-12-30 (a gap of one day): from 2009-01-01 a new
/// insurance with its own 250.00 (and a new waiting period until 2009-03-01, so the 2009 line is
/// dated 2009-03-01): 150.00 paid.
#[test]
fn a_duration_limit_counts_across_a_renewal_and_starts_again_after_a_gap() {
    let got = plain_night(
        &[
            "D1 21 zvw 2008-01-01 - -",
            "D1 21 dsw-2009-av-standaard 2008-01-01 2008-12-31 -",
            "D1 21 dsw-2009-av-standaard 2009-01-01 - -",
            "D2 22 zvw 2008-01-01 - -",
            "D2 22 dsw-2009-av-standaard 2008-01-01 2008-12-30 -",
            "D2 22 dsw-2009-av-standaard 2009-01-01 - -",
        ],
        &[
            "1 D1 2008-06-01 ONCO-REHAB 200.00",
            "2 D1 2009-03-01 ONCO-REHAB 200.00",
            "3 D2 2008-06-01 ONCO-REHAB 200.00",
            "4 D2 2009-03-01 ONCO-REHAB 200.00",
        ],
    );
    assert_eq!(
        got,
        [
            "1: 0.00 0.00 150.00 50.00 dsw-2009-av-standaard PERCENTAGE",
            "2: 0.00 0.00 100.00 100.00 dsw-2009-av-standaard AMOUNT_LIMIT;PERCENTAGE",
            "3: 0.00 0.00 150.00 50.00 dsw-2009-av-standaard PERCENTAGE",
            "4: 0.00 0.00 150.00 50.00 dsw-2009-av-standaard PERCENTAGE",
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Rule 3: a trajectory's deductible is its start year's
// ---------------------------------------------------------------------------------------------

/// The mandatory deductible is 385.00 in 2024 and in 2025 (zvw.toml); DBC lines are paid in
/// full by zvw, subject to the deductible of the trajectory's start year.
///
/// T1: voluntary 0 in 2024, 500 in 2025 (two rows). PHARMA 2024-03-01, 100.00: 100.00 charged
/// (2024: 385.00 - 100.00 = 285.00 left). DBC declared 2025-02-10, trajectory from 2024-11-15,
/// 1000.00: counts toward 2024, cap 385.00 + 0 = 385.00, 285.00 left: charged 285.00 (with 2025's
/// voluntary 500 it would be 785.00). PHARMA 2025-03-01, 1000.00: 2025, cap 385.00 + 500.00 =
/// 885.00: charged 885.00.
///
/// T2: voluntary 300 in 2024, 0 in 2025. DBC declared 2025-01-20, trajectory from 2024-12-01,
/// 1000.00: 2024's cap 385.00 + 300.00 = 685.00, nothing used: charged 685.00 (not 385.00).
#[test]
fn a_trajectory_from_the_year_before_uses_that_years_voluntary_deductible() {
    let case = Dir::new("readings");
    case.members(register(&[
        "T1 31 zvw 2024-01-01 2024-12-31 -",
        "T1 31 zvw 2025-01-01 - 500",
        "T2 32 zvw 2024-01-01 2024-12-31 300",
        "T2 32 zvw 2025-01-01 - 0",
    ]));
    let dbc = |id: &str, member: &str, date: &str, start: &str| {
        line(
            id,
            OTHER,
            member,
            date,
            ("", "DBC"),
            ("", "", ""),
            "1000.00",
            &format!("{start},"),
        )
    };
    let claims = case.create_csv(
        "c.csv",
        WITH_TRAJECTORY,
        &[
            plain("1", "T1", "2024-03-01", "PHARMA", "100.00"),
            dbc("2", "T1", "2025-02-10", "2024-11-15"),
            plain("3", "T1", "2025-03-01", "PHARMA", "1000.00"),
            dbc("4", "T2", "2025-01-20", "2024-12-01"),
        ],
    );
    run(&case, "out", &[&claims]);
    assert_eq!(
        outcomes(&case, "out"),
        [
            "1: 100.00 100.00 0.00 0.00 zvw DEDUCTIBLE",
            "2: 1000.00 285.00 0.00 0.00 zvw DEDUCTIBLE",
            "3: 1000.00 885.00 0.00 0.00 zvw DEDUCTIBLE",
            "4: 1000.00 685.00 0.00 0.00 zvw DEDUCTIBLE",
        ]
    );
    // The year column says which year's deductible the DBC counted toward.
    let remittance = read(case.join("out").join("remittance.csv"));
    let dbc_rows: Vec<&str> = remittance.lines().filter(|l| l.contains(",DBC,")).collect();
    assert!(
        dbc_rows.iter().all(|r| r.contains(",DBC,1,2024,")),
        "{dbc_rows:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Rule 4: the Basis Plus Module's "eerste 20 zittingen" per condition
// ---------------------------------------------------------------------------------------------

/// A CSI 008 session of the Basis Plus Module: code 1000Z on list 990 at a Pluspraktijk, with a
/// referral, 40.00, paid in full by the module (no maximum per session) while its condition has
/// sessions left; `diagnosis` empty for none.
fn csi_008(id: &str, member: &str, date: &str, diagnosis: &str) -> Vec<String> {
    line(
        id,
        PLUS,
        member,
        date,
        ("990", "1000Z"),
        ("008", "Y", ""),
        "40.00",
        &format!(",{diagnosis}"),
    )
}

const MODULE: &str = "0.00 0.00 40.00 0.00 zk-basis-plus-module ";

/// Sessions 1-18 of one condition (no diagnosis code) in 2024 (the 10th and 24th of January to
/// September), sessions 19 and 20 in December
/// 2024, 21 and 22 in January 2025: the count does not start again on 1 January, so 19 and 20
/// are paid 40.00 each and 21 and 22 are SESSION_LIMIT (per calendar year they would be paid).
#[test]
fn csi_008_sessions_past_the_20th_of_a_condition_are_refused_across_a_year_end() {
    let case = Dir::new("readings");
    case.members(register(&[
        "B1 51 zvw 2024-01-01 - -",
        "B1 51 zk-basis-plus-module 2024-01-01 - -",
    ]));
    let mut lines: Vec<Vec<String>> = (1..=18)
        .map(|i| {
            csi_008(
                &i.to_string(),
                "B1",
                &format!("2024-{:02}-{}", 1 + (i - 1) / 2, 10 + 14 * ((i - 1) % 2)),
                "",
            )
        })
        .collect();
    lines.push(csi_008("19", "B1", "2024-12-02", ""));
    lines.push(csi_008("20", "B1", "2024-12-16", ""));
    lines.push(csi_008("21", "B1", "2025-01-06", ""));
    lines.push(csi_008("22", "B1", "2025-01-20", ""));
    let claims = case.create_csv("c.csv", WITH_TRAJECTORY, &lines);
    run(&case, "out", &[&claims]);
    let got = outcomes(&case, "out");
    assert_eq!(got.len(), 22);
    for (i, g) in got.iter().enumerate().take(20) {
        assert_eq!(*g, format!("{}: {MODULE}", i + 1));
    }
    assert_eq!(got[20..], ["21: SESSION_LIMIT", "22: SESSION_LIMIT"]);
}

/// Two conditions of one member, told apart by their diagnosis codes (3237 and 4501), each get
/// their first 20 sessions: 21 sessions of each, alternating, in 2024 (one condition per
/// calendar year would pay 20 of the 42 lines). Line `a21` and `b21` are SESSION_LIMIT. The
/// other 40 are paid 40.00 each: 1600.00 in all.
#[test]
fn two_conditions_of_one_member_each_get_their_own_20_sessions() {
    let case = Dir::new("readings");
    case.members(register(&[
        "B2 52 zvw 2024-01-01 - -",
        "B2 52 zk-basis-plus-module 2024-01-01 - -",
    ]));
    let mut lines = Vec::new();
    for i in 1..=21u32 {
        let date = format!("2024-{:02}-{:02}", 1 + (i - 1) / 2, 1 + 14 * ((i - 1) % 2));
        lines.push(csi_008(&format!("a{i}"), "B2", &date, "3237"));
        lines.push(csi_008(&format!("b{i}"), "B2", &date, "4501"));
    }
    let claims = case.create_csv("c.csv", WITH_TRAJECTORY, &lines);
    run(&case, "out", &[&claims]);
    let got = outcomes(&case, "out");
    let refused: Vec<&String> = got.iter().filter(|g| !g.ends_with(MODULE)).collect();
    assert_eq!(refused, ["a21: SESSION_LIMIT", "b21: SESSION_LIMIT"]);
    assert_eq!(got.len(), 42);
    let s = util::summary(&case.join("out"));
    assert_eq!(s["totals"]["paid_supplementary"], "1600.00", "40 x 40.00");
}

/// The per-condition counts are kept in the ledger from one run to the next. Night 1 (2024):
/// 20 sessions of diagnosis 3237 and 5 of 4501. Night 2 (2025, the same ledger): one more of
/// 3237 (its 21st: SESSION_LIMIT), one of 4501 (its 6th: paid 40.00) and one without a code
/// (the first of that condition: paid 40.00). `declaro ledger show` lists the counters by
/// condition, also with `--year`.
#[test]
fn per_condition_counts_carry_over_to_the_next_run_and_ledger_show_lists_them() {
    let case = Dir::new("readings");
    case.members(register(&[
        "B3 53 zvw 2024-01-01 - -",
        "B3 53 zk-basis-plus-module 2024-01-01 - -",
    ]));
    let mut night1 = Vec::new();
    for i in 1..=20u32 {
        let date = format!("2024-{:02}-{:02}", 1 + (i - 1) / 2, 1 + 14 * ((i - 1) % 2));
        night1.push(csi_008(&format!("a{i}"), "B3", &date, "3237"));
        if i <= 5 {
            night1.push(csi_008(&format!("b{i}"), "B3", &date, "4501"));
        }
    }
    let first = case.create_csv("night1.csv", WITH_TRAJECTORY, &night1);
    run(&case, "out1", &[&first]);
    assert!(outcomes(&case, "out1").iter().all(|g| g.ends_with(MODULE)));
    let second = case.create_csv(
        "night2.csv",
        WITH_TRAJECTORY,
        &[
            csi_008("a21", "B3", "2025-02-03", "3237"),
            csi_008("b6", "B3", "2025-02-03", "4501"),
            csi_008("c1", "B3", "2025-02-03", ""),
        ],
    );
    run(&case, "out2", &[&second]);
    assert_eq!(
        outcomes(&case, "out2"),
        [
            format!("b6: {MODULE}"),
            format!("c1: {MODULE}"),
            "a21: SESSION_LIMIT".to_string(),
        ]
    );
    let show = |extra: &[&str]| {
        case.command()
            .args(["ledger", "show", "--member", "B3", "--ledger"])
            .arg(case.join("ledger.db"))
            .args(extra)
            .stdout()
    };
    for text in [show(&[]), show(&["--year", "2025"])] {
        let counters: Vec<String> = text
            .lines()
            .filter(|l| l.contains("csi-008"))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        assert_eq!(
            counters,
            [
                "zk-basis-plus-module csi-008 dx none 1 40.00",
                "zk-basis-plus-module csi-008 dx 3237 20 800.00",
                "zk-basis-plus-module csi-008 dx 4501 6 240.00",
            ],
            "{text}"
        );
    }
}

/// 22 CSI 008 sessions of member `member` (`number` for its BSN) at the Pluspraktijk, 40.00
/// each, in 2024: `a1`..`a21` (the 10th and 24th of January to October, and 10 November) and
/// `b1` on 20 November; the caller gives them their diagnosis codes.
fn csi_008_nights_of_two_conditions(member: &str, number: u64) -> Vec<formats::Decl> {
    let decl = |id: String, date: String| formats::Decl {
        line_id: id,
        member_id: member.into(),
        bsn: bsn(number),
        birth_date: "19700101".into(),
        service_date: date,
        code_list: "990".into(),
        code: "1000Z".into(),
        quantity: 1,
        indication: "008".into(),
        referral: true,
        cents: 4000,
        ..formats::Decl::default()
    };
    let mut lines: Vec<formats::Decl> = (1..=21u32)
        .map(|i| {
            let date = format!("2024{:02}{}", 1 + (i - 1) / 2, 10 + 14 * ((i - 1) % 2));
            decl(format!("a{i}"), date)
        })
        .collect();
    lines.push(decl("b1".into(), "20241120".into()));
    lines
}

/// A PM304 file declares the diagnosis in the 04 record's paramedische diagnosecode 01
/// (positions 106-113, N8): 21 CSI 008 sessions of diagnosis 3237 (`00003237`) and one of 4501
/// in 2024. Sessions 1-20 of 3237 and the one of 4501 are paid 40.00 each; the 21st of 3237 is
/// SESSION_LIMIT.
#[test]
fn a_pm304_line_counts_toward_the_condition_of_its_paramedische_diagnosecode() {
    let case = Dir::new("readings");
    case.members(register(&[
        "B4 54 zvw 2024-01-01 - -",
        "B4 54 zk-basis-plus-module 2024-01-01 - -",
    ]));
    let lines = csi_008_nights_of_two_conditions("B4", 54);
    let mut recs = formats::pm304_records(PLUS, "PM-1", &lines);
    for (n, r) in recs
        .iter_mut()
        .filter(|r| r.0.starts_with(b"04"))
        .enumerate()
    {
        let code = if n < 21 { 3237 } else { 4501 };
        let rec = std::mem::replace(r, formats::Rec::new("04"));
        *r = rec.an(103, 105, "060").n(106, 113, code);
    }
    let path = case.join("night.pm304");
    std::fs::write(&path, formats::join(&recs)).unwrap();
    run(&case, "out", &[&path.display().to_string()]);
    let got = outcomes(&case, "out");
    let refused: Vec<&String> = got.iter().filter(|g| !g.ends_with(MODULE)).collect();
    assert_eq!(refused, ["a21: SESSION_LIMIT"]);
    assert_eq!(got.len(), 22);
}

/// An XML declaration names the condition in the `<line>` attribute `diagnosis`: the same 22
/// sessions as the PM304 case above (21 of diagnosis 3237, one of 4501), the same outcome:
/// the 21st of 3237 is SESSION_LIMIT, the other 21 are paid 40.00 each.
#[test]
fn an_xml_line_counts_toward_the_condition_of_its_diagnosis_attribute() {
    let case = Dir::new("readings");
    case.members(register(&[
        "B5 55 zvw 2024-01-01 - -",
        "B5 55 zk-basis-plus-module 2024-01-01 - -",
    ]));
    let lines = csi_008_nights_of_two_conditions("B5", 55);
    let mut xml = formats::xml(PLUS, "X-1", &lines);
    for l in &lines {
        let dx = if l.line_id == "b1" { "4501" } else { "3237" };
        let at = format!("line_id=\"{}\" ", l.line_id);
        xml = xml.replacen(&at, &format!("{at}diagnosis=\"{dx}\" "), 1);
    }
    assert_eq!(xml.matches("diagnosis=").count(), 22);
    let night = case.create("night.xml", &xml);
    run(&case, "out", &[&night]);
    let got = outcomes(&case, "out");
    let refused: Vec<&String> = got.iter().filter(|g| !g.ends_with(MODULE)).collect();
    assert_eq!(refused, ["a21: SESSION_LIMIT"]);
    assert_eq!(got.len(), 22);
}

// ---------------------------------------------------------------------------------------------
// Rule 5: full dentures above a threshold per jaw need an authorization
// ---------------------------------------------------------------------------------------------

/// Full dentures (P21 one jaw, P30 both jaws, so half its amount per jaw). DSW 2009 (seed 002):
/// authorization above 550.00 per jaw, for the basic 75% (zvw, 2009) and for AV-Standaard's
/// share of the remaining 25% (50%, at most 60.00 for P21, 112.50 for P30). Stad Holland 2014
/// (seed 003): above 560.00 per jaw (Standaard: 50%, at most 61.25 / 115.00). The mandatory
/// deductible is 155.00 in 2009, 360.00 in 2014, 385.00 in 2024; every member is 22 or older and
/// has a line of their own, so each line meets a fresh deductible.
///
/// - E1 P21 549.99: basic 75% = 412.4925 -> 412.49, deductible 155.00; left 137.50, 50% = 68.75,
///   capped 60.00; member 137.50 - 60.00 = 77.50.
/// - E2 P21 550.00 (exactly at the threshold: no authorization needed): basic 412.50, deductible
///   155.00; left 137.50 -> 60.00; member 77.50.
/// - E3 P21 550.01 without authorization: NO_AUTHORIZATION (basic and supplement alike).
/// - E4 P21 550.01 with one: basic 412.5075 -> 412.51; left 137.50 -> 60.00; member 77.50.
/// - E5 P30 1100.00 (550.00 a jaw): basic 825.00, deductible 155.00; left 275.00, 50% = 137.50,
///   capped 112.50; member 162.50.
/// - E6 P30 1100.01 (550.005 a jaw) without authorization: NO_AUTHORIZATION.
/// - E7 P30 1100.01 with one: basic 825.0075 -> 825.01; left 275.00 -> 112.50; member 162.50.
/// - E8 (zvw only, 2009) P21 600.00 without authorization: NO_AUTHORIZATION from the basic
///   insurance alone.
/// - E9 (zvw only, 2024: no seed names a threshold for 2024) P21 600.00: basic 450.00, all of it
///   within the 385.00 deductible -> 385.00; member 150.00.
/// - H1 P21 560.00: basic 420.00, deductible 360.00; left 140.00, 50% = 70.00, capped 61.25;
///   member 78.75.
/// - H2 P21 560.01 without authorization: NO_AUTHORIZATION.
/// - H3 P30 1120.00: basic 840.00, deductible 360.00; left 280.00, 50% = 140.00, capped 115.00;
///   member 165.00.
/// - H4 P30 1120.01 without authorization: NO_AUTHORIZATION.
#[test]
fn full_dentures_above_the_threshold_per_jaw_need_an_authorization() {
    let case = Dir::new("readings");
    let mut rows = Vec::new();
    let mut lines = Vec::new();
    // id, product (`-` for zvw alone), service date, code, amount, authorization.
    let cases = table(&[
        "E1 dsw-2009-av-standaard 2009-05-01 P21 549.99 -",
        "E2 dsw-2009-av-standaard 2009-05-01 P21 550.00 -",
        "E3 dsw-2009-av-standaard 2009-05-01 P21 550.01 -",
        "E4 dsw-2009-av-standaard 2009-05-01 P21 550.01 M-4",
        "E5 dsw-2009-av-standaard 2009-05-01 P30 1100.00 -",
        "E6 dsw-2009-av-standaard 2009-05-01 P30 1100.01 -",
        "E7 dsw-2009-av-standaard 2009-05-01 P30 1100.01 M-7",
        "E8 - 2009-05-01 P21 600.00 -",
        "E9 - 2024-05-01 P21 600.00 -",
        "H1 stadholland-2014-standaard 2014-05-01 P21 560.00 -",
        "H2 stadholland-2014-standaard 2014-05-01 P21 560.01 -",
        "H3 stadholland-2014-standaard 2014-05-01 P30 1120.00 -",
        "H4 stadholland-2014-standaard 2014-05-01 P30 1120.01 -",
    ]);
    for (i, c) in cases.iter().enumerate() {
        let [id, product, date, code, amount, auth] = [0, 1, 2, 3, 4, 5].map(|k| c[k].as_str());
        let n = 40 + i as u64;
        let start = format!("{}-01-01", &date[..4]);
        rows.push(row(n, id, "zvw", &start, "", ""));
        if !product.is_empty() {
            rows.push(row(n, id, product, &start, "", ""));
        }
        lines.push(line(
            id,
            OTHER,
            id,
            date,
            ("", code),
            ("", "", auth),
            amount,
            ",",
        ));
    }
    case.members(&rows);
    let claims = case.create_csv("c.csv", WITH_TRAJECTORY, &lines);
    run(&case, "out", &[&claims]);
    let mut got = outcomes(&case, "out");
    got.sort();
    let ds = "dsw-2009-av-standaard";
    let sh = "stadholland-2014-standaard";
    let paid = "TARIFF_CAP;PERCENTAGE;DEDUCTIBLE";
    assert_eq!(
        got,
        [
            format!("E1: 412.49 155.00 60.00 77.50 zvw+{ds} {paid}"),
            format!("E2: 412.50 155.00 60.00 77.50 zvw+{ds} {paid}"),
            "E3: NO_AUTHORIZATION".to_string(),
            format!("E4: 412.51 155.00 60.00 77.50 zvw+{ds} {paid}"),
            format!("E5: 825.00 155.00 112.50 162.50 zvw+{ds} {paid}"),
            "E6: NO_AUTHORIZATION".to_string(),
            format!("E7: 825.01 155.00 112.50 162.50 zvw+{ds} {paid}"),
            "E8: NO_AUTHORIZATION".to_string(),
            "E9: 450.00 385.00 0.00 150.00 zvw PERCENTAGE;DEDUCTIBLE".to_string(),
            format!("H1: 420.00 360.00 61.25 78.75 zvw+{sh} {paid}"),
            "H2: NO_AUTHORIZATION".to_string(),
            format!("H3: 840.00 360.00 115.00 165.00 zvw+{sh} {paid}"),
            "H4: NO_AUTHORIZATION".to_string(),
        ]
    );
    // The message names the threshold.
    let rejections = read(case.join("out").join("rejections.csv"));
    assert!(
        rejections.contains("prior authorization is required above 550.00 per jaw"),
        "{rejections}"
    );
}
