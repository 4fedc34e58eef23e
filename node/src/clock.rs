//! The project's clock: wall-clock timestamps (start times, heartbeats, later labels and
//! `CreateTime`) and monotonic instants. One of the two node modules allowed to read the OS
//! clock. Inside the simulator madsim virtualises `SystemTime`, so the seed controls every
//! timestamp a trace or a SHOW shows.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
        Err(_) => 0,
    }
}

/// A monotonic instant for measuring elapsed time (virtual time in the simulator).
pub fn monotonic() -> tokio::time::Instant {
    tokio::time::Instant::now()
}

/// Time elapsed since `since`.
pub fn elapsed(since: tokio::time::Instant) -> Duration {
    tokio::time::Instant::now().saturating_duration_since(since)
}

/// Formats epoch milliseconds the way Doris shows times: `2024-01-31 23:59:58` (UTC).
pub fn format_datetime(epoch_ms: u64) -> String {
    let secs = epoch_ms / 1000;
    let days = (secs / 86_400) as i64;
    let day_secs = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}", day_secs / 3600, (day_secs % 3600) / 60, day_secs % 60)
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(format_datetime(0), "1970-01-01 00:00:00");
        assert_eq!(format_datetime(951_782_400_000), "2000-02-29 00:00:00");
        assert_eq!(format_datetime(1_706_745_598_000), "2024-01-31 23:59:58");
    }
}
