//! The a.s.r. policy checked against the seed text line by line: every code in the seed table
//! is in the policy with the seed's amount, and the policy has no code the seed lacks.

mod util;
use declaro::policy;
use std::collections::BTreeMap;

/// Reads (code, amount) pairs from the seed: a row starts with a 4-digit code; its amount
/// (`€ 26,59`) ends that line or a following one.
fn seed_table(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut open: Option<String> = None;
    for line in text.lines().map(str::trim) {
        let starts_code = line.len() > 5
            && line.as_bytes()[..4].iter().all(u8::is_ascii_digit)
            && line.as_bytes()[4] == b' '
            && !line.contains(" BA ");
        if starts_code {
            open = Some(line[..4].to_string());
        }
        if let (Some(code), Some(pos)) = (&open, line.rfind("€ ")) {
            let amount = line[pos + "€ ".len()..].trim().replace(',', ".");
            out.insert(code.clone(), amount);
            open = None;
        }
    }
    out
}

#[test]
fn every_code_and_amount_of_seed_000_is_in_the_policy() {
    let seed =
        util::read(util::root().join("fixtures/seeds/000-asr-2024-paramedische-zorg-tarieven.txt"));
    let table = seed_table(&seed);
    assert_eq!(table.len(), 89, "the seed lists 89 codes");
    let path = util::root().join("fixtures/policies/asr-2024-paramedisch.toml");
    let product = policy::compile(&path, &util::read(&path)).expect("policy compiles");
    let mut in_policy = BTreeMap::new();
    for b in &product.benefits {
        for (code, max) in &b.tariffs {
            in_policy.insert(code.clone(), max.to_string());
        }
    }
    assert_eq!(in_policy, table);
    assert_eq!(product.codes().count(), 89);
}
