//! XML declarations and Vektis PM304 files through the binary: the same lines as CSV give the
//! same rows, broken files are refused whole (exit 2) while the other inputs are processed, and
//! PM305 return files are byte-exact against hand-worked expectations.

mod util;
use std::path::Path;
use util::*;

/// The CSV columns after `file` and `record`.
fn without_file_and_record(text: &str) -> Vec<String> {
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
fn rejections_without_file_and_raw(text: &str) -> Vec<String> {
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

#[test]
fn xml_with_the_lines_of_a_csv_fixture_gives_the_same_remittance() {
    let dir = tempfile::tempdir().unwrap();
    let o = process(dir.path(), &["fixtures/xml/2024-asr.xml"], &["--quiet"]);
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(&o));
    let got = read(dir.path().join("remittance.csv"));
    let want = expected("2024-asr", "remittance.csv");
    // `record` is the <line> ordinal, the CSV data-row number: the same here.
    assert_same_csv(
        &got.replace("fixtures/xml/2024-asr.xml", "fixtures/claims/2024-asr.csv"),
        &want,
        "remittance",
    );
    let s = summary(dir.path());
    assert_eq!(s["input_files"][0]["format"], "xml");
    assert_eq!(s["input_files"][0]["records"], 15);
    assert_eq!(s["reconciliation"]["balanced"], true);
}

#[test]
fn xml_bad_lines_are_rejected_with_the_csv_reasons_and_messages() {
    let dir = tempfile::tempdir().unwrap();
    let o = process(
        dir.path(),
        &["fixtures/xml/2024-bad-lines.xml"],
        &["--quiet"],
    );
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(&o));
    assert_eq!(
        without_file_and_record(&read(dir.path().join("remittance.csv"))),
        without_file_and_record(&expected("2024-bad-lines", "remittance.csv"))
    );
    let got = rejections_without_file_and_raw(&read(dir.path().join("rejections.csv")));
    let want = rejections_without_file_and_raw(&expected("2024-bad-lines", "rejections.csv"));
    assert_eq!(got.len(), want.len());
    // X-01 is a CSV row with a field missing; its XML stand-in carries an unknown attribute.
    assert_eq!(
        got[0],
        "1|X2024-001|X-01|45678901|M040|2024-02-01|1000|30.00|MALFORMED|unknown attribute fields on <line>"
    );
    assert_eq!(got[1..], want[1..]);
    // raw is the <line> element's text.
    let rej = read(dir.path().join("rejections.csv"));
    assert!(
        rej.contains(r#","<line line_id=""X-02"" service_date=""2024-02-02"" code=""1000"" amount=""12,50""/>""#),
        "{rej}"
    );
}

/// Each way an XML file is refused: exit 2, the refusal names file, byte offset and element,
/// none of its lines reaches the outputs, and the CSV file in the same run is processed.
#[test]
fn each_xml_refusal_refuses_the_file_whole_and_the_other_file_is_processed() {
    let cases = [
        (
            "refused-trailer-count",
            "byte 362 <trailer>",
            "lines=\"3\" but the file has 2",
        ),
        (
            "refused-trailer-total",
            "byte 362 <trailer>",
            "total_amount=\"65.00\" but the lines add up to 60.00",
        ),
        (
            "refused-no-trailer",
            "<declaration>",
            "the <trailer> is missing",
        ),
        (
            "refused-malformed",
            "byte 348 <line>",
            "not well-formed XML",
        ),
        (
            "refused-unknown-element",
            "byte 270 <remark>",
            "unknown element <remark>",
        ),
        (
            "refused-namespace",
            "byte 39 <declaration>",
            "not in namespace urn:declaro:declaration:1",
        ),
    ];
    for (name, position, message) in cases {
        let dir = tempfile::tempdir().unwrap();
        let input = format!("fixtures/xml/{name}.xml");
        let o = process(dir.path(), &[&input, "fixtures/claims/2024-asr.csv"], &[]);
        assert_eq!(o.status.code(), Some(2), "{name}: {}", stderr(&o));
        let s = summary(dir.path());
        let refused = s["input_files"][0]["refused"].as_str().unwrap_or_default();
        assert!(
            refused.starts_with(&format!("{input} "))
                && refused.contains(position)
                && refused.contains(message),
            "{name}: {refused}"
        );
        assert_eq!(s["input_files"][0]["format"], "xml");
        assert_eq!(s["input_files"][1]["refused"], serde_json::Value::Null);
        assert_eq!(s["lines"], 15, "{name}: only the CSV file's lines");
        assert_same_csv(
            &read(dir.path().join("remittance.csv")),
            &expected("2024-asr", "remittance.csv"),
            name,
        );
        assert!(!read(dir.path().join("rejections.csv")).contains(&input));
        assert!(stderr(&o).contains(&input), "{name}: {}", stderr(&o));
    }
}

fn write(dir: &Path, name: &str, text: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn xml_line_attributes_override_insured_and_declaration_ones() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "o.xml",
        br#"<declaration xmlns="urn:declaro:declaration:1" batch_id="B1" provider_agb="12345678">
  <insured member_id="M999" birth_date="1900-01-01">
    <line line_id="O-1" batch_id="B2" provider_agb="45678901" member_id="M020" birth_date="1982-03-03" service_date="2024-02-04" code="1000" amount="35.00"></line>
    <line line_id="O-2" service_date="2024-02-05" code="1000" amount="35.00"/>
  </insured>
  <trailer lines="2" total_amount="70.00"/>
</declaration>
"#,
    );
    let out = dir.path().join("out");
    let o = process(&out, &[&f], &["--quiet"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let rem = read(out.join("remittance.csv"));
    assert!(
        rem.contains(",1,B2,O-1,45678901,M020,2024-02-04,1000,1,2024,35.00,0.00,0.00,26.59,8.41,"),
        "{rem}"
    );
    let rej = read(out.join("rejections.csv"));
    assert!(
        rej.contains(",2,B1,O-2,12345678,M999,2024-02-05,1000,35.00,UNKNOWN_MEMBER,"),
        "{rej}"
    );
    assert!(rej.contains(r#""<line line_id=""O-2"" service_date=""2024-02-05"" code=""1000"" amount=""35.00""/>""#), "{rej}");
}
