//! One module per subcommand.

pub mod check_policy;
pub mod diff;
pub mod explain;
pub mod generate;
pub mod ledger;
pub mod merge;
pub mod process;
