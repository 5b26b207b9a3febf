//! Domain values shared by every stage: dates, money, reasons and the validated line.

mod date;
mod money;
mod reason;

pub use date::Date;
pub use money::{AmountError, Cents, Rate, Sums, Total};
pub use reason::{Reason, Reasons};

/// The elfproef (11-check) on a 9-digit BSN: 9*d1 + 8*d2 + ... + 2*d8 - 1*d9 is a multiple of 11.
pub fn bsn_valid(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 9 || !b.iter().all(u8::is_ascii_digit) || s == "000000000" {
        return false;
    }
    let sum: i32 = b
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let d = i32::from(c - b'0');
            if i == 8 {
                -d
            } else {
                d * (9 - i as i32)
            }
        })
        .sum();
    sum % 11 == 0
}

/// Masks a BSN for the terminal: only the last three digits stay (`******782`).
pub fn mask_bsn(s: &str) -> String {
    let tail: String = s
        .chars()
        .rev()
        .take(3)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("******{tail}")
}

/// An AGB code is exactly eight digits.
pub fn agb_valid(s: &str) -> bool {
    s.len() == 8 && s.bytes().all(|c| c.is_ascii_digit())
}

/// A byte range in an input file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    pub start: u64,
    pub len: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elfproef_accepts_valid_and_rejects_invalid() {
        assert!(bsn_valid("123456782"));
        assert!(bsn_valid("111222333"));
        assert!(!bsn_valid("123456789"));
        assert!(!bsn_valid("12345678"));
        assert!(!bsn_valid("12345678a"));
        assert!(!bsn_valid("000000000"));
    }

    #[test]
    fn bsn_is_masked_to_last_three_digits() {
        assert_eq!(mask_bsn("123456782"), "******782");
    }

    #[test]
    fn reasons_print_in_contract_order() {
        let mut r = Reasons::default();
        r.insert(Reason::Deductible);
        r.insert(Reason::TariffCap);
        assert_eq!(r.joined(), "TARIFF_CAP;DEDUCTIBLE");
    }
}
