//! Calendar dates as `yyyymmdd` numbers: ordering is numeric ordering, and a date is 4 bytes.

use std::fmt;

/// A calendar date stored as `yyyymmdd`, so ordering is numeric ordering.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct Date(u32);

impl Date {
    /// The last representable date, 9999-12-31.
    pub const MAX: Date = Date(99_991_231);

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

    /// Days since 1970-01-01 (Howard Hinnant's `days_from_civil`), the inverse of
    /// [`Date::from_days_since_epoch`].
    pub fn days_since_epoch(self) -> i64 {
        let (y, m, d) = (
            i64::from(self.year()),
            i64::from(self.month()),
            i64::from(self.day()),
        );
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn epoch_days_convert_both_ways() {
        assert_eq!(Date::from_days_since_epoch(0).to_string(), "1970-01-01");
        assert_eq!(
            Date::from_days_since_epoch(19_782).to_string(),
            "2024-02-29"
        );
        for d in [0i64, 1, 19_782, 20_000, -5000, 2_932_896] {
            assert_eq!(Date::from_days_since_epoch(d).days_since_epoch(), d);
        }
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
}
