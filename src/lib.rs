//! declaro: a batch claims-file processor for Dutch health insurers.
//!
//! A night reads top to bottom as the stages of [`pipeline`]: read ([`input`]) → screen →
//! group → adjudicate ([`adjudicate`], pure) → publish ([`output`], [`ledger`]) → reconcile.
//! The night's data is in [`night`]: compact line records with interned ids ([`intern`]), money
//! in cents and dates as numbers ([`model`]). [`cmd`] wires each subcommand; [`cli`] turns the
//! command line into settings; [`error`] decides the exit codes.

pub mod adjudicate;
pub mod cli;
pub mod cmd;
pub mod error;
pub mod input;
pub mod intern;
pub mod ledger;
pub mod model;
pub mod night;
pub mod output;
pub mod pipeline;
pub mod policy;
pub mod registers;
pub mod shard;

pub use error::{Error, ExitStatus};
