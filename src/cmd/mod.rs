//! One module per subcommand.

pub mod check_policy;
pub mod process;
