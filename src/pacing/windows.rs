//! Recognising a window limiter from what it does, and its pace.
//!
//! A fixed window (`Rack::Attack`: N per period, the count reset at each
//! boundary) or a sliding one (N in any period) accepts about N at once,
//! then refuses everything until the window reopens: a 429 whose
//! `Retry-After` runs to the boundary (longer than the second a token
//! bucket's next token takes), or, without one, pauses after which nothing
//! at all is accepted (a bucket always has a token again). Once that is
//! seen, the segments that reopened a window each got about N accepted, and
//! they start one window apart: N over that spacing, in whole seconds, is
//! the pace, spread evenly, which no window refuses.
//!
//! Pure logic: time comes in as arguments.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// A `Retry-After` this long is no token bucket's next token.
const WINDOW_RETRY_AFTER: Duration = Duration::from_secs(2);
/// Segments kept.
const KEEP: usize = 24;
/// Subtracted from the spacing of reopenings before it is rounded to whole
/// seconds: between a fixed window's bias (none) and a sliding one's (half
/// a second).
const ROUNDING: f64 = 0.25;
/// A segment that got this share of the most any got was a whole window's.
const FULL: f64 = 0.8;

/// A stretch of sending from the end of a pause (or the start) to the 429
/// that ended it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Closed {
    pub(super) start: Instant,
    /// It began at the end of a 429 pause (not the run's start).
    pub(super) after_pause: bool,
    /// Requests of it accepted before its first 429, and at all (a stray
    /// 429 on the first request after a pause is followed by accepted ones).
    pub(super) accepted_all: u64,
    pub(super) accepted: u64,
    /// The longest `Retry-After` of its 429s.
    pub(super) retry_after: Duration,
    /// From its start to its first 429.
    pub(super) drain: Duration,
}

#[derive(Debug, Default)]
pub(super) struct Windows {
    seen: VecDeque<Closed>,
    /// A window limiter, from what it did.
    window_like: bool,
    /// The quota and the window (seconds) read so far.
    quota: Option<f64>,
    window: Option<f64>,
}

impl Windows {
    /// The pace a recognised window allows: its quota over its length.
    pub(super) fn pace(&self) -> Option<f64> {
        Some(self.quota? / self.window?)
    }

    /// It limits by windows, and a window's quota was seen (its length may
    /// not be known yet).
    pub(super) fn quota_seen(&self) -> Option<f64> {
        if !self.window_like {
            return None;
        }
        let most = self.seen.iter().map(|s| s.accepted).max()?;
        (most > 0).then_some(most as f64)
    }

    #[cfg(test)]
    fn quota_and_window(&self) -> Option<(f64, f64)> {
        Some((self.quota?, self.window?))
    }

    /// A segment a 429 episode closed: what it says of a window.
    pub(super) fn on_closed(&mut self, c: Closed) {
        let emptied = c.after_pause && c.accepted_all == 0;
        self.window_like |= c.retry_after >= WINDOW_RETRY_AFTER || emptied;
        if self.seen.len() == KEEP {
            self.seen.pop_front();
        }
        self.seen.push_back(c);
        if !self.window_like {
            return;
        }
        // A segment longer than a window (paced under it for a while) is no
        // window's count.
        let within = |s: &&Closed| self.window.is_none_or(|w| s.drain.as_secs_f64() <= 1.5 * w);
        let most = self
            .seen
            .iter()
            .filter(within)
            .map(|s| s.accepted)
            .max()
            .unwrap_or(0) as f64;
        if most < 1.0 {
            return;
        }
        let full: Vec<Instant> = self
            .seen
            .iter()
            .filter(within)
            .filter(|s| s.after_pause && s.accepted as f64 >= FULL * most)
            .map(|s| s.start)
            .collect();
        // Successive full segments one window apart: those whose spacing is
        // about the shortest (a longer one spans quiet windows paced under).
        let spacings: Vec<f64> = full
            .windows(2)
            .map(|p| p[1].saturating_duration_since(p[0]).as_secs_f64())
            .filter(|d| *d > 0.0)
            .collect();
        let shortest = spacings.iter().copied().fold(f64::INFINITY, f64::min);
        let one: Vec<f64> = spacings
            .into_iter()
            .filter(|d| *d < 1.5 * shortest)
            .collect();
        if one.is_empty() {
            return;
        }
        let raw = one.iter().sum::<f64>() / one.len() as f64;
        // Windows are whole seconds. A pause ends up to a second after the
        // window reopened (whole-second `Retry-After`s): a fixed window's
        // reopenings are a window apart give or take that, a sliding
        // window's a window and half a second on average.
        let window = if raw >= 1.5 {
            (raw - ROUNDING).round()
        } else {
            raw
        };
        self.quota = Some(most);
        self.window = Some(window);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn closed(t0: Instant, at: f64, accepted: u64, retry_after: u64) -> Closed {
        Closed {
            start: t0 + Duration::from_secs_f64(at),
            after_pause: at > 0.0,
            accepted_all: accepted,
            accepted,
            retry_after: Duration::from_secs(retry_after),
            drain: Duration::from_millis(500),
        }
    }

    /// A stray 429 on the first request after a pause, the others sent
    /// with it accepted: no window (a closed one refuses everything).
    #[test]
    fn a_refused_first_request_is_no_window_when_others_pass() {
        let t0 = Instant::now();
        let mut w = Windows::default();
        w.on_closed(closed(t0, 0.0, 50, 1));
        let mut c = closed(t0, 2.0, 0, 1);
        c.accepted_all = 15;
        w.on_closed(c);
        assert_eq!(w.quota_seen(), None);
        c.accepted_all = 0;
        w.on_closed(c);
        assert_eq!(w.quota_seen(), Some(50.0), "none accepted at all");
    }

    /// 100 per 5 s with `Retry-After` to the boundary: the unpaced start
    /// (mid-window), then two windows reopened about 5 s apart.
    #[test]
    fn a_fixed_window_with_retry_after() {
        let t0 = Instant::now();
        let mut w = Windows::default();
        w.on_closed(closed(t0, 0.0, 100, 3));
        assert_eq!(w.pace(), None, "one window says nothing of its length");
        w.on_closed(closed(t0, 3.4, 100, 4));
        assert_eq!(w.pace(), None);
        w.on_closed(closed(t0, 8.6, 100, 4));
        assert_eq!(w.quota_and_window(), Some((100.0, 5.0)));
        assert_eq!(w.pace(), Some(20.0));
    }

    /// `Rack::Attack`'s default: no `Retry-After` (1 s is assumed), and
    /// pauses after which nothing is accepted until the boundary.
    #[test]
    fn a_fixed_window_without_retry_after() {
        let t0 = Instant::now();
        let mut w = Windows::default();
        w.on_closed(closed(t0, 0.0, 100, 1));
        for at in [1.1, 2.2, 3.3] {
            w.on_closed(closed(t0, at, 0, 1));
        }
        w.on_closed(closed(t0, 4.4, 100, 1));
        for at in [5.5, 6.6, 7.7, 8.8] {
            w.on_closed(closed(t0, at, 0, 1));
        }
        w.on_closed(closed(t0, 9.6, 100, 1));
        assert_eq!(w.quota_and_window(), Some((100.0, 5.0)));
    }

    /// A token bucket (40/s, burst 5) paused a second at a time: something
    /// is always accepted again, and its `Retry-After` is a second. No window.
    #[test]
    fn a_token_bucket_is_no_window() {
        let t0 = Instant::now();
        let mut w = Windows::default();
        for i in 0..10_u32 {
            w.on_closed(closed(t0, f64::from(i) * 1.3, 5 + u64::from(i % 3), 1));
        }
        assert_eq!(w.pace(), None);
    }

    /// Windows paced under for a while: the next full one comes several
    /// windows later, and the known window counts them.
    #[test]
    fn quiet_windows_between_are_counted() {
        let t0 = Instant::now();
        let mut w = Windows::default();
        w.on_closed(closed(t0, 0.0, 60, 2));
        w.on_closed(closed(t0, 1.5, 60, 9));
        w.on_closed(closed(t0, 11.7, 60, 9));
        assert_eq!(w.quota_and_window(), Some((60.0, 10.0)));
        w.on_closed(closed(t0, 51.4, 60, 9));
        assert_eq!(w.quota_and_window(), Some((60.0, 10.0)));
    }
}
