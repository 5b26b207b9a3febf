//! Output files: `remittance.csv`, `rejections.csv`, `summary.json`. Written to temporary
//! files in the output directory (mode 0640) and renamed into place only after the ledger
//! committed.

pub mod pm305;
pub mod summary;

use crate::adjudicate::Payment;
use crate::input::EchoFields;
use crate::model::{Cents, Reason};
use crate::policy::PolicySet;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// Creates (or truncates) a file readable and writable by owner and group only, whatever the umask.
pub fn create_private(path: &Path) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o640);
    }
    let f = o.open(path)?;
    #[cfg(unix)]
    {
        // The file may have existed with wider permissions.
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o640))?;
    }
    Ok(f)
}

/// A file being written under a temporary name next to its final name.
pub struct Staged {
    tmp: PathBuf,
    dest: PathBuf,
}

impl Staged {
    /// Starts `dest` as `.<name>.tmp` in the same directory (same filesystem, so rename is atomic).
    pub fn create(dest: &Path) -> io::Result<(Staged, BufWriter<File>)> {
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dest.with_file_name(format!(".{name}.tmp"));
        let f = create_private(&tmp)?;
        Ok((
            Staged {
                tmp,
                dest: dest.to_path_buf(),
            },
            BufWriter::with_capacity(1 << 16, f),
        ))
    }

    /// Flushes the written file and hands it back, to be synced (see [`sync_in_background`])
    /// before the ledger commits.
    pub fn finish<W: Write + AsFile>(&self, mut w: BufWriter<W>) -> io::Result<W> {
        w.flush()?;
        w.into_inner().map_err(|e| e.into_error())
    }

    /// The temporary and the final path, for the ledger's record of a run being published.
    pub fn paths(&self) -> [String; 2] {
        [
            self.tmp.display().to_string(),
            self.dest.display().to_string(),
        ]
    }

    /// Renames the finished file into place.
    pub fn commit(self) -> io::Result<()> {
        std::fs::rename(&self.tmp, &self.dest)
    }

    /// Removes the temporary file (the run failed).
    pub fn discard(self) {
        let _ = std::fs::remove_file(&self.tmp);
    }
}

/// Syncs finished output files to disk on another thread, so the sync overlaps the ledger's
/// inserts; the ledger waits for it just before its commit.
pub fn sync_in_background(files: Vec<File>) -> std::thread::JoinHandle<io::Result<()>> {
    std::thread::spawn(move || files.iter().try_for_each(File::sync_all))
}

/// A writer that is a file underneath, so it can be synced.
pub trait AsFile {
    fn as_file(&self) -> &File;
}

impl AsFile for File {
    fn as_file(&self) -> &File {
        self
    }
}

/// Column names of `remittance.csv` (contract 5).
pub const REMITTANCE_HEADER: [&str; 17] = [
    "file",
    "record",
    "batch_id",
    "line_id",
    "provider_agb",
    "member_id",
    "service_date",
    "code",
    "quantity",
    "year",
    "claimed",
    "paid_basic",
    "deductible",
    "paid_supplementary",
    "member_pays",
    "products",
    "reasons",
];

/// Column names of `rejections.csv` (contract 6).
pub const REJECTIONS_HEADER: [&str; 12] = [
    "file",
    "record",
    "batch_id",
    "line_id",
    "provider_agb",
    "member_id",
    "service_date",
    "code",
    "claimed",
    "reason",
    "message",
    "raw",
];

/// One remittance row, borrowed from the line and its payment.
pub struct RemittanceRow<'a> {
    /// The input file as given on the command line.
    pub file: &'a str,
    pub line: &'a crate::model::Line,
    /// The member number the line is reported under (the register's).
    pub member_id: &'a str,
    pub payment: &'a Payment,
}

/// Writes remittance rows straight into a reused line buffer: numbers and dates never need
/// quoting, and text fields are quoted only when they contain a separator, quote or newline
/// (the same rule as the csv crate's writer, which the rejections file uses).
pub struct RemittanceWriter<W: Write> {
    w: W,
    row: Vec<u8>,
}

impl<W: Write> RemittanceWriter<W> {
    pub fn new(mut inner: W) -> io::Result<Self> {
        inner.write_all(REMITTANCE_HEADER.join(",").as_bytes())?;
        inner.write_all(b"\n")?;
        Ok(RemittanceWriter {
            w: inner,
            row: Vec::with_capacity(256),
        })
    }

    fn text(&mut self, s: &str) {
        if s.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r')) {
            self.row.push(b'"');
            for b in s.bytes() {
                if b == b'"' {
                    self.row.push(b'"');
                }
                self.row.push(b);
            }
            self.row.push(b'"');
        } else {
            self.row.extend_from_slice(s.as_bytes());
        }
        self.row.push(b',');
    }

    fn number(&mut self, mut n: u64, width: usize) {
        let mut digits = [b'0'; 20];
        let mut i = digits.len();
        while n > 0 || digits.len() - i < width.max(1) {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
        self.row.extend_from_slice(&digits[i..]);
    }

    fn money(&mut self, v: Cents) {
        v.write_to(&mut self.row);
        self.row.push(b',');
    }

    pub fn write(&mut self, row: &RemittanceRow<'_>, policies: &PolicySet) -> io::Result<()> {
        let (p, line) = (row.payment, row.line);
        self.row.clear();
        self.text(row.file);
        self.number(u64::from(line.record), 1);
        self.row.push(b',');
        self.text(&line.batch_id);
        self.text(&line.line_id);
        self.number(u64::from(line.provider_agb), 8);
        self.row.push(b',');
        self.text(row.member_id);
        let d = line.service_date;
        self.number(u64::from(d.year()), 4);
        self.row.push(b'-');
        self.number(u64::from(d.month()), 2);
        self.row.push(b'-');
        self.number(u64::from(d.day()), 2);
        self.row.push(b',');
        self.text(&line.code);
        self.number(u64::from(line.quantity), 1);
        self.row.push(b',');
        self.number(u64::from(p.year), 1);
        self.row.push(b',');
        self.money(line.signed_amount());
        self.money(p.paid_basic);
        self.money(p.deductible);
        self.money(p.paid_supplementary);
        self.money(p.member_pays);
        for (n, &i) in p.products.iter().enumerate() {
            if n > 0 {
                self.row.push(b'+');
            }
            self.row
                .extend_from_slice(policies.products[i as usize].id.as_bytes());
        }
        self.row.push(b',');
        for (n, r) in p.reasons.iter().enumerate() {
            if n > 0 {
                self.row.push(b';');
            }
            self.row.extend_from_slice(r.code().as_bytes());
        }
        self.row.push(b'\n');
        self.w.write_all(&self.row)
    }

    pub fn finish(self) -> io::Result<W> {
        Ok(self.w)
    }
}

/// Writes rejection rows, reading each line's original text back from its input file.
pub struct RejectionWriter<W: Write> {
    w: csv::Writer<W>,
    /// The input file being read back, with the reader's current offset.
    open: Option<(PathBuf, io::BufReader<File>, u64)>,
    raw: Vec<u8>,
}

/// One rejection row.
pub struct RejectionRow<'a> {
    pub file: &'a str,
    pub path: &'a Path,
    pub record: u32,
    pub echo: &'a EchoFields,
    pub reason: Reason,
    pub message: &'a str,
    pub raw: crate::model::Span,
}

impl<W: Write> RejectionWriter<W> {
    pub fn new(inner: W) -> csv::Result<Self> {
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(inner);
        w.write_record(REJECTIONS_HEADER)?;
        Ok(RejectionWriter {
            w,
            open: None,
            raw: Vec::new(),
        })
    }

    /// Reads a line's original bytes back. Rejections come in file order, so the reader mostly
    /// skips forward inside its buffer instead of seeking.
    fn raw_text(&mut self, path: &Path, span: crate::model::Span) -> io::Result<String> {
        if self
            .open
            .as_ref()
            .is_none_or(|(p, _, pos)| p != path || *pos > span.start)
        {
            let f = io::BufReader::with_capacity(1 << 16, File::open(path)?);
            self.open = Some((path.to_path_buf(), f, 0));
        }
        let Some((_, f, pos)) = self.open.as_mut() else {
            return Ok(String::new());
        };
        let skip = span.start - *pos;
        f.seek_relative(i64::try_from(skip).unwrap_or(i64::MAX))?;
        self.raw.resize(span.len as usize, 0);
        f.read_exact(&mut self.raw)?;
        *pos = span.start + u64::from(span.len);
        let mut text = &self.raw[..];
        while let [rest @ .., b'\n' | b'\r'] = text {
            text = rest;
        }
        Ok(String::from_utf8_lossy(text).into_owned())
    }

    pub fn write(&mut self, row: &RejectionRow<'_>) -> csv::Result<()> {
        let raw = self.raw_text(row.path, row.raw)?;
        let [batch, line_id, agb, member, date, code, claimed] = row.echo.fields();
        let record = row.record.to_string();
        self.w.write_record([
            row.file,
            &record,
            batch,
            line_id,
            agb,
            member,
            date,
            code,
            claimed,
            row.reason.code(),
            row.message,
            &raw,
        ])
    }

    pub fn finish(self) -> io::Result<W> {
        self.w.into_inner().map_err(|e| e.into_error())
    }
}
