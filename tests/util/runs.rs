//! Two dry runs of the fixture night for `declaro diff`, shared by `tests/diff_html.rs` and
//! `tests/report_browser.rs`.
#![allow(dead_code)]

use crate::util::{declaro, root, stderr};
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
pub fn two_dry_runs_with_a_raised_maximum(dir: &Path) -> (PathBuf, PathBuf) {
    let policies = dir.join("policies");
    std::fs::create_dir(&policies).unwrap();
    let mut changed = 0;
    for e in std::fs::read_dir(root().join("fixtures/policies")).unwrap() {
        let e = e.unwrap();
        let mut text = std::fs::read_to_string(e.path()).unwrap();
        if e.file_name() == "dsw-2009-av-standaard.toml" {
            // The first `max_per_unit = "27.50"` of the file is the physiotherapy sessions'.
            let at = text.find("max_per_unit = \"27.50\"").unwrap();
            text.replace_range(at..at + 22, "max_per_unit = \"30.00\"");
            changed += 1;
        }
        std::fs::write(policies.join(e.file_name()), text).unwrap();
    }
    assert_eq!(changed, 1, "the DSW standard policy is among the fixtures");
    let ledger = dir.join("ledger.db");
    let (a, b) = (dir.join("a"), dir.join("b"));
    for (out, policy) in [(&a, root().join("fixtures/policies")), (&b, policies)] {
        let o = declaro()
            .args(["process", "--quiet", "--dry-run", "--policy"])
            .arg(&policy)
            .args(["--members", "fixtures/members.csv"])
            .args(["--providers", "fixtures/providers.csv"])
            .args(["--run-date", "2025-12-31", "--ledger"])
            .arg(&ledger)
            .arg("--out")
            .arg(out)
            .args(fixture_claims())
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
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
    let o = c.output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    String::from_utf8(o.stdout).unwrap()
}
