//! XML declarations (contract 4.2), read streaming with quick-xml: no DOM, one event at a time,
//! memory independent of the file's size (apart from the lines it gives).
//!
//! ```xml
//! <declaration xmlns="urn:declaro:declaration:1" batch_id="F1" provider_agb="04012345">
//!   <insured member_id="M1" bsn="123456782" birth_date="1980-05-17">
//!     <line line_id="1" service_date="2024-02-01" code="1000" amount="30.00"/>
//!   </insured>
//!   <trailer lines="1" total_amount="30.00"/>
//! </declaration>
//! ```
//!
//! A `<line>` has the CSV columns as attributes; `batch_id` and `provider_agb` default to the
//! `<declaration>`'s, `member_id`, `bsn` and `birth_date` to the `<insured>`'s, and a line's own
//! attribute wins. A bad attribute value is a rejected line (the same checks and messages as CSV).
//! Anything wrong with the file itself (not well-formed, an unknown element or attribute outside
//! `<line>`, another namespace, no trailer, a trailer that does not match) refuses the file whole:
//! the lines are collected and only handed over once the trailer matched.

use super::{Fault, RawFields, Refusal, Sink, MAX_FIELD, MAX_RECORD};
use crate::model::{Cents, Reason, Span, Total};
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;
use std::borrow::Cow;
use std::io::{self, BufRead, Read};

/// quick-xml holds a whole event (a tag, a text, a comment) in memory: no event may be longer
/// than this. A longer one refuses the file (a `<line>` over [`MAX_RECORD`] but under this
/// is a rejected line).
pub const MAX_EVENT: u64 = 1 << 20;

/// The error [`Capped`] gives once an event is over [`MAX_EVENT`] bytes.
#[derive(Debug)]
struct TooLong;

impl std::fmt::Display for TooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "an element, text or comment longer than {MAX_EVENT} bytes"
        )
    }
}

impl std::error::Error for TooLong {}

fn too_long(e: &quick_xml::Error) -> bool {
    matches!(e, quick_xml::Error::Io(io) if io.get_ref().is_some_and(|x| x.is::<TooLong>()))
}

/// Hands quick-xml at most [`MAX_EVENT`] bytes between two calls of [`Capped::reset`]; after
/// that every read fails, so a file without a `>` (or a 2 GB comment) is refused instead of
/// buffered.
pub struct Capped<R> {
    inner: R,
    left: u64,
}

impl<R> Capped<R> {
    pub fn new(inner: R) -> Self {
        Capped {
            inner,
            left: MAX_EVENT,
        }
    }

    /// A new event starts: it may again take [`MAX_EVENT`] bytes.
    pub fn reset(&mut self) {
        self.left = MAX_EVENT;
    }
}

impl<R: BufRead> Read for Capped<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = {
            let buf = self.fill_buf()?;
            let n = buf.len().min(out.len());
            if let (Some(to), Some(from)) = (out.get_mut(..n), buf.get(..n)) {
                to.copy_from_slice(from);
            }
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Capped<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.left == 0 {
            return Err(io::Error::other(TooLong));
        }
        let left = usize::try_from(self.left).unwrap_or(usize::MAX);
        let buf = self.inner.fill_buf()?;
        Ok(buf.get(..buf.len().min(left)).unwrap_or_default())
    }

    fn consume(&mut self, n: usize) {
        self.left = self.left.saturating_sub(n as u64);
        self.inner.consume(n);
    }
}

/// The namespace every element of a declaration file is in.
pub const NAMESPACE: &str = "urn:declaro:declaration:1";

/// The index in [`RawFields`] order of a line attribute (the CSV columns of contract 4.1).
fn line_attr(key: &[u8]) -> Option<usize> {
    super::COLUMNS.iter().position(|c| c.as_bytes() == key)
}

/// Where the reader is in the document.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Prolog,
    Declaration,
    Insured,
    /// Inside `<line>...</line>` (a line written with an end tag).
    Line,
    /// Inside `<trailer>...</trailer>`.
    Trailer,
    /// After the trailer, before `</declaration>`.
    AfterTrailer,
    Done,
}

impl State {
    fn element(self) -> &'static str {
        match self {
            State::Prolog => "document",
            State::Declaration | State::AfterTrailer => "declaration",
            State::Insured => "insured",
            State::Line => "line",
            State::Trailer => "trailer",
            State::Done => "end of document",
        }
    }
}

/// The trailer's claims, checked once the whole file is read.
struct Trailer {
    at: u64,
    lines: Option<u64>,
    total: Option<Cents>,
}

/// Reads an XML declaration file from a byte stream (`shown` names it in refusals).
pub fn read_from(input: impl BufRead, shown: &str, sink: &mut Sink) -> Result<(), Refusal> {
    let refuse = |at: u64, element: &str, message: String| Refusal {
        file: shown.to_string(),
        position: format!("byte {at} <{element}>"),
        message,
        reason: super::RefusalReason::MalformedFile,
        vektis: None,
    };
    let mut reader = NsReader::from_reader(Capped::new(input));
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    let mut state = State::Prolog;
    let mut record = 0u32;
    // Declaration-level defaults: batch_id, provider_agb; insured-level: member_id, bsn,
    // birth_date.
    let mut decl: [String; 2] = Default::default();
    let mut insured: [String; 3] = Default::default();
    let mut trailer: Option<Trailer> = None;
    // Net total of the lines' amounts (credits subtracted). Every line counts: a line whose
    // amount cannot be read refuses the file, since the trailer's total cannot be verified.
    let mut total = Total::default();
    // The element whose raw span is still open (a `<line>` written with an end tag).
    let mut open_line_start = 0u64;

    loop {
        buf.clear();
        reader.get_mut().reset();
        let before = reader.buffer_position();
        let (ns, event) = match reader.read_resolved_event_into(&mut buf) {
            Ok((ns, ev)) => (ns_ok(&ns), ev),
            Err(e) if too_long(&e) => {
                return Err(refuse(
                    before,
                    state.element(),
                    format!(
                        "an element, text or comment longer than {MAX_EVENT} bytes: not a \
                         declaration file?"
                    ),
                ))
            }
            Err(e) => {
                return Err(refuse(
                    reader.error_position(),
                    state.element(),
                    format!("not well-formed XML: {e}"),
                ))
            }
        };
        match event {
            Event::Start(e) | Event::Empty(e) if !ns => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                return Err(refuse(
                    before,
                    &name,
                    format!("element <{name}> is not in namespace {NAMESPACE}"),
                ));
            }
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(event, Event::Empty(_));
                let local = e.local_name();
                let local = local.as_ref();
                match (state, local) {
                    (State::Prolog, b"declaration") => {
                        if empty {
                            return Err(refuse(
                                before,
                                "declaration",
                                "empty <declaration>: the <trailer> is missing".into(),
                            ));
                        }
                        for a in e.attributes() {
                            let (key, value) = attr(&a, &refuse, before, "declaration")?;
                            match key {
                                b"batch_id" => decl[0] = value.trim().to_string(),
                                b"provider_agb" => decl[1] = value.trim().to_string(),
                                b"created" | b"" => {}
                                other => {
                                    return Err(unknown_attr(&refuse, before, "declaration", other))
                                }
                            }
                        }
                        state = State::Declaration;
                    }
                    (State::Declaration, b"insured") => {
                        insured = Default::default();
                        for a in e.attributes() {
                            let (key, value) = attr(&a, &refuse, before, "insured")?;
                            let slot = match key {
                                b"member_id" => 0,
                                b"bsn" => 1,
                                b"birth_date" => 2,
                                b"" => continue,
                                other => {
                                    return Err(unknown_attr(&refuse, before, "insured", other))
                                }
                            };
                            insured[slot] = value.trim().to_string();
                        }
                        if !empty {
                            state = State::Insured;
                        }
                    }
                    (State::Insured, b"line") => {
                        record += 1;
                        let tag_len = reader.buffer_position().saturating_sub(before);
                        let end = if empty { tag_len } else { 0 };
                        let raw = Span {
                            start: before,
                            len: raw_len(end),
                        };
                        let amount =
                            read_line(e, &decl, &insured, raw, tag_len, sink, &refuse, before)?;
                        total.add(amount.map_err(|why| {
                            refuse(
                                before,
                                "line",
                                format!("{why}, so the trailer's total_amount cannot be verified"),
                            )
                        })?);
                        if !empty {
                            open_line_start = before;
                            state = State::Line;
                        }
                    }
                    (State::Declaration, b"trailer") => {
                        let mut t = Trailer {
                            at: before,
                            lines: None,
                            total: None,
                        };
                        for a in e.attributes() {
                            let (key, value) = attr(&a, &refuse, before, "trailer")?;
                            let value = value.trim();
                            match key {
                                b"lines" => {
                                    t.lines = Some(value.parse().map_err(|_| {
                                        refuse(
                                            before,
                                            "trailer",
                                            format!("attribute lines {value:?} is not a count"),
                                        )
                                    })?)
                                }
                                b"total_amount" => {
                                    let v =
                                        Cents::parse_signed(value.as_bytes()).map_err(|why| {
                                            refuse(
                                                before,
                                                "trailer",
                                                format!("attribute total_amount {value:?}: {why}"),
                                            )
                                        })?;
                                    t.total = Some(v);
                                }
                                b"" => {}
                                other => {
                                    return Err(unknown_attr(&refuse, before, "trailer", other))
                                }
                            }
                        }
                        for (what, missing) in [
                            ("lines", t.lines.is_none()),
                            ("total_amount", t.total.is_none()),
                        ] {
                            if missing {
                                return Err(refuse(
                                    before,
                                    "trailer",
                                    format!("attribute {what} is missing"),
                                ));
                            }
                        }
                        trailer = Some(t);
                        state = if empty {
                            State::AfterTrailer
                        } else {
                            State::Trailer
                        };
                    }
                    (State::Declaration, b"line") => {
                        return Err(refuse(
                            before,
                            "line",
                            "element <line> outside <insured>".into(),
                        ))
                    }
                    (State::AfterTrailer, _) => {
                        let name = String::from_utf8_lossy(local).into_owned();
                        return Err(refuse(
                            before,
                            &name,
                            format!("element <{name}> after the <trailer>"),
                        ));
                    }
                    (State::Done, _) => {
                        let name = String::from_utf8_lossy(local).into_owned();
                        return Err(refuse(
                            before,
                            &name,
                            format!("element <{name}> after </declaration>"),
                        ));
                    }
                    _ => {
                        let name = String::from_utf8_lossy(local).into_owned();
                        return Err(refuse(
                            before,
                            &name,
                            format!("unknown element <{name}> in <{}>", state.element()),
                        ));
                    }
                }
            }
            Event::End(_) => {
                state = match state {
                    State::Line => {
                        // Close the raw span of a `<line ...></line>` written with an end tag.
                        let end = reader.buffer_position();
                        sink.close_last(
                            open_line_start,
                            raw_len(end.saturating_sub(open_line_start)),
                        );
                        State::Insured
                    }
                    State::Insured => State::Declaration,
                    State::Trailer => State::AfterTrailer,
                    State::AfterTrailer => State::Done,
                    State::Declaration => {
                        return Err(refuse(
                            before,
                            "declaration",
                            "the <trailer> is missing".into(),
                        ))
                    }
                    State::Prolog | State::Done => {
                        return Err(refuse(before, "document", "unexpected end tag".into()))
                    }
                };
            }
            Event::Text(t) => {
                if !t.iter().all(u8::is_ascii_whitespace) {
                    return Err(refuse(
                        before,
                        state.element(),
                        format!("unexpected text in <{}>", state.element()),
                    ));
                }
            }
            Event::CData(_) => {
                return Err(refuse(
                    before,
                    state.element(),
                    format!("unexpected CDATA in <{}>", state.element()),
                ))
            }
            Event::DocType(_) => {
                return Err(refuse(
                    before,
                    "document",
                    "a DOCTYPE is not allowed in a declaration file".into(),
                ))
            }
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }

    let at = reader.buffer_position();
    match state {
        State::Done => {}
        State::Prolog => {
            return Err(refuse(
                at,
                "document",
                "no <declaration> element: empty file?".into(),
            ))
        }
        State::Declaration | State::Insured | State::Line if trailer.is_none() => {
            return Err(refuse(
                at,
                state.element(),
                "unexpected end of file: the <trailer> is missing".into(),
            ))
        }
        _ => {
            return Err(refuse(
                at,
                state.element(),
                format!("unexpected end of file inside <{}>", state.element()),
            ))
        }
    }
    let Some(t) = trailer else {
        return Err(refuse(at, "trailer", "the <trailer> is missing".into()));
    };
    if t.lines != Some(u64::from(record)) {
        return Err(refuse(
            t.at,
            "trailer",
            format!(
                "trailer lines=\"{}\" but the file has {record} <line> elements",
                t.lines.unwrap_or(0)
            ),
        ));
    }
    if let Some(declared) = t.total {
        if total != Total(i128::from(declared.0)) {
            return Err(refuse(
                t.at,
                "trailer",
                format!(
                    "trailer total_amount=\"{}\" but the lines add up to {}",
                    declared, total
                ),
            ));
        }
    }
    Ok(())
}

/// The length of a line's raw span: at most [`MAX_RECORD`] bytes of it are echoed.
fn raw_len(len: u64) -> u32 {
    u32::try_from(len.min(MAX_RECORD as u64)).unwrap_or(u32::MAX)
}

fn ns_ok(ns: &ResolveResult<'_>) -> bool {
    matches!(ns, ResolveResult::Bound(n) if n.as_ref() == NAMESPACE.as_bytes())
}

/// One attribute as (local key, unescaped value); namespace declarations and prefixed
/// attributes (e.g. `xsi:schemaLocation`) come back with an empty key and are skipped by callers.
fn attr<'a, F>(
    a: &'a Result<
        quick_xml::events::attributes::Attribute<'a>,
        quick_xml::events::attributes::AttrError,
    >,
    refuse: &F,
    at: u64,
    element: &str,
) -> Result<(&'a [u8], Cow<'a, str>), Refusal>
where
    F: Fn(u64, &str, String) -> Refusal,
{
    let a = a
        .as_ref()
        .map_err(|e| refuse(at, element, format!("not well-formed XML: {e}")))?;
    let key = a.key.as_ref();
    let value = a
        .unescape_value()
        .map_err(|e| refuse(at, element, format!("not well-formed XML: {e}")))?;
    if key == b"xmlns" || key.contains(&b':') {
        return Ok((b"", Cow::Borrowed("")));
    }
    Ok((key, value))
}

fn unknown_attr<F>(refuse: &F, at: u64, element: &str, key: &[u8]) -> Refusal
where
    F: Fn(u64, &str, String) -> Refusal,
{
    refuse(
        at,
        element,
        format!(
            "unknown attribute {} on <{element}>",
            String::from_utf8_lossy(key)
        ),
    )
}

/// Validates one `<line>` into `out`; returns its signed amount for the trailer total, or why
/// it cannot be read.
#[allow(clippy::too_many_arguments)]
fn read_line<F>(
    e: &BytesStart<'_>,
    decl: &[String; 2],
    insured: &[String; 3],
    raw: Span,
    tag_len: u64,
    sink: &mut Sink,
    refuse: &F,
    at: u64,
) -> Result<Result<Cents, String>, Refusal>
where
    F: Fn(u64, &str, String) -> Refusal,
{
    let mut v: [Cow<'_, str>; 19] = Default::default();
    let mut seen = 0u32;
    let mut unknown: Option<String> = None;
    // The first value over MAX_FIELD: its attribute and length.
    let mut long: Option<(String, usize)> = None;
    let bad = |why: String| refuse(at, "line", format!("not well-formed XML: {why}"));
    scan_attributes(e.attributes_raw(), |key, value| {
        if key == b"xmlns" || key.contains(&b':') {
            return Ok(());
        }
        match line_attr(key) {
            Some(i) => {
                if seen & (1 << i) != 0 {
                    return Err(bad(format!(
                        "attribute {} appears twice",
                        String::from_utf8_lossy(key)
                    )));
                }
                seen |= 1 << i;
                v[i] = attr_value(value).map_err(&bad)?;
            }
            None => {
                unknown.get_or_insert_with(|| String::from_utf8_lossy(key).into_owned());
                if value.len() > MAX_FIELD {
                    long.get_or_insert_with(|| {
                        (String::from_utf8_lossy(key).into_owned(), value.len())
                    });
                }
            }
        }
        Ok(())
    })
    .map_err(|e| e.unwrap_or_else(&bad))?;
    // A line's own value, else the one it inherits from <declaration> or <insured>.
    let value = |i: usize| -> &str {
        let own = v.get(i).map_or("", |x| x.trim());
        if !own.is_empty() {
            return own;
        }
        match i {
            0 => &decl[0],
            2 => &decl[1],
            3 => &insured[0],
            4 => &insured[1],
            5 => &insured[2],
            _ => "",
        }
    };
    for (i, name) in super::COLUMNS.iter().enumerate() {
        let len = value(i).len();
        if len > MAX_FIELD && long.is_none() {
            long = Some(((*name).to_string(), len));
        }
    }
    // A value over the limit is not echoed (its line is rejected for it).
    let field = |i: usize| -> &str {
        match value(i) {
            v if v.len() > MAX_FIELD => "",
            v => v,
        }
    };
    let fields = RawFields {
        batch_id: field(0),
        line_id: field(1),
        provider_agb: field(2),
        member_id: field(3),
        bsn: field(4),
        birth_date: field(5),
        service_date: field(6),
        code_list: field(7),
        code: field(8),
        quantity: field(9),
        indication: field(10),
        referral: field(11),
        authorization: field(12),
        amount: field(13),
        legal_copay: field(14),
        trajectory_start: field(15),
        debit_credit: field(16),
        related_line_id: field(17),
        diagnosis: field(18),
    };
    let amount = match (Cents::parse(fields.amount), fields.debit_credit) {
        (Ok(a), "C") => Ok(-a),
        (Ok(a), "" | "D") => Ok(a),
        (Ok(_), dc) => Err(format!("debit_credit {dc:?} is not D or C")),
        (Err(why), _) => Err(format!("amount {:?}: {why}", fields.amount)),
    };
    let long = long.map(|(name, len)| {
        format!("attribute {name} is {len} bytes long, over the limit of {MAX_FIELD}")
    });
    let rejected = if tag_len > MAX_RECORD as u64 {
        let mut msg = format!(
            "element <line> is {tag_len} bytes long, over the limit of {MAX_RECORD} (raw holds \
             its first {MAX_RECORD} bytes)"
        );
        if let Some(f) = long {
            msg = format!("{f}; {msg}");
        }
        Some(Fault::new(Reason::Malformed, msg))
    } else if let Some(msg) = long {
        Some(Fault::new(Reason::Malformed, msg))
    } else {
        unknown.map(|name| {
            Fault::new(
                Reason::Malformed,
                format!("unknown attribute {name} on <line>"),
            )
        })
    };
    sink.push(raw, &fields, rejected);
    Ok(amount)
}

/// Walks `key="value"` pairs of a start tag's attribute text (the hot path: quick-xml's general
/// attribute iterator costs several times the event loop itself). Rejects what XML rejects
/// here: a key without `=`, an unquoted or unterminated value, `<` in a value.
fn scan_attributes<'a>(
    raw: &'a [u8],
    mut f: impl FnMut(&'a [u8], &'a [u8]) -> Result<(), Refusal>,
) -> Result<(), Result<Refusal, String>> {
    let mut i = 0usize;
    let ws = |c: u8| matches!(c, b' ' | b'\t' | b'\r' | b'\n');
    loop {
        while raw.get(i).is_some_and(|c| ws(*c)) {
            i += 1;
        }
        let Some(rest) = raw.get(i..).filter(|r| !r.is_empty()) else {
            return Ok(());
        };
        let key_len = rest
            .iter()
            .position(|c| *c == b'=' || ws(*c))
            .ok_or_else(|| Err("attribute without a value".to_string()))?;
        let key = rest.get(..key_len).unwrap_or_default();
        let mut j = key_len;
        while rest.get(j).is_some_and(|c| ws(*c)) {
            j += 1;
        }
        if rest.get(j) != Some(&b'=') || key.is_empty() {
            return Err(Err(format!(
                "attribute {} without a value",
                String::from_utf8_lossy(key)
            )));
        }
        j += 1;
        while rest.get(j).is_some_and(|c| ws(*c)) {
            j += 1;
        }
        let quote = match rest.get(j) {
            Some(q @ (b'"' | b'\'')) => *q,
            _ => {
                return Err(Err(format!(
                    "value of attribute {} is not quoted",
                    String::from_utf8_lossy(key)
                )))
            }
        };
        let body = rest.get(j + 1..).unwrap_or_default();
        let end = memchr_byte(quote, body).ok_or_else(|| {
            Err(format!(
                "value of attribute {} is not terminated",
                String::from_utf8_lossy(key)
            ))
        })?;
        let value = body.get(..end).unwrap_or_default();
        if value.contains(&b'<') {
            return Err(Err(format!(
                "'<' in the value of attribute {}",
                String::from_utf8_lossy(key)
            )));
        }
        f(key, value).map_err(Ok)?;
        i += j + 1 + end + 1;
        // Attributes must be separated by white space.
        if raw.get(i).is_some_and(|c| !ws(*c)) {
            return Err(Err("attributes without white space between them".into()));
        }
    }
}

fn memchr_byte(b: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|c| *c == b)
}

/// An attribute value as text: UTF-8, entity references replaced (borrowed when there are none).
fn attr_value(value: &[u8]) -> Result<Cow<'_, str>, String> {
    let s = std::str::from_utf8(value).map_err(|_| "attribute value is not UTF-8".to_string())?;
    if !s.contains('&') {
        return Ok(Cow::Borrowed(s));
    }
    quick_xml::escape::unescape(s).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(raw: &str) -> Result<Vec<(String, String)>, String> {
        let mut out = Vec::new();
        scan_attributes(raw.as_bytes(), |k, v| {
            out.push((
                String::from_utf8_lossy(k).into_owned(),
                attr_value(v)
                    .map_err(|_| Refusal {
                        file: String::new(),
                        position: String::new(),
                        message: "value".into(),
                        reason: Default::default(),
                        vektis: None,
                    })?
                    .into_owned(),
            ));
            Ok(())
        })
        .map_err(|e| match e {
            Ok(r) => r.message,
            Err(why) => why,
        })?;
        Ok(out)
    }

    #[test]
    fn attributes_are_scanned_as_xml_reads_them() {
        let got = scan(" a=\"1\"  b = 'x&amp;y' \n c=\"\"").unwrap();
        assert_eq!(
            got,
            [("a", "1"), ("b", "x&y"), ("c", "")].map(|(k, v)| (k.to_string(), v.to_string()))
        );
        assert!(scan("a=\"1\"b=\"2\"").unwrap_err().contains("white space"));
        assert!(scan("a=1").unwrap_err().contains("not quoted"));
        assert!(scan("a=\"1").unwrap_err().contains("not terminated"));
        assert!(scan("a").unwrap_err().contains("without a value"));
        assert!(scan("a=\"<\"").unwrap_err().contains("'<'"));
        assert!(scan("a=\"&bogus;\"").is_err());
    }
}
