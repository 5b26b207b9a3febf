//! Test harness: run the real `declaro` binary in a temporary directory (after ripgrep's
//! `tests/util.rs`, `Dir` and `TestCommand`).
//!
//! - [`Dir`] owns a temporary directory; `create`, `create_bytes` and `create_csv` write input
//!   files into it (`create_csv` through the csv crate's writer, so quoting is right; its rows
//!   are often written as a [`table`], one row a line), `copy_policies` a changed copy of the
//!   fixture policies, `generate` a generated night. The headers are in [`claims`].
//! - [`Dir::process`] is `declaro process` on the fixture policies, member and provider
//!   registers, run date 2025-12-31, the ledger `ledger.db` of the directory and `--out` in the
//!   directory; [`Process`] overrides each of them, and runs the command as it is, under another
//!   program ([`Process::wrapped`]) or gives it for a shell ([`Process::shell_line`]).
//! - [`TestCommand`] runs a command and asserts its exit code; on failure it prints the command
//!   line, the working directory, the exit code, stdout, stderr and a listing of the directory.
//! - [`csv_maps`], [`csv_records`] and [`without_origin`] read CSV outputs (header-aware,
//!   quoting understood); [`Dir::paid`], [`Dir::rejected`] and [`Dir::rejections`] the rows of
//!   a run.
#![allow(dead_code)]

pub mod backend;
pub mod claims;

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root: fixtures and expected outputs are read from here.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The claims files of the README's fixture night (`fixtures/claims/*.csv`), as paths relative
/// to the repository root, in the shell's (sorted) order.
pub fn fixture_claims() -> Vec<String> {
    [
        "2009-dsw-standaard",
        "2009-dsw-top",
        "2024-asr",
        "2024-asr-night",
        "2024-bad-lines",
        "2024-basic",
    ]
    .iter()
    .map(|f| format!("fixtures/claims/{f}.csv"))
    .collect()
}

// ---------------------------------------------------------------------------------------------
// Dir
// ---------------------------------------------------------------------------------------------

/// A temporary directory of one test: its input files, outputs and ledger.
pub struct Dir {
    /// Dropped before the directory: a PostgreSQL test database is removed first.
    ledger: backend::Ledger,
    dir: tempfile::TempDir,
}

impl Dir {
    /// A new, empty temporary directory named after the test.
    pub fn new(name: &str) -> Dir {
        let dir = tempfile::Builder::new()
            .prefix(&format!("declaro-{name}-"))
            .tempdir()
            .unwrap();
        let ledger = backend::Ledger::Sqlite(dir.path().join("ledger.db"));
        Dir { ledger, dir }
    }

    /// [`Dir::new`] whose ledger is a new database on the PostgreSQL test server; `None`
    /// (after saying SKIPPED) without one.
    pub fn on_postgres(name: &str) -> Option<Dir> {
        let server = backend::postgres_server(name)?;
        let mut d = Dir::new(name);
        d.ledger = backend::Ledger::new_postgres(&server, name);
        Some(d)
    }

    /// The directory's ledger: `ledger.db` in it, or its PostgreSQL database.
    pub fn ledger(&self) -> &backend::Ledger {
        &self.ledger
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `name` in the directory.
    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `contents` to `name` in the directory; its path as a string.
    pub fn create(&self, name: &str, contents: impl AsRef<str>) -> String {
        self.create_bytes(name, contents.as_ref().as_bytes())
    }

    /// Writes `contents` to `name` in the directory; its path as a string.
    pub fn create_bytes(&self, name: &str, contents: &[u8]) -> String {
        let p = self.join(name);
        std::fs::write(&p, contents).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
        p.display().to_string()
    }

    /// Creates the directory `name` in the directory.
    pub fn create_dir(&self, name: &str) -> PathBuf {
        let p = self.join(name);
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    /// Writes a CSV file of `header` (column names separated by commas) and `rows` through the
    /// csv crate's writer; its path as a string.
    pub fn create_csv<R, F>(&self, name: &str, header: &str, rows: R) -> String
    where
        R: IntoIterator,
        R::Item: IntoIterator<Item = F>,
        F: AsRef<[u8]>,
    {
        self.create_bytes(name, &csv_text(header, rows))
    }

    /// The member register `members.csv` of `rows` (columns of [`claims::REGISTER`]).
    pub fn members<R, F>(&self, rows: R) -> String
    where
        R: IntoIterator,
        R::Item: IntoIterator<Item = F>,
        F: AsRef<[u8]>,
    {
        self.create_csv("members.csv", claims::REGISTER, rows)
    }

    /// The remittance rows of `out` (in the directory) without `file` and `record`.
    pub fn paid(&self, out: &str) -> Vec<String> {
        without_origin(&read(self.join(out).join("remittance.csv")))
    }

    /// The rejection rows of `out` (in the directory) without `file` and `record`.
    pub fn rejected(&self, out: &str) -> Vec<String> {
        without_origin(&read(self.join(out).join("rejections.csv")))
    }

    /// (line_id, reason, message) of every rejection of `out` (in the directory).
    pub fn rejections(&self, out: &str) -> Vec<(String, String, String)> {
        rejections(&self.join(out))
    }

    /// `summary.json` of `out` (in the directory).
    pub fn summary(&self, out: &str) -> serde_json::Value {
        summary(&self.join(out))
    }

    /// `declaro` (no arguments yet), run from the repository root.
    pub fn command(&self) -> TestCommand {
        TestCommand::new(Some(self.path()))
    }

    /// `declaro process` with the usual flags (see [`Process`]), into `out` of the directory.
    pub fn process(&self) -> Process {
        Process::new(self.join("out"))
            .ledger(self.ledger.arg())
            .of_dir(self.path())
    }

    /// `declaro generate ARGS --out NAME` (NAME in the directory); asserts exit 0; the
    /// directory it wrote.
    #[track_caller]
    pub fn generate(&self, name: &str, args: &[&str]) -> PathBuf {
        let out = self.join(name);
        self.command()
            .arg("generate")
            .args(args)
            .arg("--out")
            .arg(&out)
            .ok();
        out
    }

    /// A copy of the fixture policies (`fixtures/policies`) in the directory `name`, each file's
    /// text through `edit(file name, text)`; its path.
    pub fn copy_policies(&self, name: &str, edit: impl Fn(&str, String) -> String) -> PathBuf {
        let dir = self.create_dir(name);
        let mut files: Vec<_> = std::fs::read_dir(root().join("fixtures/policies"))
            .unwrap()
            .map(|e| e.unwrap())
            .collect();
        files.sort_by_key(|e| e.file_name());
        for e in files {
            let name = e.file_name().to_string_lossy().into_owned();
            let text = edit(&name, read(e.path()));
            std::fs::write(dir.join(&name), text).unwrap();
        }
        dir
    }

    /// The files below the directory, one a line with its size.
    pub fn listing(&self) -> String {
        listing(self.path())
    }
}

/// The files below `dir`, one a line with its size (or what stood in the way).
pub fn listing(dir: &Path) -> String {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            out.push(format!("{} (cannot be read)", dir.display()));
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(base).unwrap_or(&p).display().to_string();
            match std::fs::symlink_metadata(&p) {
                Ok(m) if m.is_dir() => {
                    out.push(format!("{rel}/"));
                    walk(base, &p, out);
                }
                Ok(m) => out.push(format!("{rel} ({} bytes)", m.len())),
                Err(e) => out.push(format!("{rel} ({e})")),
            }
        }
    }
    let mut lines = Vec::new();
    walk(dir, dir, &mut lines);
    lines.sort();
    if lines.is_empty() {
        return format!("{} is empty", dir.display());
    }
    format!("{}:\n  {}", dir.display(), lines.join("\n  "))
}

/// The text of a CSV file of `header` and `rows`, written by the csv crate's writer.
pub fn csv_text<R, F>(header: &str, rows: R) -> Vec<u8>
where
    R: IntoIterator,
    R::Item: IntoIterator<Item = F>,
    F: AsRef<[u8]>,
{
    let mut w = csv::WriterBuilder::new()
        .flexible(true)
        .from_writer(Vec::new());
    w.write_record(header.trim_end().split(',')).unwrap();
    for row in rows {
        w.write_record(row).unwrap();
    }
    w.into_inner().unwrap()
}

// ---------------------------------------------------------------------------------------------
// TestCommand
// ---------------------------------------------------------------------------------------------

/// A command for the built binary, run from the repository root without `RUST_LOG`.
pub struct TestCommand {
    cmd: Command,
    listing: Option<PathBuf>,
}

impl TestCommand {
    /// `declaro`, whose failures list the files of `listing` (when given).
    pub fn new(listing: Option<&Path>) -> TestCommand {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_declaro"));
        cmd.current_dir(root());
        cmd.env_remove("RUST_LOG");
        TestCommand {
            cmd,
            listing: listing.map(Path::to_path_buf),
        }
    }

    /// Another program (`sh`, `script`) run the same way.
    pub fn program(program: impl AsRef<OsStr>, listing: Option<&Path>) -> TestCommand {
        let mut t = TestCommand::new(listing);
        let mut cmd = Command::new(program);
        cmd.current_dir(root());
        cmd.env_remove("RUST_LOG");
        t.cmd = cmd;
        t
    }

    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut TestCommand {
        self.cmd.arg(arg);
        self
    }

    pub fn args<I, A>(&mut self, args: I) -> &mut TestCommand
    where
        I: IntoIterator<Item = A>,
        A: AsRef<OsStr>,
    {
        self.cmd.args(args);
        self
    }

    pub fn env(&mut self, k: impl AsRef<OsStr>, v: impl AsRef<OsStr>) -> &mut TestCommand {
        self.cmd.env(k, v);
        self
    }

    /// The underlying command, for what this type does not offer (stdin, current_dir, ...).
    pub fn cmd(&mut self) -> &mut Command {
        &mut self.cmd
    }

    /// Runs the command; no assertion.
    pub fn run(&mut self) -> Output {
        self.cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.command_line()))
    }

    /// Runs the command and asserts its exit code is `code`; its output.
    #[track_caller]
    pub fn assert_exit(&mut self, code: i32) -> Output {
        let o = self.run();
        if o.status.code() != Some(code) {
            panic!("{}", self.failure(&o, &format!("expected exit {code}")));
        }
        o
    }

    /// Runs the command and asserts exit 0; its output.
    #[track_caller]
    pub fn ok(&mut self) -> Output {
        self.assert_exit(0)
    }

    /// Runs the command, asserts exit 0; its stdout.
    #[track_caller]
    pub fn stdout(&mut self) -> String {
        let o = self.ok();
        String::from_utf8(o.stdout).expect("stdout is UTF-8")
    }

    /// The command line, each argument quoted.
    pub fn command_line(&self) -> String {
        let mut s = format!("{:?}", self.cmd.get_program());
        for a in self.cmd.get_args() {
            s.push(' ');
            s.push_str(&format!("{a:?}"));
        }
        s
    }

    /// A panic message about `o`: command, working directory, exit code, output, listing.
    pub fn failure(&self, o: &Output, what: &str) -> String {
        let cwd = self
            .cmd
            .get_current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_else(|| ".".into());
        let mut m = format!(
            "{what}, got {:?}\n\ncommand: {}\ncwd: {cwd}\n\nstdout:\n{}\nstderr:\n{}",
            o.status.code(),
            self.command_line(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr),
        );
        if let Some(dir) = &self.listing {
            m.push_str(&format!("\nfiles: {}\n", listing(dir)));
        }
        m
    }
}

// ---------------------------------------------------------------------------------------------
// Process: `declaro process` with the usual flags
// ---------------------------------------------------------------------------------------------

/// `declaro process --policy fixtures/policies --members fixtures/members.csv --providers
/// fixtures/providers.csv --run-date 2025-12-31 [--ledger LEDGER] --out OUT OPTIONS INPUTS`,
/// every one of which can be overridden.
pub struct Process {
    policy: OsString,
    members: OsString,
    providers: Option<OsString>,
    run_date: String,
    ledger: Option<OsString>,
    out: PathBuf,
    options: Vec<OsString>,
    inputs: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    /// The [`Dir`] the run belongs to: listed when it fails, and the base of a relative `out`.
    dir: Option<PathBuf>,
}

impl Process {
    /// Into `out`, the ledger the default one (`OUT/ledger.db`).
    pub fn new(out: impl Into<PathBuf>) -> Process {
        Process {
            policy: "fixtures/policies".into(),
            members: "fixtures/members.csv".into(),
            providers: Some("fixtures/providers.csv".into()),
            run_date: "2025-12-31".into(),
            ledger: None,
            out: out.into(),
            options: Vec::new(),
            inputs: Vec::new(),
            env: Vec::new(),
            dir: None,
        }
    }

    pub fn policy(mut self, p: impl AsRef<OsStr>) -> Process {
        self.policy = p.as_ref().into();
        self
    }

    pub fn members(mut self, p: impl AsRef<OsStr>) -> Process {
        self.members = p.as_ref().into();
        self
    }

    pub fn providers(mut self, p: impl AsRef<OsStr>) -> Process {
        self.providers = Some(p.as_ref().into());
        self
    }

    /// No `--providers` (no provider register).
    pub fn no_providers(mut self) -> Process {
        self.providers = None;
        self
    }

    pub fn run_date(mut self, d: &str) -> Process {
        self.run_date = d.into();
        self
    }

    pub fn ledger(mut self, p: impl AsRef<OsStr>) -> Process {
        self.ledger = Some(p.as_ref().into());
        self
    }

    /// No `--ledger`: the run's own `OUT/ledger.db`.
    pub fn ledger_in_out(mut self) -> Process {
        self.ledger = None;
        self
    }

    /// `--out`: a path (joined to the directory when relative and the process is a [`Dir`]'s).
    pub fn out(mut self, p: impl AsRef<Path>) -> Process {
        self.out = match &self.dir {
            Some(dir) => dir.join(p),
            None => p.as_ref().to_path_buf(),
        };
        self
    }

    /// The output directory.
    pub fn out_dir(&self) -> &Path {
        &self.out
    }

    /// Options after the usual flags.
    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Process {
        self.options.push(a.as_ref().into());
        self
    }

    pub fn args<I, A>(mut self, args: I) -> Process
    where
        I: IntoIterator<Item = A>,
        A: AsRef<OsStr>,
    {
        self.options
            .extend(args.into_iter().map(|a| a.as_ref().into()));
        self
    }

    /// `--quiet`.
    pub fn quiet(self) -> Process {
        self.arg("--quiet")
    }

    pub fn input(mut self, p: impl AsRef<OsStr>) -> Process {
        self.inputs.push(p.as_ref().into());
        self
    }

    pub fn inputs<I, A>(mut self, inputs: I) -> Process
    where
        I: IntoIterator<Item = A>,
        A: AsRef<OsStr>,
    {
        self.inputs
            .extend(inputs.into_iter().map(|a| a.as_ref().into()));
        self
    }

    pub fn env(mut self, k: impl AsRef<OsStr>, v: impl AsRef<OsStr>) -> Process {
        self.env.push((k.as_ref().into(), v.as_ref().into()));
        self
    }

    fn of_dir(mut self, dir: &Path) -> Process {
        self.dir = Some(dir.to_path_buf());
        self
    }

    /// The command.
    pub fn command(self) -> TestCommand {
        let mut c = TestCommand::new(self.dir.as_deref());
        c.arg("process").arg("--policy").arg(&self.policy);
        c.arg("--members").arg(&self.members);
        if let Some(p) = &self.providers {
            c.arg("--providers").arg(p);
        }
        c.args(["--run-date", &self.run_date]);
        if let Some(l) = &self.ledger {
            c.arg("--ledger").arg(l);
        }
        c.arg("--out").arg(&self.out);
        c.args(&self.options).args(&self.inputs);
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// The command run through `program` (`/usr/bin/time -v`, `sh -c 'umask 000; exec "$@"' sh`):
    /// `program ARGS declaro process ...`.
    pub fn wrapped(self, program: &str, args: &[&str]) -> TestCommand {
        let declaro = self.command();
        let mut c = TestCommand::program(program, declaro.listing.as_deref());
        c.args(args).arg(declaro.cmd.get_program());
        c.args(declaro.cmd.get_args());
        for (k, v) in declaro.cmd.get_envs() {
            match v {
                Some(v) => c.cmd.env(k, v),
                None => c.cmd.env_remove(k),
            };
        }
        c
    }

    /// The command line for `sh -c` or `script -c`, every word in single quotes.
    pub fn shell_line(self) -> String {
        let c = self.command();
        let quote = |w: &OsStr| format!("'{}'", w.to_str().unwrap().replace('\'', r"'\''"));
        let mut words = vec![quote(c.cmd.get_program())];
        words.extend(c.cmd.get_args().map(quote));
        words.join(" ")
    }

    /// Runs it; no assertion.
    pub fn run(self) -> Output {
        self.command().run()
    }

    /// Runs it and asserts the exit code.
    #[track_caller]
    pub fn assert_exit(self, code: i32) -> Output {
        self.command().assert_exit(code)
    }

    /// Runs it and asserts exit 0.
    #[track_caller]
    pub fn ok(self) -> Output {
        self.command().ok()
    }

    /// Runs it, asserts exit 0; its stdout.
    #[track_caller]
    pub fn stdout(self) -> String {
        self.command().stdout()
    }
}

// ---------------------------------------------------------------------------------------------
// Commands without a directory
// ---------------------------------------------------------------------------------------------

/// A command for the built binary, run from the repository root.
pub fn declaro() -> TestCommand {
    TestCommand::new(None)
}

/// `declaro process --quiet --ei-return DIR/ei` on `inputs` into `DIR/out` (its own ledger):
/// the run of the EI tests, which answer each EI file in `DIR/ei`. No assertion.
pub fn ei_run(dir: &Path, inputs: &[&str]) -> Output {
    let run = Process::new(dir.join("out")).quiet();
    run.arg("--ei-return")
        .arg(dir.join("ei"))
        .inputs(inputs)
        .run()
}

// ---------------------------------------------------------------------------------------------
// Outputs
// ---------------------------------------------------------------------------------------------

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

/// The names of the entries of `dir` (none when it does not exist).
pub fn files_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The rows of the fixture member register (`fixtures/members.csv`), each as its fields.
pub fn fixture_members() -> Vec<Vec<String>> {
    csv_file_records(root().join("fixtures/members.csv"))
}

/// Asserts that `text` (`what`) holds no member number, BSN or birth date of the fixture
/// register.
pub fn assert_no_member_data(text: &str, what: &str) {
    for f in fixture_members() {
        for personal in &f[..3] {
            assert!(!text.contains(personal.as_str()), "{personal} in {what}");
        }
    }
}

/// (line_id, reason, message) of every rejection in `out/rejections.csv`.
pub fn rejections(out: &Path) -> Vec<(String, String, String)> {
    csv_file_records(out.join("rejections.csv"))
        .into_iter()
        .map(|row| (row[3].clone(), row[9].clone(), row[10].clone()))
        .collect()
}

/// Rows of a table written one a line, fields separated by white space, `-` for an empty
/// field: `table(&["F 1 56789012 - PHARMA 20.00"])`.
pub fn table(rows: &[&str]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|r| {
            r.split_whitespace()
                .map(|f| {
                    if f == "-" {
                        String::new()
                    } else {
                        f.to_string()
                    }
                })
                .collect()
        })
        .collect()
}

/// The rows of a CSV text as maps from column name to value (rows may be short or long).
pub fn csv_maps(text: &str) -> Vec<HashMap<String, String>> {
    let mut r = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            header
                .iter()
                .cloned()
                .zip(rec.iter().map(str::to_string))
                .collect()
        })
        .collect()
}

/// The rows of a CSV text after its header, each as its fields.
pub fn csv_records(text: &str) -> Vec<Vec<String>> {
    let mut r = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    r.records()
        .map(|rec| rec.unwrap().iter().map(str::to_string).collect())
        .collect()
}

/// The fields of one CSV line.
pub fn fields(line: &str) -> Vec<String> {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(line.as_bytes());
    r.records()
        .next()
        .expect("a CSV line")
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect()
}

/// The rows of a CSV file after its header, each as its fields.
pub fn csv_file_records(p: impl AsRef<Path>) -> Vec<Vec<String>> {
    csv_records(&read(p))
}

/// The rows of a CSV text after its header without their first two columns (`file` and
/// `record`), each written again as a CSV line (quoted where the writer quotes).
pub fn without_origin(text: &str) -> Vec<String> {
    csv_records(text)
        .iter()
        .map(|row| {
            let mut w = csv::WriterBuilder::new()
                .flexible(true)
                .terminator(csv::Terminator::Any(b'\n'))
                .from_writer(Vec::new());
            w.write_record(&row[2..]).unwrap();
            let mut s = String::from_utf8(w.into_inner().unwrap()).unwrap();
            s.pop();
            s
        })
        .collect()
}

/// The CSV columns after `file` and `record`, joined by `|`.
pub fn without_file_and_record(text: &str) -> Vec<String> {
    csv_records(text)
        .iter()
        .map(|row| row[2..].join("|"))
        .collect()
}

/// Rejection rows without `file` and `raw` (the record text differs by format).
pub fn rejections_without_file_and_raw(text: &str) -> Vec<String> {
    csv_records(text)
        .iter()
        .map(|row| row[1..row.len() - 1].join("|"))
        .collect()
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
            Process::new(&out).quiet().input(f).ok();
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
