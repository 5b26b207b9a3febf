//! `declaro check-policy`: validates policy files and lists what they define.

use crate::policy;
use crate::Error;
use std::path::PathBuf;

/// Checks the files; prints one line per product on success, every error with file and line.
pub fn run(paths: &[PathBuf]) -> Result<String, Error> {
    match policy::load(paths) {
        Ok(set) => {
            let mut out = String::new();
            for p in &set.products {
                let codes = p.codes().count();
                out.push_str(&format!(
                    "ok {} ({}): {} benefits, {} codes, {} pools [{}]\n",
                    p.id,
                    p.name,
                    p.benefits.len(),
                    codes,
                    p.pools.len(),
                    p.file.display()
                ));
            }
            Ok(out)
        }
        Err(errors) => Err(Error::Usage(
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
        )),
    }
}
