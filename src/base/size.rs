//! Sizes as people write them: `2GiB`, `512MiB`, `1.5GB`.

/// A size in bytes: `2GiB`, `512MiB`, `64KiB`, `2G`, `1.5GB`, or a number of bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => {
            return Err(format!(
                "`{text}` is not a size: use a number with KiB, MiB or GiB, like `2GiB`"
            ));
        }
    };
    match number.parse::<f64>() {
        Ok(n) if n > 0.0 => Ok((n * factor as f64) as u64),
        _ => Err(format!(
            "`{text}` is not a size: use a number with KiB, MiB or GiB, like `2GiB`"
        )),
    }
}

/// A size that may be zero, which turns off what it sizes.
pub fn parse_size_or_zero(text: &str) -> Result<u64, String> {
    match text.trim() {
        "0" => Ok(0),
        _ => parse_size(text),
    }
}

/// A size for people: `1.5 GiB`, `312.0 KiB`, `80 B`.
pub fn show_size(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_size, parse_size_or_zero, show_size};

    #[test]
    fn sizes() {
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("512 MiB"), Ok(512 << 20));
        assert_eq!(parse_size("1.5GB"), Ok(3 << 29));
        assert_eq!(parse_size("64k"), Ok(64 << 10));
        assert_eq!(parse_size("100"), Ok(100));
        assert!(parse_size("0").is_err());
        assert!(parse_size("2 lots").is_err());
        assert!(parse_size("").is_err());
        assert_eq!(parse_size_or_zero("0"), Ok(0));
        assert_eq!(parse_size_or_zero("1KiB"), Ok(1024));
        assert_eq!(show_size(3 << 29), "1.5 GiB");
        assert_eq!(show_size(80), "80 B");
    }
}
