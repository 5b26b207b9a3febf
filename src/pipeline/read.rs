//! Stage 1, read: every input file into one [`Night`], files in parallel, lines numbered in
//! run-wide input order (files in command-line order, lines in file order). A refused file
//! contributes nothing but its entry, with the refusal.

use crate::error::Error;
use crate::input;
use crate::ledger::Ledger;
use crate::night::{InputFile, Night};
use rayon::prelude::*;

/// Reads the night's input files (on the current thread pool).
pub fn read(
    s: &super::Settings,
    ledger: &mut dyn Ledger,
    progress: &super::progress::Progress,
) -> Result<Night, Error> {
    if s.inputs.len() > usize::from(u16::MAX) {
        return Err(Error::Usage("at most 65535 input files per run".into()));
    }
    let bytes = s
        .inputs
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    progress.stage("reading", bytes, true);
    let on_bytes = |n| progress.inc(n);
    let reads: Vec<input::FileRead> = s
        .inputs
        .par_iter()
        .enumerate()
        .map(|(i, path)| input::read_file(path, &super::shown(path), i as u16, &on_bytes))
        .collect();
    // A file whose bytes a committed run processed is refused whole (contract section 11).
    let mut reads = reads;
    let mut processed_by = vec![None; reads.len()];
    for ((read, path), by) in reads.iter_mut().zip(&s.inputs).zip(&mut processed_by) {
        if read.refusal.is_none() {
            if let Some(run) = ledger.run_of_input(&read.sha256)? {
                let shown = super::shown(path);
                read.refusal = Some(super::rerun::already_processed(&shown, &read.sha256, run));
                read.batches.clear();
                read.records = 0;
                *by = Some(run);
            }
        }
    }
    let mut night = Night::default();
    // Room for every line once: growing by doubling would leave up to half of it unused.
    let batches = || reads.iter().flat_map(|r| &r.batches);
    night.reserve(
        batches().map(|b| b.lines.len()).sum(),
        batches().map(|b| b.pending.len()).sum(),
        batches().map(|b| b.text.len()).sum(),
        batches().map(|b| b.declared_text.len()).sum(),
    );
    for ((path, read), processed_by) in s.inputs.iter().zip(reads).zip(processed_by) {
        if let Some(r) = &read.refusal {
            if r.position.is_empty() {
                tracing::warn!(file = %r.file, "input file refused: {}", r.message);
            } else {
                tracing::warn!(
                    file = %r.file,
                    position = %r.position,
                    "input file refused: {}",
                    r.message
                );
            }
        }
        night.files.push(InputFile {
            shown: super::shown(path),
            path: path.clone(),
            format: read.format,
            first_seq: night.lines.len() as u32,
            records: read.records,
            sha256: read.sha256,
            refusal: read.refusal,
            line_ends: read.line_ends,
            processed_by,
        });
        for b in read.batches {
            night.absorb(b);
        }
    }
    if night.lines.len() > u32::MAX as usize - 1 {
        return Err(Error::Usage(format!(
            "{} lines in one night: at most {} fit",
            night.lines.len(),
            u32::MAX - 1
        )));
    }
    Ok(night)
}
