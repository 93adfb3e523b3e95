//! Pacing from what the portal advertises ([`Advert`]): its quota over its
//! window is the pace, a little under; a quota the requests in flight will
//! spend holds the pool until it is restored; a 429 the headers contradict
//! (one that says requests remain) makes them distrusted for the rest of the
//! run, and the adaptive controller paces alone.
//!
//! Pure logic: time comes in as arguments.

use std::time::Duration;

use tokio::time::Instant;

use super::advert::Advert;

/// Pace this far under the advertised rate at first: a request may reach
/// the portal a few milliseconds early.
const MARGIN: f64 = 0.01;
/// Each 429 the headers agree with (none remained) doubles the margin, up
/// to this.
const MAX_MARGIN: f64 = 0.08;
/// A window no policy names is the longest reset seen, once it is this long.
const SHORTEST_WINDOW: f64 = 0.5;

/// Whether the headers are believed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trust {
    /// Nothing advertised yet.
    Unknown,
    Trusted,
    /// A 429 came while they said requests remained.
    Distrusted,
}

/// What happened to the advertised pace at an answer (logged with `-v`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Event {
    /// A 429 said requests remained: the headers are ignored from now on.
    Contradicted { remaining: f64 },
    /// A 429 with none remaining: the pace goes further under.
    Overshot { margin: f64 },
    /// The quota is spent by what is in flight: nothing goes until the reset.
    Hold { until: Duration },
}

#[derive(Debug)]
pub(crate) struct Advertised {
    trust: Trust,
    /// The quota and its window, from the latest answer that named them.
    limit: Option<f64>,
    window: Option<f64>,
    /// The longest reset seen: the window, when no policy names it.
    longest_reset: f64,
    margin: f64,
    hold_until: Option<Instant>,
}

impl Default for Advertised {
    fn default() -> Self {
        Advertised {
            trust: Trust::Unknown,
            limit: None,
            window: None,
            longest_reset: 0.0,
            margin: MARGIN,
            hold_until: None,
        }
    }
}

impl Advertised {
    #[cfg(test)]
    fn trust(&self) -> Trust {
        self.trust
    }

    /// The long-run rate the portal advertises (quota over window), while
    /// believed.
    pub(crate) fn advertised(&self) -> Option<f64> {
        if self.trust != Trust::Trusted {
            return None;
        }
        let limit = self.limit?;
        let window = self.window.or_else(|| {
            // Resets in whole seconds count down from the window's length.
            let w = if self.longest_reset >= 1.0 {
                self.longest_reset.ceil()
            } else {
                self.longest_reset
            };
            (w >= SHORTEST_WINDOW).then_some(w)
        })?;
        Some(limit / window).filter(|r| r.is_finite() && *r > 0.0)
    }

    /// The pace: a little under the advertised rate.
    pub(crate) fn pace(&self) -> Option<f64> {
        self.advertised().map(|r| r * (1.0 - self.margin))
    }

    /// Until when nothing may go: the quota is spent until its reset.
    pub(crate) fn hold_until(&self, now: Instant) -> Option<Instant> {
        self.hold_until.filter(|t| *t > now)
    }

    /// An answer to a paced request, after which `sent_since` more were sent
    /// (in flight, or answered already: either way they count against what
    /// it said remained). `throttled`: it was a 429.
    pub(crate) fn on_answer(
        &mut self,
        advert: Option<&Advert>,
        throttled: bool,
        sent_since: u64,
        now: Instant,
    ) -> Option<Event> {
        if self.trust == Trust::Distrusted {
            return None;
        }
        let a = advert?;
        if throttled && let Some(remaining) = a.remaining.filter(|r| *r > 0.0) {
            self.trust = Trust::Distrusted;
            self.hold_until = None;
            return Some(Event::Contradicted { remaining });
        }
        self.trust = Trust::Trusted;
        if let (Some(limit), Some(window)) = (a.limit, a.window) {
            self.limit = Some(limit);
            self.window = Some(window.as_secs_f64());
        } else if let Some(limit) = a.limit {
            self.limit = Some(limit);
        }
        if let Some(reset) = a.reset {
            self.longest_reset = self.longest_reset.max(reset.as_secs_f64());
        }
        if throttled && self.pace().is_some() {
            self.margin = (self.margin * 2.0).min(MAX_MARGIN);
            return Some(Event::Overshot {
                margin: self.margin,
            });
        }
        let (Some(remaining), Some(reset)) = (a.remaining, a.reset) else {
            return None;
        };
        let spent = remaining <= sent_since as f64;
        if spent && !reset.is_zero() {
            let until = now + reset;
            if self.hold_until.is_none_or(|t| t < until) {
                self.hold_until = Some(until);
                return Some(Event::Hold { until: reset });
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn advert(limit: f64, remaining: f64, reset: u64, window: Option<u64>) -> Advert {
        Advert {
            limit: Some(limit),
            remaining: Some(remaining),
            reset: Some(Duration::from_secs(reset)),
            window: window.map(Duration::from_secs),
        }
    }

    #[test]
    fn a_policy_gives_the_pace_at_once() {
        let now = Instant::now();
        let mut a = Advertised::default();
        assert_eq!(a.pace(), None);
        assert_eq!(
            a.on_answer(Some(&advert(100.0, 99.0, 5, Some(5))), false, 0, now),
            None
        );
        assert_eq!(a.advertised(), Some(20.0));
        assert!((a.pace().unwrap() - 19.8).abs() < 1e-9);
    }

    /// No policy: the window is the longest reset seen, in whole seconds.
    #[test]
    fn without_a_policy_the_window_is_the_longest_reset() {
        let now = Instant::now();
        let mut a = Advertised::default();
        a.on_answer(Some(&advert(100.0, 60.0, 2, None)), false, 0, now);
        assert_eq!(a.advertised(), Some(50.0), "mid-window: too fast, for now");
        a.on_answer(Some(&advert(100.0, 99.0, 5, None)), false, 0, now);
        assert_eq!(a.advertised(), Some(20.0));
        let mut sub = Advertised::default();
        let mut ad = advert(5.0, 4.0, 0, None);
        ad.reset = Some(Duration::from_millis(100));
        sub.on_answer(Some(&ad), false, 0, now);
        assert_eq!(sub.advertised(), None, "a tenth of a second is no window");
    }

    /// What is in flight will spend what remains: the pool holds until the
    /// reset, and no 429 is needed to learn that the window is spent.
    #[test]
    fn a_spent_quota_holds_until_its_reset() {
        let now = Instant::now();
        let mut a = Advertised::default();
        assert_eq!(
            a.on_answer(Some(&advert(100.0, 3.0, 2, Some(5))), false, 2, now),
            None
        );
        assert_eq!(a.hold_until(now), None);
        assert_eq!(
            a.on_answer(Some(&advert(100.0, 2.0, 2, Some(5))), false, 2, now),
            Some(Event::Hold {
                until: Duration::from_secs(2)
            })
        );
        assert_eq!(a.hold_until(now), Some(now + Duration::from_secs(2)));
        assert_eq!(a.hold_until(now + Duration::from_secs(2)), None);
    }

    /// A 429 that says requests remain: the headers are not the limit that
    /// throttles; they are ignored from then on, holds included.
    #[test]
    fn a_429_with_requests_remaining_is_distrusted() {
        let now = Instant::now();
        let mut a = Advertised::default();
        a.on_answer(Some(&advert(100.0, 0.0, 2, Some(5))), false, 0, now);
        assert!(a.hold_until(now).is_some());
        assert_eq!(
            a.on_answer(Some(&advert(100.0, 40.0, 2, Some(5))), true, 0, now),
            Some(Event::Contradicted { remaining: 40.0 })
        );
        assert_eq!(a.trust(), Trust::Distrusted);
        assert_eq!((a.pace(), a.hold_until(now)), (None, None));
        a.on_answer(Some(&advert(100.0, 99.0, 5, Some(5))), false, 0, now);
        assert_eq!(a.pace(), None, "for the rest of the run");
    }

    /// A 429 the headers agree with (none remained): the pace goes further
    /// under, up to 8%.
    #[test]
    fn a_429_with_none_remaining_widens_the_margin() {
        let now = Instant::now();
        let mut a = Advertised::default();
        a.on_answer(Some(&advert(40.0, 4.0, 1, Some(1))), false, 0, now);
        for _ in 0..5 {
            a.on_answer(Some(&advert(40.0, 0.0, 1, Some(1))), true, 0, now);
        }
        assert_eq!(a.trust(), Trust::Trusted);
        assert!((a.pace().unwrap() - 40.0 * 0.92).abs() < 1e-9);
    }

    #[test]
    fn answers_without_headers_change_nothing() {
        let now = Instant::now();
        let mut a = Advertised::default();
        assert_eq!(a.on_answer(None, true, 0, now), None);
        assert_eq!(a.trust(), Trust::Unknown);
        a.on_answer(Some(&advert(10.0, 9.0, 1, Some(1))), false, 0, now);
        a.on_answer(None, true, 0, now);
        assert_eq!(a.trust(), Trust::Trusted);
    }
}
