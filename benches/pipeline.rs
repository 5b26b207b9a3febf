//! Throughput of the CSV pipeline on a generated night (issue 7), each group with its baseline
//! in the same run so the ratio is read off one report:
//! - `parse-csv`: a bare csv-crate `ByteRecord` loop against declaro's CSV reader;
//! - `adjudicate`: the lines already in memory, grouped per member and sorted, adjudicated with
//!   a fresh state (no I/O);
//! - `end-to-end`: `declaro process` on the file (outputs and ledger commit included) against
//!   the bare read.
//!
//! `cargo bench --bench pipeline`; the 10M-line figures come from `scripts/bench.sh`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use declaro::adjudicate::{adjudicate_member, Context, MemberState};
use declaro::cmd::{generate, process};
use declaro::model::{Date, Line};
use std::path::{Path, PathBuf};
use std::time::Duration;

const LINES: u64 = 100_000;

fn bare_read(path: &Path) -> u64 {
    let mut r = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .unwrap();
    let mut rec = csv::ByteRecord::new();
    let mut n = 0u64;
    while r.read_byte_record(&mut rec).unwrap() {
        n += rec.len() as u64;
    }
    n
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn bench_pipeline(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let settings = generate::Settings {
        lines: LINES,
        members: LINES / 10,
        seed: 42,
        night: 1,
        xml: false,
        out: dir.path().to_path_buf(),
    };
    generate::run(&settings).unwrap();
    let claims = dir.path().join("claims.csv");
    let members_csv = dir.path().join("members.csv");
    let shown = claims.display().to_string();

    let mut g = c.benchmark_group("parse-csv");
    g.throughput(Throughput::Elements(LINES));
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    g.bench_function("bare-byterecord", |b| b.iter(|| bare_read(&claims)));
    g.bench_function("declaro", |b| {
        b.iter(|| {
            let mut seq = 0;
            declaro::input::read_file(&claims, &shown, 0, &mut seq)
                .unwrap()
                .lines
                .len()
        })
    });
    g.finish();

    // Adjudication only: lines parsed and grouped once, outside the measurement.
    let policies = declaro::policy::load(&[root().join("fixtures/policies")]).unwrap();
    let members = declaro::registers::load_members(&members_csv, &policies).unwrap();
    let providers =
        declaro::registers::load_providers(&root().join("fixtures/providers.csv")).unwrap();
    let mut seq = 0;
    let lines = declaro::input::read_file(&claims, &shown, 0, &mut seq)
        .unwrap()
        .lines;
    let mut groups: std::collections::BTreeMap<u32, Vec<&Line>> = std::collections::BTreeMap::new();
    for l in lines.iter().filter(|l| !l.credit) {
        if let Some(m) = members.by_id(&l.member_id) {
            groups.entry(m).or_default().push(l);
        }
    }
    for g in groups.values_mut() {
        g.sort_by_key(|l| (l.service_date, l.seq));
    }
    let ctx = Context {
        policies: &policies,
        providers: &providers,
    };
    let n: u64 = groups.values().map(|g| g.len() as u64).sum();
    let mut g = c.benchmark_group("adjudicate");
    g.throughput(Throughput::Elements(n));
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    g.bench_function("declaro-1-thread", |b| {
        b.iter(|| {
            groups
                .iter()
                .map(|(m, ls)| {
                    let mut state = MemberState::default();
                    adjudicate_member(&ctx, &members.list[*m as usize], ls, &mut state).len()
                })
                .sum::<usize>()
        })
    });
    g.finish();

    let mut g = c.benchmark_group("end-to-end");
    g.throughput(Throughput::Elements(LINES));
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(15));
    g.bench_function("bare-byterecord", |b| b.iter(|| bare_read(&claims)));
    let mut run = 0u32;
    g.bench_function("declaro-process", |b| {
        b.iter(|| {
            run += 1;
            let out = dir.path().join(format!("out{run}"));
            let s = process::Settings {
                policies: vec![root().join("fixtures/policies")],
                members: members_csv.clone(),
                providers: Some(root().join("fixtures/providers.csv")),
                ledger: out.join("ledger.db"),
                out: out.clone(),
                threads: 2,
                run_date: Date::new(2025, 12, 31).unwrap(),
                progress: false,
                inputs: vec![shown.clone()],
                ei_return: None,
            };
            let lines = process::run(&s).unwrap().summary.lines;
            let _ = std::fs::remove_dir_all(&out);
            lines
        })
    });
    g.finish();
}

criterion_group!(benches, bench_pipeline);
criterion_main!(benches);
