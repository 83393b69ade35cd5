//! Times as `mart` writes them.

use std::time::{SystemTime, UNIX_EPOCH};

use datafusion::arrow::temporal_conversions::timestamp_ms_to_datetime;

/// `2026-11-26T15:45:10.123Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let ms = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    timestamp_ms_to_datetime(ms)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

/// A name that sorts by time and is unique across processes: nanoseconds
/// since the epoch and the process id.
pub fn stamp() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{nanos:020}-{}", std::process::id())
}
