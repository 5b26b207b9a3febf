//! Money: whole euro cents in an `i64`, exact. Rates (percentages, pro-rata shares) are applied
//! with `rust_decimal` and rounded to cents half away from zero at the moment they are applied
//! (contract section 2); sums and comparisons stay in integer cents.

use rust_decimal::{Decimal, RoundingStrategy};
use std::fmt;
use std::ops::{Add, AddAssign, Neg, Sub, SubAssign};

/// An amount of money in cents. Negative on credit lines.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug)]
pub struct Cents(pub i64);

impl Cents {
    pub const ZERO: Cents = Cents(0);

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    pub fn abs(self) -> Cents {
        Cents(self.0.abs())
    }

    /// `percentage` percent of this amount, rounded to cents half away from zero.
    ///
    /// ```
    /// use declaro::model::{Cents, Rate};
    /// let pct = |s| Rate::parse(s).unwrap();
    /// assert_eq!(Cents(50).percent(pct("25")), Cents(13)); // 0.125 -> 0.13
    /// assert_eq!(Cents(-50).percent(pct("25")), Cents(-13));
    /// assert_eq!(Cents(2659).percent(pct("75")), Cents(1994)); // 19.9425 -> 19.94
    /// ```
    pub fn percent(self, percentage: Rate) -> Cents {
        if percentage.0 == Decimal::ONE_HUNDRED {
            return self;
        }
        round(Decimal::new(self.0, 2) * percentage.0 / Decimal::ONE_HUNDRED)
    }

    /// The share `part / whole` of this amount (units that fit of a line's quantity), rounded
    /// half away from zero.
    pub fn share(self, part: u32, whole: u32) -> Cents {
        if part == whole || whole == 0 {
            return self;
        }
        round(Decimal::new(self.0, 2) * Decimal::from(part) / Decimal::from(whole))
    }

    /// `n` times this amount (a maximum per unit times the units), saturating.
    pub fn times(self, n: u32) -> Cents {
        Cents(self.0.saturating_mul(i64::from(n)))
    }

    /// Parses a euro amount as written in a declaration or policy: digits, optionally a dot and
    /// one or two decimals (at most 12 digits before the dot).
    pub fn parse(s: &str) -> Result<Cents, AmountError> {
        Cents::parse_bytes(s.as_bytes())
    }

    /// A signed amount as the outputs write it (`-26.59`: a minus sign on credits), and as an
    /// XML trailer's total may be.
    pub fn parse_signed(s: &[u8]) -> Result<Cents, AmountError> {
        match s.strip_prefix(b"-") {
            Some(rest) => Cents::parse_bytes(rest).map(|c| -c),
            None => Cents::parse_bytes(s),
        }
    }

    /// [`Cents::parse`] on bytes.
    pub fn parse_bytes(s: &[u8]) -> Result<Cents, AmountError> {
        if s.is_empty() {
            return Err(AmountError::Empty);
        }
        if s[0] == b'-' {
            return Err(AmountError::Negative);
        }
        let (int, frac) = match s.iter().position(|&c| c == b'.') {
            Some(i) => (&s[..i], Some(&s[i + 1..])),
            None if s.contains(&b',') => return Err(AmountError::Comma),
            None => (s, None),
        };
        let digits = |p: &[u8]| !p.is_empty() && p.iter().all(u8::is_ascii_digit);
        if !digits(int) || int.len() > 12 {
            return Err(AmountError::NotANumber);
        }
        let value = |p: &[u8]| p.iter().fold(0i64, |a, c| a * 10 + i64::from(c - b'0'));
        let mut cents = value(int) * 100;
        if let Some(f) = frac {
            if !digits(f) {
                return Err(AmountError::NotANumber);
            }
            match f.len() {
                1 => cents += value(f) * 10,
                2 => cents += value(f),
                _ => return Err(AmountError::TooManyDecimals),
            }
        }
        Ok(Cents(cents))
    }

    /// Appends the amount with two decimals (`-12.34`) to `out`.
    pub fn write_to(self, out: &mut Vec<u8>) {
        if self.0 < 0 {
            out.push(b'-');
        }
        let c = self.0.unsigned_abs();
        let mut buf = itoa::Buffer::new();
        out.extend_from_slice(buf.format(c / 100).as_bytes());
        let frac = (c % 100) as u8;
        out.extend_from_slice(&[b'.', b'0' + frac / 10, b'0' + frac % 10]);
    }
}

fn round(v: Decimal) -> Cents {
    let mut r = v.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    r.rescale(2);
    Cents(
        i64::try_from(r.mantissa()).unwrap_or(if r.is_sign_negative() {
            i64::MIN
        } else {
            i64::MAX
        }),
    )
}

impl fmt::Display for Cents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Total(i128::from(self.0)).fmt(f)
    }
}

impl Add for Cents {
    type Output = Cents;
    fn add(self, o: Cents) -> Cents {
        Cents(self.0 + o.0)
    }
}
impl Sub for Cents {
    type Output = Cents;
    fn sub(self, o: Cents) -> Cents {
        Cents(self.0 - o.0)
    }
}
impl Neg for Cents {
    type Output = Cents;
    fn neg(self) -> Cents {
        Cents(-self.0)
    }
}
impl AddAssign for Cents {
    fn add_assign(&mut self, o: Cents) {
        self.0 += o.0;
    }
}
impl SubAssign for Cents {
    fn sub_assign(&mut self, o: Cents) {
        self.0 -= o.0;
    }
}
impl std::iter::Sum for Cents {
    fn sum<I: Iterator<Item = Cents>>(it: I) -> Cents {
        Cents(it.map(|c| c.0).sum())
    }
}

/// A run-wide euro total in cents: wide enough that no night's sum can overflow.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Debug)]
pub struct Total(pub i128);

impl Total {
    pub fn add(&mut self, c: Cents) {
        self.0 += i128::from(c.0);
    }
}

impl fmt::Display for Total {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let c = self.0.unsigned_abs();
        // Through `pad`, so that `{:>10}` aligns amounts in tables.
        f.pad(&format!("{sign}{}.{:02}", c / 100, c % 100))
    }
}

/// The euro sums of a run's remittance rows (signed: a credit counts negative): kept by the
/// writer, counted again from the written file, and recorded in the ledger's run row.
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
pub struct Sums {
    pub claimed: Total,
    pub paid_basic: Total,
    pub deductible: Total,
    pub paid_supplementary: Total,
    pub member_pays: Total,
}

impl Sums {
    /// Adds one row: claimed, paid basic (of which deductible), paid supplementary, the member's.
    pub fn add(&mut self, claimed: Cents, [basic, deductible, supplementary, member]: [Cents; 4]) {
        self.claimed.add(claimed);
        self.paid_basic.add(basic);
        self.deductible.add(deductible);
        self.paid_supplementary.add(supplementary);
        self.member_pays.add(member);
    }

    /// Adds other sums.
    pub fn merge(&mut self, o: &Sums) {
        for (a, b) in [
            (&mut self.claimed, o.claimed),
            (&mut self.paid_basic, o.paid_basic),
            (&mut self.deductible, o.deductible),
            (&mut self.paid_supplementary, o.paid_supplementary),
            (&mut self.member_pays, o.member_pays),
        ] {
            a.0 += b.0;
        }
    }
}

impl Total {
    /// The total as `i64` cents (the ledger's column type); `None` if it does not fit.
    pub fn to_i64(self) -> Option<i64> {
        i64::try_from(self.0).ok()
    }
}

/// A percentage from 0 to 100 with at most two decimals (`75`, `80.5`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub struct Rate(Decimal);

impl Rate {
    pub const FULL: Rate = Rate(Decimal::ONE_HUNDRED);

    /// Parses a percentage written like an amount; more than 100 is refused.
    pub fn parse(s: &str) -> Result<Rate, String> {
        let c = Cents::parse(s).map_err(|why| format!("percentage {s:?}: {why}"))?;
        if c.0 > 10_000 {
            return Err(format!("percentage {s} is over 100"));
        }
        Ok(Rate(Decimal::new(c.0, 2)))
    }

    pub fn is_full(self) -> bool {
        self.0 == Decimal::ONE_HUNDRED
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.normalize())
    }
}

/// Why an input amount was not accepted.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
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

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Cents {
        Cents::parse(s).unwrap()
    }

    #[test]
    fn amounts_parse_with_dot_and_at_most_two_decimals() {
        assert_eq!(c("26.59"), Cents(2659));
        assert_eq!(c("26.5"), Cents(2650));
        assert_eq!(c("26"), Cents(2600));
        assert_eq!(c("0.05"), Cents(5));
        assert_eq!(Cents::parse("12,50"), Err(AmountError::Comma));
        assert_eq!(Cents::parse("1,250.00"), Err(AmountError::NotANumber));
        assert_eq!(Cents::parse("12.505"), Err(AmountError::TooManyDecimals));
        assert_eq!(Cents::parse("-1.00"), Err(AmountError::Negative));
        assert_eq!(Cents::parse(""), Err(AmountError::Empty));
        assert_eq!(Cents::parse("1e3"), Err(AmountError::NotANumber));
        assert_eq!(Cents::parse(".50"), Err(AmountError::NotANumber));
        assert_eq!(Cents::parse("5."), Err(AmountError::NotANumber));
        assert_eq!(Cents::parse("1234567890123"), Err(AmountError::NotANumber));
    }

    #[test]
    fn rounding_is_half_away_from_zero() {
        let pct = |s| Rate::parse(s).unwrap();
        assert_eq!(Cents(50).percent(pct("25")), Cents(13));
        assert_eq!(Cents(54).percent(pct("25")), Cents(14)); // 0.135 -> 0.14
        assert_eq!(Cents(-50).percent(pct("25")), Cents(-13));
        assert_eq!(Cents(2659).percent(pct("75")), Cents(1994));
        assert_eq!(Cents(50).percent(pct("75")), Cents(38)); // 0.375 -> 0.38
        assert_eq!(Cents(1000).share(1, 3), Cents(333));
        assert_eq!(Cents(1000).share(2, 3), Cents(667));
        assert_eq!(Cents(5).share(1, 2), Cents(3)); // 0.025 -> 0.03
    }

    #[test]
    fn amounts_print_with_two_decimals() {
        for (v, s) in [
            (0, "0.00"),
            (7, "0.07"),
            (700, "7.00"),
            (-1235, "-12.35"),
            (123_456_789, "1234567.89"),
        ] {
            assert_eq!(Cents(v).to_string(), s);
            let mut out = Vec::new();
            Cents(v).write_to(&mut out);
            assert_eq!(out, s.as_bytes());
        }
        assert_eq!(Total(-5).to_string(), "-0.05");
    }

    #[test]
    fn written_amounts_parse_back_with_their_sign() {
        assert_eq!(Cents::parse_signed(b"-26.59"), Ok(Cents(-2659)));
        assert_eq!(Cents::parse_signed(b"0.00"), Ok(Cents(0)));
        assert!(Cents::parse_signed(b"--1.00").is_err());
        assert!(Cents::parse_signed(b"").is_err());
    }

    #[test]
    fn rates_are_percentages_up_to_100() {
        assert!(Rate::parse("100").unwrap().is_full());
        assert!(Rate::parse("100.01").is_err());
        assert_eq!(Rate::parse("80.5").unwrap().to_string(), "80.5");
    }
}
