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

/// A duration as Postgres settings write it: `500ms`, `30s`, `5min`, `2h`,
/// `1d`, or a number of milliseconds. Zero means none (`None`).
pub fn parse_duration(text: &str) -> Result<Option<std::time::Duration>, String> {
    let t = text.trim().trim_matches(|c| c == '\'' || c == '"');
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "ms" => 1,
        "s" | "sec" => 1_000,
        "min" | "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => 0,
    };
    match number.parse::<u64>() {
        Ok(n) if factor > 0 => {
            Ok((n > 0).then(|| std::time::Duration::from_millis(n.saturating_mul(factor))))
        }
        _ => Err(format!(
            "`{text}` is not a duration: use a number with ms, s, min or h, like `30s`"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration("500ms"),
            Ok(Some(Duration::from_millis(500)))
        );
        assert_eq!(parse_duration("30s"), Ok(Some(Duration::from_secs(30))));
        assert_eq!(parse_duration("'5min'"), Ok(Some(Duration::from_secs(300))));
        assert_eq!(parse_duration("2 h"), Ok(Some(Duration::from_secs(7200))));
        assert_eq!(
            parse_duration("1500"),
            Ok(Some(Duration::from_millis(1500)))
        );
        assert_eq!(parse_duration("0"), Ok(None));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("").is_err());
    }
}
