//! `declaro process`: one night, run as the stages of [`crate::pipeline`].

pub use crate::pipeline::{run, Report, Settings};
