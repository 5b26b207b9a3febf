//! Vektis EI PM305 v3.2 return files (retourinformatie), one per PM304 input (contract 10,
//! layouts in `docs/vektis-ei.md`).
//!
//! Every record of the PM304 file is repeated in its 310 positions (positions 3-5 of the `01`
//! become `108`, the PM305 message code) and the return fields are appended at 311-370; each
//! record ends in CR LF:
//!
//! - `01`: 311-334 the insurer's reference, 335-342 the run date, 343-346 retourcode `8001`
//!   (declaratie is volledig toegewezen: no `04` carries a remark) or `0200` (geen opmerking
//!   bij dit recordtype: some `04` does), 347-354 empty. COD954 has no `0000`.
//! - `02`, `03`, `98`: empty (an insured's problems are reported on its `04` lines).
//! - `04`: 311-318 computed amount, 319 D/C, 320-327 awarded amount, 328 D/C, 329-340 up to three
//!   retourcodes: blank when awarded in full (also when the member's deductible was charged:
//!   the provider gets the full amount), else the Vektis codes of the line's reasons (contract
//!   section 7) without repeats. The awarded amount is `paid_basic + paid_supplementary`; the
//!   computed amount is the same (declaro does not compute a separate tariff amount); both are 0
//!   for a rejected line. The signs follow the declared indicator (position 191).
//! - `99`: 34-45 the total declared as sent, 46-56 the total awarded, 57 its D/C; 311-370 empty.
//!
//! A file refused whole is answered with its `01` and `99` records only (COD954 0001:
//! "retourbericht bevat alleen voorloop- en sluitrecord"): `0001` on the `01`, with the specific
//! code (such as `0150` for a total that does not match) beside it; the `99`'s counts are those
//! of the return (zero), its total declared as sent, nothing awarded. A file without a `99` gets
//! one written with zeros.

use crate::input::ei::{self, RECORD_LEN};
use crate::model::Date;
use std::io::{self, Write};
use std::path::Path;

/// Positions per PM305 record, without the line end.
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

/// How the PM304 file fared.
pub enum FileFate<'a> {
    /// Read and adjudicated: the return of each `04` record, by its ordinal (index 0 = first).
    Accepted(&'a [Option<LineReturn>]),
    /// Refused whole (Vektis 0001), with the specific retourcode where there is one.
    Refused(Option<&'static str>),
}

/// Writes the PM305 answer to the PM304 file at `input`.
pub fn write(
    input: &Path,
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
    let mut closed = false;
    while records.next_record(&mut rec)?.is_some() {
        let kind = ei::field(&rec, 1, 2);
        if refused && kind != b"01" && kind != b"99" {
            continue;
        }
        out.clear();
        out.extend_from_slice(rec.get(..RECORD_LEN).unwrap_or(&rec));
        out.resize(RECORD_LEN, b' ');
        match ei::field(&rec, 1, 2) {
            b"01" => {
                if out.get(2..5) == Some(b"107") {
                    out[2..5].copy_from_slice(b"108");
                }
                an(&mut out, reference, 24);
                an(&mut out, &format!("{:08}", run_date.as_u32()), 8);
                for code in file_codes {
                    an(&mut out, code, 4);
                }
            }
            b"04" => {
                ordinal += 1;
                let sign = if ei::field(&rec, 191, 191) == b"C" {
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
                if refused {
                    // Counts of the records in the return: none but the 01 and this 99.
                    out[2..33].fill(b'0');
                }
                // 46-56 totaal toegekend, 57 D/C, in the sluitrecord's reserve.
                let mut total = Vec::with_capacity(12);
                num(&mut total, awarded_total.abs(), 11)?;
                total.push(if awarded_total < 0 { b'C' } else { b'D' });
                out[45..57].copy_from_slice(&total);
            }
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
