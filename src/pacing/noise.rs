//! Telling 429s no limit explains from a limit's.
//!
//! A limit refuses above its rate and never below it, and a full bucket
//! drained at the same pace drains as long each time: its 429s repeat. Noise
//! (another client on the same account, a proxy) refuses a share of the
//! requests whatever the pace, and the stretches between its 429s are as
//! long as chance makes them. [`Noise`] keeps the last stretch and which of
//! the last 429s no limit explained. While the portal looks noisy, a 429
//! that would lower the pace is believed only when it repeats the one
//! before: at the same pace, after about as many accepted requests, and
//! sooner than the portal's share of stray 429s makes likely.

// Counts far below 2^52.
#![allow(clippy::cast_precision_loss)]

use std::collections::VecDeque;

/// The last this many 429s are weighed.
const WEIGHED: usize = 6;
/// This many of them unexplained: the portal is noisy.
const NOISY: usize = 3;
/// Paces this close are the same.
const SAME_PACE: f64 = 0.1;
/// Two 429s agree on a limit when their accepted counts are within this
/// factor.
const SAME_COUNT: f64 = 2.0;
/// A portal refusing more than this share at random is limiting.
const MOST_NOISE: f64 = 0.02;
/// An episode of this many 429s is no stray's.
const MANY: u64 = 3;
/// A 429 at least this likely to come as soon by chance tells nothing.
const BY_CHANCE: f64 = 0.2;

/// What the last 429s said of the portal's noise.
#[derive(Debug, Default)]
pub(super) struct Noise {
    /// Of the last `WEIGHED` 429s: which no limit explained.
    verdicts: VecDeque<bool>,
    /// The pace and accepted count of the last stretch a 429 ended.
    last: Option<(f64, usize)>,
    /// 429s no limit explained, and requests sent in all: their share is
    /// how often the portal refuses at random.
    strays: u64,
    sent: u64,
}

impl Noise {
    pub(super) fn on_send(&mut self) {
        self.sent += 1;
    }

    /// A 429 episode (`refused` requests) ended a stretch at `pace` that
    /// got `accepted` requests accepted. Whether a limit is at work: many
    /// refused at once (a stray is one request's), or the stretch and the
    /// one before it, at the same pace or a slower one, both ended sooner
    /// than strays make likely (a bucket drains faster at a faster pace).
    pub(super) fn stretch(&mut self, pace: f64, accepted: usize, refused: u64) -> bool {
        let soon = |n| !self.by_chance(n);
        let repeats = refused >= MANY
            || (soon(accepted)
                && self
                    .last
                    .is_some_and(|(p, n)| pace >= p * (1.0 - SAME_PACE) && soon(n)));
        self.last = Some((pace, accepted));
        repeats
    }

    /// What the last 429 turned out to be: explained by a limit, or not;
    /// `counted`: a stray at a pace no limit read refuses, which counts in
    /// the portal's share of strays (above it, a limit's 429 would inflate
    /// it).
    pub(super) fn verdict(&mut self, unexplained: bool, counted: bool) {
        self.strays += u64::from(unexplained && counted);
        if self.verdicts.len() == WEIGHED {
            self.verdicts.pop_front();
        }
        self.verdicts.push_back(unexplained);
    }

    /// Enough of the last 429s were unexplained.
    pub(super) fn noisy(&self) -> bool {
        self.verdicts.iter().filter(|v| **v).count() >= NOISY
    }

    /// Whether two 429s, after `a` and `b` accepted requests, say the same
    /// limit: about as many each, and either sooner than the portal's share
    /// of stray 429s so far makes likely.
    pub(super) fn agree(&self, a: usize, b: usize) -> bool {
        let (x, y) = (count(a), count(b));
        x.max(y) <= SAME_COUNT * x.min(y) && !self.by_chance(a) && !self.by_chance(b)
    }

    /// Whether a 429 after `n` accepted requests is as likely a stray.
    fn by_chance(&self, n: usize) -> bool {
        let share = (self.strays as f64 / count(usize::try_from(self.sent).unwrap_or(usize::MAX)))
            .min(MOST_NOISE);
        1.0 - (1.0 - share).powf(count(n)) >= BY_CHANCE
    }
}

/// A count as a float, at least one.
fn count(n: usize) -> f64 {
    n.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_unexplained_of_the_last_six_is_noisy() {
        let mut n = Noise::default();
        for v in [true, false, true, false, false] {
            n.verdict(v, true);
        }
        assert!(!n.noisy());
        n.verdict(true, true);
        assert!(n.noisy());
        for _ in 0..4 {
            n.verdict(false, true);
        }
        assert!(!n.noisy(), "the oldest are forgotten");
    }

    /// A limit's stretches end soon, again and again; a stray's come as
    /// chance makes them (here one in 200 requests).
    #[test]
    fn a_limit_ends_stretches_soon_again_and_again() {
        let mut n = Noise::default();
        for _ in 0..2_000 {
            n.on_send();
        }
        for _ in 0..10 {
            n.verdict(true, true);
        }
        assert!(!n.stretch(100.0, 12, 1), "nothing to repeat");
        assert!(n.stretch(102.0, 15, 1));
        assert!(n.stretch(130.0, 8, 1), "faster, and as soon");
        assert!(!n.stretch(100.0, 8, 1), "slower");
        assert!(!n.stretch(100.0, 300, 1), "as late as strays come");
        assert!(n.stretch(100.0, 300, 5), "many refused at once");
    }

    /// With one stray in 200 requests, two 429s after some 150 accepted
    /// each are what chance gives; after 10 each, they are not.
    #[test]
    fn soon_is_measured_against_the_share_of_strays() {
        let mut n = Noise::default();
        for _ in 0..2_000 {
            n.on_send();
        }
        for _ in 0..10 {
            n.verdict(true, true);
        }
        assert!(!n.agree(150, 140));
        assert!(n.agree(10, 12));
        assert!(!n.agree(10, 40), "not as many");
        assert!(!n.stretch(200.0, 150, 1));
        assert!(!n.stretch(200.0, 140, 1), "as likely strays");
    }
}
