//! `declaro generate`: a realistic synthetic night over the fixture products, deterministic for
//! a seed. Members of all ages on every product, few lines for most members and 40+ for some,
//! a mix of paramedical, pharmacy, GP, hospital and denture lines, about 1% bad lines and 0.5%
//! duplicates and credits each.
//!
//! `--night K` makes successive nights over one member population: `members.csv` depends only on
//! the seed and the member count, night K's line and batch ids start with `N{K}`, and its service
//! dates lie in a window that moves on a day per night. Every line is random-access: line n of
//! night K comes from a splitmix64 seeded by a hash of (seed, K, n), so a credit in night K can
//! recompute the line of an earlier night it reverses without anything being stored. A later night
//! assumes the earlier ones were generated with the same seed, `--lines` and `--members`.

use crate::model::Date;
use crate::Error;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Settings of one `generate` run.
#[derive(Debug, Clone)]
pub struct Settings {
    pub lines: u64,
    pub members: u64,
    pub seed: u64,
    /// The night, from 1: line and batch ids are fresh across nights of one seed.
    pub night: u64,
    pub xml: bool,
    pub out: PathBuf,
}

/// splitmix64: small, fast and good enough for synthetic data; no dependency needed.
struct Rng(u64);

/// The splitmix64 finaliser: a bijective 64-bit mix.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The seed of line `n` of night `night`: a hash of (seed, night, n).
fn line_seed(seed: u64, night: u64, n: u64) -> u64 {
    const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;
    let h = mix(seed ^ 0x6c69_6e65_7300_0000);
    let h = mix(h.wrapping_add(GOLDEN) ^ night);
    mix(h.wrapping_add(GOLDEN) ^ n)
}

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }
    /// Uniform in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }
    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
}

/// The supplementary products a generated member may hold (ids of `fixtures/policies`).
const SUPPLEMENTARY: [&str; 3] = [
    "asr-2024-paramedisch",
    "dsw-2009-av-standaard",
    "dsw-2009-av-top",
];

/// Physiotherapy and exercise codes with a typical tariff in cents.
const PARAMEDICAL: [(&str, i64); 10] = [
    ("1000", 3200),
    ("1000", 2900),
    ("1001", 4100),
    ("1100", 3900),
    ("1200", 4200),
    ("1400", 4673),
    ("1870", 3668),
    ("2000", 2900),
    ("1319", 1455),
    ("1700", 3878),
];

struct Member {
    id: String,
    bsn: String,
    birth: Date,
}

/// A valid BSN from a counter: the ninth digit is chosen so that the elfproef holds.
fn bsn(counter: &mut u64) -> String {
    loop {
        *counter += 1;
        let head = 10_000_000 + *counter % 89_999_999;
        let digits: Vec<u64> = format!("{head:08}")
            .bytes()
            .map(|b| u64::from(b - b'0'))
            .collect();
        let sum: u64 = digits
            .iter()
            .enumerate()
            .map(|(i, d)| d * (9 - i as u64))
            .sum();
        let check = sum % 11;
        if check < 10 {
            return format!("{head:08}{check}");
        }
    }
}

fn date_in(rng: &mut Rng, from: Date, days: u64) -> Date {
    let base = from.days_since_epoch();
    Date::from_days_since_epoch(base + rng.below(days) as i64)
}

/// One generated declaration line, as text fields.
struct Gen {
    batch: String,
    line_id: String,
    agb: &'static str,
    member: usize,
    date: Date,
    code: &'static str,
    code_list: &'static str,
    indication: &'static str,
    authorization: &'static str,
    quantity: u32,
    amount: i64,
    copay: i64,
    trajectory: Option<Date>,
    credit_of: Option<String>,
    /// A deliberately broken field: (column, text).
    broken: Option<(&'static str, &'static str)>,
}

/// Writes `members.csv` and `claims.csv` (or `claims.xml`) into the output directory.
pub fn run(s: &Settings) -> Result<String, Error> {
    if s.members == 0 {
        return Err(Error::Usage("--members must be at least 1".into()));
    }
    if s.night == 0 {
        return Err(Error::Usage("--night must be at least 1".into()));
    }
    std::fs::create_dir_all(&s.out)
        .map_err(|e| Error::Usage(format!("cannot create {}: {e}", s.out.display())))?;
    fn io(p: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
        move |e| Error::Internal(format!("writing {}: {e}", p.display()))
    }
    // The members come from their own stream, so they are the same for every night.
    let mut rng = Rng(s.seed ^ 0x6465_636c_6172_6f00);

    // Members: all ages, zvw from 2020, a supplementary product for most.
    let mpath = s.out.join("members.csv");
    let mut w = BufWriter::with_capacity(1 << 20, File::create(&mpath).map_err(io(&mpath))?);
    writeln!(
        w,
        "member_id,bsn,birth_date,product,start_date,end_date,voluntary_deductible"
    )
    .map_err(io(&mpath))?;
    let mut members = Vec::with_capacity(s.members as usize);
    let mut counter = rng.below(1_000_000);
    for i in 0..s.members {
        let birth = date_in(
            &mut rng,
            Date::new(1935, 1, 1).unwrap_or_default(),
            88 * 365,
        );
        let m = Member {
            id: format!("G{:08}", i + 1),
            bsn: bsn(&mut counter),
            birth,
        };
        let voluntary = if rng.chance(150) {
            ["100", "200", "500"][rng.below(3) as usize]
        } else {
            ""
        };
        writeln!(
            w,
            "{},{},{},zvw,2020-01-01,,{voluntary}",
            m.id, m.bsn, m.birth
        )
        .map_err(io(&mpath))?;
        if !rng.chance(300) {
            let p = SUPPLEMENTARY[rng.below(SUPPLEMENTARY.len() as u64) as usize];
            writeln!(w, "{},{},{},{p},2020-01-01,,", m.id, m.bsn, m.birth).map_err(io(&mpath))?;
        }
        members.push(m);
    }
    w.flush().map_err(io(&mpath))?;

    // Lines: each one computed from (seed, night, index) alone, see `Night::line`.
    let night = Night {
        seed: s.seed,
        night: s.night,
        lines: s.lines,
        members: s.members,
        heavy: (s.members / 50).max(1),
    };
    let cpath = s.out.join(if s.xml { "claims.xml" } else { "claims.csv" });
    let mut w = BufWriter::with_capacity(1 << 20, File::create(&cpath).map_err(io(&cpath))?);
    let mut writer = if s.xml {
        Writer::xml(&mut w).map_err(io(&cpath))?
    } else {
        Writer::csv(&mut w).map_err(io(&cpath))?
    };
    for n in 0..s.lines {
        writer
            .write(&mut w, &night.line(n), &members)
            .map_err(io(&cpath))?;
    }
    writer.finish(&mut w).map_err(io(&cpath))?;
    w.flush().map_err(io(&cpath))?;
    Ok(format!(
        "wrote {} and {}\n",
        mpath.display(),
        cpath.display()
    ))
}

/// Per mille of the lines of a night: duplicates, credits and broken lines (the rest are good).
const DUPLICATES: u64 = 5;
const CREDITS: u64 = 5;
const BROKEN: u64 = 10;
/// Picks a duplicate or credit tries before it settles for a good line of its own.
const PICKS: usize = 4;
/// Service dates of a night span this many days from its window's start.
const WINDOW_DAYS: u64 = 540;
/// The last window start, in days after 2024-01-01: its window ends on 2025-12-31 (the run date
/// of the benches), so no generated date is in the future for it.
const LAST_START: u64 = 731 - WINDOW_DAYS;

/// The first service date of night `k`: 2024-01-01 plus a day for each night after the first,
/// until the window reaches 2025-12-31.
fn window_start(k: u64) -> Date {
    let first = Date::new(2024, 1, 1).unwrap_or_default().days_since_epoch();
    Date::from_days_since_epoch(first + (k - 1).min(LAST_START) as i64)
}

/// The lines of one night: line n is a function of (seed, night, n) and the sizes only.
struct Night {
    seed: u64,
    night: u64,
    lines: u64,
    members: u64,
    /// The first `heavy` members get 20% of the lines.
    heavy: u64,
}

impl Night {
    /// Line `n` of this night: a good line (98%), a broken one (1%), a duplicate of an earlier
    /// good line of this night (0.5%), or a credit (0.5%) of a good line of this night or, half
    /// of them from the second night on, of an earlier night.
    fn line(&self, n: u64) -> Gen {
        let k = self.night;
        let mut rng = Rng(line_seed(self.seed, k, n));
        let roll = rng.below(1000);
        let mut g = self.body(&mut rng, k, n);
        if roll < DUPLICATES {
            // The same line sent again, ids and all.
            for _ in 0..PICKS {
                if n == 0 {
                    break;
                }
                if let Some(r) = self.good(k, rng.below(n)) {
                    return r;
                }
            }
        } else if roll < DUPLICATES + CREDITS {
            for _ in 0..PICKS {
                let (j, m) = if k > 1 && rng.chance(500) {
                    (1 + rng.below(k - 1), rng.below(self.lines))
                } else if n > 0 {
                    (k, rng.below(n))
                } else {
                    continue;
                };
                let Some(r) = self.good(j, m) else {
                    continue;
                };
                // A credit of an earlier night is dated on or after the line it reverses, and
                // within this night's window (which ends on or after the earlier one's).
                let date = if j == k {
                    r.date
                } else {
                    let d = r.date.days_since_epoch() + rng.below(31) as i64;
                    Date::from_days_since_epoch(d).min(self.last_date())
                };
                return Gen {
                    batch: g.batch,
                    line_id: format!("N{k}C{n}"),
                    date,
                    credit_of: Some(r.line_id),
                    ..r
                };
            }
        } else if roll < DUPLICATES + CREDITS + BROKEN {
            g.broken = Some(
                [
                    ("amount", "12,50"),
                    ("service_date", "2024-02-30"),
                    ("provider_agb", "1234567"),
                    ("code", "9999"),
                    ("quantity", "0"),
                ][rng.below(5) as usize],
            );
        }
        g
    }

    /// Line `m` of night `j` if it is a good line (not broken, not a duplicate or a credit):
    /// what a duplicate copies and a credit reverses.
    fn good(&self, j: u64, m: u64) -> Option<Gen> {
        let mut rng = Rng(line_seed(self.seed, j, m));
        if rng.below(1000) < DUPLICATES + CREDITS + BROKEN {
            return None;
        }
        Some(self.body(&mut rng, j, m))
    }

    /// The good line drawn first for every index: 80% spread over all members, 20% over the 2%
    /// heavy users (40+ lines each at 10 lines per member).
    fn body(&self, rng: &mut Rng, j: u64, m: u64) -> Gen {
        let member = if rng.chance(200) {
            rng.below(self.heavy)
        } else {
            rng.below(self.members)
        } as usize;
        line(rng, j, m, member, window_start(j))
    }

    /// The last service date of this night's window.
    fn last_date(&self) -> Date {
        let start = window_start(self.night).days_since_epoch();
        Date::from_days_since_epoch(start + WINDOW_DAYS as i64 - 1)
    }
}

fn line(rng: &mut Rng, night: u64, n: u64, member: usize, start: Date) -> Gen {
    let date = date_in(rng, start, WINDOW_DAYS);
    let mut g = Gen {
        batch: format!("N{night}B{}", n / 500),
        line_id: format!("N{night}L{n}"),
        agb: "12345678",
        member,
        date,
        code: "1000",
        code_list: "",
        indication: "",
        authorization: "",
        quantity: 1,
        amount: 3000,
        copay: 0,
        trajectory: None,
        credit_of: None,
        broken: None,
    };
    match rng.below(100) {
        0..=59 => {
            let (code, tariff) = PARAMEDICAL[rng.below(PARAMEDICAL.len() as u64) as usize];
            g.code = code;
            g.agb = if code == "1200" {
                "23456789"
            } else {
                "12345678"
            };
            g.code_list = "012";
            g.amount = tariff + rng.below(400) as i64 - 200;
            if rng.chance(50) {
                g.indication = "001";
            }
            if rng.chance(100) {
                g.authorization = "MACH-1";
            }
            if rng.chance(50) {
                g.quantity = 2;
                g.amount *= 2;
            }
        }
        60..=77 => {
            g.code = "PHARMA";
            g.agb = "56789012";
            g.amount = 300 + rng.below(15_000) as i64;
            if rng.chance(300) {
                g.copay = (g.amount / 10).min(500);
            }
        }
        78..=89 => {
            g.code = "GP";
            g.agb = "78901234";
            g.amount = 1000 + rng.below(3000) as i64;
        }
        90..=97 => {
            g.code = "DBC";
            g.agb = "67890123";
            g.amount = 10_000 + rng.below(500_000) as i64;
            g.trajectory = Some(date_in(rng, start, 365).min(date));
        }
        _ => {
            g.code = "P21";
            g.agb = "89012345";
            g.amount = 40_000 + rng.below(40_000) as i64;
        }
    }
    g
}

/// The output format of the claims file.
enum Writer {
    Csv,
    Xml { lines: u64, total: i64 },
}

impl Writer {
    fn csv(w: &mut impl Write) -> std::io::Result<Writer> {
        // Every column but the last, `diagnosis`, which the generated lines do not declare.
        let columns = &crate::input::COLUMNS[..crate::input::COLUMNS.len() - 1];
        writeln!(w, "{}", columns.join(","))?;
        Ok(Writer::Csv)
    }

    fn xml(w: &mut impl Write) -> std::io::Result<Writer> {
        writeln!(w, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
        writeln!(
            w,
            r#"<declaration xmlns="urn:declaro:declaration:1" batch_id="GEN" provider_agb="12345678" created="2025-12-31">"#
        )?;
        Ok(Writer::Xml { lines: 0, total: 0 })
    }

    fn write(&mut self, w: &mut impl Write, g: &Gen, members: &[Member]) -> std::io::Result<()> {
        let m = &members[g.member];
        // An XML line whose amount cannot be read refuses its file (the trailer could not be
        // verified), so an XML night breaks the quantity instead.
        let broken = match (&*self, g.broken) {
            (Writer::Xml { .. }, Some(("amount", _))) => Some(("quantity", "0")),
            (_, b) => b,
        };
        let field = |name: &str, value: String| match broken {
            Some((col, text)) if col == name => text.to_string(),
            _ => value,
        };
        let amount = field("amount", crate::model::Cents(g.amount).to_string());
        let date = field("service_date", g.date.to_string());
        let agb = field("provider_agb", g.agb.to_string());
        let code = field("code", g.code.to_string());
        let quantity = field("quantity", g.quantity.to_string());
        let copay = if g.copay > 0 {
            crate::model::Cents(g.copay).to_string()
        } else {
            String::new()
        };
        let trajectory = g.trajectory.map(|d| d.to_string()).unwrap_or_default();
        let (dc, related) = match &g.credit_of {
            Some(r) => ("C", r.as_str()),
            None => ("", ""),
        };
        match self {
            Writer::Csv => writeln!(
                w,
                "{},{},{agb},{},{},{},{date},{},{code},{quantity},{},,{},{amount},{copay},{trajectory},{dc},{related}",
                g.batch, g.line_id, m.id, m.bsn, m.birth, g.code_list, g.indication, g.authorization
            ),
            Writer::Xml { lines, total } => {
                *lines += 1;
                // The trailer's total is net: credits count negative.
                let cents = crate::model::Cents::parse(&amount).map_or(0, |c| c.0);
                *total += if dc == "C" { -cents } else { cents };
                let mut attrs = format!(
                    r#"line_id="{}" batch_id="{}" provider_agb="{agb}" service_date="{date}" code="{code}" quantity="{quantity}" amount="{amount}""#,
                    g.line_id, g.batch
                );
                for (k, v) in [
                    ("code_list", g.code_list),
                    ("indication", g.indication),
                    ("authorization", g.authorization),
                    ("legal_copay", copay.as_str()),
                    ("trajectory_start", trajectory.as_str()),
                    ("debit_credit", dc),
                    ("related_line_id", related),
                ] {
                    if !v.is_empty() {
                        attrs.push_str(&format!(r#" {k}="{v}""#));
                    }
                }
                writeln!(
                    w,
                    r#"  <insured member_id="{}" bsn="{}" birth_date="{}"><line {attrs}/></insured>"#,
                    m.id, m.bsn, m.birth
                )
            }
        }
    }

    fn finish(&mut self, w: &mut impl Write) -> std::io::Result<()> {
        match self {
            Writer::Csv => Ok(()),
            Writer::Xml { lines, total } => {
                writeln!(
                    w,
                    r#"  <trailer lines="{lines}" total_amount="{}"/>"#,
                    crate::model::Cents(*total)
                )?;
                writeln!(w, "</declaration>")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_bsns_pass_the_elfproef() {
        let mut c = 0;
        for _ in 0..1000 {
            assert!(crate::model::bsn_valid(&bsn(&mut c)));
        }
    }

    /// `members.csv` and the claims file of one night (3000 lines, 300 members, seed 7).
    fn generated(night: u64, xml: bool) -> (String, String) {
        let dir = tempfile::tempdir().unwrap();
        let s = Settings {
            lines: 3000,
            members: 300,
            seed: 7,
            night,
            xml,
            out: dir.path().to_path_buf(),
        };
        run(&s).unwrap();
        let read = |name| std::fs::read_to_string(dir.path().join(name)).unwrap();
        let claims = read(if xml { "claims.xml" } else { "claims.csv" });
        (read("members.csv"), claims)
    }

    #[test]
    fn the_same_seed_and_night_give_the_same_bytes() {
        for xml in [false, true] {
            for night in [1, 3] {
                assert_eq!(
                    generated(night, xml),
                    generated(night, xml),
                    "night {night}"
                );
            }
        }
        let (one, two) = (generated(1, false), generated(2, false));
        assert_eq!(one.0, two.0, "the members do not depend on the night");
        assert_ne!(one.1, two.1);
    }

    #[test]
    fn nights_have_fresh_ids_and_credit_earlier_nights_line_for_line() {
        let nights: Vec<String> = (1..=3).map(|k| generated(k, false).1).collect();
        // Fields of each good line by line id; the generated CSV quotes nothing.
        let rows = |text: &str| -> Vec<Vec<String>> {
            text.lines()
                .skip(1)
                .map(|r| r.split(',').map(str::to_string).collect())
                .collect()
        };
        let by_id: Vec<std::collections::HashMap<String, Vec<String>>> = nights
            .iter()
            .map(|t| rows(t).into_iter().map(|f| (f[1].clone(), f)).collect())
            .collect();
        let (mut same_night, mut earlier) = (0, 0);
        for (k, text) in nights.iter().enumerate() {
            let k = k + 1;
            for f in rows(text) {
                assert!(f[0].starts_with(&format!("N{k}B")), "batch {}", f[0]);
                let fresh = [format!("N{k}L"), format!("N{k}C")];
                assert!(fresh.iter().any(|p| f[1].starts_with(p)), "line {}", f[1]);
                assert!(f[6].as_str() >= "2024-01-01" && f[6].as_str() <= "2025-12-31");
                if f[16] != "C" {
                    continue;
                }
                let related = &f[17];
                let j: usize = related[1..related.find('L').unwrap()].parse().unwrap();
                assert!(j <= k, "{related} in night {k}");
                if j == k {
                    same_night += 1;
                } else {
                    earlier += 1;
                }
                let orig = &by_id[j - 1][related];
                // provider, member, bsn, birth date, code, quantity, amount, trajectory
                for c in [2, 3, 4, 5, 8, 9, 13, 15] {
                    assert_eq!(f[c], orig[c], "column {c} of the credit {}", f[1]);
                }
                assert!(f[6] >= orig[6], "credit {} dated before {related}", f[1]);
                assert_eq!(orig[16], "", "{related} is not a credit");
            }
        }
        assert!(same_night > 0 && earlier > 0, "{same_night} {earlier}");
    }
}
