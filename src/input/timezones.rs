//! The time zone names the portal accepts (Rails' `ActiveSupport::TimeZone`
//! names), embedded from `rails_time_zones.tsv`.

use std::sync::LazyLock;

const TSV: &str = include_str!("rails_time_zones.tsv");

static NAMES: LazyLock<Vec<&'static str>> =
    LazyLock::new(|| ZONES.iter().map(|(name, _)| *name).collect());

/// `(Rails name, IANA zone)` for every line of the file.
static ZONES: LazyLock<Vec<(&'static str, &'static str)>> = LazyLock::new(|| {
    TSV.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let mut cols = l.split('\t');
            Some((cols.next()?.trim(), cols.next().unwrap_or("").trim()))
        })
        .collect()
});

/// ` (did you mean "…"?)` for a time zone the portal does not know, or nothing.
///
/// An IANA name (`America/New_York`, what most systems use) gets the Rails
/// name that stands for it; another `Area/City` is matched on its city, so
/// `America/Toronto` is not taken for "American Samoa".
pub(crate) fn did_you_mean(given: &str) -> String {
    let given = given.trim();
    let Some((_, city)) = given.rsplit_once('/') else {
        return crate::suggest::did_you_mean(given, names().iter().copied());
    };
    let city = city.replace('_', " ");
    let same_zone: Vec<&str> = ZONES
        .iter()
        .filter(|(_, iana)| iana.eq_ignore_ascii_case(given))
        .map(|(name, _)| *name)
        .collect();
    let pick = same_zone
        .iter()
        .find(|n| n.to_lowercase().contains(&city.to_lowercase()))
        .or(same_zone.first())
        .copied()
        .or_else(|| crate::suggest::closest(&city, names().iter().copied()));
    pick.map(|k| format!(" (did you mean \"{k}\"?)"))
        .unwrap_or_default()
}

/// All accepted names, in the file's order.
pub(crate) fn names() -> &'static [&'static str] {
    &NAMES
}

/// The canonical spelling of `given` (case-insensitive), if the portal accepts it.
pub(crate) fn canonical(given: &str) -> Option<&'static str> {
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

    #[test]
    fn suggests_the_rails_name_of_an_iana_zone() {
        let cases = [
            ("America/New_York", "Eastern Time (US & Canada)"),
            ("europe/paris", "Paris"),
            ("Europe/London", "London"),
            ("Pacific/Midway", "Midway Island"),
            ("Asia/Kolkata", "Kolkata"),
            ("Etc/UTC", "UTC"),
            ("America/Mexico_City", "Mexico City"),
            ("Pariss", "Paris"),
            ("Eastern Time", "Eastern Time (US & Canada)"),
        ];
        for (given, want) in cases {
            assert_eq!(
                did_you_mean(given),
                format!(" (did you mean \"{want}\"?)"),
                "{given}"
            );
        }
        assert_eq!(did_you_mean("America/Toronto"), "");
        assert_eq!(did_you_mean("Mars/Olympus"), "");
        assert_eq!(did_you_mean("/"), "");
    }
}
