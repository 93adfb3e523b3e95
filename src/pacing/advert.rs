//! What an answer's headers say of the portal's rate limit: a pure parser.
//!
//! Read, in this order of preference, each field filling what the ones
//! before left open:
//!
//! - the IETF httpapi draft's structured form: `RateLimit-Policy:
//!   "default";q=100;w=60` (quota `q` per window of `w` seconds) and
//!   `RateLimit: "default";r=50;t=30` (`r` remaining, reset in `t` seconds);
//! - its older separate fields: `RateLimit-Limit: 100`, `RateLimit-Remaining:
//!   50`, `RateLimit-Reset: 30` (seconds), and `RateLimit-Policy: 100;w=60`
//!   (also as members of `RateLimit-Limit: 100, 100;w=60`);
//! - the common `X-RateLimit-Limit`, `X-RateLimit-Remaining` and
//!   `X-RateLimit-Reset`, whose reset is seconds from now or a Unix time (in
//!   seconds or milliseconds), or an HTTP date.
//!
//! Several policies (`10;w=1, 500;w=60`): the one the `RateLimit` field
//! names, else the one of the lowest rate, which is the one a long run meets.
//! The values come from the portal: anything unreadable, negative or absurd
//! is left out, never guessed.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// No quota, count or window beyond these is believed.
const MOST: f64 = 1e9;
/// A window or reset longer than a day is not one a run paces for.
const LONGEST: f64 = 86_400.0;
/// An `X-RateLimit-Reset` this large is a Unix time in seconds; larger
/// still, in milliseconds (no one resets in 30 years).
const UNIX_SECONDS: f64 = 1e9;
const UNIX_MILLIS: f64 = 1e12;

/// What one answer advertises.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct Advert {
    /// Requests allowed per window (the quota).
    pub(crate) limit: Option<f64>,
    /// How many of them are left in the current window.
    pub(crate) remaining: Option<f64>,
    /// Until the quota is restored.
    pub(crate) reset: Option<Duration>,
    /// The window's length, when a policy gives it.
    pub(crate) window: Option<Duration>,
}

impl Advert {
    /// The long-run rate it allows, per second: the quota over the window.
    #[cfg(test)]
    fn rate(&self) -> Option<f64> {
        let w = self.window?.as_secs_f64();
        Some(self.limit? / w).filter(|r| r.is_finite() && *r > 0.0)
    }

    fn is_empty(&self) -> bool {
        *self == Advert::default()
    }
}

/// One quota policy: `q` requests per `w` seconds, maybe named.
#[derive(Debug, Clone, PartialEq)]
struct Policy {
    name: Option<String>,
    quota: f64,
    window: f64,
}

/// Reads the rate-limit fields of an answer; `header` gives a field's value
/// by its (case-insensitive) name. `None` when it advertises nothing.
pub(crate) fn read(header: &dyn Fn(&str) -> Option<String>, now: SystemTime) -> Option<Advert> {
    let mut policies = Vec::new();
    if let Some(v) = header("ratelimit-policy") {
        policies.extend(members(&v).iter().filter_map(policy));
    }
    let old_limit = header("ratelimit-limit").map(|v| members(&v));
    if let Some(ms) = &old_limit {
        policies.extend(ms.iter().filter_map(policy));
    }
    let mut a = Advert::default();
    // The structured `RateLimit`: the member closest to running out.
    let current = header("ratelimit").and_then(|v| {
        members(&v)
            .into_iter()
            .filter(|m| m.param("r").is_some())
            .min_by(|x, y| {
                let r = |m: &Member| m.param("r").unwrap_or(f64::MAX);
                r(x).total_cmp(&r(y))
            })
    });
    let chosen = current
        .as_ref()
        .and_then(|m| {
            let name = m.name()?;
            policies.iter().find(|p| p.name.as_deref() == Some(name))
        })
        .or_else(|| {
            policies
                .iter()
                .min_by(|x, y| (x.quota / x.window).total_cmp(&(y.quota / y.window)))
        });
    if let Some(m) = &current {
        a.remaining = m.param("r").and_then(count);
        a.reset = m.param("t").and_then(seconds);
    }
    if let Some(p) = chosen {
        a.limit = Some(p.quota);
        a.window = Some(Duration::from_secs_f64(p.window));
    }
    // The older separate fields.
    if let Some(ms) = &old_limit {
        fill(
            &mut a.limit,
            ms.first().and_then(|m| number(&m.item)).and_then(count),
        );
    }
    fill(
        &mut a.remaining,
        first_number(header("ratelimit-remaining")).and_then(count),
    );
    fill(
        &mut a.reset,
        first_number(header("ratelimit-reset")).and_then(seconds),
    );
    // The `X-` fields.
    fill(
        &mut a.limit,
        first_number(header("x-ratelimit-limit")).and_then(count),
    );
    fill(
        &mut a.remaining,
        first_number(header("x-ratelimit-remaining")).and_then(count),
    );
    fill(
        &mut a.reset,
        header("x-ratelimit-reset").and_then(|v| reset_at(&v, now)),
    );
    (!a.is_empty()).then_some(a)
}

fn fill<T>(slot: &mut Option<T>, value: Option<T>) {
    if slot.is_none() {
        *slot = value;
    }
}

/// A member that is a quota policy: `"name";q=100;w=60`, or `100;w=60`.
fn policy(m: &Member) -> Option<Policy> {
    let window = m.param("w").filter(|w| *w > 0.0 && *w <= LONGEST)?;
    let quota = m.param("q").or_else(|| number(&m.item)).and_then(count)?;
    (quota > 0.0).then(|| Policy {
        name: m.name().map(str::to_owned),
        quota,
        window,
    })
}

/// A count of requests: whole, not negative, not absurd.
fn count(n: f64) -> Option<f64> {
    (0.0..=MOST).contains(&n).then_some(n.floor())
}

/// Seconds from now: not negative, at most a day.
fn seconds(n: f64) -> Option<Duration> {
    (n >= 0.0).then(|| Duration::from_secs_f64(n.min(LONGEST)))
}

/// `X-RateLimit-Reset`: seconds from now, a Unix time (seconds or
/// milliseconds; one in the past is now), or an HTTP date.
fn reset_at(v: &str, now: SystemTime) -> Option<Duration> {
    let v = v.trim();
    let Some(n) = first_number(Some(v.to_owned())) else {
        let at = httpdate::parse_http_date(v).ok()?;
        return Some(
            at.duration_since(now)
                .unwrap_or_default()
                .min(Duration::from_secs(86_400)),
        );
    };
    let unix = if n >= UNIX_MILLIS {
        n / 1000.0
    } else if n >= UNIX_SECONDS {
        n
    } else {
        return seconds(n);
    };
    let since = now.duration_since(UNIX_EPOCH).ok()?.as_secs_f64();
    seconds((unix - since).max(0.0))
}

/// The number a field starts with (`100`, `100, 100;w=60`, ` 7.5 `).
fn first_number(v: Option<String>) -> Option<f64> {
    let v = v?;
    let first = members(&v).into_iter().next()?;
    number(&first.item)
}

/// A plain decimal number (no sign, exponent, `inf` or `NaN`).
fn number(s: &str) -> Option<f64> {
    let s = s.trim();
    let digits = !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && s.bytes().filter(|b| *b == b'.').count() <= 1
        && s.bytes().any(|b| b.is_ascii_digit());
    digits.then(|| s.parse().ok()).flatten()
}

/// One member of a structured-field list: an item and its parameters.
#[derive(Debug, PartialEq)]
struct Member {
    /// The item, a string's quotes removed.
    item: String,
    quoted: bool,
    /// `key=value` parameters, keys lower-cased, values unquoted.
    params: Vec<(String, String)>,
}

impl Member {
    /// A numeric parameter.
    fn param(&self, key: &str) -> Option<f64> {
        let (_, v) = self.params.iter().find(|(k, _)| k == key)?;
        number(v)
    }

    /// The policy's name: a string or token item, not a number.
    fn name(&self) -> Option<&str> {
        (self.quoted || number(&self.item).is_none()).then_some(self.item.as_str())
    }
}

/// The members of a list field (RFC 9651, leniently: what real servers send).
fn members(v: &str) -> Vec<Member> {
    split_outside_quotes(v, ',')
        .into_iter()
        .filter(|m| !m.trim().is_empty())
        .map(|m| {
            let mut parts = split_outside_quotes(m, ';').into_iter();
            let (item, quoted) = unquote(parts.next().unwrap_or_default());
            let params = parts
                .filter_map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, "?1"));
                    let k = k.trim().to_ascii_lowercase();
                    (!k.is_empty()).then(|| (k, unquote(v).0))
                })
                .collect();
            Member {
                item,
                quoted,
                params,
            }
        })
        .collect()
}

fn unquote(s: &str) -> (String, bool) {
    let s = s.trim();
    match s.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        Some(inner) => (inner.replace("\\\"", "\"").replace("\\\\", "\\"), true),
        None => (s.to_owned(), false),
    }
}

/// `v` split at `sep` where it is not inside a quoted string.
fn split_outside_quotes(v: &str, sep: char) -> Vec<&str> {
    let (mut out, mut start, mut quoted, mut escaped) = (Vec::new(), 0, false, false);
    for (i, c) in v.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                out.push(&v[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    out.push(&v[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixed "now": 2026-01-01T00:00:00Z.
    const NOW: u64 = 1_767_225_600;

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(NOW)
    }

    fn parse(fields: &[(&str, &str)]) -> Option<Advert> {
        let get = |name: &str| {
            fields
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| (*v).to_owned())
        };
        read(&get, now())
    }

    #[allow(clippy::unnecessary_wraps)] // compared with the fields
    fn secs(s: f64) -> Option<Duration> {
        Some(Duration::from_secs_f64(s))
    }

    #[test]
    fn nothing_advertised_is_none() {
        assert_eq!(parse(&[]), None);
        assert_eq!(parse(&[("Retry-After", "1")]), None);
        assert_eq!(parse(&[("RateLimit-Limit", "lots")]), None);
    }

    #[test]
    fn the_older_separate_fields() {
        let a = parse(&[
            ("RateLimit-Limit", "100"),
            ("RateLimit-Remaining", "42"),
            ("RateLimit-Reset", "3"),
            ("RateLimit-Policy", "100;w=5"),
        ])
        .unwrap();
        assert_eq!(
            a,
            Advert {
                limit: Some(100.0),
                remaining: Some(42.0),
                reset: secs(3.0),
                window: secs(5.0),
            }
        );
        assert_eq!(a.rate(), Some(20.0));
        // Without a policy: no window, so no rate yet.
        let a = parse(&[("ratelimit-limit", "100"), ("ratelimit-remaining", "0")]).unwrap();
        assert_eq!(
            (a.limit, a.remaining, a.window),
            (Some(100.0), Some(0.0), None)
        );
        assert_eq!(a.rate(), None);
    }

    /// Draft 01–02 carried the policies in `RateLimit-Limit` itself.
    #[test]
    fn policies_inside_the_limit_field() {
        let a = parse(&[("RateLimit-Limit", "10, 10;w=1, 50;w=60")]).unwrap();
        // The lowest rate is the one a long run meets: 50 a minute.
        assert_eq!((a.limit, a.window), (Some(50.0), secs(60.0)));
        assert!((a.rate().unwrap() - 50.0 / 60.0).abs() < 1e-9);
    }

    #[test]
    fn the_structured_fields() {
        let a = parse(&[
            (
                "RateLimit-Policy",
                r#""burst";q=100;w=60, "daily";q=1000;w=86400"#,
            ),
            ("RateLimit", r#""burst";r=12;t=7"#),
        ])
        .unwrap();
        assert_eq!(
            a,
            Advert {
                limit: Some(100.0),
                remaining: Some(12.0),
                reset: secs(7.0),
                window: secs(60.0),
            }
        );
        // Unnamed in `RateLimit`: the lowest rate (daily) is the one paced for.
        let a = parse(&[
            (
                "RateLimit-Policy",
                r#""burst";q=100;w=60, "daily";q=1000;w=86400"#,
            ),
            ("RateLimit", "r=3;t=1"),
        ]);
        assert_eq!(a.unwrap().window, secs(86_400.0));
        // Tokens as names, extra parameters, odd spacing and case.
        let a = parse(&[
            ("ratelimit-policy", "bucket ; Q=40 ; w=1 ; pk=:abc=:"),
            ("ratelimit", " bucket;r=4;t=1 "),
        ])
        .unwrap();
        assert_eq!(a.rate(), Some(40.0));
        assert_eq!(a.remaining, Some(4.0));
        // Several members in `RateLimit`: the one closest to running out.
        let a = parse(&[("RateLimit", r#""a";r=50;t=30, "b";r=2;t=4"#)]).unwrap();
        assert_eq!((a.remaining, a.reset), (Some(2.0), secs(4.0)));
    }

    #[test]
    fn quoted_names_may_hold_separators() {
        let a = parse(&[
            ("RateLimit-Policy", r#""a,b;c";q=10;w=2, "other";q=1;w=1"#),
            ("RateLimit", r#""a,b;c";r=9;t=2"#),
        ])
        .unwrap();
        assert_eq!(a.rate(), Some(5.0));
    }

    #[test]
    fn the_x_fields_with_each_kind_of_reset() {
        let x = |reset: &str| {
            parse(&[
                ("X-RateLimit-Limit", "60"),
                ("X-RateLimit-Remaining", "59"),
                ("X-RateLimit-Reset", reset),
            ])
            .unwrap()
        };
        assert_eq!(x("30").reset, secs(30.0));
        assert_eq!(x("0.5").reset, secs(0.5));
        assert_eq!(x(&(NOW + 45).to_string()).reset, secs(45.0));
        assert_eq!(x(&((NOW + 2) * 1000 + 500).to_string()).reset, secs(2.5));
        assert_eq!(x(&(NOW - 10).to_string()).reset, secs(0.0), "already past");
        let date = httpdate::fmt_http_date(now() + Duration::from_secs(9));
        assert_eq!(x(&date).reset, secs(9.0));
        let a = x("30");
        assert_eq!(
            (a.limit, a.remaining, a.window),
            (Some(60.0), Some(59.0), None)
        );
    }

    /// Both kinds on one answer: the `RateLimit` fields win, the `X-` ones
    /// fill what they leave open.
    #[test]
    fn the_standard_fields_come_first() {
        let a = parse(&[
            ("RateLimit-Limit", "100"),
            ("RateLimit-Policy", "100;w=5"),
            ("X-RateLimit-Limit", "7"),
            ("X-RateLimit-Remaining", "3"),
            ("X-RateLimit-Reset", "2"),
        ])
        .unwrap();
        assert_eq!(a.limit, Some(100.0));
        assert_eq!((a.remaining, a.reset), (Some(3.0), secs(2.0)));
    }

    #[test]
    fn absurd_values_are_left_out() {
        for bad in [
            "-1",
            "1e9999",
            "NaN",
            "inf",
            "",
            "1.2.3",
            "0x10",
            "+5",
            "9999999999999",
        ] {
            let a = parse(&[
                ("RateLimit-Limit", bad),
                ("RateLimit-Remaining", bad),
                ("RateLimit-Policy", &format!("{bad};w={bad}")),
            ]);
            assert!(
                a.is_none_or(|a| a.limit.is_none() && a.remaining.is_none() && a.window.is_none()),
                "{bad}: {a:?}"
            );
        }
        // A window of zero or beyond a day, a quota of zero: no policy.
        for p in ["10;w=0", "10;w=100000", "0;w=5", r#""x";q=0;w=5"#] {
            assert_eq!(parse(&[("RateLimit-Policy", p)]), None, "{p}");
        }
        // A reset of a year is read as a day.
        let a = parse(&[("RateLimit-Reset", "31536000")]).unwrap();
        assert_eq!(a.reset, secs(86_400.0));
        // Fractions of a request are whole requests.
        let a = parse(&[("RateLimit-Remaining", "2.7")]).unwrap();
        assert_eq!(a.remaining, Some(2.0));
    }

    #[test]
    fn unterminated_quotes_and_stray_separators_do_not_panic() {
        for v in [r#""abc"#, r#"";;;,,,"#, r"\", ";w=5", "=", ",;=\"", "é;w=1"] {
            let _ = parse(&[
                ("RateLimit-Policy", v),
                ("RateLimit", v),
                ("RateLimit-Limit", v),
            ]);
        }
    }
}
