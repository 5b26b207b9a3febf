//! The reconciliation's evidence: `remittance.csv` and `rejections.csv` read back from disk
//! before the commit, with a CSV reader of their own, so that what is compared with the lines
//! read is what was written, not the values the writer meant to write.
//!
//! Each file is cut into chunks at record boundaries and parsed on every core (as the input
//! reader does); every row names its input file and record, and each of those must come back
//! exactly once.

use crate::input::chunks;
use crate::model::{Cents, Sums, Total};
use crate::night::{Night, Outcome};
use crate::output::{REJECTIONS_HEADER, REMITTANCE_HEADER};
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

/// What the two written files hold.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReadBack {
    pub remittance_rows: u64,
    pub rejection_rows: u64,
    /// The declared amount of every row, unsigned, where it can be read (a rejected line's
    /// amount as written may not be).
    pub claimed: Total,
    /// Of the remittance rows.
    pub sums: Sums,
}

impl ReadBack {
    fn merge(&mut self, o: &ReadBack) {
        self.remittance_rows += o.remittance_rows;
        self.rejection_rows += o.rejection_rows;
        self.claimed.0 += o.claimed.0;
        self.sums.merge(&o.sums);
    }
}

/// Reads both files back and checks that every line of `night` is in exactly one of them, once.
/// An error says what does not hold, naming the file and row.
pub fn read_back(night: &Night, remittance: &Path, rejections: &Path) -> Result<ReadBack, String> {
    let lines = Lines::new(night);
    let (paid, rejected) = rayon::join(
        || read_file(remittance, Kind::Remittance, &lines),
        || read_file(rejections, Kind::Rejections, &lines),
    );
    let (paid, rejected) = (paid?, rejected?);
    let mut total = ReadBack::default();
    let mut seen = lines.empty_counts();
    for (sums, marks) in paid.into_iter().chain(rejected) {
        total.merge(&sums);
        for (name, record) in marks {
            seen[name as usize][record as usize - 1] += 1;
        }
    }
    for (n, (name, counts)) in lines.names.iter().zip(&seen).enumerate() {
        for (i, (&got, &want)) in counts.iter().zip(&lines.expected[n]).enumerate() {
            if got != want {
                return Err(format!(
                    "record {} of {name} is in the outputs {got} time(s), expected {want}",
                    i + 1
                ));
            }
        }
    }
    Ok(total)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Remittance,
    Rejections,
}

/// The input files by the name the rows give them, and how often each record must occur
/// (an input named twice on the command line holds its records twice).
struct Lines {
    index: HashMap<Vec<u8>, u32>,
    names: Vec<String>,
    expected: Vec<Vec<u16>>,
}

impl Lines {
    fn new(night: &Night) -> Lines {
        let mut l = Lines {
            index: HashMap::new(),
            names: Vec::new(),
            expected: Vec::new(),
        };
        for f in night.files.iter().filter(|f| f.refusal.is_none()) {
            let n = *l
                .index
                .entry(f.shown.as_bytes().to_vec())
                .or_insert_with(|| {
                    l.names.push(f.shown.clone());
                    l.expected.push(Vec::new());
                    (l.names.len() - 1) as u32
                }) as usize;
            let e = &mut l.expected[n];
            if e.len() < f.records as usize {
                e.resize(f.records as usize, 0);
            }
            // A line of another shard (`--shard`) is in that shard's outputs, not these.
            let outcomes = night.outcomes.iter().skip(f.first_seq as usize);
            for (c, o) in e.iter_mut().take(f.records as usize).zip(outcomes) {
                if *o != Outcome::OtherShard {
                    *c = c.saturating_add(1);
                }
            }
        }
        l
    }

    fn empty_counts(&self) -> Vec<Vec<u16>> {
        self.expected.iter().map(|e| vec![0; e.len()]).collect()
    }
}

/// One chunk's sums and its rows' (input file, record) pairs.
type Chunk = (ReadBack, Vec<(u32, u32)>);

fn read_file(path: &Path, kind: Kind, lines: &Lines) -> Result<Vec<Chunk>, String> {
    let shown = match kind {
        Kind::Remittance => "remittance.csv",
        Kind::Rejections => "rejections.csv",
    };
    let fail = |e: String| format!("reading {shown} back: {e}");
    let mut f = std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
    let header = match kind {
        Kind::Remittance => REMITTANCE_HEADER.join(","),
        Kind::Rejections => REJECTIONS_HEADER.join(","),
    } + "\n";
    let mut head = vec![0u8; header.len()];
    f.read_exact(&mut head)
        .map_err(|e| fail(format!("no header row ({e})")))?;
    if head != header.as_bytes() {
        return Err(fail("the header row is not the one written".into()));
    }
    let at = head.len() as u64;
    let got = chunks::parse(f, Vec::new(), at, |bytes, offset| {
        parse_chunk(bytes, offset, kind, lines)
    });
    if let Some(e) = got.error {
        return Err(fail(e.to_string()));
    }
    let mut parsed = got.parsed;
    if let Some((offset, mut bytes)) = got.tail {
        // A row longer than a chunk: the rest of the file, in one piece.
        let mut input = got.input;
        input
            .read_to_end(&mut bytes)
            .map_err(|e| fail(e.to_string()))?;
        parsed.push(parse_chunk(&bytes, offset, kind, lines));
    }
    parsed.into_iter().collect::<Result<_, _>>().map_err(fail)
}

/// Column positions, found by name in the headers the writer uses.
fn column(header: &[&str], name: &str) -> usize {
    header.iter().position(|c| *c == name).unwrap_or(usize::MAX)
}

fn parse_chunk(bytes: &[u8], offset: u64, kind: Kind, lines: &Lines) -> Result<Chunk, String> {
    let header: &[&str] = match kind {
        Kind::Remittance => &REMITTANCE_HEADER,
        Kind::Rejections => &REJECTIONS_HEADER,
    };
    let [file, record, claimed] = ["file", "record", "claimed"].map(|c| column(header, c));
    let [basic, deductible, supplementary, member] = [
        "paid_basic",
        "deductible",
        "paid_supplementary",
        "member_pays",
    ]
    .map(|c| column(header, c));
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(bytes);
    let mut row = csv::ByteRecord::new();
    let mut sums = ReadBack::default();
    // A column that the kind of file lacks reads as empty.
    fn get(row: &csv::ByteRecord, i: usize) -> &[u8] {
        row.get(i).unwrap_or_default()
    }
    let mut marks = Vec::new();
    loop {
        let at = offset + rdr.position().byte();
        match rdr.read_byte_record(&mut row) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(format!("byte {at}: {e}")),
        }
        let bad = |what: &str| format!("the row at byte {at}: {what}");
        if row.len() != header.len() {
            return Err(bad(&format!(
                "{} fields, expected {}",
                row.len(),
                header.len()
            )));
        }
        let name = lines
            .index
            .get(get(&row, file))
            .copied()
            .ok_or_else(|| bad("names no input file of the run"))?;
        let n = std::str::from_utf8(get(&row, record))
            .ok()
            .and_then(|r| r.parse::<u32>().ok())
            .filter(|&r| r >= 1 && r as usize <= lines.expected[name as usize].len())
            .ok_or_else(|| bad("its record is not one of its input file's"))?;
        marks.push((name, n));
        match kind {
            Kind::Rejections => {
                sums.rejection_rows += 1;
                // As the reading side counts it: the amount as written, where it is one.
                if let Ok(c) = Cents::parse_bytes(get(&row, claimed)) {
                    sums.claimed.add(c);
                }
            }
            Kind::Remittance => {
                sums.remittance_rows += 1;
                let amount = |i: usize, what: &str| {
                    Cents::parse_signed(get(&row, i))
                        .ok()
                        .ok_or_else(|| bad(&format!("{what} is not an amount")))
                };
                let c = amount(claimed, "claimed")?;
                let parts = [
                    amount(basic, "paid_basic")?,
                    amount(supplementary, "paid_supplementary")?,
                    amount(member, "member_pays")?,
                ];
                if parts.iter().copied().sum::<Cents>() != c {
                    return Err(bad(
                        "paid_basic + paid_supplementary + member_pays is not claimed",
                    ));
                }
                let d = amount(deductible, "deductible")?;
                // A debit's parts are never negative and a credit's never positive; the
                // deductible is a part of what basic insurance awarded.
                let same_sign = |v: Cents| v == Cents::ZERO || (v.0 > 0) == (c.0 > 0);
                if !parts.iter().copied().all(same_sign) || !same_sign(d) {
                    return Err(bad("an amount has the other sign than claimed"));
                }
                if d.abs() > parts[0].abs() {
                    return Err(bad("the deductible is more than paid_basic"));
                }
                sums.claimed.add(c.abs());
                sums.sums.add(c, [parts[0], d, parts[1], parts[2]]);
            }
        }
    }
    Ok((sums, marks))
}
