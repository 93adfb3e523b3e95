//! The time zone names the portal accepts (Rails' `ActiveSupport::TimeZone`
//! names), embedded from `rails_time_zones.tsv`.

use std::sync::LazyLock;

const TSV: &str = include_str!("rails_time_zones.tsv");

static NAMES: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    TSV.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split('\t').next())
        .map(str::trim)
        .collect()
});

/// All accepted names, in the file's order.
pub fn names() -> &'static [&'static str] {
    &NAMES
}

/// The canonical spelling of `given` (case-insensitive), if the portal accepts it.
pub fn canonical(given: &str) -> Option<&'static str> {
    let given = given.trim();
    NAMES
        .iter()
        .copied()
        .find(|n| n.eq_ignore_ascii_case(given))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embeds_the_whole_list() {
        assert_eq!(names().len(), 152);
        assert_eq!(names()[0], "International Date Line West");
        assert!(names().contains(&"Eastern Time (US & Canada)"));
        assert!(names().contains(&"Kyev"));
    }

    #[test]
    fn matches_case_insensitively_and_returns_canonical() {
        assert_eq!(
            canonical("eastern time (us & canada)"),
            Some("Eastern Time (US & Canada)")
        );
        assert_eq!(canonical(" PARIS "), Some("Paris"));
        assert_eq!(canonical("Europe/Paris"), None);
        assert_eq!(canonical("Pariss"), None);
    }
}
