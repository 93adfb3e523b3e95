//! The pace against the limiters real portals run, over real HTTP: limits
//! advertised in the answers' headers (both forms), fixed and sliding
//! windows, 429s that no limit explains.

use std::time::Duration;

use crate::support::sandbox::{Advertise, RateLimit, Window};
use crate::support::*;

/// Imports `rows` new users with `flags` (`-r 0 -q` and the config, file
/// added): it succeeds and creates every one. What it wrote on stderr.
fn import_all(sb: &Sandbox, rows: usize, flags: &[&str]) -> String {
    let ws = Workspace::new(sb, "random");
    let csv = ws.write("u.csv", users_csv(rows, false));
    let args: Vec<&str> = ["-r", "0", "-q"].iter().chain(flags).copied().collect();
    let out = ws.cmd(&args, &csv).assert().success().get_output().clone();
    assert_eq!(sb.created().len(), rows);
    stderr_of(&out)
}

/// POSTs per second at the sandbox, first arrival to last.
fn post_rate(sb: &Sandbox) -> f64 {
    let at = sb.post_times();
    let span = at.last().unwrap() - at.first().unwrap();
    (at.len() - 1) as f64 / span
}

/// A token bucket of 40/s (burst 5) that says so on every answer: the pool
/// paces from the first answer's headers, so no 429 is needed to learn the
/// limit (the first request goes alone for that), in either form.
#[test]
fn an_advertised_limit_is_paced_without_drawing_429s() {
    for advertise in [Advertise::Fields, Advertise::Structured] {
        let sb = Sandbox::start(SandboxConfig {
            latency: Duration::from_millis(20),
            rate_limit: Some(RateLimit::new(40.0, 5)),
            advertise,
            ..Default::default()
        });
        let stderr = import_all(&sb, 240, &["-c", "32", "-v"]);
        let throttled = sb.count_status(429);
        assert!(throttled <= 3, "{advertise:?}: {throttled} × 429");
        let rate = post_rate(&sb);
        assert!(
            (34.0..=41.0).contains(&rate),
            "{advertise:?}: {rate:.1} POSTs/s under an advertised 40/s"
        );
        assert_has(&stderr, "pace: just under the limit the portal advertises");
    }
}

/// Headers that a 429 contradicts (it came while they said requests
/// remained: here 429s a proxy adds at random) are not the limit that
/// throttles: they are ignored for the rest of the run, and `-v` says so.
#[test]
fn headers_a_429_contradicts_are_distrusted() {
    let sb = Sandbox::start(SandboxConfig {
        rate_limit: Some(RateLimit::new(1000.0, 100)),
        advertise: Advertise::Fields,
        fault_rate: 0.05,
        faults: vec![Fault::Throttle],
        throttle_retry_after: Some("1".into()),
        ..Default::default()
    });
    let stderr = import_all(&sb, 100, &["-c", "8", "-v"]);
    assert_has(
        &stderr,
        "429 although the portal's headers said requests remained",
    );
}

/// No limit at all, and now and then a 429 (`Retry-After: 1`, one request
/// in 50): the unpaced pool pauses for each, and `-v` says they are strays,
/// not a limit. Every row is created once.
#[test]
fn stray_429s_without_a_limit_are_called_strays() {
    let sb = Sandbox::start(SandboxConfig {
        latency: Duration::from_millis(10),
        fault_rate: 0.02,
        faults: vec![Fault::Throttle],
        throttle_retry_after: Some("1".into()),
        ..Default::default()
    });
    let stderr = import_all(&sb, 400, &["-c", "8", "-v"]);
    assert_has(&stderr, "429 that no limit explains");
}

/// A fixed window that advertises itself (`Rack::Attack` with headers
/// added): 30 per 2 s is paced at 15/s from the first answer, without a 429
/// per window.
#[test]
fn an_advertised_fixed_window_is_spread_over_the_window() {
    let sb = Sandbox::start(SandboxConfig {
        latency: Duration::from_millis(20),
        window: Some(Window::Fixed {
            limit: 30,
            period: Duration::from_secs(2),
            retry_after: true,
        }),
        advertise: Advertise::Fields,
        ..Default::default()
    });
    import_all(&sb, 90, &["-c", "16"]);
    let throttled = sb.count_status(429);
    assert!(throttled <= 2, "{throttled} × 429");
    let rate = post_rate(&sb);
    // Never over the advertised rate; the lower bound allows for the other
    // tests sharing two cores (the bench measures the share itself).
    assert!((10.0..=15.5).contains(&rate), "{rate:.1} POSTs/s for 15/s");
}

/// A fixed window that says nothing of itself (`Rack::Attack`, with its
/// `Retry-After` to the boundary, or by default without one): recognised
/// from its 429s, then its quota is spread over each window, and the 429s
/// stop. 40 per 4 s: 10/s.
#[test]
fn a_silent_fixed_window_with_retry_after_is_recognised_and_spread() {
    a_silent_fixed_window_is_recognised_and_spread(true);
}

/// `Rack::Attack`'s default: no `Retry-After`, a `text/plain` body.
#[test]
fn a_silent_fixed_window_without_retry_after_is_recognised_and_spread() {
    a_silent_fixed_window_is_recognised_and_spread(false);
}

/// Each form is its own test, so the two run side by side (each paces 280
/// rows at 10/s: the suite's longest).
fn a_silent_fixed_window_is_recognised_and_spread(retry_after: bool) {
    {
        let sb = Sandbox::start(SandboxConfig {
            latency: Duration::from_millis(20),
            window: Some(Window::Fixed {
                limit: 40,
                period: Duration::from_secs(4),
                retry_after,
            }),
            ..Default::default()
        });
        let rows = 280;
        let stderr = import_all(&sb, rows, &["-c", "16", "-v"]);
        let throttled = sb.count_status(429);
        let at = sb.post_times();
        // The last three windows' worth of rows: paced, no 429 among them.
        let tail = &sb.received()[sb.received().len() - 120..];
        let late_429s = tail.iter().filter(|r| r.status == 429).count();
        let rate = rows as f64 / (at.last().unwrap() - at.first().unwrap());
        eprintln!("retry_after {retry_after}: {rate:.1}/s, {throttled} × 429, {late_429s} late");
        assert_has(&stderr, "429s of a window limiter");
        // The bench holds the full-size runs to the issue's budget; here,
        // twice `-c` + 1% of the rows: the start-up burst, then a few per
        // window until its length is known.
        assert!(throttled <= 2 * (16 + rows / 100), "{throttled} × 429");
        // Once paced, at most one 429 per window over the last three (the
        // run's first windows drew one or more each). Most runs draw none;
        // with the suite's other tests on two cores, a boundary read a
        // little late draws two or three in about one run in four.
        assert!(late_429s <= 3, "{late_429s} × 429 once paced");
        assert!(rate >= 8.0, "{rate:.1}/s for 10/s");
    }
}
