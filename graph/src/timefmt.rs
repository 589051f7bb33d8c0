//! Timestamp formats found in behaviour logs, all turned into Unix seconds.

use serde::{Deserialize, Serialize};

/// How a time column is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "format")]
pub enum TimeFormat {
    /// Seconds since the Unix epoch.
    UnixSeconds,
    /// `YYYYMMDD`, taken as midnight UTC.
    Yyyymmdd,
    /// `MMDD` with the year given separately, midnight UTC.
    Mmdd {
        /// The year of every date.
        year: i32,
    },
}

/// Days from 1970-01-01 to the given civil date (proleptic Gregorian).
pub fn days_from_civil(year: i32, month: u32, day: u32) -> i64 {
    let y = i64::from(year) - i64::from(month <= 2);
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

fn date_seconds(year: i32, month: u32, day: u32) -> Result<i64, String> {
    if !(1..=12).contains(&month) {
        return Err(format!("month {month} out of range"));
    }
    if day == 0 || day > days_in_month(year, month) {
        return Err(format!("day {day} out of range for {year}-{month:02}"));
    }
    Ok(days_from_civil(year, month, day) * 86_400)
}

fn digits(field: &str) -> Result<u64, String> {
    let field = field.trim();
    if field.is_empty() || !field.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("timestamp {field:?} is not a number"));
    }
    field.parse::<u64>().map_err(|e| format!("timestamp {field:?}: {e}"))
}

impl TimeFormat {
    /// Parses one field into Unix seconds.
    ///
    /// # Errors
    /// Returns a message naming the bad value.
    pub fn parse(self, field: &str) -> Result<i64, String> {
        match self {
            TimeFormat::UnixSeconds => {
                let value = digits(field)?;
                // Up to year 2286; larger values are milliseconds or garbage.
                if value > 9_999_999_999 {
                    return Err(format!("timestamp {value} is too large for Unix seconds"));
                }
                Ok(value as i64)
            }
            TimeFormat::Yyyymmdd => {
                let value = digits(field)?;
                if !(10_000_101..=99_991_231).contains(&value) {
                    return Err(format!("date {value} is not YYYYMMDD"));
                }
                date_seconds((value / 10_000) as i32, ((value / 100) % 100) as u32, (value % 100) as u32)
            }
            TimeFormat::Mmdd { year } => {
                let value = digits(field)?;
                if value > 1231 {
                    return Err(format!("date {value} is not MMDD"));
                }
                date_seconds(year, (value / 100) as u32, (value % 100) as u32)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse_to_unix_seconds() {
        assert_eq!(TimeFormat::UnixSeconds.parse("1511658000"), Ok(1_511_658_000));
        assert_eq!(TimeFormat::Yyyymmdd.parse("20190610"), Ok(1_560_124_800));
        assert_eq!(TimeFormat::Mmdd { year: 2015 }.parse("1111"), Ok(1_447_200_000));
        assert_eq!(TimeFormat::Yyyymmdd.parse("19700101"), Ok(0));
    }

    #[test]
    fn bad_timestamps_are_named() {
        assert!(TimeFormat::Yyyymmdd.parse("20190230").unwrap_err().contains("day 30"));
        assert!(TimeFormat::UnixSeconds.parse("-5").unwrap_err().contains("not a number"));
        assert!(TimeFormat::UnixSeconds.parse("").is_err());
        assert!(TimeFormat::Mmdd { year: 2015 }.parse("1399").is_err());
    }
}
