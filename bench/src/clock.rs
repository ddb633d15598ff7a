//! The wall clock in UTC as a run names it: its directory (`20261208-012345`) and its
//! record's date (`2026-12-08 01:23 UTC`), without a time-zone library.

use std::time::{SystemTime, UNIX_EPOCH};

/// (year, month, day, hour, minute, second) of `secs` since the epoch, UTC.
fn civil(secs: u64) -> (i64, u32, u32, u64, u64, u64) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, rem / 3600, rem % 3600 / 60, rem % 60)
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `2026-12-08 01:23 UTC`.
pub fn utc_minute() -> String {
    minute_of(now())
}

fn minute_of(secs: u64) -> String {
    let (y, mo, d, h, mi, _) = civil(secs);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02} UTC")
}

/// `20261208-012345`: a run's directory under results/.
pub fn run_dir_name() -> String {
    dir_name_of(now())
}

fn dir_name_of(secs: u64) -> String {
    let (y, mo, d, h, mi, s) = civil(secs);
    format!("{y:04}{mo:02}{d:02}-{h:02}{mi:02}{s:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_calendar_dates() {
        assert_eq!(minute_of(0), "1970-01-01 00:00 UTC");
        // `date -u -d @1796700000`: Tue Dec  8 03:20:00 UTC 2026 (and 7 s more for the directory).
        assert_eq!(minute_of(1_796_700_000), "2026-12-08 03:20 UTC");
        assert_eq!(dir_name_of(1_796_700_007), "20261208-032007");
        // A leap day.
        assert_eq!(minute_of(951_782_400), "2000-02-29 00:00 UTC");
    }
}
