//! Numbers and durations as people read them: `1,234,567`, `1m32s`.

use std::time::Duration;

use crate::pacing::MAX_RETRY_AFTER;

/// `1,234,567`
pub(crate) fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A wait the portal asked for: as [`duration`], or "a day or more" when
/// its `Retry-After` was at the cap.
pub(crate) fn wait(d: Duration) -> String {
    if d >= MAX_RETRY_AFTER {
        "a day or more".into()
    } else {
        duration(d)
    }
}

/// `0.4s`, `12.3s`, `1m32s`, `2h05m10s`
pub(crate) fn duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs < 60 {
        format!("{:.1}s", d.as_secs_f64())
    } else if secs < 3600 {
        format!("{}m{:02}s", secs / 60, secs % 60)
    } else {
        format!(
            "{}h{:02}m{:02}s",
            secs / 3600,
            (secs % 3600) / 60,
            secs % 60
        )
    }
}

/// `s` when `n` is not one: `format!("{n} row{}", plural(n))`.
pub(crate) fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(duration(Duration::from_millis(420)), "0.4s");
        assert_eq!(duration(Duration::from_secs(92)), "1m32s");
        assert_eq!(duration(Duration::from_secs(3725)), "1h02m05s");
        assert_eq!(wait(Duration::from_secs(86_400)), "a day or more");
        assert_eq!(plural(1), "");
        assert_eq!(plural(2), "s");
    }
}
