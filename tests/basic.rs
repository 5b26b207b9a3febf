//! The basic layer under a supplementary product, worked by hand (seed 001 and 004).

mod util;
use util::*;

/// A chronic physiotherapy patient (a.s.r. 2024 supplementary, born 1970): the provider declares
/// sessions 1-20 with CSI 008 (no basic entitlement yet: the member or a supplementary product
/// pays), sessions 21-25 with CSI 001 (basic insurance pays, subject to the deductible).
/// 1-20: a.s.r. pays its maximum for 1000, 26.59 of 30.00; the member 3.41 (`TARIFF_CAP`).
/// 21-25: zvw pays 30.00 each, all charged to the 2024 deductible (385.00): 5 x 30.00 = 150.00.
#[test]
fn chronic_physio_sessions_1_to_20_go_to_the_supplement_and_21_to_25_to_basic() {
    let dir = Dir::new("basic");
    let members = dir.create_csv(
        "members.csv",
        claims::REGISTER_WITHOUT_VOLUNTARY,
        table(&[
            "C1 111222333 1970-01-01 zvw 2024-01-01 -",
            "C1 111222333 1970-01-01 asr-2024-paramedisch 2024-01-01 -",
        ]),
    );
    let sessions = (1..=25u32).map(|i| {
        let csi = if i <= 20 { "008" } else { "001" };
        let (month, day) = (1 + (i - 1) / 4, 1 + 7 * ((i - 1) % 4));
        let row =
            format!("F S{i} 12345678 C1 1970-01-01 2024-{month:02}-{day:02} 012 1000 {csi} 30.00");
        table(&[&row]).remove(0)
    });
    let input = dir.create_csv("claims.csv", claims::WITH_CSI, sessions);
    let run = dir
        .process()
        .no_providers()
        .ledger_in_out()
        .members(members);
    run.quiet().input(input).ok();
    let out = dir.join("out");
    let rows = csv_file_records(out.join("remittance.csv"));
    assert_eq!(rows.len(), 25);
    for (i, r) in rows.iter().enumerate() {
        // paid_basic, deductible, paid_supplementary, member_pays, products, reasons
        let got = &r[11..17];
        if i < 20 {
            assert_eq!(
                got,
                [
                    "0.00",
                    "0.00",
                    "26.59",
                    "3.41",
                    "asr-2024-paramedisch",
                    "TARIFF_CAP"
                ],
                "session {}",
                i + 1
            );
        } else {
            assert_eq!(
                got,
                ["30.00", "30.00", "0.00", "0.00", "zvw", "DEDUCTIBLE"],
                "session {}",
                i + 1
            );
        }
    }
    let s = summary(&out);
    assert_eq!(s["totals"]["deductible"], "150.00");
    assert_eq!(s["totals"]["paid_supplementary"], "531.80", "20 x 26.59");
}
