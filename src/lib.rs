//! declaro: a batch claims-file processor for Dutch health insurers.
//!
//! The pipeline reads top to bottom: [`input`] → [`model`] → [`policy`] → [`adjudicate`] →
//! [`ledger`] → [`output`]; [`cmd`] wires it together for each subcommand.

pub mod adjudicate;
pub mod cli;
pub mod cmd;
pub mod input;
pub mod ledger;
pub mod model;
pub mod output;
pub mod policy;
pub mod registers;

/// Why a command failed; `main` maps it to the contract's exit code.
#[derive(Debug)]
pub enum Failure {
    /// Bad option, policy or register (exit 3). Nothing committed.
    Usage(String),
    /// A bug or an I/O failure (exit 1). Nothing committed.
    Internal(String),
}

/// The contract's exit codes (section 3.2), decided in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Success = 0,
    Internal = 1,
    FilesRefused = 2,
    Usage = 3,
}
