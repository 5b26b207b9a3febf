//! A run's output CSV (`remittance.csv`, `rejections.csv`) read back by column name, for
//! `declaro diff` and `declaro explain`. Errors name the file.

use crate::Error;
use std::path::{Path, PathBuf};

/// An output file open for reading, its header read.
pub struct Table {
    path: PathBuf,
    reader: csv::Reader<std::fs::File>,
    headers: csv::StringRecord,
}

impl Table {
    /// Opens `path` and reads its header.
    pub fn open(path: &Path) -> Result<Table, Error> {
        let bad = |e: &dyn std::fmt::Display| Error::Usage(format!("{}: {e}", path.display()));
        let mut reader = csv::Reader::from_path(path).map_err(|e| bad(&e))?;
        let headers = reader.headers().map_err(|e| bad(&e))?.clone();
        Ok(Table {
            path: path.to_path_buf(),
            reader,
            headers,
        })
    }

    /// A usage error about this file.
    pub fn error(&self, what: impl std::fmt::Display) -> Error {
        Error::Usage(format!("{}: {what}", self.path.display()))
    }

    /// The index of a column.
    pub fn column(&self, name: &str) -> Result<usize, Error> {
        self.headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| self.error(format!("no column {name}")))
    }

    pub fn headers(&self) -> &csv::StringRecord {
        &self.headers
    }

    /// The rows, in file order.
    pub fn rows(&mut self) -> impl Iterator<Item = Result<csv::StringRecord, Error>> + '_ {
        let path = self.path.clone();
        self.reader
            .records()
            .map(move |r| r.map_err(|e| Error::Usage(format!("{}: {e}", path.display()))))
    }
}
