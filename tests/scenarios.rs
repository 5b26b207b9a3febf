//! Each fixture claims file run on its own, every output row compared with the expected file
//! worked out by hand. The arithmetic is in `tests/expected/NOTES.md`.

mod util;
use util::*;

fn scenario(name: &str) {
    let dir = Dir::new("scenarios");
    let input = format!("fixtures/claims/{name}.csv");
    Process::new(dir.path()).quiet().input(&input).ok();
    assert_same_csv(
        &read(dir.join("remittance.csv")),
        &expected(name, "remittance.csv"),
        "remittance",
    );
    assert_same_csv(
        &read(dir.join("rejections.csv")),
        &expected(name, "rejections.csv"),
        "rejections",
    );
    let s = summary(dir.path());
    assert_eq!(s["reconciliation"]["balanced"], true);
    let rows = expected(name, "remittance.csv").lines().count() - 1
        + expected(name, "rejections.csv").lines().count()
        - 1;
    assert_eq!(s["lines"], rows as u64);
}

#[test]
fn dsw_standaard_physio_pool_manual_nine_plus_nine_exercise_and_waiting_period() {
    scenario("2009-dsw-standaard");
}

#[test]
fn dsw_top_authorization_from_the_19th_session() {
    scenario("2009-dsw-top");
}

#[test]
fn asr_caps_per_code() {
    scenario("2024-asr");
}

#[test]
fn asr_night_of_twenty_members() {
    scenario("2024-asr-night");
}

#[test]
fn basic_insurance_and_the_deductible() {
    scenario("2024-basic");
}

#[test]
fn every_bad_input_reason() {
    scenario("2024-bad-lines");
}

/// The whole night in one run: members do not overlap between the files, so the outputs are
/// the per-file expectations one after the other, in command-line order.
#[test]
fn whole_night_in_one_run_is_the_files_one_after_another() {
    let names = [
        "2009-dsw-standaard",
        "2009-dsw-top",
        "2024-asr",
        "2024-asr-night",
        "2024-basic",
        "2024-bad-lines",
    ];
    let inputs: Vec<String> = names
        .iter()
        .map(|n| format!("fixtures/claims/{n}.csv"))
        .collect();
    let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let concat = |file: &str| {
        let mut all = String::new();
        for (i, n) in names.iter().enumerate() {
            let text = expected(n, file);
            let skip = if i == 0 { 0 } else { 1 };
            for l in text.lines().skip(skip) {
                all.push_str(l);
                all.push('\n');
            }
        }
        all
    };
    for threads in ["1", "2", "8"] {
        let dir = Dir::new("scenarios");
        Process::new(dir.path())
            .args(["--quiet", "--threads", threads])
            .inputs(&inputs)
            .ok();
        assert_same_csv(
            &read(dir.join("remittance.csv")),
            &concat("remittance.csv"),
            "remittance",
        );
        assert_same_csv(
            &read(dir.join("rejections.csv")),
            &concat("rejections.csv"),
            "rejections",
        );
    }
}
