//! Test helpers: run the real `declaro` binary in a temporary directory (after ripgrep's
//! `tests/util.rs`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root: fixtures and expected outputs are read from here.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A command for the built binary, run from the repository root.
pub fn declaro() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_declaro"));
    c.current_dir(root());
    c.env_remove("RUST_LOG");
    c
}

/// `declaro process` on the fixture policies and registers, run date 2025-12-31.
pub fn process(out: &Path, inputs: &[&str], extra: &[&str]) -> Output {
    process_with(
        out,
        "fixtures/members.csv",
        "fixtures/providers.csv",
        inputs,
        extra,
    )
}

pub fn read(p: impl AsRef<Path>) -> String {
    let p = p.as_ref();
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

/// The expected output file of a scenario in `tests/expected/`.
pub fn expected(scenario: &str, file: &str) -> String {
    read(root().join("tests/expected").join(scenario).join(file))
}

/// Asserts two CSV texts are equal, showing the first differing line.
pub fn assert_same_csv(actual: &str, expected: &str, what: &str) {
    if actual == expected {
        return;
    }
    for (i, (a, e)) in actual.lines().zip(expected.lines()).enumerate() {
        assert_eq!(a, e, "{what}: line {} differs", i + 1);
    }
    assert_eq!(
        actual.lines().count(),
        expected.lines().count(),
        "{what}: line count differs"
    );
    assert_eq!(actual, expected, "{what}: differs (line endings?)");
}

pub fn summary(out: &Path) -> serde_json::Value {
    serde_json::from_str(&read(out.join("summary.json"))).expect("summary.json is JSON")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A `declaro process` command on the fixture policies and member register, run date
/// 2025-12-31, into `out`; the caller adds options, environment and inputs.
pub fn process_command(out: &Path) -> Command {
    let mut c = declaro();
    c.args(["process", "--policy", "fixtures/policies"])
        .args([
            "--members",
            "fixtures/members.csv",
            "--run-date",
            "2025-12-31",
        ])
        .arg("--out")
        .arg(out);
    c
}

/// The names of the entries of `dir` (none when it does not exist).
pub fn files_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// `declaro process` on the fixture policies with the given member and provider registers,
/// run date 2025-12-31.
pub fn process_with(
    out: &Path,
    members: &str,
    providers: &str,
    inputs: &[&str],
    extra: &[&str],
) -> Output {
    let mut c = declaro();
    c.args([
        "process",
        "--policy",
        "fixtures/policies",
        "--members",
        members,
    ]);
    c.args([
        "--providers",
        providers,
        "--run-date",
        "2025-12-31",
        "--out",
    ]);
    c.arg(out);
    c.args(extra);
    c.args(inputs);
    c.output().expect("run declaro")
}

/// The CSV columns after `file` and `record`.
pub fn without_file_and_record(text: &str) -> Vec<String> {
    text.lines()
        .skip(1)
        .map(|r| {
            let mut rec = csv::ReaderBuilder::new()
                .has_headers(false)
                .from_reader(r.as_bytes());
            let row = rec.records().next().unwrap().unwrap();
            row.iter().skip(2).collect::<Vec<_>>().join("|")
        })
        .collect()
}

/// Rejection rows without `file` and `raw` (the record text differs by format).
pub fn rejections_without_file_and_raw(text: &str) -> Vec<String> {
    let mut r = csv::Reader::from_reader(text.as_bytes());
    r.records()
        .map(|row| {
            let row = row.unwrap();
            let n = row.len();
            row.iter()
                .enumerate()
                .filter(|(i, _)| *i != 0 && *i != n - 1)
                .map(|(_, v)| v)
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect()
}

/// Writes `text` to `dir/name` and gives the path.
pub fn write(dir: &Path, name: &str, text: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// What one run made of a file: its remittance rows and rejection rows (without `file`,
/// `record` and `raw`) and `summary.json`'s totals.
pub type Adjudication = (Vec<String>, Vec<String>, serde_json::Value);

/// Runs `process` on each file alone (into `dir/out0`, `dir/out1`, ...), each expected to read
/// `lines` lines, and gives what each run made of its file.
pub fn adjudicate_each(dir: &Path, files: &[String], lines: usize) -> Vec<Adjudication> {
    files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let out = dir.join(format!("out{i}"));
            let o = process(&out, &[f], &["--quiet"]);
            assert_eq!(o.status.code(), Some(0), "{f}: {}", stderr(&o));
            let s = summary(&out);
            assert_eq!(s["lines"], lines as u64, "{f}");
            (
                without_file_and_record(&read(out.join("remittance.csv"))),
                rejections_without_file_and_raw(&read(out.join("rejections.csv"))),
                s["totals"].clone(),
            )
        })
        .collect()
}
