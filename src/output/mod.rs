//! Output files: `remittance.csv`, `rejections.csv`, `summary.json`. Written to temporary
//! files in the output directory (mode 0640) and renamed into place only after the ledger
//! committed.

pub mod pm305;
pub mod summary;

use crate::adjudicate::Payment;
use crate::input::EchoFields;
use crate::model::{fmt_money, Reason};
use crate::policy::PolicySet;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
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

    /// Renames the finished file into place.
    pub fn commit(self) -> io::Result<()> {
        std::fs::rename(&self.tmp, &self.dest)
    }

    /// Removes the temporary file (the run failed).
    pub fn discard(self) {
        let _ = std::fs::remove_file(&self.tmp);
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

/// One remittance row.
pub struct RemittanceRow<'a> {
    pub file: &'a str,
    pub record: u32,
    pub echo: &'a EchoFields,
    pub quantity: u32,
    pub payment: &'a Payment,
}

/// Writes remittance rows.
pub struct RemittanceWriter<W: Write> {
    w: csv::Writer<W>,
}

impl<W: Write> RemittanceWriter<W> {
    pub fn new(inner: W) -> csv::Result<Self> {
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(inner);
        w.write_record(REMITTANCE_HEADER)?;
        Ok(RemittanceWriter { w })
    }

    pub fn write(&mut self, row: &RemittanceRow<'_>, policies: &PolicySet) -> csv::Result<()> {
        let p = row.payment;
        let products: Vec<&str> = p
            .products
            .iter()
            .map(|&i| policies.products[i as usize].id.as_str())
            .collect();
        self.w.write_record([
            row.file,
            &row.record.to_string(),
            &row.echo.batch_id,
            &row.echo.line_id,
            &row.echo.provider_agb,
            &row.echo.member_id,
            &row.echo.service_date,
            &row.echo.code,
            &row.quantity.to_string(),
            &p.year.to_string(),
            &row.echo.claimed,
            &fmt_money(p.paid_basic),
            &fmt_money(p.deductible),
            &fmt_money(p.paid_supplementary),
            &fmt_money(p.member_pays),
            &products.join("+"),
            &p.reasons.joined(),
        ])
    }

    pub fn finish(self) -> io::Result<W> {
        self.w.into_inner().map_err(|e| e.into_error())
    }
}

/// Writes rejection rows, reading each line's original text back from its input file.
pub struct RejectionWriter<W: Write> {
    w: csv::Writer<W>,
    open: Option<(PathBuf, File)>,
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
        Ok(RejectionWriter { w, open: None })
    }

    fn raw_text(&mut self, path: &Path, span: crate::model::Span) -> io::Result<String> {
        if self.open.as_ref().is_none_or(|(p, _)| p != path) {
            self.open = Some((path.to_path_buf(), File::open(path)?));
        }
        let Some((_, f)) = self.open.as_mut() else {
            return Ok(String::new());
        };
        f.seek(SeekFrom::Start(span.start))?;
        let mut buf = Vec::with_capacity(span.len as usize);
        f.take(u64::from(span.len)).read_to_end(&mut buf)?;
        while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            buf.pop();
        }
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    pub fn write(&mut self, row: &RejectionRow<'_>) -> csv::Result<()> {
        let raw = self.raw_text(row.path, row.raw)?;
        self.w.write_record([
            row.file,
            &row.record.to_string(),
            &row.echo.batch_id,
            &row.echo.line_id,
            &row.echo.provider_agb,
            &row.echo.member_id,
            &row.echo.service_date,
            &row.echo.code,
            &row.echo.claimed,
            row.reason.code(),
            row.message,
            &raw,
        ])
    }

    pub fn finish(self) -> io::Result<W> {
        self.w.into_inner().map_err(|e| e.into_error())
    }
}
