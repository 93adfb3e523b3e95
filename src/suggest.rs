//! "Did you mean …?" for a name the user mistyped (config keys, CSV columns, time zones).

/// The known name closest to `given`, when it is close enough to be a likely typo.
pub(crate) fn closest<'a>(
    given: &str,
    known: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let given = given.trim().to_lowercase();
    known
        .into_iter()
        .map(|k| (k, strsim::jaro_winkler(&given, &k.to_lowercase())))
        .filter(|(_, score)| *score >= 0.8)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(k, _)| k)
}

/// ` (did you mean "x"?)`, or nothing.
pub(crate) fn did_you_mean<'a>(given: &str, known: impl IntoIterator<Item = &'a str>) -> String {
    closest(given, known)
        .map(|k| format!(" (did you mean \"{k}\"?)"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_typos_and_ignores_unrelated_names() {
        let known = ["first_name", "last_name", "email"];
        assert_eq!(closest("frist_name", known), Some("first_name"));
        assert_eq!(closest("E-mail", known), Some("email"));
        assert_eq!(closest("department", known), None);
        assert_eq!(did_you_mean("emial", known), " (did you mean \"email\"?)");
    }
}
