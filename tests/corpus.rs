//! The corpus of malformed declaration files (`tests/corpus/`, outcomes in its README.md): each
//! file is processed together with a good file (`fixtures/claims/2024-asr.csv`) by the real
//! binary. Checked per file: the exit code (contract 3.2), the refusal (file and position) or
//! each rejection's reason and message, that the good file is still processed, and that nothing
//! is lost (every record in exactly one output, the reconciliation balanced). Large inputs (a
//! 10 MB field, an XML element without an end, a 64 MB file without line ends) are generated.

mod util;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use util::{summary, Process};

const GOOD: &str = "fixtures/claims/2024-asr.csv";
const GOOD_RECORDS: u64 = 15;

/// What a corpus file must give.
enum Expect {
    /// Refused whole: the refusal names the file and contains both texts.
    Refused(&'static str, &'static str),
    /// Read: this many records, of which these (record, reason, message part) are rejected.
    Read(u64, &'static [(u32, &'static str, &'static str)]),
}
use Expect::*;

/// The (file, record) keys and rows of one output CSV.
fn rows(path: &Path) -> Vec<csv::StringRecord> {
    let mut r = csv::Reader::from_path(path).expect("open output");
    r.records().map(|x| x.expect("output row")).collect()
}

/// Runs `input` with the good file and checks everything the module doc lists.
fn check(input: &str, expect: &Expect) {
    let dir = util::Dir::new("corpus");
    let out = dir.join("out");
    let o = Process::new(&out).inputs([input, GOOD]).run();
    let code = o.status.code();
    let s = summary(&out);
    let files = &s["input_files"];
    assert_eq!(files[0]["file"], input);
    // The good file is processed whatever happened to the other.
    assert_eq!(files[1]["refused"], serde_json::Value::Null, "{input}");
    assert_eq!(files[1]["records"], GOOD_RECORDS, "{input}");

    let remittance = rows(&out.join("remittance.csv"));
    let rejections = rows(&out.join("rejections.csv"));
    // Every record of every file is in exactly one output.
    let mut seen: BTreeMap<(String, u32), usize> = BTreeMap::new();
    for r in remittance.iter().chain(&rejections) {
        let key = (r[0].to_string(), r[1].parse::<u32>().unwrap());
        *seen.entry(key).or_default() += 1;
    }
    assert!(
        seen.values().all(|n| *n == 1),
        "{input}: a line is in two outputs"
    );
    let count = |f: &str| seen.keys().filter(|(file, _)| file == f).count() as u64;
    assert_eq!(count(GOOD), GOOD_RECORDS, "{input}");
    assert_eq!(s["reconciliation"]["balanced"], true, "{input}");
    assert_eq!(
        s["reconciliation"]["lines_read"], s["reconciliation"]["lines_out"],
        "{input}"
    );

    match expect {
        Refused(position, message) => {
            assert_eq!(code, Some(2), "{input}: a refused file exits 2");
            let refused = files[0]["refused"].as_str().unwrap_or_default();
            assert!(
                refused.starts_with(&format!("{input} {position}")) && refused.contains(message),
                "{input}: refusal {refused:?}, expected position {position:?} and {message:?}"
            );
            assert_eq!(files[0]["records"], 0, "{input}");
            assert_eq!(
                count(input),
                0,
                "{input}: nothing of a refused file is written"
            );
        }
        Read(records, rejected) => {
            assert_eq!(code, Some(0), "{input}: {}", util::stderr(&o));
            assert_eq!(files[0]["refused"], serde_json::Value::Null, "{input}");
            assert_eq!(files[0]["records"], *records, "{input}");
            assert_eq!(
                count(input),
                *records,
                "{input}: every record in one output"
            );
            let got: Vec<_> = rejections.iter().filter(|r| &r[0] == input).collect();
            assert_eq!(got.len(), rejected.len(), "{input}: rejections {got:?}");
            for (r, (record, reason, message)) in got.iter().zip(rejected.iter()) {
                assert_eq!(&r[1], &record.to_string(), "{input}: {r:?}");
                assert_eq!(&r[9], *reason, "{input}: {r:?}");
                assert!(r[10].contains(message), "{input}: message {:?}", &r[10]);
                // The raw text is kept, without the line end, at most 64 KiB of it.
                assert!(
                    !r[11].is_empty() && r[11].len() <= 64 * 1024,
                    "{input}: raw"
                );
                assert!(!r[11].ends_with('\n') && !r[11].ends_with('\r'), "{input}");
            }
        }
    }
}

#[test]
fn every_corpus_file_gives_its_expected_outcome() {
    let cases: &[(&str, Expect)] = &[
        ("empty.csv", Refused("line 1", "empty file")),
        ("header-only.csv", Read(0, &[])),
        (
            "missing-column.csv",
            Refused(
                "line 1",
                "required column(s) missing from the header: amount",
            ),
        ),
        (
            "duplicate-column.csv",
            Refused("line 1", "column code appears twice"),
        ),
        ("extra-columns.csv", Read(2, &[])),
        (
            "semicolon.csv",
            Refused("line 1", "the header is separated by ';'"),
        ),
        (
            "quoted-multiline.csv",
            Read(3, &[(2, "UNKNOWN_CODE", "code \"10\\\"00\"")]),
        ),
        (
            "invalid-utf8.csv",
            Read(3, &[(2, "MALFORMED", "field member_id is not valid UTF-8")]),
        ),
        (
            "field-over-1k.csv",
            Read(
                2,
                &[(1, "MALFORMED", "field authorization is 2000 bytes long")],
            ),
        ),
        ("crlf-lf-mixed.csv", Read(4, &[])),
        ("bom.csv", Read(1, &[])),
        (
            "trailing-garbage.csv",
            Read(
                3,
                &[
                    (2, "MALFORMED", "1 fields where the header has 18"),
                    (3, "MALFORMED", "1 fields where the header has 18"),
                ],
            ),
        ),
        (
            "negative-amount.csv",
            Read(
                1,
                &[(
                    1,
                    "MALFORMED",
                    "field amount \"-30.00\": amounts are written positive",
                )],
            ),
        ),
        (
            "three-decimals.csv",
            Read(
                1,
                &[(
                    1,
                    "MALFORMED",
                    "field amount \"30.005\": at most two decimals",
                )],
            ),
        ),
        (
            "date-2024-02-30.csv",
            Read(
                2,
                &[(
                    1,
                    "BAD_DATE",
                    "field service_date \"2024-02-30\" is not a valid date",
                )],
            ),
        ),
        (
            "quantity-zero.csv",
            Read(
                1,
                &[(
                    1,
                    "MALFORMED",
                    "field quantity \"0\" must be a whole number",
                )],
            ),
        ),
        (
            "truncated.xml",
            Refused("byte 292 <insured>", "not well-formed XML"),
        ),
        (
            "wrong-namespace.xml",
            Refused(
                "byte 39 <declaration>",
                "not in namespace urn:declaro:declaration:1",
            ),
        ),
        (
            "trailer-mismatch.xml",
            Refused(
                "byte 386 <trailer>",
                "trailer total_amount=\"70.00\" but the lines add up to 60.00",
            ),
        ),
        (
            "xml-trailing-garbage.xml",
            Refused("byte 442", "unexpected text"),
        ),
        (
            "xml-attribute-over-1k.xml",
            Read(
                2,
                &[(2, "MALFORMED", "attribute authorization is 1500 bytes long")],
            ),
        ),
        (
            "pm304-short-record.dat",
            Refused(
                "record 3 byte 622 (04 prestatierecord)",
                "record is 300 positions long, expected 310",
            ),
        ),
    ];
    let listed: Vec<String> = std::fs::read_dir(util::root().join("tests/corpus"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "README.md")
        .collect();
    for name in &listed {
        assert!(
            cases.iter().any(|(c, _)| c == name),
            "tests/corpus/{name} has no expected outcome here"
        );
    }
    let readme = util::read(util::root().join("tests/corpus/README.md"));
    for (name, expect) in cases {
        assert!(
            readme.contains(&format!("`{name}`")),
            "{name} is not in tests/corpus/README.md"
        );
        check(&format!("tests/corpus/{name}"), expect);
    }
}

/// Writes a generated corpus file under the repository's `target/` (the binary runs from the
/// repository root and `file` in the outputs is the path as given).
fn generated(name: &str, write: impl FnOnce(&mut dyn Write)) -> String {
    let dir = util::root().join("target/corpus-generated");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    write(&mut f);
    f.flush().unwrap();
    format!("target/corpus-generated/{name}")
}

use util::claims::ALL as HEADER;

fn csv_line(n: u32, authorization: &str) -> String {
    format!(
        "C2024-30,C-30-{n:02},45678901,M050,,1981-03-13,2024-03-{n:02},,1000,,,,{authorization},\
         30.00,,,,"
    )
}

/// A 10 MB field: the line is rejected MALFORMED naming the field, its raw cut to 64 KiB; the
/// lines around it are processed.
#[test]
fn a_10_mb_field_rejects_its_line_and_the_next_line_is_read() {
    let input = generated("field-10mb.csv", |w| {
        writeln!(w, "{HEADER}").unwrap();
        writeln!(w, "{}", csv_line(1, "")).unwrap();
        let big = "7".repeat(10 * 1024 * 1024);
        writeln!(w, "{}", csv_line(2, &big)).unwrap();
        writeln!(w, "{}", csv_line(3, "")).unwrap();
    });
    check(
        &input,
        &Read(
            3,
            &[(
                2,
                "MALFORMED",
                "field authorization is 10485760 bytes long, over the limit of 1024; record is",
            )],
        ),
    );
}

/// A `<line>` over 64 KiB (white space inside the tag) is a rejected line; an element with no
/// end at all refuses the file once it passes 1 MiB instead of being buffered.
#[test]
fn over_long_xml_is_a_rejected_line_or_a_refusal_never_a_buffer() {
    let xml = |pad: &str| {
        format!(
            "<declaration xmlns=\"urn:declaro:declaration:1\" batch_id=\"C2024-31\" \
             provider_agb=\"45678901\">\n<insured member_id=\"M050\" birth_date=\"1981-03-13\">\n\
             <line line_id=\"C-31-01\" service_date=\"2024-03-01\" code=\"1000\" amount=\"30.00\"/>\n\
             <line line_id=\"C-31-02\" service_date=\"2024-03-02\" code=\"1000\"{pad} \
             amount=\"30.00\"/>\n</insured>\n<trailer lines=\"2\" total_amount=\"60.00\"/>\n\
             </declaration>\n"
        )
    };
    let input = generated("line-100k.xml", |w| {
        w.write_all(xml(&" ".repeat(100_000)).as_bytes()).unwrap()
    });
    check(
        &input,
        &Read(2, &[(2, "MALFORMED", "element <line> is 100")]),
    );
    let input = generated("no-end.xml", |w| {
        let text = xml("");
        let cut = text.find("amount=\"30.00\"/>\n</insured>").unwrap();
        w.write_all(&text.as_bytes()[..cut]).unwrap();
        w.write_all(b"authorization=\"").unwrap();
        for _ in 0..3 {
            w.write_all(&[b'9'; 1 << 20]).unwrap();
        }
    });
    check(
        &input,
        &Refused(
            "byte",
            "an element, text or comment longer than 1048576 bytes",
        ),
    );
}

/// A PM304 file without line ends is one over-long record: refused, with its real length.
#[test]
fn a_pm304_file_without_line_ends_is_refused() {
    let input = generated("pm304-no-line-ends.dat", |w| {
        w.write_all(b"01107").unwrap();
        w.write_all(&[b'0'; 2 << 20]).unwrap();
    });
    check(
        &input,
        &Refused(
            "record 1 byte 0 (01 voorlooprecord)",
            "record is 2097157 positions long, expected 310",
        ),
    );
}

/// A file of NUL bytes without a line end (found measuring a 2 GB garbage file): its header is
/// over-long, and was reported as an empty file.
#[test]
fn a_csv_file_without_line_ends_is_refused_as_over_long_not_as_empty() {
    let input = generated("nul-bytes.csv", |w| {
        w.write_all(&vec![0u8; 1 << 20]).unwrap();
    });
    check(
        &input,
        &Refused(
            "line 1",
            "the header row is longer than 65536 bytes or has more than 4096 columns",
        ),
    );
}

/// More fields than the reader keeps (4096) in a short record: a wrong field count, not an
/// over-long record.
#[test]
fn a_short_record_with_5000_fields_is_a_wrong_field_count() {
    let input = generated("fields-5000.csv", |w| {
        writeln!(w, "{HEADER}").unwrap();
        writeln!(w, "{}", ",".repeat(4999)).unwrap();
        writeln!(w, "{}", csv_line(1, "")).unwrap();
    });
    check(
        &input,
        &Read(
            2,
            &[(1, "MALFORMED", "5000 fields where the header has 18")],
        ),
    );
}
