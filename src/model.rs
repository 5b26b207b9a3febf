//! Domain values shared by every stage: dates, money, reasons and the validated line.

use rust_decimal::{Decimal, RoundingStrategy};
use std::fmt;

/// A calendar date stored as `yyyymmdd`, so ordering is numeric ordering.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct Date(u32);

impl Date {
    /// Builds a date after checking that the day exists in that month.
    pub fn new(year: u32, month: u32, day: u32) -> Option<Date> {
        if !(1..=9999).contains(&year) || !(1..=12).contains(&month) || day == 0 {
            return None;
        }
        if day > days_in_month(year, month) {
            return None;
        }
        Some(Date(year * 10_000 + month * 100 + day))
    }

    /// Parses `YYYY-MM-DD` or the Vektis form `YYYYMMDD`.
    pub fn parse(s: &str) -> Option<Date> {
        let b = s.as_bytes();
        let (y, m, d) = match b.len() {
            10 if b[4] == b'-' && b[7] == b'-' => (&b[0..4], &b[5..7], &b[8..10]),
            8 => (&b[0..4], &b[4..6], &b[6..8]),
            _ => return None,
        };
        Date::new(digits(y)?, digits(m)?, digits(d)?)
    }

    /// Today's date in UTC, from the system clock.
    pub fn today() -> Date {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Date::from_days_since_epoch((secs / 86_400) as i64)
    }

    /// The civil date `days` after 1970-01-01 (Howard Hinnant's algorithm).
    pub fn from_days_since_epoch(days: i64) -> Date {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let y = (yoe + era * 400 + i64::from(m <= 2)) as u32;
        Date(y * 10_000 + m * 100 + d)
    }

    /// The date as the number `yyyymmdd`.
    pub fn as_u32(self) -> u32 {
        self.0
    }

    /// Rebuilds a date from `yyyymmdd` as stored by [`Date::as_u32`].
    pub fn from_u32(v: u32) -> Option<Date> {
        Date::new(v / 10_000, v / 100 % 100, v % 100)
    }

    pub fn year(self) -> u32 {
        self.0 / 10_000
    }
    pub fn month(self) -> u32 {
        self.0 / 100 % 100
    }
    pub fn day(self) -> u32 {
        self.0 % 100
    }

    /// Age in whole years on `on` for someone born on `self`.
    pub fn age_on(self, on: Date) -> u32 {
        if on < self {
            return 0;
        }
        let years = on.year() - self.year();
        if (on.month(), on.day()) < (self.month(), self.day()) {
            years - 1
        } else {
            years
        }
    }

    /// The same day `months` later, clamped to the month's last day (31 Jan + 1 = 28/29 Feb).
    pub fn add_months(self, months: u32) -> Date {
        let total = self.year() * 12 + (self.month() - 1) + months;
        let (y, m) = (total / 12, total % 12 + 1);
        let d = self.day().min(days_in_month(y, m));
        Date(y * 10_000 + m * 100 + d)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}",
            self.year(),
            self.month(),
            self.day()
        )
    }
}

fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// Euros, exact. Always rounded to cents where computed.
pub type Money = Decimal;

/// Rounds to cents, half away from zero (0.125 -> 0.13, -0.125 -> -0.13).
///
/// ```
/// use declaro::model::{fmt_money, parse_amount, round_cents};
/// let eighth = parse_amount("0.50").unwrap() * rust_decimal::Decimal::new(25, 2); // 0.125
/// assert_eq!(fmt_money(round_cents(eighth)), "0.13");
/// assert_eq!(fmt_money(round_cents(-eighth)), "-0.13");
/// ```
pub fn round_cents(v: Money) -> Money {
    let mut r = v.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    r.rescale(2);
    if r.is_zero() {
        // A reversed 0.00 must not print as -0.00.
        r.set_sign_positive(true);
    }
    r
}

/// Why an input amount was not accepted.
#[derive(Debug, PartialEq, Eq)]
pub enum AmountError {
    Empty,
    Comma,
    Negative,
    TooManyDecimals,
    NotANumber,
}

impl fmt::Display for AmountError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AmountError::Empty => "empty",
            AmountError::Comma => "use a dot as decimal separator",
            AmountError::Negative => "amounts are written positive (a credit is debit_credit C)",
            AmountError::TooManyDecimals => "at most two decimals",
            AmountError::NotANumber => "not an amount in euros like 26.59",
        })
    }
}

/// Parses a euro amount: digits, optionally a dot and one or two decimals.
pub fn parse_amount(s: &str) -> Result<Money, AmountError> {
    if s.is_empty() {
        return Err(AmountError::Empty);
    }
    if s.starts_with('-') {
        return Err(AmountError::Negative);
    }
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None if s.contains(',') => return Err(AmountError::Comma),
        None => (s, None),
    };
    let all_digits = |p: &str| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit());
    if !all_digits(int) || int.len() > 12 {
        return Err(AmountError::NotANumber);
    }
    let mut cents: i64 = int.parse().map_err(|_| AmountError::NotANumber)?;
    cents *= 100;
    if let Some(f) = frac {
        if !all_digits(f) {
            return Err(AmountError::NotANumber);
        }
        match f.len() {
            1 => cents += i64::from(f.as_bytes()[0] - b'0') * 10,
            2 => cents += f.parse::<i64>().map_err(|_| AmountError::NotANumber)?,
            _ => return Err(AmountError::TooManyDecimals),
        }
    }
    Ok(Decimal::new(cents, 2))
}

/// Whole cents of an amount (rounded to cents first if it has more decimals).
pub fn to_cents(v: Money) -> i64 {
    // Amounts are kept at scale 2, where the mantissa is the cents: no rounding work needed.
    let r = if v.scale() == 2 { v } else { round_cents(v) };
    i64::try_from(r.mantissa()).unwrap_or(i64::MAX)
}

/// The amount of a number of cents.
pub fn from_cents(c: i64) -> Money {
    Decimal::new(c, 2)
}

/// Formats an amount with exactly two decimals.
pub fn fmt_money(v: Money) -> String {
    format!("{:.2}", round_cents(v))
}

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

/// Reason codes of contract section 7, in the order they are printed when several apply.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
#[repr(u8)]
pub enum Reason {
    Malformed,
    MissingField,
    BadBsn,
    BadAgb,
    BadDate,
    UnknownMember,
    BirthDateMismatch,
    NotInsured,
    UnknownCode,
    NotCovered,
    WaitingPeriod,
    AgeLimit,
    NoReferral,
    NoAuthorization,
    Duplicate,
    SameDay,
    SessionLimit,
    AmountLimit,
    TariffCap,
    Percentage,
    Deductible,
    LegalCopay,
    UnmatchedCredit,
    FutureDate,
}

impl Reason {
    /// Every reason, in printing order.
    pub const ALL: [Reason; 24] = [
        Reason::Malformed,
        Reason::MissingField,
        Reason::BadBsn,
        Reason::BadAgb,
        Reason::BadDate,
        Reason::UnknownMember,
        Reason::BirthDateMismatch,
        Reason::NotInsured,
        Reason::UnknownCode,
        Reason::NotCovered,
        Reason::WaitingPeriod,
        Reason::AgeLimit,
        Reason::NoReferral,
        Reason::NoAuthorization,
        Reason::Duplicate,
        Reason::SameDay,
        Reason::SessionLimit,
        Reason::AmountLimit,
        Reason::TariffCap,
        Reason::Percentage,
        Reason::Deductible,
        Reason::LegalCopay,
        Reason::UnmatchedCredit,
        Reason::FutureDate,
    ];

    /// The contract's code.
    pub fn code(self) -> &'static str {
        match self {
            Reason::Malformed => "MALFORMED",
            Reason::MissingField => "MISSING_FIELD",
            Reason::BadBsn => "BAD_BSN",
            Reason::BadAgb => "BAD_AGB",
            Reason::BadDate => "BAD_DATE",
            Reason::UnknownMember => "UNKNOWN_MEMBER",
            Reason::BirthDateMismatch => "BIRTH_DATE_MISMATCH",
            Reason::NotInsured => "NOT_INSURED",
            Reason::UnknownCode => "UNKNOWN_CODE",
            Reason::NotCovered => "NOT_COVERED",
            Reason::WaitingPeriod => "WAITING_PERIOD",
            Reason::AgeLimit => "AGE_LIMIT",
            Reason::NoReferral => "NO_REFERRAL",
            Reason::NoAuthorization => "NO_AUTHORIZATION",
            Reason::Duplicate => "DUPLICATE",
            Reason::SameDay => "SAME_DAY",
            Reason::SessionLimit => "SESSION_LIMIT",
            Reason::AmountLimit => "AMOUNT_LIMIT",
            Reason::TariffCap => "TARIFF_CAP",
            Reason::Percentage => "PERCENTAGE",
            Reason::Deductible => "DEDUCTIBLE",
            Reason::LegalCopay => "LEGAL_COPAY",
            Reason::UnmatchedCredit => "UNMATCHED_CREDIT",
            Reason::FutureDate => "FUTURE_DATE",
        }
    }

    /// The Vektis retourcode (COD954) for the EI return file.
    pub fn vektis(self) -> &'static str {
        match self {
            Reason::Malformed | Reason::MissingField => "0801",
            Reason::BadBsn => "0435",
            Reason::BadAgb => "8011",
            Reason::BadDate | Reason::FutureDate => "8007",
            Reason::UnknownMember | Reason::NotInsured => "0320",
            Reason::BirthDateMismatch => "8004",
            Reason::UnknownCode => "0582",
            Reason::NoReferral => "8014",
            Reason::NoAuthorization => "0550",
            Reason::Duplicate => "0587",
            Reason::SameDay | Reason::SessionLimit => "0584",
            Reason::TariffCap => "0611",
            Reason::UnmatchedCredit => "0631",
            Reason::NotCovered
            | Reason::WaitingPeriod
            | Reason::AgeLimit
            | Reason::AmountLimit
            | Reason::Percentage
            | Reason::Deductible
            | Reason::LegalCopay => "0613",
        }
    }
}

/// A small set of reasons, printed in [`Reason::ALL`] order.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct Reasons(u32);

impl Reasons {
    pub fn insert(&mut self, r: Reason) {
        self.0 |= 1 << (r as u8);
    }
    pub fn contains(self, r: Reason) -> bool {
        self.0 & (1 << (r as u8)) != 0
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn union(self, other: Reasons) -> Reasons {
        Reasons(self.0 | other.0)
    }
    pub fn iter(self) -> impl Iterator<Item = Reason> {
        Reason::ALL.into_iter().filter(move |r| self.contains(*r))
    }
    /// The codes joined by `;`, as the remittance prints them.
    pub fn joined(self) -> String {
        self.iter().map(Reason::code).collect::<Vec<_>>().join(";")
    }
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
    pub amount: Money,
    pub legal_copay: Money,
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
            amount: Money::ONE_HUNDRED,
            legal_copay: Money::ZERO,
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
    pub fn signed_amount(&self) -> Money {
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
    fn amounts_parse_with_dot_and_at_most_two_decimals() {
        assert_eq!(parse_amount("26.59").unwrap().to_string(), "26.59");
        assert_eq!(parse_amount("26.5").unwrap().to_string(), "26.50");
        assert_eq!(parse_amount("26").unwrap().to_string(), "26.00");
        assert_eq!(parse_amount("0.05").unwrap().to_string(), "0.05");
        assert_eq!(parse_amount("12,50"), Err(AmountError::Comma));
        assert_eq!(parse_amount("1,250.00"), Err(AmountError::NotANumber));
        assert_eq!(parse_amount("12.505"), Err(AmountError::TooManyDecimals));
        assert_eq!(parse_amount("-1.00"), Err(AmountError::Negative));
        assert_eq!(parse_amount(""), Err(AmountError::Empty));
        assert_eq!(parse_amount("1e3"), Err(AmountError::NotANumber));
        assert_eq!(parse_amount(".50"), Err(AmountError::NotANumber));
        assert_eq!(parse_amount("5."), Err(AmountError::NotANumber));
    }

    #[test]
    fn rounding_is_half_away_from_zero() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        assert_eq!(fmt_money(round_cents(d("0.125"))), "0.13");
        assert_eq!(fmt_money(round_cents(d("0.135"))), "0.14");
        assert_eq!(fmt_money(round_cents(d("-0.125"))), "-0.13");
        assert_eq!(fmt_money(round_cents(d("0.124"))), "0.12");
        assert_eq!(fmt_money(d("7")), "7.00");
        assert_eq!(fmt_money(-d("0.00")), "0.00");
        assert_eq!(to_cents(d("12.34")), 1234);
        assert_eq!(to_cents(d("-12.345")), -1235);
        assert_eq!(to_cents(d("7")), 700);
        // 75% of 26.59 = 19.9425 -> 19.94; 75% of 0.50 = 0.375 -> 0.38
        assert_eq!(fmt_money(round_cents(d("26.59") * d("0.75"))), "19.94");
        assert_eq!(fmt_money(round_cents(d("0.50") * d("0.75"))), "0.38");
    }

    #[test]
    fn dates_parse_both_forms_and_check_the_calendar() {
        assert_eq!(Date::parse("2024-02-29").unwrap().to_string(), "2024-02-29");
        assert_eq!(Date::parse("20240229").unwrap().to_string(), "2024-02-29");
        assert!(Date::parse("2023-02-29").is_none());
        assert!(Date::parse("2024-02-30").is_none());
        assert!(Date::parse("2024-13-01").is_none());
        assert!(Date::parse("2024-1-01").is_none());
        assert!(Date::parse("24-01-01").is_none());
        assert!(Date::parse("2024/01/01").is_none());
    }

    #[test]
    fn epoch_days_convert_to_civil_dates() {
        assert_eq!(Date::from_days_since_epoch(0).to_string(), "1970-01-01");
        assert_eq!(
            Date::from_days_since_epoch(19_782).to_string(),
            "2024-02-29"
        );
    }

    #[test]
    fn age_is_whole_years_on_the_date() {
        let born = Date::parse("2006-03-01").unwrap();
        assert_eq!(born.age_on(Date::parse("2024-02-29").unwrap()), 17);
        assert_eq!(born.age_on(Date::parse("2024-03-01").unwrap()), 18);
    }

    #[test]
    fn months_are_added_clamped_to_month_end() {
        let d = Date::parse("2024-12-31").unwrap();
        assert_eq!(d.add_months(2).to_string(), "2025-02-28");
        assert_eq!(
            Date::parse("2024-03-15").unwrap().add_months(2).to_string(),
            "2024-05-15"
        );
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
