//! How large a night fits in memory. A night is held whole: its compact lines and outcomes, the
//! members' state and the rows being written. Rather than be killed halfway, a night that will
//! not fit is refused right after reading, before anything is adjudicated or written, with the
//! number of lines that would fit.

use crate::error::Error;

/// Peak resident bytes per line of a night: 436 MB for 2M generated lines (BENCHMARKS.md), with
/// room for nights with more rejections or credits.
pub const BYTES_PER_LINE: u64 = 260;

/// The memory the run may use: `DECLARO_MEMORY` (bytes, or with a `K`, `M` or `G` suffix) when
/// set, else what the kernel reports as available plus what the run holds already (Linux).
pub fn available() -> Option<u64> {
    if let Ok(v) = std::env::var("DECLARO_MEMORY") {
        return parse_size(&v);
    }
    let kb = |file: &str, key: &str| -> Option<u64> {
        let text = std::fs::read_to_string(file).ok()?;
        let line = text.lines().find_map(|l| l.strip_prefix(key))?;
        line.trim()
            .trim_end_matches("kB")
            .trim()
            .parse::<u64>()
            .ok()
    };
    let free = kb("/proc/meminfo", "MemAvailable:")?;
    let held = kb("/proc/self/status", "VmRSS:").unwrap_or(0);
    Some((free + held) * 1024)
}

/// `123`, `512K`, `800M`, `2G` as bytes.
pub fn parse_size(v: &str) -> Option<u64> {
    let v = v.trim();
    let (digits, unit) = match v.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => v.split_at(i),
        None => (v, ""),
    };
    let n: u64 = digits.parse().ok()?;
    let unit = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" => 1 << 10,
        "M" | "MB" => 1 << 20,
        "G" | "GB" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(unit)
}

/// Refuses a night of `lines` lines that needs more memory than `available` bytes (exit 3).
pub fn check(lines: usize, available: Option<u64>) -> Result<(), Error> {
    let Some(available) = available else {
        return Ok(());
    };
    let need = lines as u64 * BYTES_PER_LINE;
    if need <= available {
        return Ok(());
    }
    let mb = |b: u64| b >> 20;
    Err(Error::Usage(format!(
        "the night has {lines} lines and needs about {} MB of memory ({BYTES_PER_LINE} bytes per \
         line), but {} MB is available: at most {} lines fit; split the input files over \
         several runs (nothing was adjudicated or written)",
        mb(need),
        mb(available),
        available / BYTES_PER_LINE
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_size("123"), Some(123));
        assert_eq!(parse_size("512K"), Some(512 << 10));
        assert_eq!(parse_size("800M"), Some(800 << 20));
        assert_eq!(parse_size("2G"), Some(2 << 30));
        assert_eq!(parse_size("2 gb"), Some(2 << 30));
        assert_eq!(parse_size("lots"), None);
    }

    #[test]
    fn a_night_too_large_is_refused_with_what_fits() {
        assert!(check(1000, Some(1000 * BYTES_PER_LINE)).is_ok());
        assert!(check(1000, None).is_ok());
        let e = check(1001, Some(1000 * BYTES_PER_LINE)).unwrap_err();
        assert!(
            matches!(&e, Error::Usage(m) if m.contains("at most 1000 lines fit")),
            "{e}"
        );
    }
}
