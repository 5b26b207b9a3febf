//! Vektis EI conformance through the binary: MZ301 dental declarations in and MZ302 returns
//! out (byte-exact against hand-worked expectations, `docs/vektis-mz301.md`), the same lines in
//! all four formats, files of other EI messages refused as `UNSUPPORTED_FORMAT`, line ends noted,
//! and the retourcode of the field at fault. Every file is written by the tests' own helpers.

#[path = "util/formats.rs"]
mod formats;
mod util;
use formats::*;
use util::*;

/// A dental line of member `m` of [`DENTAL_MEMBERS`].
fn dental(m: usize, line_id: &str, date: &str, code: &str, cents: i64) -> Decl {
    line(DENTAL_MEMBERS[m], line_id, date, ("010", code), cents)
}

/// The hand-made MZ301 file: two insured, each with a 03 debiteurrecord, a comment on a 03
/// and one on a 04, a credit, a capped line and an unknown code.
///
/// | rec | type | detail | content |
/// |---|---|---|---|
/// | 0 | 01 | | practice 12345678, factuurnummer F2009-D01 |
/// | 1 | 02 | 1 | M001 (BSN 100023757, born 1970-04-12, zvw + dsw-2009-av-standaard) |
/// | 2 | 03 | 2 | debiteur DEB1 |
/// | 3 | 98 | 2 | comment on the 03 |
/// | 4 | 04 | 3 | T-1 2009-03-02 C11 21.50 D |
/// | 5 | 04 | 4 | T-2 2009-03-02 M50 20.00 D |
/// | 6 | 98 | 4 | comment on T-2 |
/// | 7 | 04 | 5 | T-3 2009-03-09 C11 21.50 C, reverses T-1 |
/// | 8 | 02 | 6 | M002 (BSN 100039595, born 1965-09-30) |
/// | 9 | 03 | 7 | debiteur DEB2 |
/// | 10 | 04 | 8 | T-4 2009-04-01 V11 x 2 60.00 D |
/// | 11 | 04 | 9 | T-5 2009-04-01 Q99 10.00 D |
/// | 12 | 99 | | 2 x 02, 2 x 03, 5 x 04, 2 x 98, 11 detail records, 90.00 D |
fn hand_made() -> Vec<Rec> {
    let mut t3 = dental(0, "T-3", "20090309", "C11", 2150);
    t3.credit = true;
    t3.related_line_id = "T-1".into();
    let mut t4 = dental(1, "T-4", "20090401", "V11", 6000);
    t4.quantity = 2;
    let lines = [
        dental(0, "T-1", "20090302", "C11", 2150),
        dental(0, "T-2", "20090302", "M50", 2000),
        t3,
        t4,
        dental(1, "T-5", "20090401", "Q99", 1000),
    ];
    let mut recs = mz301_records("12345678", "F2009-D01", &lines, true);
    recs.insert(3, rec98(2, "factuur naar de debiteur"));
    recs.insert(6, rec98(4, "gebitsreiniging"));
    // 21.50 + 20.00 - 21.50 + 60.00 + 10.00 = 90.00 D
    let last = recs.len() - 1;
    recs[last] = rec99(2, 2, 5, 2, 9000);
    recs
}

/// A return file: each record's 310 positions, 60 positions of return data, CR LF.
fn answer(records: &[&Rec], suffixes: &[&str]) -> Vec<u8> {
    assert_eq!(records.len(), suffixes.len());
    let mut out = Vec::new();
    for (r, s) in records.iter().zip(suffixes) {
        out.extend_from_slice(&r.0);
        out.extend_from_slice(format!("{s:<60}").as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[test]
fn mz301_with_debtors_comments_and_a_credit_is_adjudicated_and_answered_byte_exact_in_mz302() {
    let dir = Dir::new("vektis");
    let recs = hand_made();
    let f = dir.create_bytes("d2009-001.asc", &join(&recs));
    let o = ei_run(dir.path(), &[&f]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = dir.join("out");
    // DSW AV-Standaard 2009 (seed 002) for members of 22 and older: C11 "100%" (2 C-codes a
    // year), M50 "100%" capped at "€ 13,– per behandeling", V11 "100%"; Q99 is no code.
    // T-1 21.50 paid in full; T-2 20.00 -> 13.00, member 7.00; T-3 undoes T-1 exactly;
    // T-4 60.00 in full; T-5 rejected.
    assert_eq!(
        without_file_and_record(&read(out.join("remittance.csv"))),
        [
            "F2009-D01|T-1|12345678|M001|2009-03-02|C11|1|2009|21.50|0.00|0.00|21.50|0.00|dsw-2009-av-standaard|",
            "F2009-D01|T-2|12345678|M001|2009-03-02|M50|1|2009|20.00|0.00|0.00|13.00|7.00|dsw-2009-av-standaard|TARIFF_CAP",
            "F2009-D01|T-3|12345678|M001|2009-03-09|C11|1|2009|-21.50|0.00|0.00|-21.50|0.00|dsw-2009-av-standaard|",
            "F2009-D01|T-4|12345678|M002|2009-04-01|V11|2|2009|60.00|0.00|0.00|60.00|0.00|dsw-2009-av-standaard|",
        ]
    );
    assert_eq!(
        rejections_without_file_and_raw(&read(out.join("rejections.csv"))),
        ["5|F2009-D01|T-5|12345678|M002|2009-04-01|Q99|10.00|UNKNOWN_CODE|no product knows code \"Q99\""]
    );
    let s = summary(&out);
    let file = &s["input_files"][0];
    assert_eq!(file["format"], "mz301");
    assert_eq!(file["records"], 5);
    assert_eq!(file["line_ends"], "CR LF");
    assert_eq!(file["final_line_end"], true);

    // MZ302, worked by hand from docs/vektis-mz301.md:
    // 01: 3-5 `177`, 11-16 zeros (an insurer does not fill the software code), then
    //     311-334 "DECLARO" + run date + input 0001, 335-342 20251231, 343-346 0200 (a line
    //     carries a remark).
    // The 03 debiteurrecords (records 2 and 9) and the 98 on the first 03 (record 3) are left
    // out; the 98 on T-2 (record 6) is kept.
    // 04: T-1 2150 D in full (blanks); T-2 1300 D 0611 (tariff cap); T-3 2150 C; T-4 6000 D;
    //     T-5 0 D 0582 (unknown code).
    // 99: counts of the return: 2 x 02, 0 x 03, 5 x 04, 1 x 98, 8 detail records; 34-45 as
    //     sent (9000 D); 46-57 awarded 2150 + 1300 - 2150 + 6000 = 7300 D.
    let mut r01 = Rec(recs[0].0.clone());
    r01.0[2..5].copy_from_slice(b"177");
    r01.0[10..16].copy_from_slice(b"000000");
    let r99 = Rec::new("99")
        .an(3, 33, "0000020000000000050000010000008")
        .an(34, 45, "00000009000D")
        .an(46, 57, "00000007300D");
    let expected = answer(
        &[
            &r01, &recs[1], &recs[4], &recs[5], &recs[6], &recs[7], &recs[8], &recs[10], &recs[11],
            &r99,
        ],
        &[
            "DECLARO202512310001     202512310200",
            "",
            "00002150D00002150D",
            "00001300D00001300D0611",
            "",
            "00002150C00002150C",
            "",
            "00006000D00006000D",
            "00000000D00000000D0582",
            "",
        ],
    );
    let got = std::fs::read(dir.join("ei/d2009-001.mz302")).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&expected)
    );
}

/// Round trip: the same generated dental lines as CSV, XML, PM304 and MZ301 adjudicate the same.
#[test]
fn the_same_dental_lines_in_all_four_formats_give_the_same_adjudication() {
    for seed in 1..=4u64 {
        let lines = generate_dental(seed, 40 + 10 * seed as usize);
        let dir = Dir::new("vektis");
        let files = [
            dir.create_bytes("g.csv", csv("12345678", "G2009", &lines).as_bytes()),
            dir.create_bytes("g.xml", xml("12345678", "G2009", &lines).as_bytes()),
            dir.create_bytes("g.dat", &pm304("12345678", "G2009", &lines)),
            dir.create_bytes("g.asc", &mz301("12345678", "G2009", &lines)),
        ];
        let results = adjudicate_each(dir.path(), &files, lines.len());
        let (paid, rejected, _) = &results[0];
        assert!(
            !paid.is_empty() && !rejected.is_empty(),
            "seed {seed}: a mix"
        );
        assert!(
            paid.iter().any(|r| r.ends_with("TARIFF_CAP")),
            "seed {seed}: a capped line"
        );
        for (i, name) in [(1, "XML"), (2, "PM304"), (3, "MZ301")] {
            assert_eq!(results[0], results[i], "seed {seed}: CSV and {name} differ");
        }
    }
}

/// The 01 and 99 records of the return to a refused MZ301 file, with the specific code.
fn refused_answer(sent: &[Rec], code: &str) -> Vec<u8> {
    let mut r01 = Rec(sent[0].0.clone());
    r01.0[2..5].copy_from_slice(b"177");
    r01.0[10..16].copy_from_slice(b"000000");
    let total = &sent[sent.len() - 1].0[33..45];
    let r99 = Rec::new("99")
        .n(3, 33, 0)
        .an(34, 45, std::str::from_utf8(total).unwrap())
        .an(46, 57, "00000000000D");
    answer(
        &[&r01, &r99],
        &[&format!("DECLARO202512310001     202512310001{code}"), ""],
    )
}

#[test]
fn a_refused_mz301_file_is_answered_with_its_01_and_99_and_the_specific_code() {
    let total = {
        let mut r = hand_made();
        let last = r.len() - 1;
        r[last] = rec99(2, 2, 5, 2, 9001);
        r
    };
    let debtors = {
        let mut r = hand_made();
        let last = r.len() - 1;
        r[last] = rec99(2, 1, 5, 2, 9000).n(27, 33, 11);
        r
    };
    let comments = {
        let mut r = hand_made();
        let last = r.len() - 1;
        r[last] = rec99(2, 2, 5, 1, 9000).n(27, 33, 11);
        r
    };
    let version = {
        let mut r = hand_made();
        r[0] = Rec(r[0].0.clone()).an(8, 9, "02");
        r
    };
    let short = {
        let mut r = hand_made();
        r[4].0.pop();
        r
    };
    let header = |from: usize, to: usize, v: &str| {
        let mut r = hand_made();
        r[0] = Rec(r[0].0.clone()).an(from, to, v);
        r
    };
    let period = header(65, 72, "20091301");
    let invoice = header(93, 100, "20091230");
    let kind = header(10, 10, "X");
    let numbering = {
        let mut r = hand_made();
        r[5] = Rec(r[5].0.clone()).n(3, 14, 5);
        r
    };
    let comment = {
        let mut r = hand_made();
        r[6] = Rec(r[6].0.clone()).n(3, 14, 3);
        r
    };
    let second_01 = {
        let mut r = hand_made();
        r.insert(4, Rec(r[0].0.clone()));
        r
    };
    let cases: [(&str, Vec<Rec>, &str, &str); 11] = [
        (
            "total.asc",
            total,
            "0150",
            "but the 04 records add up to 90.00",
        ),
        ("debtors.asc", debtors, "0157", "aantal debiteurrecords"),
        ("comments.asc", comments, "0153", "aantal commentaarrecords"),
        (
            "version.asc",
            version,
            "0011",
            "declaro reads MZ301 versie 01 subversie 03",
        ),
        ("short.asc", short, "0804", "record is 309 positions long"),
        (
            "second01.asc",
            second_01,
            "8026",
            "the 01 voorlooprecord must be the first record, and only that",
        ),
        (
            "period.asc",
            period,
            "0020",
            "begindatum declaratieperiode (positions 65-72) is not a real date",
        ),
        (
            "invoice.asc",
            invoice,
            "0025",
            "dagtekening factuur 2009-12-30 is before the einddatum declaratieperiode 2009-12-31",
        ),
        ("kind.asc", kind, "8028", "soort bericht (position 10) \"X\""),
        (
            "numbering.asc",
            numbering,
            "0801",
            "identificatie detailrecord (positions 3-14) is 5, expected 4",
        ),
        (
            "comment.asc",
            comment,
            "0801",
            "identificatie detailrecord 3 of a 98 commentaarrecord is not that of the record before it (4)",
        ),
    ];
    for (name, recs, code, says) in cases {
        let dir = Dir::new("vektis");
        let f = dir.create_bytes(name, &join(&recs));
        let csv = dir.create_bytes(
            "beside.csv",
            csv(
                "12345678",
                "B1",
                &[dental(0, "B-1", "20090302", "C11", 2150)],
            )
            .as_bytes(),
        );
        let o = ei_run(dir.path(), &[&f, &csv]);
        assert_eq!(o.status.code(), Some(2), "{name}: {}", stderr(&o));
        let s = summary(&dir.join("out"));
        let file = &s["input_files"][0];
        assert_eq!(file["reason"], "MALFORMED_FILE", "{name}");
        assert_eq!(file["vektis_code"], code, "{name}");
        let refused = file["refused"].as_str().unwrap();
        assert!(refused.contains(says), "{name}: {refused}");
        // The CSV beside it is processed: 21.50 paid in full.
        assert_eq!(s["totals"]["paid_supplementary"], "21.50", "{name}");
        let stem = name.trim_end_matches(".asc");
        let got = std::fs::read(dir.join(format!("ei/{stem}.mz302"))).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&refused_answer(&recs, code)),
            "{name}"
        );
    }
}

/// A file that starts as a Vektis EI file of another message: refused whole as
/// `UNSUPPORTED_FORMAT` naming its code and standard, never read as CSV; no return is written
/// in a standard declaro does not speak.
#[test]
fn other_ei_messages_are_refused_as_unsupported_naming_code_and_standard() {
    let dir = Dir::new("vektis");
    // A GZ321 voorlooprecord (code 195, versie 01 00, test) and an unknown code 999.
    let gz = Rec::new("01").an(3, 10, "1950100T");
    let unknown = Rec::new("01").an(3, 10, "9990102P");
    let mut gz_bytes = gz.0.clone();
    gz_bytes.push(b'\n');
    let files = [
        dir.create_bytes("ggz.asc", &gz_bytes),
        dir.create_bytes("other.asc", &join(&[unknown])),
    ];
    let o = ei_run(dir.path(), &[&files[0], &files[1]]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let s = summary(&dir.join("out"));
    for (i, says) in [
        (
            0,
            "code EI-bericht 195 (GZ321, a GGZ (mental health care) declaration)",
        ),
        (1, "code EI-bericht 999 (a standard declaro does not know)"),
    ] {
        let file = &s["input_files"][i];
        assert_eq!(file["reason"], "UNSUPPORTED_FORMAT");
        assert_eq!(file["format"], "vektis-ei");
        let refused = file["refused"].as_str().unwrap();
        assert!(refused.contains(says), "{refused}");
        assert!(!refused.contains("column"), "{refused}");
    }
    assert!(files_in(&dir.join("ei")).is_empty());
}

/// LF only, no line end after the 99, and a mix: read all the same, noted in summary.json,
/// answered with CR LF as the standard wants.
#[test]
fn line_ends_of_ei_files_are_noted_and_the_answer_is_the_same() {
    let recs = hand_made();
    let crlf = join(&recs);
    let lf: Vec<u8> = crlf.iter().copied().filter(|b| *b != b'\r').collect();
    let unended = crlf[..crlf.len() - 2].to_vec();
    let mut mixed = lf.clone();
    mixed.splice(310..310, [b'\r']);
    let mut answers = Vec::new();
    let variants: [(&str, Vec<u8>, &str, bool); 4] = [
        ("crlf", crlf, "CR LF", true),
        ("lf", lf, "LF", true),
        ("unended", unended, "CR LF", false),
        ("mixed", mixed, "mixed", true),
    ];
    for (name, bytes, style, last) in variants {
        let dir = Dir::new("vektis");
        let f = dir.create_bytes("d.asc", &bytes);
        let o = ei_run(dir.path(), &[&f]);
        assert_eq!(o.status.code(), Some(0), "{name}: {}", stderr(&o));
        let s = summary(&dir.join("out"));
        assert_eq!(s["input_files"][0]["line_ends"], style, "{name}");
        assert_eq!(s["input_files"][0]["final_line_end"], last, "{name}");
        assert_eq!(s["lines"], 5, "{name}");
        answers.push(std::fs::read(dir.join("ei/d.mz302")).unwrap());
    }
    assert!(answers.iter().all(|a| a == &answers[0]));
    assert!(answers[0].ends_with(b"\r\n"));
}

/// MALFORMED and MISSING_FIELD carry the retourcode of the field at fault (contract 7), and
/// MZ301's two debit/credit indicators must agree (8064).
#[test]
fn a_line_rejected_for_one_field_carries_that_fields_retourcode() {
    let dir = Dir::new("vektis");
    let ok = dental(0, "F-1", "20090302", "C11", 2150);
    let mut recs = mz301_records("12345678", "F2009-F", &vec![ok; 6], false);
    let set = |r: &mut Rec, from: usize, to: usize, s: &str| {
        r.0[from - 1..to].copy_from_slice(format!("{s:<w$}", w = to - from + 1).as_bytes());
    };
    // Line ids F-1 .. F-6; each 04 gets one fault.
    for (i, r) in recs[2..8].iter_mut().enumerate() {
        set(r, 165, 184, &format!("F-{}", i + 1));
    }
    set(&mut recs[2], 131, 134, "0000"); // aantal 0: MALFORMED quantity, 0638
    set(&mut recs[3], 143, 143, "C"); // D/C (01) C against D/C (02) D: 8064
    set(&mut recs[4], 76, 81, ""); // no prestatiecode: MISSING_FIELD code, 0582
    set(&mut recs[5], 59, 66, "20090230"); // 30 February: BAD_DATE, 8007
    set(&mut recs[6], 131, 134, "00x1"); // MALFORMED quantity, 0638
                                         // F-6 is a credit without the debit it reverses: MISSING_FIELD related_line_id, 0651.
    set(&mut recs[7], 143, 143, "C");
    set(&mut recs[7], 164, 164, "C");
    let total = 5 * 2150 - 2150;
    recs[8] = rec99(1, 0, 6, 0, total);
    let f = dir.create_bytes("faults.asc", &join(&recs));
    let o = ei_run(dir.path(), &[&f]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let rej = rejections_without_file_and_raw(&read(dir.join("out/rejections.csv")));
    let reasons: Vec<&str> = rej.iter().map(|r| r.split('|').nth(8).unwrap()).collect();
    assert_eq!(
        reasons,
        [
            "MALFORMED",
            "MALFORMED",
            "MISSING_FIELD",
            "BAD_DATE",
            "MALFORMED",
            "MISSING_FIELD"
        ]
    );
    let got = std::fs::read(dir.join("ei/faults.mz302")).unwrap();
    let codes: Vec<String> = got
        .split(|b| *b == b'\n')
        .filter(|r| r.starts_with(b"04"))
        .map(|r| String::from_utf8_lossy(&r[310..332]).into_owned())
        .collect();
    assert_eq!(
        codes,
        [
            "00000000D00000000D0638",
            "00000000D00000000D8064",
            "00000000D00000000D0582",
            "00000000D00000000D8007",
            "00000000D00000000D0638",
            "00000000C00000000C0651",
        ]
    );
}

/// A name in Latin-1 (one byte per character, as real files come) is read and echoed byte for
/// byte; the same name in UTF-8 makes the record 311 bytes: refused with 0804, saying why.
#[test]
fn latin1_names_are_echoed_byte_for_byte_and_utf8_ones_are_refused_with_0804() {
    let mut latin1 = hand_made();
    latin1[1].0[63..69].copy_from_slice(b"Ma\xefk  ");
    let dir = Dir::new("vektis");
    let f = dir.create_bytes("latin1.asc", &join(&latin1));
    let o = ei_run(dir.path(), &[&f]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let got = std::fs::read(dir.join("ei/latin1.mz302")).unwrap();
    let r02 = got.split(|b| *b == b'\n').nth(1).unwrap();
    assert_eq!(&r02[..310], &latin1[1].0[..]);

    let mut utf8 = hand_made();
    let mut r = utf8[1].0[..63].to_vec();
    r.extend_from_slice("Maïk".as_bytes());
    r.extend_from_slice(&utf8[1].0[67..]);
    assert_eq!(r.len(), 311);
    utf8[1].0 = r;
    let dir = Dir::new("vektis");
    let f = dir.create_bytes("utf8.asc", &join(&utf8));
    let o = ei_run(dir.path(), &[&f]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let s = summary(&dir.join("out"));
    assert_eq!(s["input_files"][0]["vektis_code"], "0804");
    let refused = s["input_files"][0]["refused"].as_str().unwrap();
    assert!(
        refused.contains(
            "record is 311 positions long, expected 310: it is 310 characters written in UTF-8"
        ),
        "{refused}"
    );
    // The terminal never sees the name.
    assert!(!stderr(&o).contains("Maïk"), "{}", stderr(&o));
}

/// BSN `999999999` means "no BSN": the member is matched on the verzekerdennummer.
#[test]
fn a_bsn_of_nines_means_none_and_the_member_number_matches() {
    let mut line = dental(0, "N-1", "20090302", "C11", 2150);
    line.bsn = "999999999".into();
    let dir = Dir::new("vektis");
    let f = dir.create_bytes("nines.asc", &mz301("12345678", "F2009-N", &[line]));
    let o = ei_run(dir.path(), &[&f]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let rem = without_file_and_record(&read(dir.join("out/remittance.csv")));
    assert_eq!(
        rem,
        ["F2009-N|N-1|12345678|M001|2009-03-02|C11|1|2009|21.50|0.00|0.00|21.50|0.00|dsw-2009-av-standaard|"]
    );
}

/// MZ301's own line checks: a datum prestatie after the dagtekening factuur is `FUTURE_DATE`
/// with 8176, a code list other than 010 `MALFORMED` with 0581, a 04 naming another insured
/// than its 02 `MALFORMED` (`vektis-mz301.md`); the same care twice is `DUPLICATE_CARE`, 0587.
#[test]
fn an_mz301_line_after_its_invoice_date_or_of_another_code_list_is_rejected_with_its_code() {
    let dir = Dir::new("vektis");
    let mut late = dental(0, "L-1", "20100104", "C11", 2150);
    late.code_list = "010".into();
    let mut list = dental(0, "L-2", "20090302", "C11", 2150);
    list.code_list = "012".into();
    let ok = dental(0, "L-3", "20090302", "C12", 2150);
    // L-4 repeats L-3's care under another line id: DUPLICATE_CARE, 0587; L-5 names another
    // verzekerdennummer than its 02: MALFORMED, 0801.
    let again = dental(0, "L-4", "20090302", "C12", 2150);
    let other = dental(0, "L-5", "20090303", "C12", 2150);
    let mut recs = mz301_records(
        "12345678",
        "F2009-L",
        &[late, list, ok, again, other],
        false,
    );
    recs[6] = Rec(recs[6].0.clone()).an(28, 42, "M001X          ");
    let f = dir.create_bytes("lines.asc", &join(&recs));
    let o = ei_run(dir.path(), &[&f]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let rej = rejections_without_file_and_raw(&read(dir.join("out/rejections.csv")));
    assert_eq!(
        rej,
        [
            "1|F2009-L|L-1|12345678|M001|20100104|C11|21.50|FUTURE_DATE|datum prestatie (positions 59-66) is after the dagtekening factuur 2009-12-31",
            "2|F2009-L|L-2|12345678|M001|20090302|C11|21.50|MALFORMED|aanduiding prestatiecodelijst (positions 73-75) \"012\": MZ301 declares list 010 (mondzorg)",
            "4|F2009-L|L-4|12345678|M001|2009-03-02|C12|21.50|DUPLICATE_CARE|the same care (provider 12345678, member, service date, code, quantity and amount) as line_id L-3 earlier in this run",
            "5|F2009-L|L-5|12345678|M001X|20090303|C12|21.50|MALFORMED|the UZOVI-nummer or verzekerdennummer of the 04 prestatierecord differs from its 02 verzekerdenrecord",
        ]
    );
    let got = std::fs::read(dir.join("ei/lines.mz302")).unwrap();
    let codes: Vec<String> = got
        .split(|b| *b == b'\n')
        .filter(|r| r.starts_with(b"04"))
        .map(|r| String::from_utf8_lossy(&r[328..332]).into_owned())
        .collect();
    assert_eq!(codes, ["8176", "0581", "    ", "0587", "0801"]);
}
