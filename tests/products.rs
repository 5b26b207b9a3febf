//! The product policies of seeds 001-003, each claims file of `fixtures/products/claims/` run on
//! its own against the products registers, every output row compared with the expected file
//! worked out by hand from the seeds. The arithmetic is in `tests/expected/NOTES.md`.

mod util;
use util::*;

fn scenario(name: &str) {
    let dir = Dir::new("products");
    let input = format!("fixtures/products/claims/{name}.csv");
    Process::new(dir.path())
        .members("fixtures/products/members.csv")
        .providers("fixtures/products/providers.csv")
        .quiet()
        .input(&input)
        .ok();
    let expected_dir = format!("products-{name}");
    assert_same_csv(
        &read(dir.join("remittance.csv")),
        &expected(&expected_dir, "remittance.csv"),
        "remittance",
    );
    assert_same_csv(
        &read(dir.join("rejections.csv")),
        &expected(&expected_dir, "rejections.csv"),
        "rejections",
    );
    let s = summary(dir.path());
    assert_eq!(s["reconciliation"]["balanced"], true);
    let rows = expected(&expected_dir, "remittance.csv").lines().count() - 1
        + expected(&expected_dir, "rejections.csv").lines().count()
        - 1;
    assert_eq!(s["lines"], rows as u64);
}

#[test]
fn dsw_standaard_every_benefit_row() {
    scenario("dsw-standaard");
}

#[test]
fn dsw_top_every_benefit_row() {
    scenario("dsw-top");
}

#[test]
fn stadholland_standaard_every_benefit_row_and_the_orthodontics_twelve_months() {
    scenario("stadholland-standaard");
}

#[test]
fn stadholland_uitgebreid_every_benefit_row() {
    scenario("stadholland-uitgebreid");
}

#[test]
fn basis_plus_module_csi_008_009_pluspraktijk_and_referral() {
    scenario("zk-basis-plus-module");
}
