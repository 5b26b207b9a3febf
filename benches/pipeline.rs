//! Throughput of the pipeline's own stages on a generated night, each group with its baseline
//! in the same run so the ratio is read off one report:
//! - `register`: loading the member register of the night (`members.csv`);
//! - `read-csv`: a bare csv-crate `ByteRecord` loop against the read stage (parse, validate,
//!   match to the register, on every core);
//! - `screen-group`: screening (matching to the register, run date, duplicates) and grouping
//!   of the read night;
//! - `adjudicate`: the adjudicate stage on the screened, grouped night (empty ledger);
//! - `end-to-end`: `declaro process` on the file (outputs and ledger commit included) against
//!   the bare read.
//!
//! `cargo bench --bench pipeline`; the 2M-line figures come from `scripts/bench.sh`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use declaro::adjudicate::{CodeTable, Context};
use declaro::cmd::{generate, process};
use declaro::ledger::SqliteLedger;
use declaro::model::Date;
use declaro::pipeline::progress::Progress;
use declaro::pipeline::{adjudicate, group, read, screen};
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

    // A run of `shown` on the fixture policies and provider register into `out`.
    let run_settings = |out: PathBuf| process::Settings {
        policies: vec![root().join("fixtures/policies")],
        members: members_csv.clone(),
        providers: Some(root().join("fixtures/providers.csv")),
        ledger: declaro::ledger::Location::Sqlite(out.join("ledger.db")),
        out,
        threads: 2,
        run_date: Date::new(2025, 12, 31).unwrap(),
        progress: false,
        inputs: vec![shown.clone().into()],
        ei_return: None,
        dry_run: false,
        shard: declaro::shard::Shard::ALL,
    };
    let out = dir.path().join("stages");
    let stage_settings = run_settings(out.clone());
    std::fs::create_dir_all(&out).unwrap();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();

    let policies = declaro::policy::load(&[root().join("fixtures/policies")]).unwrap();
    let members = declaro::registers::load_members(&members_csv, &policies, None).unwrap();
    let providers =
        declaro::registers::load_providers(&root().join("fixtures/providers.csv"), &policies)
            .unwrap();

    let mut g = c.benchmark_group("register");
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Elements(members.len() as u64));
    g.bench_function("load-members-2-threads", |b| {
        b.iter(|| {
            pool.install(|| {
                declaro::registers::load_members(&members_csv, &policies, None)
                    .unwrap()
                    .len()
            })
        })
    });
    g.finish();

    let mut ledger = SqliteLedger::open(stage_settings.ledger.file().unwrap()).unwrap();
    let quiet = Progress::new(false);
    let mut g = c.benchmark_group("read-csv");
    g.throughput(Throughput::Elements(LINES));
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    g.bench_function("bare-byterecord", |b| b.iter(|| bare_read(&claims)));
    g.bench_function("declaro-read-2-threads", |b| {
        b.iter(|| {
            pool.install(|| {
                read::read(&stage_settings, &mut ledger, &quiet)
                    .unwrap()
                    .lines
                    .len()
            })
        })
    });
    g.finish();

    let read_night = pool.install(|| read::read(&stage_settings, &mut ledger, &quiet).unwrap());

    let mut g = c.benchmark_group("screen-group");
    g.throughput(Throughput::Elements(LINES));
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    let shared = std::sync::Mutex::new(&mut ledger);
    g.bench_function("declaro-2-threads", |b| {
        b.iter_batched(
            || {
                pool.install(|| {
                    read::read(&stage_settings, *shared.lock().unwrap(), &quiet).unwrap()
                })
            },
            |mut night| {
                pool.install(|| {
                    let mut ledger = shared.lock().unwrap();
                    screen::identify(&mut night, &members);
                    screen::screen(
                        &mut night,
                        &members,
                        stage_settings.run_date,
                        *ledger,
                        stage_settings.shard,
                    )
                    .unwrap();
                    group::group(&night).order.len()
                })
            },
            criterion::BatchSize::LargeInput,
        )
    });
    g.finish();

    let mut night = read_night;
    screen::identify(&mut night, &members);
    screen::screen(
        &mut night,
        &members,
        stage_settings.run_date,
        &mut ledger,
        stage_settings.shard,
    )
    .unwrap();
    let groups = group::group(&night);
    let codes = CodeTable::new(&policies, &night.codes);
    let ctx = Context {
        policies: &policies,
        providers: &providers,
        codes: &codes,
        night: &night,
    };
    let n = groups.order.len() as u64;
    let mut g = c.benchmark_group("adjudicate");
    g.throughput(Throughput::Elements(n));
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    for threads in [1usize, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        g.bench_function(format!("declaro-{threads}-threads"), |b| {
            b.iter(|| {
                let mut outcomes = night.outcomes.clone();
                pool.install(|| {
                    adjudicate::adjudicate(
                        &ctx,
                        &members,
                        &groups,
                        &mut outcomes,
                        &mut ledger,
                        &quiet,
                    )
                    .unwrap()
                    .0
                    .len()
                })
            })
        });
    }
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
            let s = run_settings(out.clone());
            let lines = process::run(&s).unwrap().summary.map_or(0, |s| s.lines);
            let _ = std::fs::remove_dir_all(&out);
            lines
        })
    });
    g.finish();
}

criterion_group!(benches, bench_pipeline);
criterion_main!(benches);
