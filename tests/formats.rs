//! XML declarations and Vektis PM304 files through the binary: the same lines as CSV give the
//! same rows, broken files are refused whole (exit 2) while the other inputs are processed, and
//! PM305 return files are byte-exact against hand-worked expectations.

mod util;
use std::path::Path;
use util::*;

#[test]
fn xml_with_the_lines_of_a_csv_fixture_gives_the_same_remittance() {
    let dir = Dir::new("formats");
    Process::new(dir.path())
        .quiet()
        .input("fixtures/xml/2024-asr.xml")
        .ok();
    let got = read(dir.join("remittance.csv"));
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
    let dir = Dir::new("formats");
    Process::new(dir.path())
        .quiet()
        .input("fixtures/xml/2024-bad-lines.xml")
        .ok();
    assert_eq!(
        without_file_and_record(&read(dir.join("remittance.csv"))),
        without_file_and_record(&expected("2024-bad-lines", "remittance.csv"))
    );
    let got = rejections_without_file_and_raw(&read(dir.join("rejections.csv")));
    // The CSV file's X-02 (12,50) and X-03 (12.505) have amounts that cannot be read: in XML
    // they would leave the trailer's total unverifiable and refuse the file (see
    // `refused-unreadable-amount`), so the XML stand-in has the other 18 lines.
    let want: Vec<String> =
        rejections_without_file_and_raw(&expected("2024-bad-lines", "rejections.csv"))
            .into_iter()
            .filter(|r| !r.contains("|X-02|") && !r.contains("|X-03|"))
            .collect();
    assert_eq!(got.len(), want.len());
    // X-01 is a CSV row with a field missing; its XML stand-in carries an unknown attribute.
    assert_eq!(
        got[0],
        "1|X2024-001|X-01|45678901|M040|2024-02-01|1000|30.00|MALFORMED|unknown attribute fields on <line>"
    );
    // Records are numbered in the XML file, which has two lines fewer.
    let without_record = |rows: &[String]| -> Vec<String> {
        rows.iter()
            .map(|r| {
                r.split_once('|')
                    .map_or(r.clone(), |(_, rest)| rest.to_string())
            })
            .collect()
    };
    assert_eq!(without_record(&got[1..]), without_record(&want[1..]));
    // raw is the <line> element's text.
    let rej = read(dir.join("rejections.csv"));
    assert!(
        rej.contains(r#","<line line_id=""X-04"" service_date=""2024-02-04"" code=""1000"" quantity=""0"" amount=""30.00""/>""#),
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
        // One amount that cannot be read leaves the trailer unverifiable: the whole file is
        // refused, never paid with its total unchecked.
        (
            "refused-unreadable-amount",
            "byte 270 <line>",
            "amount \"12,50\": use a dot as decimal separator, so the trailer's total_amount \
             cannot be verified",
        ),
        (
            "refused-unreadable-sign",
            "byte 270 <line>",
            "debit_credit \"X\" is not D or C, so the trailer's total_amount cannot be verified",
        ),
        (
            "refused-namespace",
            "byte 39 <declaration>",
            "not in namespace urn:declaro:declaration:1",
        ),
    ];
    for (name, position, message) in cases {
        let dir = Dir::new("formats");
        let input = format!("fixtures/xml/{name}.xml");
        let o = Process::new(dir.path())
            .inputs([&input, "fixtures/claims/2024-asr.csv"])
            .assert_exit(2);
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
            &read(dir.join("remittance.csv")),
            &expected("2024-asr", "remittance.csv"),
            name,
        );
        assert!(!read(dir.join("rejections.csv")).contains(&input));
        assert!(stderr(&o).contains(&input), "{name}: {}", stderr(&o));
    }
}

#[test]
fn xml_line_attributes_override_insured_and_declaration_ones() {
    let dir = Dir::new("formats");
    let f = dir.create_bytes("o.xml",
        br#"<declaration xmlns="urn:declaro:declaration:1" batch_id="B1" provider_agb="12345678">
  <insured member_id="M999" birth_date="1900-01-01">
    <line line_id="O-1" batch_id="B2" provider_agb="45678901" member_id="M020" birth_date="1982-03-03" service_date="2024-02-04" code="1000" amount="35.00"></line>
    <line line_id="O-2" service_date="2024-02-05" code="1000" amount="35.00"/>
  </insured>
  <trailer lines="2" total_amount="70.00"/>
</declaration>
"#,
    );
    let out = dir.join("out");
    Process::new(&out).quiet().input(&f).ok();
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

#[path = "util/formats.rs"]
mod formats;
use formats::*;

fn decl(member: usize, line_id: &str, date: &str, code: &str, cents: i64) -> Decl {
    line(MEMBERS[member], line_id, date, ("012", code), cents)
}

/// The hand-made PM304 file: every record type, a referral, a credit, a behandelaar, a comment.
///
/// | rec | type | content |
/// |---|---|---|
/// | 1 | 01 | provider 45678901, factuurnummer P2024-001 |
/// | 2 | 02 | M020 (BSN 100601844, born 1982-03-03, zvw + asr-2024-paramedisch) |
/// | 3 | 04 | P-001 2024-02-04 code 1000, 35.00 D |
/// | 4 | 98 | comment on detail record 2 |
/// | 5 | 04 | P-002 2024-03-07 code 1001, 37.73 D, referral (verwijzer AGB + verwijsdatum) |
/// | 6 | 04 | P-003 2024-03-08 code 1000, 35.00 C, reverses P-001 |
/// | 7 | 02 | M021 (BSN 100617682, born 2015-05-05) |
/// | 8 | 04 | P-004 2024-01-07 code 1100, 40.00 D, behandelaar 45678901 |
/// | 9 | 04 | P-005 2024-01-08 code 4000, 30.00 D |
/// | 10 | 99 | 2 x 02, 0 x 03, 4 x 04... see below |
fn hand_made() -> Vec<Rec> {
    let mut p2 = decl(0, "P-002", "20240307", "1001", 3773);
    p2.referral = true;
    let mut p3 = decl(0, "P-003", "20240308", "1000", 3500);
    p3.credit = true;
    p3.related_line_id = "P-001".into();
    let mut p4 = decl(1, "P-004", "20240107", "1100", 4000);
    p4.behandelaar = "45678901".into();
    vec![
        rec01("45678901", "P2024-001"),
        rec02(1, &decl(0, "", "", "", 0)),
        rec04(2, &decl(0, "P-001", "20240204", "1000", 3500)),
        rec98(2, "eerste behandeling na verwijzing"),
        rec04(3, &p2),
        rec04(4, &p3),
        rec02(5, &decl(1, "", "", "", 0)),
        rec04(6, &p4),
        rec04(7, &decl(1, "P-005", "20240108", "4000", 3000)),
        // 2 verzekerdenrecords, 0 debiteur, 5 prestatie, 1 commentaar, 8 detail records;
        // total declared 35.00 + 37.73 - 35.00 + 40.00 + 30.00 = 107.73 D.
        rec99(2, 0, 5, 1, 10773),
    ]
}

/// The PM305 answer: each record's 310 positions (`01` with message code 108), then 60
/// positions of return data, then CR LF.
fn pm305(records: &[Rec], suffixes: &[&str]) -> Vec<u8> {
    assert_eq!(records.len(), suffixes.len());
    let mut out = Vec::new();
    for (r, s) in records.iter().zip(suffixes) {
        assert_eq!(s.len(), 60, "{s:?}");
        out.extend_from_slice(&r.0);
        out.extend_from_slice(s.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// `s` padded with spaces to the 60 return positions (311-370).
fn ret(s: &str) -> String {
    format!("{s:<60}")
}

/// The PM304 file `name` of `recs`, refused whole beside the a.s.r. fixture night (exit 2) at
/// `position` for `message`: the night's 15 lines are processed as ever. Gives the directory,
/// the file's path and `summary.json`.
fn refused_beside_the_asr_night(
    name: &str,
    recs: &[Rec],
    position: &str,
    message: &str,
) -> (Dir, String, serde_json::Value) {
    let dir = Dir::new("formats");
    let f = dir.create_bytes(name, &join(recs));
    let o = ei_run(dir.path(), &[&f, "fixtures/claims/2024-asr.csv"]);
    assert_eq!(o.status.code(), Some(2), "{name}: {}", stderr(&o));
    let out = dir.join("out");
    let s = summary(&out);
    assert_eq!(
        s["input_files"][0]["refused"],
        format!("{f} {position}: {message}"),
        "{name}"
    );
    assert_eq!(s["lines"], 15, "{name}: only the CSV file's lines");
    assert_same_csv(
        &read(out.join("remittance.csv")),
        &expected("2024-asr", "remittance.csv"),
        name,
    );
    (dir, f, s)
}

#[test]
fn pm304_every_record_type_adjudicated_and_answered_byte_exact_in_pm305() {
    let dir = Dir::new("formats");
    let recs = hand_made();
    let f = dir.create_bytes("p2024-001.dat", &join(&recs));
    let o = ei_run(dir.path(), &[&f]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = dir.join("out");
    // The remittance as for the same lines in CSV (tests/expected/2024-asr: 1000 capped at
    // 26.59, 1001 paid in full, 1100 capped at 35.25); record = ordinal among the 04 records.
    let rem = read(out.join("remittance.csv"));
    assert_eq!(
        without_file_and_record(&rem),
        [
            "P2024-001|P-001|45678901|M020|2024-02-04|1000|1|2024|35.00|0.00|0.00|26.59|8.41|asr-2024-paramedisch|TARIFF_CAP",
            "P2024-001|P-002|45678901|M020|2024-03-07|1001|1|2024|37.73|0.00|0.00|37.73|0.00|asr-2024-paramedisch|",
            // P-003 credits P-001 (same provider, member and amount 35.00): its exact negative.
            "P2024-001|P-003|45678901|M020|2024-03-08|1000|1|2024|-35.00|0.00|0.00|-26.59|-8.41|asr-2024-paramedisch|",
            "P2024-001|P-004|45678901|M021|2024-01-07|1100|1|2024|40.00|0.00|0.00|35.25|4.75|asr-2024-paramedisch|TARIFF_CAP",
        ]
    );
    assert!(rem.contains(&format!("{f},4,P2024-001,P-004,")), "{rem}");
    let rej = read(out.join("rejections.csv"));
    assert_eq!(
        rejections_without_file_and_raw(&rej),
        [
            "5|P2024-001|P-005|45678901|M021|2024-01-08|4000|30.00|UNKNOWN_CODE|no product knows code \"4000\"",
        ]
    );
    // raw is the 04 record's 310 positions.
    assert!(rej.contains(&format!(",{}\n", recs[8].text())), "{rej}");
    let s = summary(&out);
    assert_eq!(s["input_files"][0]["format"], "pm304");
    assert_eq!(s["input_files"][0]["records"], 5);
    assert_eq!(s["reconciliation"]["balanced"], true);

    // PM305, worked by hand from the layout (docs/vektis-ei.md, positions 311-370):
    // 01: 311-334 reference "DECLARO" + run date + input number 0001 (19 chars + 5 spaces),
    //     335-342 run date 20251231, 343-346 retourcode 0200 (some 04 carries a remark; 8001
    //     only when every line is awarded in full), rest spaces.
    // 02, 98: no return codes: 60 spaces.
    // 04: computed (8) D/C, awarded (8) D/C, retourcodes 3 x 4:
    //   P-001 paid 26.59 = 2659 cents, TARIFF_CAP -> 0611
    //   P-002 paid 37.73 in full -> no retourcode (blanks)
    //   P-003 credit of P-001, reversed: 2659 and 2659 with sign C as declared, no retourcode
    //   P-004 paid 35.25 = 3525 cents, TARIFF_CAP -> 0611
    //   P-005 rejected UNKNOWN_CODE -> 0582
    // 99: positions 1-45 as sent; 46-56 total awarded 2659 + 3773 - 2659 + 3525 = 7298 ->
    //     00000007298, 57 D; 311-370 spaces.
    let mut expected_recs = hand_made();
    expected_recs[0].0[2..5].copy_from_slice(b"108");
    expected_recs[9].0[45..57].copy_from_slice(b"00000007298D");
    let expected = pm305(
        &expected_recs,
        &[
            &ret("DECLARO202512310001     202512310200"),
            &ret(""),
            &ret("00002659D00002659D0611"),
            &ret(""),
            &ret("00003773D00003773D"),
            &ret("00002659C00002659C"),
            &ret(""),
            &ret("00003525D00003525D0611"),
            &ret("00000000D00000000D0582"),
            &ret(""),
        ],
    );
    let got = std::fs::read(dir.join("ei/p2024-001.pm305")).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&expected)
    );
    assert_eq!(got.len(), 10 * 372);
}

/// A 99 that disagrees with the records, and a short record: the file is refused whole
/// (exit 2), the CSV beside it is processed, and the PM305 says 0001.
#[test]
fn pm304_trailer_mismatch_and_short_record_refuse_the_file_with_0001() {
    // Trailer mismatch: the total declared says 107.74.
    let mut mismatch = hand_made();
    mismatch[9] = rec99(2, 0, 5, 1, 10774);
    // Short record: the second 04 lost its last position.
    let mut short = hand_made();
    short[4].0.pop();
    let mut wrong_count = hand_made();
    wrong_count[9] = rec99(2, 0, 4, 1, 10773);
    let mut unknown = hand_made();
    unknown[3].0[..2].copy_from_slice(b"97");
    // The last column is the specific Vektis retourcode (vektis-ei.md, 99 sluitrecord).
    let cases: [(&str, Vec<Rec>, &str, &str, &str); 4] = [
        (
            "mismatch.dat",
            mismatch,
            "record 10 byte 2808 (99 sluitrecord)",
            "totaal declaratiebedrag (positions 34-45) is 107.74 but the 04 records add up to 107.73",
            "0150",
        ),
        (
            "short.dat",
            short,
            "record 5 byte 1248 (04 prestatierecord)",
            "record is 309 positions long, expected 310",
            "0804",
        ),
        (
            "count.dat",
            wrong_count,
            "record 10 byte 2808 (99 sluitrecord)",
            "aantal prestatierecords (positions 15-20) is 4 but the file has 5",
            "0158",
        ),
        ("unknown.dat", unknown, "record 4 byte 936 (unknown record)", "unknown record type \"97\"", "0002"),
    ];
    for (name, recs, position, message, code) in cases {
        let (dir, f, s) = refused_beside_the_asr_night(name, &recs, position, message);
        let out = dir.join("out");
        assert_eq!(s["input_files"][0]["format"], "pm304");
        assert_eq!(s["input_files"][0]["vektis_code"], code, "{name}");
        assert!(!read(out.join("rejections.csv")).contains(&f), "{name}");
        // PM305: the 01 and the 99 only (COD954 0001), 0001 and the specific code on the 01,
        // nothing awarded on the 99.
        let stem = name.trim_end_matches(".dat");
        let got = std::fs::read(dir.join(format!("ei/{stem}.pm305"))).unwrap();
        let lines: Vec<&[u8]> = got
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(lines.len(), 2, "{name}");
        assert!(
            lines.iter().all(|l| l.len() == 371 && l.ends_with(b"\r")),
            "{name}"
        );
        assert_eq!(
            lines[0][310..350],
            *format!("DECLARO202512310001     202512310001{code}").as_bytes(),
            "{name}"
        );
        assert_eq!(&lines[1][..2], b"99", "{name}");
        assert_eq!(
            lines[1][2..33],
            [b'0'; 31],
            "{name}: the return's counts are zero"
        );
        assert_eq!(&lines[1][45..57], b"00000000000D", "{name}");
    }
}

/// A PM304 file laid out like the public Vektis test file (written here): parsed, its one line
/// (code 4000, in no fixture product) rejected with a reason, nothing lost; and with policies
/// that have no terms for 2018 the night still goes on.
#[test]
fn a_speech_therapy_pm304_file_of_2018_is_read_and_its_line_rejected_with_a_reason() {
    let dir = Dir::new("formats");
    // A speech-therapy practice's file as they come in: one insured, one line of list 012,
    // code 4000 (which no fixture product covers), 40.00 D, treated on 2018-09-12, CR LF.
    let line = Decl {
        line_id: "752".into(),
        member_id: "0123456789".into(),
        bsn: "957136171".into(),
        birth_date: "20000101".into(),
        service_date: "20180912".into(),
        code_list: "012".into(),
        code: "4000".into(),
        quantity: 1,
        cents: 4000,
        ..Decl::default()
    };
    let input = dir.create_bytes("speech.dat", &formats::pm304("05193098", "100", &[line]));
    let members = dir.create_csv(
        "members.csv",
        util::claims::REGISTER_WITHOUT_VOLUNTARY,
        table(&["0123456789 957136171 2000-01-01 zvw 2000-01-01 -"]),
    );
    // The service date is in 2018, a year the fixture zvw policy has no deductible for: the
    // fixture policies as they are still run the night (exit 0, the line rejected). The test's
    // copy of the policy adds the 2018 amount (385.00), so the reason is the code alone.
    let as_is = dir.join("as-is");
    let run = |policy: &Path, out: &str| {
        let run = dir.process().no_providers().ledger_in_out().quiet();
        run.policy(policy).members(&members).out(out)
    };
    run(&root().join("fixtures/policies"), "as-is")
        .input(&input)
        .ok();
    let s = summary(&as_is);
    assert_eq!(s["outcomes"]["rejected"], 1, "{s}");
    assert_eq!(s["reconciliation"]["balanced"], true);
    let policies = dir.create_dir("policies");
    let mut zvw = read(root().join("fixtures/policies/zvw.toml"));
    zvw.push_str("\n[[deductible.year]]\nyear = 2018\nmandatory = \"385.00\"\n");
    std::fs::write(policies.join("zvw.toml"), zvw).unwrap();
    let out = dir.join("out");
    let ei = dir.join("ei");
    let o = run(&policies, "out")
        .arg("--ei-return")
        .arg(&ei)
        .input(&input)
        .ok();
    assert!(!stderr(&o).contains("957136171"));
    let s = summary(&out);
    assert_eq!(s["input_files"][0]["format"], "pm304");
    assert_eq!(s["lines"], 1);
    assert_eq!(s["rejected_by_reason"]["UNKNOWN_CODE"], 1);
    assert_eq!(s["reconciliation"]["balanced"], true);
    assert_eq!(s["reconciliation"]["claimed_read"], "40.00");
    let rej = read(out.join("rejections.csv"));
    assert!(
        rej.contains(&format!(
            "{input},1,100,752,05193098,0123456789,2018-09-12,4000,40.00,UNKNOWN_CODE,"
        )),
        "{rej}"
    );
    let pm305 = std::fs::read(ei.join("speech.pm305")).unwrap();
    let lines: Vec<&[u8]> = pm305
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(lines.len(), 4);
    assert!(lines.iter().all(|l| l.len() == 371));
    assert_eq!(&lines[2][310..332], b"00000000D00000000D0582");
}

/// Round trip: the same generated lines written as CSV, XML and PM304 adjudicate the same.
#[test]
fn the_same_lines_as_csv_xml_and_pm304_give_the_same_adjudication() {
    for seed in 1..=6u64 {
        let lines = generate(seed, 40 + 10 * seed as usize);
        let dir = Dir::new("formats");
        let files = [
            dir.create_bytes("g.csv", csv("12345678", "G2024", &lines).as_bytes()),
            dir.create_bytes("g.xml", xml("12345678", "G2024", &lines).as_bytes()),
            dir.create_bytes("g.dat", &pm304("12345678", "G2024", &lines)),
        ];
        let results = adjudicate_each(dir.path(), &files, lines.len());
        assert!(
            !results[0].0.is_empty() && !results[0].1.is_empty(),
            "seed {seed}: a mix"
        );
        assert_eq!(results[0], results[1], "seed {seed}: CSV and XML differ");
        assert_eq!(results[0], results[2], "seed {seed}: CSV and PM304 differ");
    }
}

/// Structural faults of a PM304 file: no 99, a 04 before any 02, a record after the 99.
#[test]
fn pm304_structure_faults_are_refusals_naming_record_and_byte() {
    let mut no_99 = hand_made();
    no_99.pop();
    let mut orphan = hand_made();
    orphan.remove(1);
    let mut after = hand_made();
    after.push(rec98(9, "te laat"));
    // Each is a fault of the record order: Vektis 8026 (volgorde recordtypen).
    let cases: [(&str, Vec<Rec>, &str); 3] = [
        ("no99.dat", no_99, "record 10 byte 2808 (99 sluitrecord): the 99 sluitrecord is missing"),
        ("orphan.dat", orphan, "record 2 byte 312 (04 prestatierecord): 04 prestatierecord before any 02 verzekerdenrecord"),
        ("after.dat", after, "record 11 byte 3120 (98 commentaarrecord): record after the 99 sluitrecord"),
    ];
    for (name, recs, refusal) in cases {
        let dir = Dir::new("formats");
        let f = dir.create_bytes(name, &join(&recs));
        let o = ei_run(dir.path(), &[&f, "fixtures/claims/2024-asr.csv"]);
        assert_eq!(o.status.code(), Some(2), "{name}: {}", stderr(&o));
        let s = summary(&dir.join("out"));
        assert_eq!(
            s["input_files"][0]["refused"],
            format!("{f} {refusal}"),
            "{name}"
        );
        assert_eq!(s["input_files"][0]["vektis_code"], "8026", "{name}");
        assert_eq!(s["lines"], 15);
        assert!(!stderr(&o).contains("100601844"), "no BSN on stderr");
        let stem = name.trim_end_matches(".dat");
        let pm305 = std::fs::read(dir.join(format!("ei/{stem}.pm305"))).unwrap();
        assert_eq!(
            &pm305[310..350],
            b"DECLARO202512310001     2025123100018026"
        );
        assert_eq!(pm305.len(), 2 * 372, "{name}: the 01 and the 99 only");
    }
}

/// A PM304 file whose 99 record cannot be verified is refused whole (Vektis 0150), never paid
/// with its total unchecked: an amount or a sign that cannot be read, or debits beyond what the
/// 11 positions of a total hold (which no PM305 could answer). The CSV file beside it is paid
/// and the PM305 answers are written: one such file no longer fails the night.
#[test]
fn pm304_a_trailer_that_cannot_be_verified_refuses_the_file_with_0150() {
    // An amount of -0000001 on P-002 (record 5) and a trailer of 0.01: before, the line was
    // rejected MALFORMED, the total went unchecked and the other lines were paid.
    let mut amount = hand_made();
    amount[4].0[182..190].copy_from_slice(b"-0000001");
    amount[9] = rec99(2, 0, 5, 1, 1);
    let mut sign = hand_made();
    sign[4].0[190] = b'X';
    // 1,001 debits of 999,999.99: the 1,001st brings the debits to 1,000,999,989.99, past
    // the 999,999,999.99 that 11 positions hold. Records: 01, 02, then the 04s, so the
    // 1,001st 04 is record 1,003 at byte 1,002 x 312 = 312,624.
    let mut big = vec![
        rec01("45678901", "B2024"),
        rec02(1, &decl(0, "", "", "", 0)),
    ];
    big.extend((0..1001u64).map(|i| {
        rec04(
            i + 2,
            &decl(0, &format!("B-{i}"), "20240204", "PHARMA", 99_999_999),
        )
    }));
    big.push(rec99(1, 0, 1001, 0, 0));
    let cases: [(&str, Vec<Rec>, &str, &str); 3] = [
        (
            "amount.dat",
            amount,
            "record 5 byte 1248 (04 prestatierecord)",
            "declaratiebedrag (positions 183-190) \"-0000001\" is not a number, so the 99 sluitrecord's \
             totaal declaratiebedrag cannot be verified",
        ),
        (
            "sign.dat",
            sign,
            "record 5 byte 1248 (04 prestatierecord)",
            "indicatie debet/credit (position 191) \"X\" is not D or C, so the 99 \
             sluitrecord's totaal declaratiebedrag cannot be verified",
        ),
        (
            "big.dat",
            big,
            "record 1003 byte 312624 (04 prestatierecord)",
            "the 04 records' debits add up to more than 999999999.99, the most that the 11 \
             positions of a total can hold",
        ),
    ];
    for (name, recs, position, message) in cases {
        let (dir, _, s) = refused_beside_the_asr_night(name, &recs, position, message);
        assert_eq!(s["input_files"][0]["vektis_code"], "0150", "{name}");
        let stem = name.trim_end_matches(".dat");
        let pm305 = std::fs::read(dir.join(format!("ei/{stem}.pm305"))).unwrap();
        assert_eq!(&pm305[342..346], b"0001", "{name}");
        let debris: Vec<_> = files_in(&dir.join("ei"))
            .into_iter()
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(debris.is_empty(), "{name}: {debris:?}");
    }
}

/// Inputs `x/a.dat`, `y/a-3.dat` and `z/a.dat` once both answered into `a-3.pm305`: one
/// answer was lost and the night failed. Each now has its own return file.
#[test]
fn pm305_names_of_inputs_with_clashing_stems_are_all_distinct() {
    let dir = Dir::new("formats");
    let mut inputs = Vec::new();
    for (i, (sub, name)) in [("x", "a.dat"), ("y", "a-3.dat"), ("z", "a.dat")]
        .iter()
        .enumerate()
    {
        dir.create_dir(sub);
        let mut recs = hand_made();
        recs[0] = rec01("45678901", &format!("P2024-00{i}"));
        inputs.push(dir.create_bytes(&format!("{sub}/{name}"), &join(&recs)));
    }
    let args: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let o = ei_run(dir.path(), &args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let mut names = files_in(&dir.join("ei"));
    names.sort();
    assert_eq!(names, ["a-3-2.pm305", "a-3.pm305", "a.pm305"]);
    // Each answers its own input: the 01 record carries the input's factuurnummer (81-92).
    for (name, batch) in [
        ("a", "P2024-000"),
        ("a-3", "P2024-001"),
        ("a-3-2", "P2024-002"),
    ] {
        let got = std::fs::read(dir.join(format!("ei/{name}.pm305"))).unwrap();
        assert_eq!(&got[80..89], batch.as_bytes(), "{name}");
    }
}

/// A generated XML night, with broken lines and credits of an earlier night, is accepted whole:
/// its trailer is net (credits count negative) and its broken lines keep a readable amount.
#[test]
fn a_generated_xml_night_with_credits_and_broken_lines_passes_its_trailer_check() {
    let dir = Dir::new("formats");
    for night in ["1", "2"] {
        let args = [
            "--lines",
            "3000",
            "--members",
            "300",
            "--format",
            "xml",
            "--night",
            night,
        ];
        let gen = dir.generate(&format!("gen{night}"), &args);
        let run = dir.process().quiet().members(gen.join("members.csv"));
        run.out(format!("out{night}"))
            .input(gen.join("claims.xml"))
            .ok();
        let s = summary(&dir.join(format!("out{night}")));
        assert_eq!(s["lines"], 3000, "night {night}");
        assert!(
            s["rejected_by_reason"]["MALFORMED"].as_u64() > Some(0),
            "night {night}: {s}"
        );
    }
}

/// A line awarded in full carries no retourcode, also when the member's deductible was charged
/// on it (the provider is awarded the full amount; the insurer collects the deductible from the
/// member), and a file whose every line is so awarded gets 8001 on its 01 record.
/// M020 (zvw, no earlier lines): PHARMA 30.00 on 2024-02-01 is paid 30.00 by basic insurance,
/// of which 30.00 is deductible (385.00 left before it): remittance reason DEDUCTIBLE, PM305
/// 04 `00003000D00003000D` and blanks.
#[test]
fn pm305_a_line_awarded_in_full_has_no_code_even_with_the_deductible_and_the_file_8001() {
    let dir = Dir::new("formats");
    let line = decl(0, "D-1", "20240201", "PHARMA", 3000);
    let recs = pm304_records("45678901", "D2024", &[line]);
    let f = dir.create_bytes("d.dat", &join(&recs));
    let o = ei_run(dir.path(), &[&f]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let rem = read(dir.join("out/remittance.csv"));
    assert!(
        rem.contains(",30.00,30.00,30.00,0.00,0.00,zvw,DEDUCTIBLE\n"),
        "{rem}"
    );
    let got = std::fs::read(dir.join("ei/d.pm305")).unwrap();
    let lines: Vec<&[u8]> = got
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(
        &lines[0][310..350],
        b"DECLARO202512310001     202512318001    "
    );
    assert_eq!(
        lines[2][310..370],
        *format!("{:<60}", "00003000D00003000D").as_bytes()
    );
}
