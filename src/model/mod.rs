//! Domain values shared by every stage: dates, money, reasons and the validated line.

mod date;
mod money;
mod reason;

pub use date::Date;
pub use money::{AmountError, Cents, Rate, Total};
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

/// Code soort indicatie (CSI) of a paramedical line, three digits or none.
pub type Indication = Option<[u8; 3]>;

/// A declaration line that passed field validation. Identity fields stay as text for the outputs.
#[derive(Clone, Debug)]
pub struct Line {
    /// Position of this line in the whole run's input order (files in command-line order).
    pub seq: u32,
    /// Index of the input file in the run.
    pub file: u16,
    /// 1-based data-row number (CSV) or `<line>` ordinal (XML) within the file.
    pub record: u32,
    /// Shared between the lines of a batch (see [`intern`]).
    pub batch_id: std::sync::Arc<str>,
    pub line_id: Box<str>,
    pub provider_agb: u32,
    /// Member number as declared (may be empty when only the BSN was given).
    pub member_id: Box<str>,
    /// BSN as declared (may be empty when only the member number was given). Never logged.
    pub bsn: Box<str>,
    pub birth_date: Date,
    pub service_date: Date,
    pub code_list: std::sync::Arc<str>,
    pub code: std::sync::Arc<str>,
    pub quantity: u32,
    pub indication: Indication,
    pub referral: bool,
    pub authorization: bool,
    pub amount: Cents,
    pub legal_copay: Cents,
    pub trajectory_start: Option<Date>,
    pub credit: bool,
    pub related_line_id: Box<str>,
    /// Where the original record text is in its file (read back only for rejections).
    pub raw: Span,
}

#[cfg(test)]
impl Line {
    /// A debit line of 100.00 for unit tests: member `M`, provider 12345678.
    pub(crate) fn example(code: &str, service_date: Date, birth_date: Date) -> Line {
        Line {
            seq: 0,
            file: 0,
            record: 1,
            batch_id: "B".into(),
            line_id: "1".into(),
            provider_agb: 12_345_678,
            member_id: "M".into(),
            bsn: "".into(),
            birth_date,
            service_date,
            code_list: "".into(),
            code: code.into(),
            quantity: 1,
            indication: None,
            referral: false,
            authorization: false,
            amount: Cents(10_000),
            legal_copay: Cents::ZERO,
            trajectory_start: None,
            credit: false,
            related_line_id: "".into(),
            raw: Span::default(),
        }
    }
}

/// The shared copy of a short, often repeated text (batch numbers, codes): a file of a million
/// lines holds a few hundred distinct codes, so each line keeps a pointer, not its own copy.
pub fn intern(s: &str) -> std::sync::Arc<str> {
    use std::cell::RefCell;
    use std::sync::Arc;
    thread_local! {
        static SEEN: RefCell<rustc_hash::FxHashSet<Arc<str>>> = RefCell::default();
    }
    SEEN.with(|seen| {
        let mut seen = seen.borrow_mut();
        if let Some(a) = seen.get(s) {
            return Arc::clone(a);
        }
        // Bounded: a file of unique batch numbers must not grow the table without end.
        if seen.len() > 100_000 {
            seen.clear();
        }
        let a: Arc<str> = Arc::from(s);
        seen.insert(Arc::clone(&a));
        a
    })
}

impl Line {
    /// The amount as it counts in the outputs and the ledger: negative on a credit line.
    pub fn signed_amount(&self) -> Cents {
        if self.credit {
            -self.amount
        } else {
            self.amount
        }
    }
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
