//! The progress bar on a terminal (contract section 1): it moves for one big file too, as it
//! counts bytes read, then members adjudicated, then rows written, and redraws at least four
//! times a second. Hidden when stderr is not a terminal or with `--quiet`.

use indicatif::{ProgressBar, ProgressStyle};
use std::time::Duration;

/// The run's bar, one stage at a time.
pub struct Progress(ProgressBar);

impl Progress {
    pub fn new(show: bool) -> Progress {
        if !show {
            return Progress(ProgressBar::hidden());
        }
        let bar = ProgressBar::new(0);
        bar.enable_steady_tick(Duration::from_millis(250));
        Progress(bar)
    }

    /// Starts a stage of `len` steps; `bytes`: the steps are bytes.
    pub fn stage(&self, what: &str, len: u64, bytes: bool) {
        let counts = if bytes {
            "{bytes}/{total_bytes}"
        } else {
            "{human_pos}/{human_len}"
        };
        let template = format!("{{spinner}} {{msg:12}} [{{bar:30}}] {counts} ({{elapsed}})");
        if let Ok(style) = ProgressStyle::with_template(&template) {
            self.0.set_style(style.progress_chars("=> "));
        }
        self.0.set_message(what.to_string());
        self.0.set_length(len);
        self.0.set_position(0);
    }

    pub fn inc(&self, n: u64) {
        self.0.inc(n);
    }

    /// Clears the bar (the closing summary follows).
    pub fn finish(&self) {
        self.0.finish_and_clear();
    }
}
