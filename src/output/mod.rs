//! Output files: `remittance.csv`, `rejections.csv`, `summary.json`. Written to temporary
//! files in the output directory (mode 0640) and renamed into place only after the ledger
//! committed.

pub mod ei_return;
pub mod messages;
pub mod report;
pub mod rows;
pub mod summary;
pub mod table;

/// The files a run writes into `--out`.
pub const OUTPUTS: [&str; 4] = [
    "remittance.csv",
    "rejections.csv",
    "summary.json",
    "report.html",
];

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
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

/// Creates a directory (and its parents) readable by owner and group only, whatever the umask.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o750);
    }
    b.create(dir)
}

/// A file being written under a temporary name next to its final name. Dropped before it is
/// [`Staged::commit`]ted or [`Staged::keep`]t (the run failed), the temporary file is removed.
pub struct Staged {
    tmp: PathBuf,
    dest: PathBuf,
    /// Whether the temporary file stays when this is dropped.
    kept: bool,
}

impl Staged {
    /// Starts `dest` as `.<name>.tmp` in the same directory (same filesystem, so rename is
    /// atomic). The temporary file is created new (a file or link left there by a run that
    /// died is removed first, never followed), mode 0640 whatever the umask.
    pub fn create(dest: &Path) -> io::Result<(Staged, BufWriter<File>)> {
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dest.with_file_name(format!(".{name}.tmp"));
        match std::fs::remove_file(&tmp) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let mut o = OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(0o640).custom_flags(libc::O_NOFOLLOW);
        }
        let f = o.open(&tmp)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(std::fs::Permissions::from_mode(0o640))?;
        }
        Ok((
            Staged {
                tmp,
                dest: dest.to_path_buf(),
                kept: false,
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

    /// The temporary file being written.
    pub fn tmp(&self) -> &Path {
        &self.tmp
    }

    /// The temporary and the final path, for the ledger's record of a run being published.
    pub fn paths(&self) -> [String; 2] {
        [
            self.tmp.display().to_string(),
            self.dest.display().to_string(),
        ]
    }

    /// The final path.
    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// Keeps the temporary file from now on, whatever happens (the ledger committed and records
    /// it, so the next run finishes an interrupted rename): the `(temporary, final)` paths.
    pub fn keep(mut self) -> (PathBuf, PathBuf) {
        self.kept = true;
        (
            std::mem::take(&mut self.tmp),
            std::mem::take(&mut self.dest),
        )
    }

    /// Renames the finished file into place.
    pub fn commit(self) -> io::Result<()> {
        let (tmp, dest) = self.keep();
        std::fs::rename(tmp, dest)
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.tmp);
        }
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

/// The columns both output files begin with (contracts 5 and 6): which line a row is.
const LINE_COLUMNS: [&str; 8] = [
    "file",
    "record",
    "batch_id",
    "line_id",
    "provider_agb",
    "member_id",
    "service_date",
    "code",
];

/// `a` then `b`, in a constant (`N` = the two lengths together).
const fn columns<const A: usize, const B: usize, const N: usize>(
    a: [&'static str; A],
    b: [&'static str; B],
) -> [&'static str; N] {
    assert!(A + B == N);
    let mut out = [""; N];
    let mut i = 0;
    while i < N {
        out[i] = if i < A { a[i] } else { b[i - A] };
        i += 1;
    }
    out
}

/// Column names of `remittance.csv` (contract 5).
pub const REMITTANCE_HEADER: [&str; 17] = columns(
    LINE_COLUMNS,
    [
        "quantity",
        "year",
        "claimed",
        "paid_basic",
        "deductible",
        "paid_supplementary",
        "member_pays",
        "products",
        "reasons",
    ],
);

/// Column names of `rejections.csv` (contract 6).
pub const REJECTIONS_HEADER: [&str; 12] =
    columns(LINE_COLUMNS, ["claimed", "reason", "message", "raw"]);
