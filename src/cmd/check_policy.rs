//! `declaro check-policy`: validates policy files and lists what they define.

use crate::policy;
use crate::Error;
use std::path::PathBuf;

/// Years as ranges: `2009, 2014, 2024-2026`.
fn year_ranges(years: &[u32]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < years.len() {
        let mut j = i;
        while j + 1 < years.len() && years[j + 1] == years[j] + 1 {
            j += 1;
        }
        parts.push(if i == j {
            years[i].to_string()
        } else {
            format!("{}-{}", years[i], years[j])
        });
        i = j + 1;
    }
    if parts.is_empty() {
        return "no year".into();
    }
    parts.join(", ")
}

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
                if let Some(d) = &p.deductible {
                    let years: Vec<u32> = d.mandatory.keys().copied().collect();
                    out.push_str(&format!(
                        "   mandatory deductible for {} (a line of another year that it would \
                         charge is rejected YEAR_NOT_CONFIGURED)\n",
                        year_ranges(&years)
                    ));
                }
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

#[cfg(test)]
mod tests {
    #[test]
    fn years_print_as_ranges() {
        assert_eq!(
            super::year_ranges(&[2009, 2014, 2024, 2025, 2026]),
            "2009, 2014, 2024-2026"
        );
        assert_eq!(super::year_ranges(&[]), "no year");
    }
}
