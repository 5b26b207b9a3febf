//! Parse throughput: declaro's CSV reader against a bare csv-crate ByteRecord loop over the
//! same file, in one criterion group so the ratio is read off one run.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::path::Path;

fn bench_parse(c: &mut Criterion) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/claims/2024-asr-night.csv");
    let shown = path.display().to_string();
    let lines = std::fs::read_to_string(&path).map_or(0, |t| t.lines().count() as u64 - 1);
    let mut g = c.benchmark_group("parse-csv");
    g.throughput(Throughput::Elements(lines));
    g.bench_function("bare-byterecord", |b| {
        b.iter(|| {
            let mut r = csv::Reader::from_path(&path).unwrap();
            let mut rec = csv::ByteRecord::new();
            let mut n = 0u64;
            while r.read_byte_record(&mut rec).unwrap() {
                n += rec.len() as u64;
            }
            n
        })
    });
    g.bench_function("declaro", |b| {
        b.iter(|| {
            let mut seq = 0;
            declaro::input::read_file(&path, &shown, 0, &mut seq)
                .unwrap()
                .lines
                .len()
        })
    });
    g.finish();
}

criterion_group!(benches, bench_parse);
criterion_main!(benches);
