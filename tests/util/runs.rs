//! Two dry runs of the fixture night for `declaro diff`, shared by `tests/diff_html.rs` and
//! `tests/report_browser.rs`.
#![allow(dead_code)]

use crate::util::{declaro, root, Dir};
use std::path::{Path, PathBuf};

/// The fixture claim files, sorted.
pub fn fixture_claims() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("fixtures/claims"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

/// Two dry runs of every fixture claim file over one ledger in `dir`: `dir/a` with the fixture
/// policies, `dir/b` with a copy of them in which one maximum is raised, the DSW standard
/// policy's physiotherapy session cap from 27.50 to 30.00. Gives (A, B).
pub fn two_dry_runs_with_a_raised_maximum(dir: &Dir) -> (PathBuf, PathBuf) {
    let changed = std::cell::Cell::new(0);
    let policies = dir.copy_policies("policies", |name, mut text| {
        if name == "dsw-2009-av-standaard.toml" {
            // The first `max_per_unit = "27.50"` of the file is the physiotherapy sessions'.
            let at = text.find("max_per_unit = \"27.50\"").unwrap();
            text.replace_range(at..at + 22, "max_per_unit = \"30.00\"");
            changed.set(changed.get() + 1);
        }
        text
    });
    assert_eq!(
        changed.get(),
        1,
        "the DSW standard policy is among the fixtures"
    );
    let (a, b) = (dir.join("a"), dir.join("b"));
    for (out, policy) in [(&a, root().join("fixtures/policies")), (&b, policies)] {
        let run = dir.process().policy(policy).out(out);
        run.args(["--quiet", "--dry-run"])
            .inputs(fixture_claims())
            .ok();
    }
    (a, b)
}

/// `declaro diff A B --html PAGE [--json]`: its stdout.
pub fn diff_html(a: &Path, b: &Path, page: &Path, json: bool) -> String {
    let mut c = declaro();
    c.arg("diff").arg(a).arg(b).arg("--html").arg(page);
    if json {
        c.arg("--json");
    }
    c.stdout()
}
