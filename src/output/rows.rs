//! Rendering the rows of `remittance.csv` and `rejections.csv` for a range of lines, so that
//! ranges can be rendered on every core and written one after another in input order.
//!
//! Remittance rows are written straight into a byte buffer: numbers and dates never need
//! quoting, and text fields are quoted exactly when the csv crate's writer quotes them
//! (`QuoteStyle::Necessary`: a delimiter, quote, CR or LF inside; tested against it below).
//! Rejection rows go through the csv crate itself; their `raw` text is read back from the input
//! file at the line's byte span.

use super::messages::{self, message};
use super::summary::Tally;
use crate::intern::NONE;
use crate::model::{Cents, Reason};
use crate::night::{Detail, Line, Night, Outcome};
use crate::policy::PolicySet;
use crate::registers::{Member, Members};
use std::io;
use std::ops::Range;

/// What rendering a row needs.
pub struct RowContext<'a> {
    pub messages: messages::Context<'a>,
    pub members: &'a Members,
    /// The input files, open for reading rejected lines' raw text back (`None` if refused).
    pub inputs: &'a [Option<std::fs::File>],
}

impl RowContext<'_> {
    fn night(&self) -> &Night {
        self.messages.night
    }

    fn policies(&self) -> &PolicySet {
        self.messages.policies
    }

    /// The register member of a line.
    fn member(&self, line: &Line) -> Option<Member<'_>> {
        (line.member != NONE).then(|| self.members.get(line.member))
    }
}

/// The rendered rows of one range of lines, and what they add to the run's totals.
#[derive(Default)]
pub struct Rendered {
    pub remittance: Vec<u8>,
    pub rejections: Vec<u8>,
    pub tally: Tally,
}

/// Renders the rows of lines `range` (sequence numbers), in order.
pub fn render(ctx: &RowContext<'_>, range: Range<u32>) -> io::Result<Rendered> {
    let night = ctx.night();
    let mut out = Rendered::default();
    let mut rejections = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    let mut raws = RawWindow::new(ctx, range.clone())?;
    let mut scratch = Scratch::default();
    let end = range.end;
    for seq in range {
        // The members of the lines a little ahead, whose numbers the rows will need: their
        // rows first, their numbers when the rows have come in.
        for (ahead, row) in [(16, true), (8, false)] {
            match night.lines.get((seq + ahead) as usize) {
                Some(l) if seq + ahead < end && l.member != NONE => match row {
                    true => ctx.members.prefetch_row(l.member),
                    false => ctx.members.prefetch_id(l.member),
                },
                _ => {}
            }
        }
        let line = &night.lines[seq as usize];
        match night.outcomes[seq as usize] {
            Outcome::Paid(p) => {
                let claimed = line.signed_amount();
                out.tally.paid(claimed, &p);
                remittance_row(&mut out.remittance, ctx, seq, line, &p);
            }
            Outcome::Rejected(reason, detail) => {
                let claimed = match detail {
                    Detail::Parse => night
                        .parse_rejection(seq)
                        .and_then(|r| Cents::parse(r.echo.claimed()).ok()),
                    _ => Some(line.amount),
                };
                out.tally.rejected(reason, claimed);
                tracing::debug!(
                    file = %night.files[usize::from(line.file)].shown,
                    record = night.record(seq, line),
                    reason = reason.code(),
                    "line rejected"
                );
                let raw = raws.raw(ctx, line)?;
                let row = Row {
                    seq,
                    line,
                    reason,
                    detail,
                };
                rejection_row(&mut rejections, ctx, &row, raw, &mut scratch)?;
            }
            // Another shard's line: its row is written by that shard's run.
            Outcome::OtherShard => {}
            Outcome::Pending => {
                return Err(io::Error::other(format!(
                    "line {} of {} was neither adjudicated nor rejected",
                    night.record(seq, line),
                    night.files[usize::from(line.file)].shown
                )))
            }
        }
    }
    out.rejections = rejections.into_inner().map_err(|e| e.into_error())?;
    Ok(out)
}

/// The member number a line is reported under: the register's when it was adjudicated, else
/// the one declared (which is the register's when the line named it).
fn reported_member<'a>(
    ctx: &'a RowContext<'_>,
    seq: u32,
    line: &Line,
    adjudicated: bool,
) -> &'a str {
    match line.member {
        NONE => ctx.night().declared(seq).map_or("", |d| &d.member_id),
        m if adjudicated || line.names_member_id() => ctx.members.id(m),
        _ => "",
    }
}

fn remittance_row(
    row: &mut Vec<u8>,
    ctx: &RowContext<'_>,
    seq: u32,
    line: &Line,
    p: &crate::night::Payment,
) {
    let night = ctx.night();
    let file = &night.files[usize::from(line.file)];
    let mut n = itoa::Buffer::new();
    text(row, file.shown.as_bytes());
    row.extend_from_slice(n.format(night.record(seq, line)).as_bytes());
    row.push(b',');
    text(row, night.batches.bytes(line.batch));
    text(row, night.line_id(line).as_bytes());
    agb(row, line.provider_agb);
    row.push(b',');
    text(row, reported_member(ctx, seq, line, true).as_bytes());
    date(row, line.service_date);
    row.push(b',');
    text(row, night.code(line).1.as_bytes());
    row.extend_from_slice(n.format(line.quantity).as_bytes());
    row.push(b',');
    row.extend_from_slice(n.format(p.year).as_bytes());
    row.push(b',');
    let claimed = line.signed_amount();
    for amount in [
        claimed,
        p.paid_basic,
        p.deductible,
        p.paid_supplementary,
        p.member_pays(claimed),
    ] {
        amount.write_to(row);
        row.push(b',');
    }
    for (i, product) in p.products.iter().enumerate() {
        if i > 0 {
            row.push(b'+');
        }
        row.extend_from_slice(ctx.policies().products[product].id.as_bytes());
    }
    row.push(b',');
    for (i, r) in p.reasons.iter().enumerate() {
        if i > 0 {
            row.push(b';');
        }
        row.extend_from_slice(r.code().as_bytes());
    }
    row.push(b'\n');
}

/// A rejected line.
struct Row<'a> {
    seq: u32,
    line: &'a Line,
    reason: Reason,
    detail: Detail,
}

/// Buffers reused from one rejection row to the next.
#[derive(Default)]
struct Scratch {
    /// The echoed fields one after another, with their ends.
    echo: String,
    ends: [usize; 8],
    record: itoa::Buffer,
}

fn rejection_row(
    w: &mut csv::Writer<Vec<u8>>,
    ctx: &RowContext<'_>,
    row: &Row<'_>,
    raw: &[u8],
    scratch: &mut Scratch,
) -> io::Result<()> {
    use std::fmt::Write as _;
    let (seq, line, detail) = (row.seq, row.line, row.detail);
    let night = ctx.night();
    let file = &night.files[usize::from(line.file)];
    let raw = String::from_utf8_lossy(raw);
    let echo: [&str; 7] = match detail {
        Detail::Parse => match night.parse_rejection(seq) {
            Some(r) => r.echo.fields(),
            None => Default::default(),
        },
        _ => {
            let (e, ends) = (&mut scratch.echo, &mut scratch.ends);
            e.clear();
            e.push_str(night.batches.text(line.batch));
            ends[1] = e.len();
            e.push_str(night.line_id(line));
            ends[2] = e.len();
            let _ = write!(e, "{:08}", line.provider_agb);
            ends[3] = e.len();
            e.push_str(reported_member(ctx, seq, line, adjudicated(detail)));
            ends[4] = e.len();
            let _ = write!(e, "{}", line.service_date);
            ends[5] = e.len();
            e.push_str(night.code(line).1);
            ends[6] = e.len();
            let _ = write!(e, "{}", line.amount);
            ends[7] = e.len();
            let e = &scratch.echo;
            std::array::from_fn(|i| &e[scratch.ends[i]..scratch.ends[i + 1]])
        }
    };
    let member = ctx.member(line).filter(|_| adjudicated(detail));
    let message = message(&ctx.messages, seq, line, detail, member);
    let [batch, line_id, agb, member_id, date, code, claimed] = echo;
    w.write_record([
        file.shown.as_str(),
        scratch.record.format(night.record(seq, line)),
        batch,
        line_id,
        agb,
        member_id,
        date,
        code,
        claimed,
        row.reason.code(),
        &message,
        &raw,
    ])
    .map_err(io::Error::other)
}

/// Whether a rejection was decided in adjudication (so the line is reported under the
/// register's member number), not while reading or screening.
fn adjudicated(detail: Detail) -> bool {
    !matches!(
        detail,
        Detail::Parse
            | Detail::NoSuchMemberId
            | Detail::NoSuchBsn
            | Detail::MembersDiffer
            | Detail::BirthDate
            | Detail::AfterRunDate
            | Detail::DuplicateInRun
            | Detail::DuplicateEarlier
            | Detail::SameCareInRun(_)
            | Detail::SameCareEarlier
    )
}

/// The original bytes of a range's rejected lines, read back from their files in one read per
/// file (a range's lines are one stretch of each file), or line by line when that stretch is
/// too long to hold.
struct RawWindow {
    /// Per input file: the offset of the bytes held and the bytes.
    held: Vec<Option<(u64, Vec<u8>)>>,
    one: Vec<u8>,
}

/// The longest stretch of a file held for one range.
const WINDOW_BYTES: u64 = 16 << 20;

impl RawWindow {
    fn new(ctx: &RowContext<'_>, range: Range<u32>) -> io::Result<RawWindow> {
        let night = ctx.night();
        let mut spans: Vec<Option<(u64, u64)>> = vec![None; night.files.len()];
        for seq in range {
            if let Outcome::Rejected(..) = night.outcomes[seq as usize] {
                let l = &night.lines[seq as usize];
                let end = l.raw_start + u64::from(l.raw_len);
                let span = &mut spans[usize::from(l.file)];
                *span = Some(span.map_or((l.raw_start, end), |(a, b)| {
                    (a.min(l.raw_start), b.max(end))
                }));
            }
        }
        let mut held = Vec::with_capacity(spans.len());
        for (i, span) in spans.into_iter().enumerate() {
            let file = ctx.inputs.get(i).and_then(Option::as_ref);
            match (span, file) {
                (Some((from, to)), Some(f)) if to - from <= WINDOW_BYTES => {
                    let mut bytes = vec![0; (to - from) as usize];
                    read_exact_at(f, &mut bytes, from)?;
                    held.push(Some((from, bytes)));
                }
                _ => held.push(None),
            }
        }
        Ok(RawWindow {
            held,
            one: Vec::new(),
        })
    }

    /// A rejected line's original bytes, without its line end.
    fn raw(&mut self, ctx: &RowContext<'_>, line: &Line) -> io::Result<&[u8]> {
        let (from, len) = (line.raw_start, line.raw_len as usize);
        let mut text: &[u8] = match self.held.get(usize::from(line.file)) {
            Some(Some((at, bytes))) => {
                let i = (from - at) as usize;
                bytes.get(i..i + len).unwrap_or_default()
            }
            _ => {
                self.one.clear();
                if let Some(Some(f)) = ctx.inputs.get(usize::from(line.file)) {
                    self.one.resize(len, 0);
                    read_exact_at(f, &mut self.one, from)?;
                }
                &self.one
            }
        };
        while let [rest @ .., b'\n' | b'\r'] = text {
            text = rest;
        }
        Ok(text)
    }
}

#[cfg(unix)]
fn read_exact_at(f: &std::fs::File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(f, buf, offset)
}

#[cfg(not(unix))]
fn read_exact_at(f: &std::fs::File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    use std::io::{Read, Seek};
    let mut f = f;
    f.seek(io::SeekFrom::Start(offset))?;
    f.read_exact(buf)
}

/// A text field and its comma, quoted when the csv crate would quote it.
fn text(row: &mut Vec<u8>, s: &[u8]) {
    if s.iter().any(|&b| matches!(b, b',' | b'"' | b'\n' | b'\r')) {
        row.push(b'"');
        for &b in s {
            if b == b'"' {
                row.push(b'"');
            }
            row.push(b);
        }
        row.push(b'"');
    } else {
        row.extend_from_slice(s);
    }
    row.push(b',');
}

fn agb(row: &mut Vec<u8>, agb: u32) {
    let mut n = itoa::Buffer::new();
    let s = n.format(agb);
    row.extend(std::iter::repeat_n(b'0', 8usize.saturating_sub(s.len())));
    row.extend_from_slice(s.as_bytes());
}

fn date(row: &mut Vec<u8>, d: crate::model::Date) {
    let (y, m, dd) = (d.year(), d.month(), d.day());
    row.extend_from_slice(&[
        b'0' + (y / 1000 % 10) as u8,
        b'0' + (y / 100 % 10) as u8,
        b'0' + (y / 10 % 10) as u8,
        b'0' + (y % 10) as u8,
        b'-',
        b'0' + (m / 10) as u8,
        b'0' + (m % 10) as u8,
        b'-',
        b'0' + (dd / 10) as u8,
        b'0' + (dd % 10) as u8,
    ]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_fields_are_quoted_as_the_csv_crate_quotes_them() {
        let samples: [&[u8]; 9] = [
            b"plain",
            b"",
            b"a,b",
            b"say \"hi\"",
            b"line\nbreak",
            b"cr\rhere",
            b" spaces ",
            b"semi;colon",
            b"\xc3\xa9t\xc3\xa9",
        ];
        for s in samples {
            let mut mine = Vec::new();
            text(&mut mine, s);
            text(&mut mine, b"x");
            mine.pop();
            mine.push(b'\n');
            let mut w = csv::WriterBuilder::new()
                .terminator(csv::Terminator::Any(b'\n'))
                .from_writer(Vec::new());
            w.write_record([s, b"x"]).unwrap();
            assert_eq!(
                String::from_utf8_lossy(&mine),
                String::from_utf8_lossy(&w.into_inner().unwrap()),
                "{s:?}"
            );
        }
    }

    #[test]
    fn dates_and_agb_codes_are_zero_padded() {
        let mut row = Vec::new();
        date(&mut row, crate::model::Date::new(924, 3, 5).unwrap());
        row.push(b' ');
        agb(&mut row, 4_012_345);
        assert_eq!(row, b"0924-03-05 04012345");
    }
}
