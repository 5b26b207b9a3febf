//! Parse throughput of the XML and PM304 readers (issue 6), on the same generated lines:
//! - `parse-xml`: declaro's XML reader against a bare quick-xml event loop over the same file
//!   (target: declaro at least 0.8x the bare loop's throughput);
//! - `parse-pm304-vs-csv`: declaro's PM304 reader against its CSV reader (target: at least as
//!   fast).
//!
//! Each group measures both sides in one run so the ratio is read off one report.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::path::Path;
use std::time::Duration;

#[path = "../tests/util/formats.rs"]
mod formats;

const LINES: usize = 100_000;

fn read(path: &Path) -> usize {
    let shown = path.display().to_string();
    let r = declaro::input::read_file(path, &shown, 0, &declaro::input::no_progress);
    assert!(r.refusal.is_none(), "file is read");
    r.batches.iter().map(|b| b.lines.len()).sum()
}

/// The events of the XML file `xml` through a bare quick-xml loop, each counted by `count`.
fn xml_events(xml: &Path, mut count: impl FnMut(&quick_xml::events::Event) -> u64) -> u64 {
    let mut r = quick_xml::Reader::from_file(xml).unwrap();
    let mut buf = Vec::with_capacity(1024);
    let mut n = 0u64;
    loop {
        match r.read_event_into(&mut buf).unwrap() {
            quick_xml::events::Event::Eof => break,
            e => n += count(&e),
        }
        buf.clear();
    }
    n
}

/// A benchmark group of `LINES` elements, 20 samples, 1 s warm-up and 4 s of measurement.
fn group<'a>(
    c: &'a mut Criterion,
    name: &str,
) -> criterion::BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(LINES as u64));
    g.sample_size(20);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(4));
    g
}

fn bench_formats(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let lines = formats::generate(7, LINES);
    let csv = dir.path().join("bench.csv");
    let xml = dir.path().join("bench.xml");
    let pm304 = dir.path().join("bench.dat");
    std::fs::write(&csv, formats::csv("12345678", "B2024", &lines)).unwrap();
    std::fs::write(&xml, formats::xml("12345678", "B2024", &lines)).unwrap();
    std::fs::write(&pm304, formats::pm304("12345678", "B2024", &lines)).unwrap();
    for p in [&csv, &xml, &pm304] {
        assert_eq!(read(p), LINES, "{}", p.display());
    }

    let mut g = group(c, "parse-xml");
    g.bench_function("bare-quick-xml", |b| b.iter(|| xml_events(&xml, |_| 1)));
    // For context: the bare loop plus reading every attribute value, which any reader of
    // this format has to do before it can check a single field.
    g.bench_function("quick-xml-with-attributes", |b| {
        b.iter(|| {
            xml_events(&xml, |e| match e {
                quick_xml::events::Event::Empty(e) | quick_xml::events::Event::Start(e) => e
                    .attributes()
                    .map(|a| a.unwrap().unescape_value().unwrap().len() as u64)
                    .sum(),
                _ => 1,
            })
        })
    });
    g.bench_function("declaro", |b| b.iter(|| read(&xml)));
    g.finish();

    let mut g = group(c, "parse-pm304-vs-csv");
    // For context: the csv crate alone over the same file (what validating and building the
    // lines adds is the difference to declaro-csv).
    g.bench_function("bare-csv-byterecord", |b| {
        b.iter(|| {
            let mut r = csv::Reader::from_path(&csv).unwrap();
            let mut rec = csv::ByteRecord::new();
            let mut n = 0u64;
            while r.read_byte_record(&mut rec).unwrap() {
                n += rec.len() as u64;
            }
            n
        })
    });
    g.bench_function("declaro-csv", |b| b.iter(|| read(&csv)));
    g.bench_function("declaro-pm304", |b| b.iter(|| read(&pm304)));
    g.finish();
}

criterion_group!(benches, bench_formats);
criterion_main!(benches);
