//! Names of sources, models and columns.

/// Is `name` a valid identifier for a source, model or column (case-insensitive)?
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::is_identifier;

    #[test]
    fn identifiers() {
        assert!(is_identifier("_a1"));
        assert!(is_identifier("Daily_Revenue"));
        assert!(!is_identifier("../x"));
        assert!(!is_identifier("1a"));
        assert!(!is_identifier(""));
    }
}
