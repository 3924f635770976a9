//! The wall clock, in the units records and tokens use.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Seconds since the Unix epoch.
pub fn unix_secs() -> i64 {
    (unix_ms() / 1000) as i64
}

/// A Unix time in seconds as people read it in a message: `2026-12-02 15:40 UTC`.
pub fn utc_text(secs: i64) -> String {
    let t = UNIX_EPOCH + std::time::Duration::from_secs(secs.max(0) as u64);
    // RFC 3339 to the second (`2026-12-02T15:40:00Z`), shortened to the minute.
    let full = humantime::format_rfc3339_seconds(t).to_string();
    format!("{} {} UTC", &full[..10], &full[11..16])
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_text_is_to_the_minute() {
        assert_eq!(super::utc_text(1_796_226_000), "2026-12-02 15:40 UTC");
    }
}
