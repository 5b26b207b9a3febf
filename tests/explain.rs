//! `declaro explain`: a line's trace, re-derived by replaying its run, for lines hit by each
//! kind of rule, checked against the line's output row (which `explain` itself also checks).

mod util;
use serde_json::{json, Value};
use std::path::PathBuf;
use util::claims::WITH_CREDITS;
use util::*;

/// The fixture night of the README, committed to a ledger in `dir`.
fn fixture_night(dir: &Dir) -> (PathBuf, String) {
    dir.process().quiet().inputs(fixture_claims()).ok();
    (dir.join("out"), dir.ledger().arg())
}

/// The product fixtures (one member per product, fixtures/products).
fn products_night(dir: &Dir) -> PathBuf {
    let ledger = dir.join("products.db");
    let inputs = std::fs::read_dir(root().join("fixtures/products/claims"))
        .unwrap()
        .map(|e| e.unwrap().path());
    let run = dir.process().quiet().out("products").ledger(&ledger);
    let run = run.members("fixtures/products/members.csv");
    run.providers("fixtures/products/providers.csv")
        .inputs(inputs)
        .ok();
    ledger
}

/// `declaro explain --json` of one line; it must succeed.
fn explain(ledger: impl AsRef<std::ffi::OsStr>, line: &str, extra: &[&str]) -> Value {
    let stdout = declaro()
        .args(["explain", "--json", "--ledger"])
        .arg(ledger)
        .args(extra)
        .arg(line)
        .stdout();
    serde_json::from_str(&stdout).unwrap()
}

/// The steps of one kind.
fn steps<'a>(e: &'a Value, kind: &str) -> Vec<&'a Value> {
    e["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["step"] == kind)
        .collect()
}

fn paid(row: &str) -> Value {
    let f = &table(&[row])[0];
    json!({
        "outcome": "paid",
        "paid_basic": f[0],
        "deductible": f[1],
        "paid_supplementary": f[2],
        "member_pays": f[3],
        "products": f[4],
        "reasons": f[5],
    })
}

/// DSW AV-Standaard 2009 (policy dsw-2009-av-standaard.toml), member M001 insured from
/// 2009-01-01 with zvw: physiotherapy 100% up to the tariff 27.50 per session, 18 sessions per
/// calendar year (pool fysio-manueel).
/// - S001-01, the first session (30.00): 30.00 x 100% = 30.00 > cap 27.50 x 1, so 27.50 paid,
///   the member pays 2.50; the pool goes 0 -> 1 session, 0.00 -> 27.50.
/// - M004-OT17 (M004, oefentherapie, 3 sessions for 82.50, pool oefentherapie with 18 per
///   year): 16 used before, so 2 of 3 allowed: 82.50 x 2/3 = 55.00, under the cap 27.50 x 2 =
///   55.00; paid 55.00, the member pays 27.50 (SESSION_LIMIT); the pool goes 16 -> 18.
#[test]
fn a_tariff_cap_and_a_session_limit_are_traced_with_the_pool_before_and_after() {
    let dir = Dir::new("explain");
    let (_, ledger) = fixture_night(&dir);

    let e = explain(&ledger, "12345678/S001-01", &[]);
    assert_eq!(e["run"], 1);
    assert_eq!(e["decided_in"], "adjudicate");
    assert_eq!(
        steps(&e, "held")[0]["products"],
        json!([
            {"product": "zvw", "layer": "basic", "since": "2009-01-01"},
            {"product": "dsw-2009-av-standaard", "layer": "supplementary", "since": "2009-01-01"},
        ])
    );
    let layers = steps(&e, "layer");
    assert_eq!(
        layers[0]["benefit"],
        Value::Null,
        "zvw has no physiotherapy for adults"
    );
    assert_eq!(
        layers[0]["no_benefit"],
        "no benefit of the product lists the code"
    );
    assert_eq!(layers[1]["benefit"], "fysiotherapie");
    assert_eq!(
        steps(&e, "units")[0],
        &json!({"step": "units", "pool": "fysio-manueel", "window": "2009", "max": 18,
                "used_before": 0, "quantity": 1, "allowed": 1})
    );
    assert_eq!(
        steps(&e, "tariff_cap")[0],
        &json!({"step": "tariff_cap", "per_unit": "27.50", "units": 1, "cap": "27.50",
                "applied": true, "amount": "27.50"})
    );
    assert_eq!(
        steps(&e, "paid")[0]["counters"][0],
        json!({"pool": "fysio-manueel", "window": "2009", "units_before": 0, "units_after": 1,
               "euros_before": "0.00", "euros_after": "27.50"})
    );
    assert_eq!(
        e["result"],
        paid("0.00 0.00 27.50 2.50 dsw-2009-av-standaard TARIFF_CAP")
    );

    let e = explain(&ledger, "12345678/M004-OT17", &[]);
    let units = steps(&e, "units");
    assert_eq!(
        (&units[0]["used_before"], &units[0]["allowed"]),
        (&json!(16), &json!(2))
    );
    assert_eq!(steps(&e, "base")[0]["amount"], "55.00");
    assert_eq!(steps(&e, "base")[0]["units_paid"], "2/3");
    assert_eq!(steps(&e, "tariff_cap")[0]["applied"], false);
    assert_eq!(
        e["result"],
        paid("0.00 0.00 55.00 27.50 dsw-2009-av-standaard SESSION_LIMIT")
    );

    // The 19th session of S001 finds the 18 used: nothing allowed, SESSION_LIMIT.
    let e = explain(&ledger, "12345678/S001-19", &[]);
    assert_eq!(steps(&e, "units")[0]["used_before"], 18);
    assert_eq!(steps(&e, "units")[0]["allowed"], 0);
    assert_eq!(steps(&e, "rejected")[0]["reason"], "SESSION_LIMIT");
    assert_eq!(e["result"]["outcome"], "rejected");
    assert_eq!(e["result"]["reason"], "SESSION_LIMIT");
}

/// DSW AV-Standaard 2009, acne treatment: 75% with a referral, at most 150.00 per calendar
/// year (P001, fixtures/products).
/// - AC-1 (100.00): 100.00 x 75% = 75.00, room 150.00: paid 75.00 (PERCENTAGE).
/// - AC-2 (120.00): 120.00 x 75% = 90.00, room 150.00 - 75.00 = 75.00: paid 75.00, the
///   member pays 45.00 (AMOUNT_LIMIT;PERCENTAGE).
#[test]
fn a_percentage_and_a_euro_limit_show_the_room_left() {
    let dir = Dir::new("explain");
    let ledger = products_night(&dir);
    let e = explain(&ledger, "22222222/AC-1", &[]);
    assert_eq!(
        steps(&e, "condition")
            .iter()
            .map(|c| (c["check"].as_str().unwrap(), c["passed"].as_bool().unwrap()))
            .collect::<Vec<_>>(),
        [("waiting period", true), ("referral", true)]
    );
    assert_eq!(
        steps(&e, "percentage")[0],
        &json!({"step": "percentage", "percent": "75", "amount": "75.00"})
    );
    assert_eq!(
        e["result"],
        paid("0.00 0.00 75.00 25.00 dsw-2009-av-standaard PERCENTAGE")
    );

    let e = explain(&ledger, "22222222/AC-2", &[]);
    let euros = steps(&e, "euros");
    assert_eq!(
        (
            &euros[0]["used_before"],
            &euros[0]["room"],
            &euros[0]["applied"],
            &euros[0]["amount"]
        ),
        (
            &json!("75.00"),
            &json!("75.00"),
            &json!(true),
            &json!("75.00")
        )
    );
    assert_eq!(
        e["result"],
        paid("0.00 0.00 75.00 45.00 dsw-2009-av-standaard AMOUNT_LIMIT;PERCENTAGE")
    );
}

/// - 2024-basic T-1 (M030, zvw 2024, deductible 385.00): a full denture of 600.00 at 75% =
///   450.00 basic; P-1 charged 18.00 of the deductible before, so 385.00 - 18.00 = 367.00 is
///   charged now; the member pays 600.00 - 450.00 = 150.00.
/// - products T-P21 (P001, 2009: zvw + DSW AV-Standaard): 800.00 at 75% = 600.00 basic, of
///   which the 2009 deductible 155.00; the supplement pays 50% of the member's share 200.00 =
///   100.00, capped at its tariff 60.00; the member pays 800.00 - 600.00 - 60.00 = 140.00.
#[test]
fn the_deductible_and_a_layered_payment_are_traced_layer_by_layer() {
    let dir = Dir::new("explain");
    let (_, ledger) = fixture_night(&dir);
    let e = explain(&ledger, "89012345/T-1", &[]);
    assert_eq!(
        steps(&e, "deductible")[0],
        &json!({"step": "deductible", "year": 2024, "mandatory": "385.00", "voluntary": "0.00",
                "used_before": "18.00", "charged": "367.00", "used_after": "385.00"})
    );
    assert_eq!(
        e["result"],
        paid("450.00 367.00 0.00 150.00 zvw PERCENTAGE;DEDUCTIBLE")
    );

    let ledger = products_night(&dir);
    let e = explain(&ledger, "22222222/T-P21", &[]);
    let paid_by: Vec<(&str, &str)> = steps(&e, "paid")
        .iter()
        .map(|p| {
            (
                p["product"].as_str().unwrap(),
                p["amount"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        paid_by,
        [("zvw", "600.00"), ("dsw-2009-av-standaard", "60.00")]
    );
    let bases: Vec<(&str, &str)> = steps(&e, "base")
        .iter()
        .map(|b| (b["basis"].as_str().unwrap(), b["amount"].as_str().unwrap()))
        .collect();
    assert_eq!(bases, [("claim", "800.00"), ("member share", "200.00")]);
    assert_eq!(steps(&e, "deductible")[0]["charged"], "155.00");
    assert_eq!(
        e["result"],
        paid(
            "600.00 155.00 60.00 140.00 zvw+dsw-2009-av-standaard TARIFF_CAP;PERCENTAGE;DEDUCTIBLE"
        )
    );
}

/// Two nights on one ledger (M030, zvw 2024, deductible 385.00, medicines fully covered):
/// - night 1: P-1 (100.00) is charged 100.00 of the deductible;
/// - night 2: CP-1 credits P-1 (-100.00, the deductible given back), then P-2 (400.00) finds
///   0.00 used and is charged the full 385.00.
///
/// Explaining P-1 after night 2 still shows the ledger as night 1 saw it (0.00 before, 100.00
/// after), not as it is now.
fn a_credit_of_a_later_night_and_the_earlier_night_as_it_was(dir: Dir) {
    let ledger = dir.ledger().arg();
    let night = |name: &str, rows: &[&str]| {
        let f = dir.create_csv(&format!("{name}.csv"), WITH_CREDITS, table(rows));
        let run = dir.process().quiet().ledger(&ledger).out(name);
        run.input(f).ok();
    };
    night(
        "n1",
        &["P P-1 56789012 M030 1978-08-08 2024-02-01 PHARMA 100.00 - -"],
    );
    night(
        "n2",
        &[
            "P CP-1 56789012 M030 1978-08-08 2024-02-01 PHARMA 100.00 C P-1",
            "P P-2 56789012 M030 1978-08-08 2024-03-01 PHARMA 400.00 - -",
        ],
    );
    let e = explain(&ledger, "56789012/CP-1", &[]);
    assert_eq!(e["run"], 2);
    assert_eq!(
        steps(&e, "credit")[0],
        &json!({"step": "credit", "reverses": "P-1", "result": "reversed"})
    );
    assert_eq!(e["result"], paid("-100.00 -100.00 0.00 0.00 zvw -"));
    let e = explain(&ledger, "56789012/P-2", &[]);
    let d = steps(&e, "deductible")[0];
    assert_eq!(
        (&d["used_before"], &d["charged"]),
        (&json!("0.00"), &json!("385.00"))
    );
    let e = explain(&ledger, "56789012/P-1", &[]);
    assert_eq!(e["run"], 1);
    let d = steps(&e, "deductible")[0];
    assert_eq!(
        (&d["used_before"], &d["charged"]),
        (&json!("0.00"), &json!("100.00"))
    );
    // Night 1's input changed since: its replay is refused, naming the file.
    let n1 = dir.join("n1.csv");
    let mut text = std::fs::read_to_string(&n1).unwrap();
    text.push_str("P,P-9,56789012,M030,1978-08-08,2024-02-02,PHARMA,1.00,,\n");
    std::fs::write(&n1, text).unwrap();
    let err = dir
        .command()
        .args(["explain", "--ledger"])
        .arg(&ledger)
        .arg("56789012/P-1")
        .assert_exit(3);
    let err = String::from_utf8_lossy(&err.stderr);
    assert!(err.contains("n1.csv changed since the run"), "{err}");
}

/// A line rejected while reading (X-02, amount "12,50") or by screening (X-09, member M999
/// unknown) has no adjudication steps; the reason is the row's.
#[test]
fn rejections_before_adjudication_name_the_stage_that_decided() {
    let dir = Dir::new("explain");
    let (_, ledger) = fixture_night(&dir);
    let e = explain(&ledger, "45678901/X-02", &[]);
    assert_eq!(e["decided_in"], "read");
    assert_eq!(e["result"]["reason"], "MALFORMED");
    assert_eq!(e["line"]["quantity"], Value::Null);
    let e = explain(&ledger, "45678901/X-09", &[]);
    assert_eq!(e["decided_in"], "screen");
    assert_eq!(e["result"]["reason"], "UNKNOWN_MEMBER");
    assert_eq!(e["result"]["vektis"], "0320");
    assert!(e["steps"].as_array().unwrap().is_empty());
    let explain_text = |line: &str| {
        let c = dir
            .command()
            .args(["explain", "--ledger"])
            .arg(&ledger)
            .arg(line)
            .run();
        String::from_utf8(c.stdout).unwrap()
    };
    let text = explain_text("45678901/X-09");
    assert!(text.contains("decided by screening"), "{text}");
    // No personal data: the member of S001-01 (M001) is born 1970-04-12, BSN 100023757.
    let text = explain_text("12345678/S001-01");
    assert!(
        text.contains("tariff cap 27.50 x 1 = 27.50: applies"),
        "{text}"
    );
    for private in ["1970-04-12", "19700412", "100023757", "M001"] {
        assert!(!text.contains(private), "{private} in {text}");
    }
}

/// A dry run is explained through its `--out`; after a policy file changes, the replay is
/// refused, naming the file, rather than giving a trace that is not the run's.
#[test]
fn a_dry_run_is_explained_by_its_out_and_a_changed_file_refuses_the_replay() {
    let dir = Dir::new("explain");
    let policies = dir.copy_policies("policies", |_, text| text);
    let (out, ledger) = (dir.join("dry"), dir.join("l.db"));
    let run = dir
        .process()
        .no_providers()
        .policy(&policies)
        .ledger(&ledger)
        .out("dry");
    let run = run.args(["--quiet", "--dry-run"]);
    run.input("fixtures/claims/2009-dsw-standaard.csv").ok();
    let e = explain(
        &ledger,
        "12345678/S001-01",
        &["--out", out.to_str().unwrap()],
    );
    assert_eq!(e["run"], Value::Null, "a dry run has no run id");
    assert_eq!(e["result"]["paid_supplementary"], "27.50");

    let toml = policies.join("dsw-2009-av-standaard.toml");
    let text = read(&toml).replace("27.50", "29.00");
    std::fs::write(&toml, text).unwrap();
    let o = dir
        .command()
        .args(["explain", "--ledger"])
        .arg(&ledger)
        .args(["--out", out.to_str().unwrap(), "12345678/S001-01"])
        .assert_exit(3);
    let err = stderr(&o);
    assert!(
        err.contains("dsw-2009-av-standaard.toml changed since the run"),
        "{err}"
    );
}

/// Every line of the fixture night, paid or rejected, is explained, and each replay agrees
/// with its row (explain fails when it does not).
fn every_line_of_the_fixture_night_is_explained_in_agreement_with_its_row(dir: Dir) {
    let (out, ledger) = fixture_night(&dir);
    let mut n = 0;
    for name in ["remittance.csv", "rejections.csv"] {
        let mut r = csv::Reader::from_path(out.join(name)).unwrap();
        let h = r.headers().unwrap().clone();
        let col = |c: &str| h.iter().position(|x| x == c).unwrap();
        let (agb, id) = (col("provider_agb"), col("line_id"));
        for row in r.records() {
            let row = row.unwrap();
            let key = format!("{}/{}", &row[agb], &row[id]);
            let e = explain(&ledger, &key, &[]);
            assert!(
                e["agrees_with"]
                    .as_str()
                    .unwrap()
                    .starts_with("remittance.csv")
                    || name == "rejections.csv"
            );
            n += 1;
        }
    }
    assert!(n > 300, "{n} lines");
}

both_backends! {
    a_credit_of_a_later_night_and_the_earlier_night_as_it_was,
    every_line_of_the_fixture_night_is_explained_in_agreement_with_its_row,
}
