//! Why a command failed, and the contract's exit code for it (section 3.2), decided here.

use crate::ledger::LedgerError;
use crate::policy::PolicyError;
use crate::registers::RegisterError;
use std::fmt;

/// A failed command. Nothing is committed in either case.
#[derive(Debug)]
pub enum Error {
    /// A bad option, policy or register, or a ledger in use (exit 3).
    Usage(String),
    /// A bug or an I/O failure (exit 1).
    Internal(String),
}

/// The contract's exit codes (section 3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Success = 0,
    Internal = 1,
    FilesRefused = 2,
    Usage = 3,
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(s: ExitStatus) -> Self {
        std::process::ExitCode::from(s as u8)
    }
}

impl Error {
    /// The exit code of this failure.
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            Error::Usage(_) => ExitStatus::Usage,
            Error::Internal(_) => ExitStatus::Internal,
        }
    }

    /// An I/O failure while doing `what`.
    pub fn io(what: impl fmt::Display, e: impl fmt::Display) -> Error {
        Error::Internal(format!("{what}: {e}"))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(m) => f.write_str(m),
            Error::Internal(m) => write!(f, "internal error: {m}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<LedgerError> for Error {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::Busy(_)
            | LedgerError::Schema { .. }
            | LedgerError::Unreachable { .. }
            | LedgerError::Shards { .. } => Error::Usage(e.to_string()),
            other => Error::Internal(other.to_string()),
        }
    }
}

impl From<RegisterError> for Error {
    fn from(e: RegisterError) -> Self {
        Error::Usage(e.to_string())
    }
}

impl From<Vec<PolicyError>> for Error {
    fn from(errors: Vec<PolicyError>) -> Self {
        let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
        Error::Usage(all.join("\n"))
    }
}
