//! Vektis EI return files (retourinformatie): PM305 v3.2 for a PM304 input (contract 10,
//! `docs/vektis-ei.md`) and MZ302 v1.3 for an MZ301 input (`docs/vektis-mz301.md`). The two
//! are the same position for position.
//!
//! Every record of the declaration is repeated in its 310 positions (positions 3-5 of the `01`
//! become the return's message code, `108` or `177`) and the return fields are appended at
//! 311-370; each record ends in CR LF:
//!
//! - `01`: 311-334 the insurer's reference, 335-342 the run date, 343-346 retourcode `8001`
//!   (declaratie is volledig toegewezen: no `04` carries a remark) or `0200` (geen opmerking
//!   bij dit recordtype: some `04` does), 347-354 empty. COD954 has no `0000`. An MZ302 sets
//!   11-16 (code softwareleverancier) to zeros: an insurer does not fill it.
//! - `02`, `03`, `98`: empty (an insured's problems are reported on its `04` lines). An MZ302
//!   leaves out the `03` debiteurrecords and the `98`s that annotate them: a return from an
//!   insurer has none.
//! - `04`: 311-318 computed amount, 319 D/C, 320-327 awarded amount, 328 D/C, 329-340 up to three
//!   retourcodes: blank when awarded in full (also when the member's deductible was charged:
//!   the provider gets the full amount), else the Vektis codes of the line's reasons (contract
//!   section 7) without repeats. The awarded amount is `paid_basic + paid_supplementary`; the
//!   computed amount is the same (declaro does not compute a separate tariff amount); both are 0
//!   for a rejected line. The signs follow the declared indicator.
//! - `99`: 3-33 the counts of the records in the return, 34-45 the total declared as sent,
//!   46-56 the total awarded, 57 its D/C; 311-370 empty.
//!
//! A file refused whole is answered with its `01` and `99` records only (COD954 0001:
//! "retourbericht bevat alleen voorloop- en sluitrecord"): `0001` on the `01`, with the specific
//! code (such as `0150` for a total that does not match) beside it; the `99`'s counts are those
//! of the return (zero), its total declared as sent, nothing awarded. A file without a `99` gets
//! one written with zeros.

use crate::input::ei::{self, Message, RECORD_LEN};
use crate::model::Date;
use std::io::{self, Write};
use std::path::Path;

/// Positions per return record, without the line end.
pub const RETURN_LEN: usize = 370;

/// What the insurer answers for one `04` record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LineReturn {
    /// Amounts in cents, never negative; the sign is the declared indicator.
    pub computed: i64,
    pub awarded: i64,
    /// Up to three Vektis retourcodes; none when awarded in full.
    pub codes: Vec<&'static str>,
}

impl LineReturn {
    /// Retourcodes without repeats, at most three, in the order given.
    pub fn codes_of(codes: impl IntoIterator<Item = &'static str>) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::with_capacity(3);
        for c in codes {
            if out.len() < 3 && !out.contains(&c) {
                out.push(c);
            }
        }
        out
    }
}

/// How the declaration file fared.
pub enum FileFate<'a> {
    /// Read and adjudicated: the return of each `04` record, by its ordinal (index 0 = first).
    Accepted(&'a [Option<LineReturn>]),
    /// Refused whole (Vektis 0001), with the specific retourcode where there is one.
    Refused(Option<&'static str>),
}

/// Writes the return (PM305 or MZ302) to the `message` file at `input`.
pub fn write(
    input: &Path,
    message: Message,
    w: &mut impl Write,
    fate: &FileFate<'_>,
    run_date: Date,
    reference: &str,
) -> io::Result<()> {
    let mut records = ei::open(input)?;
    let mut rec = Vec::with_capacity(RECORD_LEN + 2);
    let mut out = Vec::with_capacity(RETURN_LEN + 2);
    let mut ordinal = 0usize;
    let mut awarded_total = 0i64;
    let file_codes: [&str; 2] = match fate {
        FileFate::Accepted(returns) if returns.iter().flatten().all(|r| r.codes.is_empty()) => {
            ["8001", ""]
        }
        FileFate::Accepted(_) => ["0200", ""],
        FileFate::Refused(specific) => ["0001", specific.unwrap_or("")],
    };
    let refused = matches!(fate, FileFate::Refused(_));
    // An MZ302 holds no debiteurrecords, nor the comments on them.
    let drops_debtors = message == Message::Mz301;
    // The record a 98 annotates: the last one before it that is not a 98.
    let mut annotated: [u8; 2] = *b"01";
    // Records written per type: 02, 03, 04, 98.
    let mut counts = [0u64; 4];
    let mut closed = false;
    let mut first = true;
    while records.next_record(&mut rec)?.is_some() {
        let kind: [u8; 2] = ei::field(&rec, 1, 2).try_into().unwrap_or(*b"  ");
        if &kind != b"98" {
            annotated = kind;
        }
        // A refused file may hold a second 01 or 99 (that is why it was refused): the return
        // holds one of each.
        let skipped = match &kind {
            b"01" => !first,
            b"99" => closed,
            _ if refused => true,
            b"03" => drops_debtors,
            b"98" => drops_debtors && &annotated == b"03",
            _ => false,
        };
        first = false;
        if skipped {
            continue;
        }
        out.clear();
        out.extend_from_slice(rec.get(..RECORD_LEN).unwrap_or(&rec));
        out.resize(RECORD_LEN, b' ');
        match &kind {
            b"01" => {
                let (_, answer) = message.answer();
                if out.get(2..5) == Some(message.code()) {
                    out[2..5].copy_from_slice(answer);
                }
                if message == Message::Mz301 {
                    out[10..16].fill(b'0');
                }
                an(&mut out, reference, 24);
                an(&mut out, &format!("{:08}", run_date.as_u32()), 8);
                for code in file_codes {
                    an(&mut out, code, 4);
                }
            }
            b"04" => {
                counts[2] += 1;
                ordinal += 1;
                let sign = if message.amount_and_sign(&rec).1 == b"C" {
                    b'C'
                } else {
                    b'D'
                };
                let r = match fate {
                    FileFate::Refused(_) => LineReturn::default(),
                    FileFate::Accepted(returns) => {
                        returns.get(ordinal - 1).cloned().flatten().ok_or_else(|| {
                            io::Error::other(format!(
                                "{}: no outcome for 04 record {ordinal}",
                                input.display()
                            ))
                        })?
                    }
                };
                awarded_total += if sign == b'C' { -r.awarded } else { r.awarded };
                num(&mut out, r.computed, 8)?;
                out.push(sign);
                num(&mut out, r.awarded, 8)?;
                out.push(sign);
                for c in r.codes.iter().take(3) {
                    an(&mut out, c, 4);
                }
            }
            b"99" => {
                closed = true;
                // The counts of the records in the return.
                let mut c = Vec::with_capacity(33);
                for n in counts {
                    num(&mut c, n as i64, 6)?;
                }
                num(&mut c, counts.iter().sum::<u64>() as i64, 7)?;
                out[2..33].copy_from_slice(&c);
                // 46-56 totaal toegekend, 57 D/C, in the sluitrecord's reserve.
                let mut total = Vec::with_capacity(12);
                num(&mut total, awarded_total.abs(), 11)?;
                total.push(if awarded_total < 0 { b'C' } else { b'D' });
                out[45..57].copy_from_slice(&total);
            }
            b"02" => counts[0] += 1,
            b"03" => counts[1] += 1,
            b"98" => counts[3] += 1,
            _ => {}
        }
        out.resize(RETURN_LEN, b' ');
        out.extend_from_slice(b"\r\n");
        w.write_all(&out)?;
    }
    if !closed {
        // A file refused for its missing 99 still gets one: nothing declared that could be
        // read, nothing awarded.
        out.clear();
        out.extend_from_slice(b"99");
        out.resize(44, b'0');
        out.push(b'D');
        out.resize(56, b'0');
        out.push(b'D');
        out.resize(RETURN_LEN, b' ');
        out.extend_from_slice(b"\r\n");
        w.write_all(&out)?;
    }
    Ok(())
}

/// Appends an AN field: the text, space-padded (or cut) to `width`.
fn an(out: &mut Vec<u8>, text: &str, width: usize) {
    let b = text.as_bytes();
    let b = b.get(..width).unwrap_or(b);
    out.extend_from_slice(b);
    out.extend(std::iter::repeat_n(b' ', width - b.len()));
}

/// Appends an N field: zero-padded to `width`; an amount too large for it is an error.
fn num(out: &mut Vec<u8>, v: i64, width: usize) -> io::Result<()> {
    let s = format!("{v:0width$}");
    if v < 0 || s.len() > width {
        return Err(io::Error::other(format!(
            "amount {v} does not fit {width} positions"
        )));
    }
    out.extend_from_slice(s.as_bytes());
    Ok(())
}
