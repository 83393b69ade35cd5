//! "did you mean …?": the closest known name to a misspelt one.

/// The closest of `candidates` to `name`, if one is close enough to be a typo.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(name, c), c))
        .filter(|(d, c)| *d <= (c.len().max(name.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// "did you mean `x`?" when one candidate is close.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    closest(name, candidates).map(|c| format!("did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_are_matched_and_strangers_are_not() {
        let names = ["daily_revenue", "stg_orders", "stg_users"];
        assert_eq!(closest("daily_revnue", names), Some("daily_revenue"));
        assert_eq!(closest("stg_order", names), Some("stg_orders"));
        assert_eq!(closest("cohorts", names), None);
        assert_eq!(
            did_you_mean("stg_user", names).as_deref(),
            Some("did you mean `stg_users`?")
        );
    }
}
