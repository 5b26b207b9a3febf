//! Writers for test and bench inputs: the same declaration lines as CSV (contract 4.1), XML
//! (contract 4.2), Vektis PM304 v3.2 (`docs/vektis-ei.md`) and Vektis MZ301 v1.3
//! (`docs/vektis-mz301.md`), written field by field here, never copied from elsewhere.
#![allow(dead_code)]

/// One declaration line, as the three formats can all express it.
#[derive(Clone, Debug, Default)]
pub struct Decl {
    pub line_id: String,
    pub member_id: String,
    pub bsn: String,
    /// `YYYYMMDD`
    pub birth_date: String,
    /// `YYYYMMDD`
    pub service_date: String,
    pub code_list: String,
    pub code: String,
    pub quantity: u32,
    pub indication: String,
    pub referral: bool,
    pub authorization: String,
    pub cents: i64,
    pub credit: bool,
    pub related_line_id: String,
    /// AGB of the behandelaar on the 04 record; empty = the 01 record's zorgverlenerscode.
    pub behandelaar: String,
}

/// A physiotherapy session (code 1000, 30.00) of fixture member M001 (born 1970-04-12) on
/// 2009-01-20, `bsn` empty for none.
pub fn m001_session(line_id: &str, bsn: &str) -> Decl {
    Decl {
        line_id: line_id.into(),
        member_id: "M001".into(),
        bsn: bsn.into(),
        birth_date: "19700412".into(),
        service_date: "20090120".into(),
        code: "1000".into(),
        quantity: 1,
        cents: 3000,
        ..Default::default()
    }
}

fn euros(cents: i64) -> String {
    declaro::model::Cents(cents).to_string()
}

fn dashed(d: &str) -> String {
    format!("{}-{}-{}", &d[..4], &d[4..6], &d[6..8])
}

/// A fixed-width record of 310 positions being filled in (positions 1-based, inclusive).
pub struct Rec(pub Vec<u8>);

impl Rec {
    pub fn new(kind: &str) -> Rec {
        let mut v = vec![b' '; 310];
        v[..2].copy_from_slice(kind.as_bytes());
        Rec(v)
    }
    /// AN field: text, space-padded on the right.
    pub fn an(mut self, from: usize, to: usize, s: &str) -> Rec {
        assert!(s.len() <= to - from + 1, "{s:?} does not fit {from}-{to}");
        self.0[from - 1..from - 1 + s.len()].copy_from_slice(s.as_bytes());
        self
    }
    /// N field: zero-padded on the left.
    pub fn n(self, from: usize, to: usize, v: u64) -> Rec {
        let w = to - from + 1;
        let s = format!("{v:0w$}");
        self.an(from, to, &s)
    }
    /// N fields that are all zeros, `(from, to)` each.
    pub fn zeros(self, fields: &[(usize, usize)]) -> Rec {
        fields.iter().fold(self, |r, &(from, to)| r.n(from, to, 0))
    }
    pub fn text(&self) -> String {
        String::from_utf8(self.0.clone()).unwrap()
    }
}

pub const UZOVI: u64 = 3311;

/// An EI voorlooprecord: code EI-bericht and version (`107`, `03`, `02`), software code,
/// provider (as zorgverlener and praktijk), identificatiecode betaling aan, invoice number, and
/// the declaration period with the dagtekening factuur (`JJJJMMDD` each).
fn voorloop(
    message: [&str; 3],
    software: u64,
    provider_agb: &str,
    paid_to: u64,
    batch_id: &str,
    [begin, end, invoice]: [&str; 3],
) -> Rec {
    Rec::new("01")
        .an(3, 5, message[0])
        .an(6, 7, message[1])
        .an(8, 9, message[2])
        .an(10, 10, "P")
        .n(11, 16, software)
        .an(17, 26, "tests 1.0")
        .n(27, 30, UZOVI)
        .n(31, 38, 0)
        .an(39, 46, provider_agb)
        .an(47, 54, provider_agb)
        .n(55, 62, 0)
        .n(63, 64, paid_to)
        .an(65, 72, begin)
        .an(73, 80, end)
        .an(81, 92, batch_id)
        .an(93, 100, invoice)
        .an(115, 117, "EUR")
}

/// 01 voorlooprecord: PM304 v3.2, provider, invoice number, period 2024.
pub fn rec01(provider_agb: &str, batch_id: &str) -> Rec {
    let period = ["20240101", "20241231", "20241201"];
    voorloop(["107", "03", "02"], 1, provider_agb, 1, batch_id, period)
}

/// One line of `member` (member number, BSN, birth date), quantity 1, debit.
pub fn line(
    member: (&str, &str, &str),
    line_id: &str,
    date: &str,
    (code_list, code): (&str, &str),
    cents: i64,
) -> Decl {
    let (member_id, bsn, birth_date) = member;
    Decl {
        line_id: line_id.into(),
        member_id: member_id.into(),
        bsn: bsn.into(),
        birth_date: birth_date.into(),
        service_date: date.into(),
        code_list: code_list.into(),
        code: code.into(),
        quantity: 1,
        cents,
        ..Decl::default()
    }
}

/// What every 02 and 04 record (PM304 and MZ301) starts with: the record type `code`, the
/// detail record number, the BSN, the UZOVI number and the member number (positions 1-42).
fn insured_record(code: &str, detail: u64, d: &Decl) -> Rec {
    Rec::new(code)
        .n(3, 14, detail)
        .an(15, 23, &d.bsn)
        .n(24, 27, UZOVI)
        .an(28, 42, &d.member_id)
}

/// A 02 verzekerdenrecord up to the name (positions 1-88); `at_62` is position 62 (PM304 `0`,
/// MZ301 `2`).
fn verzekerde(detail: u64, d: &Decl, at_62: &str) -> Rec {
    insured_record("02", detail, d)
        .an(43, 53, "P1")
        .an(54, 61, &d.birth_date)
        .an(62, 62, at_62)
        .an(63, 63, "1")
        .an(64, 88, "Jansen")
}

/// 02 verzekerdenrecord.
pub fn rec02(detail: u64, d: &Decl) -> Rec {
    verzekerde(detail, d, "0")
        .an(135, 140, "J")
        .an(142, 147, "1234AB")
        .n(157, 161, 1)
        .an(168, 169, "NL")
}

/// 04 prestatierecord.
pub fn rec04(detail: u64, d: &Decl) -> Rec {
    let dc = if d.credit { "C" } else { "D" };
    let mut r = insured_record("04", detail, d)
        .an(43, 57, &d.authorization)
        .an(58, 58, "N")
        .an(59, 66, &d.service_date)
        .an(67, 69, &d.code_list)
        .an(70, 75, &d.code)
        .n(76, 79, u64::from(d.quantity))
        .an(80, 80, "N")
        .an(125, 127, &d.indication)
        .an(128, 135, &d.behandelaar)
        .n(162, 169, d.cents as u64)
        .n(170, 177, d.cents as u64)
        .an(178, 178, dc)
        .n(179, 182, 0)
        .n(183, 190, d.cents as u64)
        .an(191, 191, dc)
        .an(192, 211, &d.line_id);
    if d.referral {
        r = r.an(140, 147, "20240101").an(148, 155, "01999999");
    }
    if d.credit {
        r = r.an(212, 231, &d.related_line_id);
    }
    r
}

/// 98 commentaarrecord about detail record `detail`.
pub fn rec98(detail: u64, text: &str) -> Rec {
    Rec::new("98")
        .n(3, 14, detail)
        .n(15, 18, 1)
        .an(19, 158, text)
}

/// 99 sluitrecord.
pub fn rec99(n02: u64, n03: u64, n04: u64, n98: u64, total_cents: i64) -> Rec {
    Rec::new("99")
        .n(3, 8, n02)
        .n(9, 14, n03)
        .n(15, 20, n04)
        .n(21, 26, n98)
        .n(27, 33, n02 + n03 + n04 + n98)
        .n(34, 44, total_cents.unsigned_abs())
        .an(45, 45, if total_cents < 0 { "C" } else { "D" })
}

/// The records of a PM304 file for `lines`: a 02 whenever the insured changes, the 04s, a 99.
pub fn pm304_records(provider_agb: &str, batch_id: &str, lines: &[Decl]) -> Vec<Rec> {
    let mut recs = vec![rec01(provider_agb, batch_id)];
    let (mut detail, mut n02, mut total) = (0u64, 0u64, 0i64);
    let mut current: Option<(&str, &str)> = None;
    for d in lines {
        if current != Some((&d.member_id, &d.bsn)) {
            detail += 1;
            n02 += 1;
            recs.push(rec02(detail, d));
            current = Some((&d.member_id, &d.bsn));
        }
        detail += 1;
        recs.push(rec04(detail, d));
        total += if d.credit { -d.cents } else { d.cents };
    }
    recs.push(rec99(n02, 0, lines.len() as u64, 0, total));
    recs
}

/// MZ301 01 voorlooprecord: dental declaration v1.3 to an insurer, paid to the practice
/// (identificatiecode betaling aan 03), period 2009.
pub fn mz01(provider_agb: &str, batch_id: &str) -> Rec {
    let period = ["20090101", "20091231", "20091231"];
    voorloop(["176", "01", "03"], 7, provider_agb, 3, batch_id, period)
}

/// MZ301 02 verzekerdenrecord (`debtor`: the debiteurnummer of a 03 that follows).
pub fn mz02(detail: u64, d: &Decl, debtor: &str) -> Rec {
    verzekerde(detail, d, "2")
        .n(99, 99, 0)
        .an(135, 140, "J")
        .n(141, 141, 0)
        .an(142, 147, "1234AB")
        .n(157, 161, 1)
        .an(170, 180, debtor)
        .n(181, 181, 2)
}

/// MZ301 03 debiteurrecord.
pub fn mz03(detail: u64, debtor: &str) -> Rec {
    Rec::new("03")
        .n(3, 14, detail)
        .an(15, 25, debtor)
        .zeros(&[(26, 33), (34, 34)])
        .n(35, 35, 1)
        .an(36, 60, "Jansen")
        .n(71, 71, 0)
        .n(113, 113, 1)
        .n(114, 115, 0)
        .an(116, 139, "Dorpsstraat")
        .n(140, 144, 1)
        .an(166, 189, "Utrecht")
        .zeros(&[(207, 209), (280, 295), (296, 297)])
}

/// MZ301 04 prestatierecord.
pub fn mz04(detail: u64, d: &Decl) -> Rec {
    let dc = if d.credit { "C" } else { "D" };
    let tariff = d.cents as u64 / u64::from(d.quantity.max(1));
    let mut r = insured_record("04", detail, d)
        .an(43, 57, &d.authorization)
        .n(58, 58, 1)
        .an(59, 66, &d.service_date)
        .n(67, 68, 1)
        .an(69, 69, "N")
        .n(70, 72, 0)
        .an(73, 75, &d.code_list)
        .an(76, 81, &d.code)
        .zeros(&[(82, 82), (83, 84), (91, 93), (94, 97)])
        .an(98, 98, "N")
        .zeros(&[(99, 106), (107, 110), (111, 118), (119, 122)])
        .n(123, 130, tariff)
        .n(131, 134, u64::from(d.quantity))
        .n(135, 142, d.cents as u64)
        .an(143, 143, dc)
        .zeros(&[(144, 151), (152, 155)])
        .n(156, 163, d.cents as u64)
        .an(164, 164, dc)
        .an(165, 184, &d.line_id);
    if !d.behandelaar.is_empty() {
        r = r.an(99, 106, &d.behandelaar);
    }
    if d.referral {
        r = r.an(111, 118, "01999999");
    }
    if d.credit {
        r = r.an(185, 204, &d.related_line_id);
    }
    r
}

/// The records of an MZ301 file for `lines`: a 02 whenever the insured changes (with a 03
/// debiteurrecord after it when `debtors`), the 04s, a 99.
pub fn mz301_records(
    provider_agb: &str,
    batch_id: &str,
    lines: &[Decl],
    debtors: bool,
) -> Vec<Rec> {
    let mut recs = vec![mz01(provider_agb, batch_id)];
    let (mut detail, mut n02, mut n03, mut total) = (0u64, 0u64, 0u64, 0i64);
    let mut current: Option<(&str, &str)> = None;
    for d in lines {
        if current != Some((&d.member_id, &d.bsn)) {
            detail += 1;
            n02 += 1;
            let debtor = if debtors {
                format!("DEB{n02}")
            } else {
                String::new()
            };
            recs.push(mz02(detail, d, &debtor));
            if debtors {
                detail += 1;
                n03 += 1;
                recs.push(mz03(detail, &debtor));
            }
            current = Some((&d.member_id, &d.bsn));
        }
        detail += 1;
        recs.push(mz04(detail, d));
        total += if d.credit { -d.cents } else { d.cents };
    }
    recs.push(rec99(n02, n03, lines.len() as u64, 0, total));
    recs
}

pub fn mz301(provider_agb: &str, batch_id: &str, lines: &[Decl]) -> Vec<u8> {
    join(&mz301_records(provider_agb, batch_id, lines, false))
}

/// Records joined with CR LF.
pub fn join(recs: &[Rec]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in recs {
        out.extend_from_slice(&r.0);
        out.extend_from_slice(b"\r\n");
    }
    out
}

pub fn pm304(provider_agb: &str, batch_id: &str, lines: &[Decl]) -> Vec<u8> {
    join(&pm304_records(provider_agb, batch_id, lines))
}

pub fn csv(provider_agb: &str, batch_id: &str, lines: &[Decl]) -> String {
    let mut out = String::from("batch_id,line_id,provider_agb,member_id,bsn,birth_date,service_date,code_list,code,quantity,indication,referral,authorization,amount,debit_credit,related_line_id\n");
    for d in lines {
        let agb = if d.behandelaar.is_empty() {
            provider_agb
        } else {
            &d.behandelaar
        };
        out.push_str(&format!(
            "{batch_id},{},{agb},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
            d.line_id,
            d.member_id,
            d.bsn,
            dashed(&d.birth_date),
            dashed(&d.service_date),
            d.code_list,
            d.code,
            d.quantity,
            d.indication,
            if d.referral { "Y" } else { "" },
            d.authorization,
            euros(d.cents),
            if d.credit { "C" } else { "D" },
            if d.credit {
                d.related_line_id.as_str()
            } else {
                ""
            },
        ));
    }
    out
}

pub fn xml(provider_agb: &str, batch_id: &str, lines: &[Decl]) -> String {
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<declaration xmlns=\"urn:declaro:declaration:1\" batch_id=\"{batch_id}\" provider_agb=\"{provider_agb}\">\n"
    );
    let mut current: Option<(&str, &str)> = None;
    let mut total = 0i64;
    for d in lines {
        if current != Some((&d.member_id, &d.bsn)) {
            if current.is_some() {
                out.push_str("  </insured>\n");
            }
            out.push_str(&format!(
                "  <insured member_id=\"{}\" bsn=\"{}\" birth_date=\"{}\">\n",
                d.member_id,
                d.bsn,
                dashed(&d.birth_date)
            ));
            current = Some((&d.member_id, &d.bsn));
        }
        out.push_str(&format!(
            "    <line line_id=\"{}\" service_date=\"{}\" code=\"{}\" quantity=\"{}\" amount=\"{}\"",
            d.line_id,
            dashed(&d.service_date),
            d.code,
            d.quantity,
            euros(d.cents)
        ));
        let opt = [
            ("provider_agb", d.behandelaar.as_str()),
            ("code_list", &d.code_list),
            ("indication", &d.indication),
            ("referral", if d.referral { "Y" } else { "" }),
            ("authorization", &d.authorization),
            ("debit_credit", if d.credit { "C" } else { "" }),
            (
                "related_line_id",
                if d.credit { &d.related_line_id } else { "" },
            ),
        ];
        for (k, v) in opt {
            if !v.is_empty() {
                out.push_str(&format!(" {k}=\"{v}\""));
            }
        }
        out.push_str("/>\n");
        total += if d.credit { -d.cents } else { d.cents };
    }
    if current.is_some() {
        out.push_str("  </insured>\n");
    }
    let sign = if total < 0 { "-" } else { "" };
    out.push_str(&format!(
        "  <trailer lines=\"{}\" total_amount=\"{sign}{}\"/>\n</declaration>\n",
        lines.len(),
        euros(total.abs())
    ));
    out
}

/// Fixture members (`fixtures/members.csv`) holding zvw and the a.s.r. 2024 product.
pub const MEMBERS: [(&str, &str, &str); 6] = [
    ("M020", "100601844", "19820303"),
    ("M021", "100617682", "20150505"),
    ("M040", "100958199", "19990909"),
    ("M050", "101061146", "19810313"),
    ("M051", "101203688", "19460227"),
    ("M052", "101306635", "20080212"),
];

/// Fixture members (`fixtures/members.csv`) holding zvw and a DSW 2009 product (dental care).
pub const DENTAL_MEMBERS: [(&str, &str, &str); 5] = [
    ("M001", "100023757", "19700412"),
    ("M002", "100039595", "19650930"),
    ("M004", "100174218", "19900601"),
    ("M010", "100419707", "19600202"),
    ("M011", "100475140", "19850707"),
];

/// A deterministic pseudo-random set of `n` lines over [`MEMBERS`] in 2024, lines of one member
/// together: paid, capped, unknown codes, duplicates, credits, referrals, authorizations.
pub fn generate(seed: u64, n: usize) -> Vec<Decl> {
    const CODES: [&str; 10] = [
        "1000", "1001", "1100", "1200", "1400", "1864", "2000", "2802", "1319", "4000",
    ];
    generate_over(seed, n, &MEMBERS, &CODES, "2024", "012")
}

/// As [`generate`], dental lines of 2009 (code list 010) over [`DENTAL_MEMBERS`]: 100% codes,
/// C-codes against their yearly pool, M-codes capped, unknown codes.
pub fn generate_dental(seed: u64, n: usize) -> Vec<Decl> {
    const CODES: [&str; 10] = [
        "C11", "C12", "M50", "M55", "V11", "X10", "E02", "H10", "A10", "Q99",
    ];
    let mut lines = generate_over(seed, n, &DENTAL_MEMBERS, &CODES, "2009", "010");
    // MZ301 requires the list: every dental line names it.
    for l in &mut lines {
        l.code_list = "010".into();
    }
    lines
}

fn generate_over(
    seed: u64,
    n: usize,
    members: &[(&str, &str, &str)],
    codes: &[&str],
    year: &str,
    code_list: &str,
) -> Vec<Decl> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = move |m: u64| {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 33) % m
    };
    let mut out: Vec<Decl> = Vec::with_capacity(n);
    let mut member = 0usize;
    for i in 0..n {
        if i == 0 || next(4) == 0 {
            member = next(members.len() as u64) as usize;
        }
        let (id, bsn, birth) = members[member];
        let mut d = Decl {
            line_id: format!("G{seed}-{i:06}"),
            member_id: id.into(),
            bsn: bsn.into(),
            birth_date: birth.into(),
            service_date: format!("{year}{:02}{:02}", 1 + next(12), 1 + next(28)),
            code_list: if next(2) == 0 {
                code_list.into()
            } else {
                String::new()
            },
            code: codes[next(codes.len() as u64) as usize].into(),
            quantity: 1 + next(2) as u32,
            indication: String::new(),
            referral: next(3) == 0,
            authorization: if next(5) == 0 {
                "MACH-0042".into()
            } else {
                String::new()
            },
            cents: 1000 + next(5000) as i64,
            credit: false,
            related_line_id: String::new(),
            behandelaar: if next(4) == 0 {
                "45678901".into()
            } else {
                String::new()
            },
        };
        if i > 0 && next(15) == 0 {
            // A credit for an earlier line.
            d.credit = true;
            d.related_line_id = out[next(i as u64) as usize].line_id.clone();
        } else if i > 0 && next(25) == 0 {
            // The same line_id again: a duplicate.
            d.line_id = out[i - 1].line_id.clone();
        }
        out.push(d);
    }
    out
}
