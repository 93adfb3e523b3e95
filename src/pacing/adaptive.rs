//! Finding the rate the portal accepts and riding just under it.
//!
//! The portal's limit is a server-side token bucket we cannot see: `L`
//! requests per second with a burst of `B`. What the pool can see is when it
//! sent each request and whether the answer was a 429. The controller fits a
//! token bucket to what it saw:
//!
//! - A *reading* is the stretch of sending from a moment the portal's bucket
//!   was full (the start, or the end of a 429 pause, which refills it) to the
//!   first 429. Whatever the pace did meanwhile, a bucket of `B` filling at
//!   `L`, full at the start, must have held a token for each accepted request
//!   and none for the 429, give or take a few milliseconds of jitter: that
//!   bounds `L` ([`Reading::bounds`]), tightly when the bucket drained
//!   slowly. Readings that agree narrow the bounds further.
//! - `B` is about what the first unpaced burst of `-r 0` got accepted (a
//!   little more: the burst reaches the portal over a few milliseconds), at
//!   most what any reading got accepted, and, better, the one value on which
//!   two readings of different lengths agree ([`fit_burst`]).
//!
//! The pace follows from the bounds: narrow ones are cruised on, just under;
//! wide ones are approached from below, climbing across them in a few
//! seconds, so that the next 429 comes after a long, slow drain and narrows
//! them. After a quiet while (15 s) the pace probes upwards, slowly at
//! first and faster the longer the portal keeps accepting (CUBIC's shape,
//! RFC 9438), at full speed once well past the rate measured, to find a limit
//! that rose. A reading below the bounds is doubted until a second one
//! agrees: a stray 429 (the portal refusing for another reason) reads as a
//! limit a little under the pace, a limit that fell reads the same twice.
//! Once strays keep coming, only a limit's 429s change the pace
//! ([`Noise`]). A 429 with nothing to read cuts the pace by β = 0.7, as CUBIC
//! and the AWS SDKs' adaptive mode do. Each burst of 429s counts once: the
//! pool pauses for it anyway, and the decision waits for the pause's end,
//! when the answers of the reading are in.
//!
//! Pure logic: time comes in as arguments, so the unit tests run it against
//! a simulated portal on a virtual clock.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use super::noise::Noise;
use super::windows::{self, Windows};

/// Cruise this far under a reading, at least (more when it is rougher).
const MARGIN: f64 = 0.005;
/// A request may reach the portal this much earlier than its pace says
/// (timers, the network): the cruise leaves room for it.
const SLACK: f64 = 0.006;
/// A 429 with nothing to read cuts the pace to this share (CUBIC's β).
const BETA: f64 = 0.7;
/// A reading this precise (its relative uncertainty) is cruised on; a
/// rougher one is approached from below.
const PRECISE: f64 = 0.03;
/// A reading this precise is what the summary reports as accepted.
const REPORTED: f64 = 0.05;
/// The approach climbs across a rough reading's uncertainty in about this
/// many seconds, at this many per second at least and at most.
const APPROACH_SECS: f64 = 3.0;
const MIN_GROWTH: f64 = 0.01;
const MAX_GROWTH: f64 = 0.25;
/// Growth of an approach with no reading to go by (after a cut).
const BLIND_GROWTH: f64 = 0.05;
/// How long to cruise on a reading before probing upwards: `AGAIN` times
/// longer when the probe finds the same limit again, up to the most.
const HOLD: Duration = Duration::from_secs(15);
const ROUGH_HOLD: Duration = Duration::from_secs(10);
const MAX_HOLD: Duration = Duration::from_secs(60);
const AGAIN: u32 = 4;
/// Requests sent between probes, at least.
const PROBE_EVERY: f64 = 100.0;
/// A probe grows the pace this much per second, doubling its growth at each
/// `PROBE_DOUBLING` without a 429 (up to `MAX_GROWTH`).
const PROBE_GROWTH: f64 = 0.01;
const PROBE_DOUBLING: f64 = 2.0;
/// A probe this far past the rate measured, unthrottled, found a limit that
/// rose: it climbs at its fastest.
const RISEN: f64 = 0.1;
const RISEN_GROWTH: f64 = 1.0;
/// The start-up doubling period, after the first unpaced burst.
const DOUBLING: Duration = Duration::from_millis(250);
/// The pool's own pace is what it sent over this last while.
const RECENT: Duration = Duration::from_secs(1);
/// How often a climbing pace is raised.
const STEP: Duration = Duration::from_millis(250);
/// An unpaced start whose first 429 came this soon was one burst.
const BURST_SPAN: Duration = Duration::from_millis(100);
/// Accepted send times kept per reading (older ones are dropped: the fit
/// starts from the oldest kept, as from a full bucket, which can only read
/// the rate lower). Bounds the work of a fit.
const KEEP_SENDS: usize = 4_000;
/// Readings kept for the fit of the burst.
const READINGS: usize = 4;
/// The unpaced burst got at most this share more than the portal's burst.
const SEEN_BURST: f64 = 0.67;
/// Requests reach the portal up to this much apart from their send times,
/// at first; a reading no rate explains doubles it, up to the most.
const JITTER: f64 = 0.002;
const MAX_JITTER: f64 = 0.064;
/// No pace goes above this: a rate the pool cannot send is no pace.
const HIGHEST: f64 = 1e6;
/// Doubted readings kept: a fall is believed when a reading agrees with one.
const DOUBTS: usize = 2;
/// Two readings fit the burst when their drains differ at least this much.
const DISTINCT: f64 = 1.5;

/// Where the controller is in its search.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    /// No 429 yet: unpaced (`-r 0`) or at `--rate`.
    Start,
    /// After the first unpaced burst: doubling from the burst's size.
    Doubling,
    /// Climbing towards a limit: from a rough reading (steady growth), or
    /// probing after a quiet while (growth doubling every few seconds).
    Climb {
        growth: f64,
        since: Instant,
        probe: bool,
    },
    /// Just under a reading; probing starts at `until`.
    Cruise { until: Instant },
}

/// Why the pace changed (logged with `-v`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// The start-up doubling.
    Doubling,
    /// A 429 whose reading was precise: just under it.
    Measured,
    /// A 429 whose reading was rough: approaching it from below.
    Approach,
    /// A 429 with nothing to read.
    Cut,
    /// A 429 no limit explains: a stray (another client, a proxy).
    Stray,
    /// Strays keep coming: the portal is noisy.
    Noisy,
    /// A 429 sooner than the measured rate allows: the pace is kept until
    /// another shows whether the limit fell.
    Kept,
    /// After a quiet while: probing above the limit.
    Probe,
    /// A step of a climb or a probe.
    Climb,
    /// The portal limits by windows: N of them spread evenly over each.
    Window,
    /// The portal limits by windows whose length is not known yet.
    WindowSeen,
}

/// The pace while a window is spent: one request a second.
const WINDOW_SPENT_RATE: f64 = 1.0;
/// A recognised window is paced this far under its quota.
const WINDOW_MARGIN: f64 = 0.01;

/// The stretch of sending since the portal's bucket was last full.
#[derive(Debug)]
struct Segment {
    id: u64,
    first_send: Option<Instant>,
    /// Send times of its accepted requests, in order.
    accepted: VecDeque<Instant>,
    /// The earliest send of a request of this segment answered 429.
    first_failure: Option<Instant>,
    /// Accepted send times were dropped past `KEEP_SENDS`.
    dropped: bool,
    /// Requests sent in it, and answered 429.
    sent: u64,
    refused: u64,
}

impl Segment {
    fn new(id: u64) -> Segment {
        Segment {
            id,
            first_send: None,
            accepted: VecDeque::new(),
            first_failure: None,
            dropped: false,
            sent: 0,
            refused: 0,
        }
    }

    fn record_accepted(&mut self, sent: Instant) {
        // Answers come back nearly in send order: insert from the back.
        let at = self
            .accepted
            .iter()
            .rev()
            .take_while(|t| **t > sent)
            .count();
        self.accepted.insert(self.accepted.len() - at, sent);
        if self.accepted.len() > KEEP_SENDS {
            self.accepted.pop_front();
            self.dropped = true;
        }
    }

    /// The 429 came within the first moments: everything was sent at once.
    fn is_burst(&self) -> bool {
        match (self.first_send, self.first_failure) {
            (Some(a), Some(b)) => b.saturating_duration_since(a) <= BURST_SPAN,
            _ => true,
        }
    }

    /// Where its reading starts: the first send, or past `KEEP_SENDS` the
    /// oldest kept.
    fn reading_start(&self) -> Option<Instant> {
        if self.dropped {
            self.accepted.front().copied()
        } else {
            self.first_send
        }
    }

    /// What the segment says, once a 429 ended it.
    fn reading(&self) -> Option<Reading> {
        let fail = self.first_failure?;
        let start = self.reading_start()?;
        let secs = |t: Instant| t.saturating_duration_since(start).as_secs_f64();
        Some(Reading {
            sends: self
                .accepted
                .iter()
                .take_while(|t| **t < fail)
                .map(|t| secs(*t))
                .collect(),
            fail: secs(fail),
        })
    }
}

/// A stretch from a full portal bucket to a 429: the send times of the
/// requests accepted before it, and the 429's, in seconds from the start.
#[derive(Debug, Clone, PartialEq)]
struct Reading {
    sends: Vec<f64>,
    fail: f64,
}

/// A reading replayed through a bucket: see [`Reading::replay`].
#[derive(Debug, Clone, Copy)]
struct Replay {
    /// The fewest tokens any accepted send found.
    fewest: f64,
    /// The tokens at the 429.
    at_fail: f64,
    /// How long the bucket had been draining at the 429 (since it was full).
    draining: f64,
}

impl Reading {
    /// A bucket of `burst` filling at `rate`, full at the start, less a token
    /// per accepted send, each accepted send reaching the portal `jitter`
    /// later than the ones before it, and the 429 `jitter` earlier.
    fn replay(&self, rate: f64, burst: f64, jitter: f64) -> Replay {
        let (mut tokens, mut t, mut full_at, mut fewest) = (burst, 0.0, 0.0, f64::MAX);
        for &s in &self.sends {
            fewest = fewest.min((tokens + rate * (s + jitter - t)).min(burst));
            tokens += rate * (s - t);
            if tokens >= burst {
                tokens = burst;
                full_at = s;
            }
            tokens -= 1.0;
            t = s;
        }
        let at = (self.fail - jitter).max(t);
        tokens += rate * (at - t);
        if tokens >= burst {
            tokens = burst;
            full_at = at;
        }
        Replay {
            fewest,
            at_fail: tokens,
            draining: self.fail - full_at,
        }
    }

    /// The rate that leaves half a token at the 429 (between the one the
    /// last accepted request needed and none), and how long the bucket was
    /// draining at that rate. `None` when even no refill at all leaves
    /// tokens: the bucket was not full at the start, or `burst` is too high.
    fn fit_rate(&self, burst: f64) -> Option<(f64, f64)> {
        let above = |r| self.replay(r, burst, 0.0).at_fail >= 0.5;
        if above(0.0) {
            return None;
        }
        let rate = bisect(0.0, self.upper(above), above);
        Some((rate, self.replay(rate, burst, 0.0).draining))
    }

    /// The rates the reading allows, with the portal's burst between `least`
    /// and `most` and arrivals `jitter` apart from sends: every accepted send
    /// found a token, the 429 found none. `None` when none does.
    fn bounds(&self, least: f64, most: f64, jitter: f64) -> Option<(f64, f64)> {
        // The 429 found less than a token: at most `high`.
        let too_high = |r| self.replay(r, least, jitter).at_fail >= 1.0;
        if too_high(0.0) {
            return None;
        }
        let high = bisect(0.0, self.upper(too_high), too_high);
        // Every accepted send found a token: at least `low`.
        let enough = |r| self.replay(r, most, jitter).fewest >= 1.0;
        let low = if enough(0.0) {
            0.0
        } else {
            bisect(0.0, high.max(1.0) * 4.0, enough)
        };
        (low <= high).then_some((low, high))
    }

    /// A rate at which `above` holds: from what the reading sent, doubled
    /// until it does.
    fn upper(&self, above: impl Fn(f64) -> bool) -> f64 {
        let mut rate = (self.sends.len() as f64 + 2.0) / self.fail.max(1e-3);
        for _ in 0..64 {
            if above(rate) {
                break;
            }
            rate *= 2.0;
        }
        rate
    }
}

/// The boundary in `lo..hi` where `above` turns true (it is false at `lo`).
fn bisect(mut lo: f64, mut hi: f64, above: impl Fn(f64) -> bool) -> f64 {
    for _ in 0..48 {
        let mid = f64::midpoint(lo, hi);
        if above(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    f64::midpoint(lo, hi)
}

/// The burst on which two readings agree: both fits give the same rate. A
/// higher burst lowers the rate of the shorter drain more, so the
/// difference changes sign once. `None` when the readings disagree at every
/// burst, or drained for about as long (the fit is then ill-conditioned).
fn fit_burst(a: &Reading, b: &Reading) -> Option<f64> {
    let top = a.sends.len().min(b.sends.len()) as f64;
    if top < 1.0 {
        return None;
    }
    // Positive when `a` says the higher rate.
    let gap = |burst: f64| -> Option<f64> { Some(a.fit_rate(burst)?.0 - b.fit_rate(burst)?.0) };
    let (g_lo, g_hi) = (gap(1.0)?, gap(top)?);
    if g_lo.signum() == g_hi.signum() {
        return None;
    }
    // The gap keeps the sign it has at one token, then loses it.
    let burst = bisect(1.0, top, |b| {
        gap(b).is_none_or(|g| g.signum() != g_lo.signum())
    });
    let (_, span_a) = a.fit_rate(burst)?;
    let (_, span_b) = b.fit_rate(burst)?;
    (span_a.max(span_b) >= DISTINCT * span_a.min(span_b)).then_some(burst)
}

/// What a request carries from its turn to its answer: the segment it was
/// sent in, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ticket {
    segment: u64,
    sent: Instant,
}

/// The portal's rate as read, and its relative uncertainty.
#[derive(Debug, Clone, Copy)]
struct Estimate {
    rate: f64,
    uncertainty: f64,
    /// The reading was below what earlier ones allow, and is not yet
    /// believed: the rate is theirs.
    doubted: bool,
    /// A second reading confirmed a doubted one: the limit fell (or the
    /// strays agreed by chance: a probe soon tells).
    fell: bool,
}

impl Estimate {
    /// The middle of the rates `(low, high)`.
    fn of((low, high): (f64, f64), doubted: bool, fell: bool) -> Estimate {
        let rate = f64::midpoint(low, high);
        Estimate {
            rate,
            uncertainty: (high - low) / 2.0 / rate,
            doubted,
            fell,
        }
    }
}

/// The segment closed at the last pause's end.
#[derive(Debug, Clone, Copy)]
struct Closed {
    id: u64,
    start: Instant,
    /// It was the unpaced burst.
    burst: bool,
}

/// A 429 ended the segment at this pace (`None`: unpaced).
#[derive(Debug, Clone, Copy)]
struct Pending {
    rate: Option<f64>,
    /// The longest `Retry-After` of the episode.
    retry_after: Duration,
}

/// The adaptive pace. `rate()` is the pace in force (`None`: unpaced).
#[derive(Debug)]
pub(crate) struct Controller {
    ceiling: Option<f64>,
    floor: f64,
    rate: Option<f64>,
    mode: Mode,
    segment: Segment,
    /// When the current rate was set.
    rate_since: Instant,
    /// The 429 pause in progress: decisions wait for its end.
    episode_end: Option<Instant>,
    /// The pace when a 429 ended the segment; the decision is taken at the
    /// pause's end, when the answers of the segment are in.
    pending: Option<Pending>,
    next_step: Instant,
    /// What the first unpaced burst got accepted (a little over the burst).
    burst_seen: Option<f64>,
    /// The burst two readings agreed on.
    burst_fit: Option<f64>,
    readings: VecDeque<Reading>,
    /// The rates the readings allow, narrowed reading after reading.
    belief: Option<(f64, f64)>,
    /// Recent readings below them, not yet confirmed by another.
    doubts: VecDeque<((f64, f64), usize)>,
    /// The segment closed at the last pause's end, for its late answers.
    closed: Option<Closed>,
    /// The rate the portal accepted, as last read precisely enough.
    measured: Option<f64>,
    hold: Duration,
    /// What the 429s say of a window limiter.
    windows: Windows,
    /// A window limiter's quota is spent: one request at a time until one
    /// is accepted (its window reopened).
    window_spent: bool,
    /// Which 429s no limit explained.
    noise: Noise,
    /// Send times of the last `RECENT`: the pace the pool reaches now.
    recent: VecDeque<Instant>,
}

impl Controller {
    /// `ceiling`: `--rate` (`None` for `-r 0`); `floor`: the lowest pace a
    /// 429 may bring.
    pub(crate) fn new(ceiling: Option<f64>, floor: f64, now: Instant) -> Controller {
        Controller {
            ceiling,
            floor,
            rate: ceiling,
            mode: Mode::Start,
            segment: Segment::new(0),
            rate_since: now,
            episode_end: None,
            pending: None,
            next_step: now,
            burst_seen: None,
            burst_fit: None,
            readings: VecDeque::new(),
            belief: None,
            doubts: VecDeque::new(),
            noise: Noise::default(),
            closed: None,
            measured: None,
            hold: HOLD,
            windows: Windows::default(),
            window_spent: false,
            recent: VecDeque::new(),
        }
    }

    /// `--rate` (`None` for `-r 0`).
    pub(crate) fn ceiling(&self) -> Option<f64> {
        self.ceiling
    }

    /// The pace in force: requests per second, `None` for no limit.
    pub(crate) fn rate(&self) -> Option<f64> {
        self.rate
    }

    /// The rate the portal was read to accept, once a 429 told precisely
    /// enough. Not merely a rate it refused: that is only an upper bound,
    /// and advising it would draw more 429s.
    pub(crate) fn measured(&self) -> Option<f64> {
        self.measured
    }

    /// A request is sent now.
    pub(crate) fn on_send(&mut self, now: Instant) -> Ticket {
        self.segment.first_send.get_or_insert(now);
        self.segment.sent += 1;
        self.noise.on_send();
        self.recent.push_back(now);
        while self
            .recent
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) > RECENT)
        {
            self.recent.pop_front();
        }
        Ticket {
            segment: self.segment.id,
            sent: now,
        }
    }

    /// The portal answered the request of `ticket`: accepted (any answer but
    /// a 429), or throttled. Answers of older segments no longer count.
    pub(crate) fn on_answer(&mut self, ticket: Ticket, throttled: Option<Duration>, now: Instant) {
        // A request sent before the last pause says nothing of this segment
        // (the pause refilled the bucket); accepted, it adds to the one it
        // was sent in, whose answers were not all in when it was read.
        if ticket.segment != self.segment.id {
            if throttled.is_none() {
                self.late_accepted(ticket);
            }
            return;
        }
        let pause = match throttled {
            None => {
                self.segment.record_accepted(ticket.sent);
                return;
            }
            // "Try again at once" is no sign of a rate limit: the engine
            // retries, the pace is left alone.
            Some(d) if d.is_zero() => return,
            Some(d) => d,
        };
        self.segment.refused += 1;
        let first = self.segment.first_failure.get_or_insert(ticket.sent);
        *first = (*first).min(ticket.sent);
        let p = self.pending.get_or_insert(Pending {
            rate: self.rate,
            retry_after: pause,
        });
        p.retry_after = p.retry_after.max(pause);
        let end = now + pause;
        self.episode_end = Some(self.episode_end.map_or(end, |e| e.max(end)));
    }

    /// An accepted answer of the segment closed at the last pause's end:
    /// the unpaced burst got one more accepted, or the last reading did.
    fn late_accepted(&mut self, ticket: Ticket) {
        let Some(closed) = self.closed.filter(|c| c.id == ticket.segment) else {
            return;
        };
        if closed.burst {
            self.burst_seen = self.burst_seen.map(|b| b + 1.0);
            return;
        }
        let sent = ticket
            .sent
            .saturating_duration_since(closed.start)
            .as_secs_f64();
        if let Some(r) = self.readings.back_mut().filter(|r| sent < r.fail) {
            let at = r.sends.partition_point(|s| *s <= sent);
            r.sends.insert(at, sent);
        }
    }

    /// Called before each send: takes the decisions that are due. Returns the
    /// reason when the pace changed.
    pub(crate) fn tick(&mut self, now: Instant) -> Option<Change> {
        if self.episode_end.is_some_and(|e| now < e) {
            return None;
        }
        self.episode_end = None;
        if self.window_spent && !self.segment.accepted.is_empty() {
            // The window reopened: its quota at once.
            self.window_spent = false;
            let quota = self.windows.quota_seen().unwrap_or(1.0);
            let fast = Self::window_fast(quota);
            self.set_rate(fast, now);
            return Some(Change::WindowSeen);
        }
        if let Some(p) = self.pending.take() {
            if let Some(change) = self.window_reading(p.retry_after, now) {
                return Some(change);
            }
            return Some(self.after_throttle(p.rate, now));
        }
        if self.rate.is_none() || now < self.next_step {
            return None;
        }
        self.next_step = now + STEP;
        self.step(now)
    }

    fn set_rate(&mut self, rate: f64, now: Instant) {
        let r = self
            .ceiling
            .map_or(rate, |c| rate.min(c))
            .min(HIGHEST)
            .max(self.floor);
        if self.rate != Some(r) {
            self.rate = Some(r);
            self.rate_since = now;
        }
    }

    /// The decision at the end of a 429 pause, which refilled the portal's
    /// bucket: a new segment starts.
    /// The pace that sends a window's `quota` in a second: few requests are
    /// in flight when it is spent, and the sending seldom straddles a
    /// boundary (a straddling stretch accepts more than a quota).
    fn window_fast(quota: f64) -> f64 {
        quota
    }

    /// What the segment a 429 closed says of a window limiter; once one is
    /// recognised, its pace (a new segment starts, as after any 429).
    fn window_reading(&mut self, retry_after: Duration, now: Instant) -> Option<Change> {
        let seg = &self.segment;
        let start = seg.first_send?;
        let fail = seg.first_failure.unwrap_or(start);
        let accepted = seg.accepted.iter().filter(|t| **t < fail).count() as u64;
        self.windows.on_closed(windows::Closed {
            start,
            after_pause: seg.id > 0,
            accepted_all: seg.accepted.len() as u64,
            accepted,
            retry_after,
            drain: fail.saturating_duration_since(start),
        });
        let quota = self.windows.quota_seen()?;
        self.segment = Segment::new(self.segment.id + 1);
        self.closed = None;
        self.next_step = now + STEP;
        self.mode = Mode::Cruise {
            until: now + MAX_HOLD,
        };
        let Some(pace) = self.windows.pace() else {
            // Its length is not known yet: each window's quota is sent in
            // a second, and the 429s that end it tell when the
            // next window opens. Until it does (nothing was accepted since
            // the last pause), one request at a time.
            self.window_spent = accepted == 0;
            let rate = if self.window_spent {
                WINDOW_SPENT_RATE
            } else {
                Self::window_fast(quota)
            };
            self.set_rate(rate, now);
            return Some(Change::WindowSeen);
        };
        self.window_spent = false;
        self.measured = Some(pace);
        self.set_rate(pace * (1.0 - WINDOW_MARGIN), now);
        Some(Change::Window)
    }

    /// The decision at the end of a 429 pause, which refilled the portal's
    /// bucket: a new segment starts.
    fn after_throttle(&mut self, failed: Option<f64>, now: Instant) -> Change {
        let next = Segment::new(self.segment.id + 1);
        let seg = std::mem::replace(&mut self.segment, next);
        let was_probe = matches!(self.mode, Mode::Climb { probe: true, .. });
        self.next_step = now + STEP;
        // (Only the first: once unpaced sending resumed after a 429, a quick
        // one is no burst of the portal's, which refused no one before.)
        let burst = failed.is_none() && seg.id == 0 && seg.is_burst();
        // Its late answers still count (a slow create answers after the pause).
        self.closed = seg.reading_start().map(|start| Closed {
            id: seg.id,
            start,
            burst,
        });
        if burst {
            // The unpaced burst: what it got accepted is about the burst.
            let b = seg.accepted.len() as f64;
            self.burst_seen = Some(b);
            self.mode = Mode::Doubling;
            self.set_rate(b.max(1.0), now);
            return Change::Doubling;
        }
        let Some(reading) = seg.reading() else {
            return self.cut(failed.unwrap_or(1.0), now);
        };
        // The pace that failed, or (unpaced, or a pace the pool could not
        // reach) what was sent: at most the pace set.
        let sent = seg.sent as f64 / reading.fail.max(1e-3);
        // Unpaced and nothing read yet: a 429 after a long stretch may be a
        // stray as much as a limit.
        let first = failed.is_none() && self.belief.is_none();
        let failed = failed.map_or(sent, |f| f.min(sent.max(1.0) * 2.0));
        let repeats = self.noise.stretch(failed, reading.sends.len(), seg.refused);
        // (Over the rate measured, a probe's 429 is read: it found the limit
        // again, or a stray there reads as a limit that rose, which a later
        // 429 corrects.)
        if self.noise.noisy() && !repeats && !self.over_measured() {
            return self.stray(now);
        }
        let believed = self.belief;
        self.readings.push_back(reading);
        let fitted = self.burst_fit;
        if let Some(b) = self.fit_burst() {
            self.burst_fit = Some(b);
        }
        let Some(Estimate {
            rate: l,
            uncertainty: u,
            doubted,
            fell,
        }) = self.estimate()
        else {
            // No rate explains it: it bounds no burst either.
            self.readings.pop_back();
            self.burst_fit = fitted;
            if self.screened(repeats, first) {
                return self.stray(now);
            }
            self.noise.verdict(!repeats, true);
            return self.cut(failed, now);
        };
        if doubted || (u > 0.5 && self.screened(repeats, first)) {
            // Not believed: it fits no burst either, and the pace and what
            // it was doing (a cruise, a probe) go on.
            self.readings.pop_back();
            self.burst_fit = fitted;
            self.belief = believed;
            let stray = self.stray(now);
            // (Doubted, it says so; but that strays keep coming, first.)
            return if doubted && stray == Change::Stray {
                Change::Kept
            } else {
                stray
            };
        }
        // A wide reading is explained when it repeats the one before.
        self.noise.verdict(u > 0.5 && !repeats, true);
        if self.readings.len() > READINGS {
            self.readings.pop_front();
        }
        tracing::trace!(
            failed,
            rate = l,
            uncertainty = u,
            belief = ?self.belief,
            burst_seen = ?self.burst_seen,
            burst_fit = ?self.burst_fit,
            "429 read"
        );
        if u > REPORTED && self.measured.is_some_and(|m| m >= failed) {
            self.measured = None;
        }
        if u <= REPORTED {
            return self.measured_at(l, u, fell, was_probe, now);
        }
        self.mode = Mode::Climb {
            growth: (u / APPROACH_SECS).clamp(MIN_GROWTH, MAX_GROWTH),
            since: now,
            probe: false,
        };
        // A reading that hardly bounds the rate: cut, as without one.
        let most = if u > 0.5 { BETA } else { 0.99 } * failed;
        // From low in its range; after a fall, from its middle (the
        // rate in force is far above, and the bucket drains slowly from a
        // pace near the new limit, which reads it).
        // A burst of one absorbs no overshoot: from the bottom itself.
        let from = if fell {
            l
        } else if self.burst_bounds().1 < 2.0 && u <= 0.5 {
            l * (1.0 - u)
        } else {
            l * (1.0 - u / 2.0)
        };
        self.set_rate(from.min(most), now);
        self.rate_since = now;
        Change::Approach
    }

    /// A 429 no limit explains: the pool paused for it, the pace goes on.
    /// When the portal comes to look noisy, the pace (kept under what
    /// strays seemed to say) is probed upwards at once.
    fn stray(&mut self, now: Instant) -> Change {
        let was = self.noise.noisy();
        self.noise.verdict(true, !self.over_measured());
        // Its late answers belong to no reading.
        self.closed = None;
        if was || !self.noise.noisy() {
            return Change::Stray;
        }
        let probing = matches!(self.mode, Mode::Climb { probe: true, .. });
        if !probing && self.mode != Mode::Doubling {
            self.mode = Mode::Climb {
                growth: PROBE_GROWTH,
                since: now,
                probe: true,
            };
        }
        Change::Noisy
    }

    /// The pace is over the rate measured: a probe's.
    fn over_measured(&self) -> bool {
        self.measured
            .zip(self.rate)
            .is_some_and(|(m, r)| r > m * (1.0 + MARGIN))
    }

    /// Whether a 429 that would cut the pace with nothing precise to go by
    /// is kept as a stray: while the portal looks noisy (or, unpaced, before
    /// anything was read), unless it repeats the one before.
    fn screened(&self, repeats: bool, first: bool) -> bool {
        (first || self.noise.noisy()) && !repeats
    }

    /// A reading precise enough to report: `l` within `u`. Cruise just
    /// under it, and hold before probing (longer while probes find the same
    /// rate, shorter after a fall or for a rougher reading).
    fn measured_at(&mut self, l: f64, u: f64, fell: bool, was_probe: bool, now: Instant) -> Change {
        let before = self.measured.replace(l);
        // A probe that found the same limit again: hold longer.
        // (Not higher: a limit that fell a little is no reason to probe sooner.)
        let again = was_probe && before.is_some_and(|m| l < (1.0 + RISEN) * m);
        self.hold = match self.hold {
            _ if u > PRECISE || fell => ROUGH_HOLD,
            h if again => (h * AGAIN).clamp(HOLD, MAX_HOLD),
            _ => HOLD,
        };
        // A probe costs a 429 or two: at most one per `PROBE_EVERY` sent.
        let spacing = Duration::from_secs_f64((PROBE_EVERY / l).min(MAX_HOLD.as_secs_f64()));
        self.mode = Mode::Cruise {
            until: now + self.hold.max(spacing),
        };
        // Under the reading's range, so under the pace that failed.
        self.set_rate(self.cruise(l, u), now);
        self.rate_since = now;
        Change::Measured
    }

    /// The pace just under a reading of `rate`: by its uncertainty, and so
    /// that a request may reach the portal `SLACK` early: a burst of one
    /// token absorbs no such jitter, and a bucket of `B` absorbs `(B - 1)/L`.
    fn cruise(&self, rate: f64, uncertainty: f64) -> f64 {
        let absorbed = (self.burst_bounds().0 - 1.0) / rate;
        let slack = (SLACK - absorbed).max(0.0);
        (rate * (1.0 - MARGIN.max(uncertainty))).min(1.0 / (1.0 / rate + slack))
    }

    /// A 429 with nothing to read: cut, and climb back blind.
    fn cut(&mut self, failed: f64, now: Instant) -> Change {
        if self.measured.is_some_and(|m| m >= failed) {
            self.measured = None;
        }
        self.mode = Mode::Climb {
            growth: BLIND_GROWTH,
            since: now,
            probe: false,
        };
        self.set_rate(BETA * failed, now);
        self.rate_since = now;
        Change::Cut
    }

    /// The burst: agreed by the newest reading and an older one, the most
    /// different from it in length.
    fn fit_burst(&self) -> Option<f64> {
        let newest = self.readings.back()?;
        self.readings
            .iter()
            .rev()
            .skip(1)
            .find_map(|older| fit_burst(newest, older))
    }

    /// The portal's rate read from the newest reading (the rates it allows
    /// with the burst within its bounds), narrowed by the earlier ones, and
    /// how uncertain it is.
    fn estimate(&mut self) -> Option<Estimate> {
        let reading = self.readings.back()?;
        let (least, most) = self.burst_bounds();
        // The arrivals' jitter is not known: the least that explains the reading.
        let mut jitter = JITTER;
        let (low, high) = loop {
            match reading.bounds(least, most, jitter) {
                Some(b) => break b,
                None if jitter < MAX_JITTER => jitter *= 2.0,
                None => return None,
            }
        };
        let overlap =
            |(a, b): (f64, f64)| (a <= high && low <= b).then(|| (low.max(a), high.min(b)));
        let mut fell = false;
        let (low, high) = match self.belief {
            // Agreeing with what earlier readings said: narrowed by them.
            Some(belief) if overlap(belief).is_some() => {
                self.doubts.clear();
                overlap(belief)?
            }
            // A 429 sooner than they allow: the limit fell, or the portal
            // answered 429 for another reason (a stray 429 at any moment
            // reads as a limit a little under the pace). A fall shows again
            // in the next reading, which agrees with this one; strays come at
            // random and do not. Until then the pace is kept.
            Some(belief) if high < belief.0 => {
                let n = reading.sends.len();
                let agreeing = self
                    .doubts
                    .iter()
                    .filter(|(_, m)| self.noise.agree(n, *m))
                    .find_map(|(d, _)| overlap(*d));
                let Some(both) = agreeing else {
                    if self.doubts.len() == DOUBTS {
                        self.doubts.pop_front();
                    }
                    self.doubts.push_back(((low, high), n));
                    return Some(Estimate::of(belief, true, false));
                };
                self.doubts.clear();
                fell = true;
                both
            }
            // More accepted than they allow: the limit rose.
            _ => {
                self.doubts.clear();
                (low, high)
            }
        };
        self.belief = Some((low, high));
        Some(Estimate::of((low, high), false, fell)).filter(|e| e.rate > 0.0)
    }

    /// The portal's burst, within bounds: at least one token, and about what
    /// the unpaced burst got accepted (it reached the portal over a few
    /// milliseconds, so a little more than the burst); at most what any
    /// reading got accepted (bursts are whole tokens); within a token of
    /// what two readings agree on.
    fn burst_bounds(&self) -> (f64, f64) {
        let most = self
            .readings
            .iter()
            .map(|r| r.sends.len() as f64)
            .fold(self.burst_seen.unwrap_or(f64::MAX), f64::min)
            .max(1.0);
        let least = self.burst_seen.map_or(1.0, |b| (b * SEEN_BURST).max(1.0));
        match self.burst_fit {
            // Two readings agreeing say more than the burst seen at the start.
            Some(b) => ((b - 1.0).max(1.0).min(most), (b + 1.0).min(most)),
            None => (least.min(most), most),
        }
    }

    /// A quiet moment: double (start-up), climb, or start probing.
    fn step(&mut self, now: Instant) -> Option<Change> {
        let rate = self.rate?;
        if self.ceiling.is_some_and(|c| rate >= c) {
            return None;
        }
        // A pace the pool does not reach (too few workers for the portal's
        // latency) is not raised further: at most twice what it sent lately
        // (a segment's average would lag behind a climb).
        let span = self
            .segment
            .first_send
            .map_or(0.0, |f| now.saturating_duration_since(f).as_secs_f64());
        // Over a few periods of the pace: a doubling start-up reaches each
        // new pace within a step.
        let window = STEP.max(RECENT.min(Duration::from_secs_f64(3.0 / rate)));
        let recent = self
            .recent
            .iter()
            .filter(|t| now.saturating_duration_since(**t) <= window)
            .count() as f64;
        if span >= RECENT.as_secs_f64() && rate > 2.0 * recent / window.as_secs_f64() {
            return None;
        }
        if self.windows.pace().is_some() {
            // A window's quota is read at each 429, not probed for.
            return None;
        }
        match self.mode {
            Mode::Start => None,
            Mode::Doubling => {
                if now.saturating_duration_since(self.rate_since) < DOUBLING {
                    return None;
                }
                self.set_rate(rate * 2.0, now);
                Some(Change::Doubling)
            }
            Mode::Cruise { until } => {
                if now < until {
                    return None;
                }
                self.mode = Mode::Climb {
                    growth: PROBE_GROWTH,
                    since: now,
                    probe: true,
                };
                self.set_rate(rate * (1.0 + PROBE_GROWTH * STEP.as_secs_f64()), now);
                Some(Change::Probe)
            }
            Mode::Climb {
                growth,
                since,
                probe,
            } => {
                // An approach past the top of what it read, unthrottled: the
                // reading was wrong (a burst over-estimated), and the climb
                // goes on as a probe, its growth doubling.
                if !probe && self.belief.is_some_and(|(_, high)| rate > high) {
                    self.mode = Mode::Climb {
                        growth,
                        since: now,
                        probe: true,
                    };
                }
                let growth = if probe && self.measured.is_some_and(|m| rate > (1.0 + RISEN) * m) {
                    RISEN_GROWTH
                } else if probe {
                    let doublings =
                        now.saturating_duration_since(since).as_secs_f64() / PROBE_DOUBLING;
                    (growth * doublings.exp2()).min(MAX_GROWTH)
                } else {
                    growth
                };
                // Steps held back (a pace not reached) are not made up at once.
                let dt = now
                    .saturating_duration_since(self.rate_since)
                    .as_secs_f64()
                    .min(1.0);
                self.set_rate(rate * (1.0 + growth * dt), now);
                Some(Change::Climb)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A portal's token bucket, on the virtual clock.
    struct Portal {
        rate: f64,
        burst: f64,
        tokens: f64,
        last: Instant,
        /// This share of requests is answered 429 for no limit's sake.
        strays: f64,
        random: fastrand::Rng,
        /// A window limiter instead of the bucket.
        window: Option<Win>,
    }

    /// `limit` per `period` seconds: fixed windows from `origin` (with
    /// `Retry-After` to the boundary in whole seconds, as `Rack::Attack`
    /// gives it, or none: 1 s assumed), or sliding.
    struct Win {
        limit: usize,
        period: f64,
        origin: Instant,
        sliding: bool,
        retry_after: bool,
        count: (u64, usize),
        accepted: VecDeque<Instant>,
    }

    impl Win {
        fn take(&mut self, now: Instant) -> Option<Duration> {
            let secs = now.saturating_duration_since(self.origin).as_secs_f64();
            if self.sliding {
                while self
                    .accepted
                    .front()
                    .is_some_and(|t| now.saturating_duration_since(*t).as_secs_f64() >= self.period)
                {
                    self.accepted.pop_front();
                }
                if self.accepted.len() < self.limit {
                    self.accepted.push_back(now);
                    return None;
                }
                let oldest = self.accepted.front().copied().unwrap_or(now);
                let left = self.period - now.saturating_duration_since(oldest).as_secs_f64();
                return Some(Duration::from_secs_f64(left.ceil().max(1.0)));
            }
            // Seconds since the origin over a period: small and positive.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let index = (secs / self.period).floor() as u64;
            if self.count.0 != index {
                self.count = (index, 0);
            }
            self.count.1 += 1;
            if self.count.1 <= self.limit {
                return None;
            }
            let whole = secs.floor();
            let wait = if self.retry_after {
                self.period - whole % self.period
            } else {
                1.0
            };
            Some(Duration::from_secs_f64(wait))
        }
    }

    impl Portal {
        fn new(rate: f64, burst: f64, now: Instant) -> Portal {
            Portal {
                rate,
                burst,
                tokens: burst,
                last: now,
                strays: 0.0,
                random: fastrand::Rng::with_seed(11),
                window: None,
            }
        }

        /// `limit` per `period` seconds, in windows; `rate` is their pace.
        fn windowed(limit: usize, period: f64, sliding: bool, retry_after: bool) -> Portal {
            let now = Instant::now();
            let mut p = Portal::new(limit as f64 / period, 1.0, now);
            p.window = Some(Win {
                limit,
                period,
                // The run starts 1.7 s into a window.
                origin: now.checked_sub(Duration::from_millis(1700)).unwrap_or(now),
                sliding,
                retry_after,
                count: (u64::MAX, 0),
                accepted: VecDeque::new(),
            });
            p
        }

        /// `None`: accepted; else the `Retry-After` (whole seconds, ≥ 1).
        fn take(&mut self, now: Instant) -> Option<Duration> {
            if self.strays > 0.0 && self.random.f64() < self.strays {
                return Some(Duration::from_secs(1));
            }
            if let Some(w) = self.window.as_mut() {
                return w.take(now);
            }
            let dt = now.saturating_duration_since(self.last).as_secs_f64();
            self.tokens = (self.tokens + dt * self.rate).min(self.burst);
            self.last = now;
            if self.tokens >= 1.0 {
                self.tokens -= 1.0;
                return None;
            }
            let wait = ((1.0 - self.tokens) / self.rate).ceil().max(1.0);
            Some(Duration::from_secs_f64(wait))
        }
    }

    struct Run {
        throttled: u64,
        max_rate: f64,
        /// Rows per second over the run, as a share of the portal's rate.
        share: f64,
        /// Seconds from the change of rate to a pace within 90–100% of the
        /// new one.
        found: Option<f64>,
    }

    /// `rows` requests through `concurrency` workers against `portal`, 20 ms
    /// per answer, the pool pausing on each 429 as the engine does. A request
    /// reaches the portal up to 2 ms late (the first of each worker up to
    /// 25 ms: its connection is opened). `change` sets the portal's rate at
    /// a time.
    fn simulate(
        c: &mut Controller,
        portal: &mut Portal,
        rows: u64,
        concurrency: usize,
        change: Option<(f64, f64)>,
    ) -> Run {
        struct Request {
            arrive: Instant,
            answer: Instant,
            ticket: Ticket,
            reached: bool,
            verdict: Option<Duration>,
        }
        let half = Duration::from_millis(10);
        let t0 = Instant::now();
        let mut now = t0;
        let mut in_flight: Vec<Request> = Vec::new();
        let mut pause_until = now;
        let mut next_send = now;
        let mut last_send = now;
        let (mut accepted, mut throttled, mut to_send, mut sent) = (0, 0, rows, 0);
        let mut max_rate: f64 = 0.0;
        let mut sends_window: VecDeque<Instant> = VecDeque::new();
        let mut random = fastrand::Rng::with_seed(7);
        let limit = portal.rate;
        let mut found = None;
        while accepted < rows {
            if let Some((at, rate)) = change
                && now.duration_since(t0).as_secs_f64() >= at
            {
                portal.rate = rate;
                let after = now.duration_since(t0).as_secs_f64() - at;
                let near = |r: f64| (0.9 * rate..=rate).contains(&r);
                if found.is_none() && c.rate().is_some_and(near) {
                    found = Some(after);
                }
            }
            // Requests reaching the portal, in order.
            in_flight.sort_by_key(|r| r.arrive);
            for r in &mut in_flight {
                if !r.reached && r.arrive <= now {
                    r.reached = true;
                    r.verdict = portal.take(r.arrive);
                    r.answer = r.arrive + half;
                }
            }
            // Answers due now.
            let mut answered = Vec::new();
            in_flight.retain(|r| {
                let due = r.reached && r.answer <= now;
                if due {
                    answered.push((r.ticket, r.verdict));
                }
                !due
            });
            for (ticket, verdict) in answered {
                c.on_answer(ticket, verdict, now);
                match verdict {
                    None => accepted += 1,
                    Some(d) => {
                        throttled += 1;
                        to_send += 1;
                        pause_until = pause_until.max(now + d);
                    }
                }
            }
            let before = c.rate();
            if let Some(ch) = c.tick(now) {
                // A new pace is a new, empty bucket (as the pacer makes).
                // The time waited since the last send counts.
                if let Some(r) = c.rate().filter(|_| c.rate() != before) {
                    next_send = last_send + Duration::from_secs_f64(1.0 / r);
                }
                if std::env::var_os("PACE_TRACE").is_some() {
                    eprintln!(
                        "{:7.2} {accepted:5} {ch:?} {before:?} -> {:?} m={:?}",
                        now.duration_since(t0).as_secs_f64(),
                        c.rate(),
                        c.measured()
                    );
                }
            }
            let can = in_flight.len() < concurrency && to_send > 0 && now >= pause_until;
            if can && now >= next_send {
                let ticket = c.on_send(now);
                last_send = now;
                let spread = if sent < concurrency { 25.0 } else { 2.0 };
                let late = Duration::from_secs_f64(random.f64() * spread / 1000.0);
                in_flight.push(Request {
                    arrive: now + half + late,
                    answer: now,
                    ticket,
                    reached: false,
                    verdict: None,
                });
                to_send -= 1;
                sent += 1;
                // Paced like the pacer's bucket (`--burst 1`): a send up to a
                // quarter period (2 ms at most) late is made up on the next.
                next_send = c.rate().map_or(now, |r| {
                    let period = Duration::from_secs_f64(1.0 / r);
                    let early = (period / 4).min(Duration::from_millis(2));
                    next_send.max(now.checked_sub(early).unwrap_or(now)) + period
                });
                sends_window.push_back(now);
                while sends_window
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
                {
                    sends_window.pop_front();
                }
                if now >= pause_until + Duration::from_secs(2) {
                    max_rate = max_rate.max(sends_window.len() as f64);
                }
                continue;
            }
            now += Duration::from_millis(1);
        }
        let elapsed = now.duration_since(t0).as_secs_f64();
        Run {
            throttled,
            max_rate,
            share: rows as f64 / elapsed / limit,
            found,
        }
    }

    /// One run of the bench's shape on the virtual clock.
    fn run_point(
        limit: f64,
        burst: f64,
        rows: u64,
        conc: usize,
        ceiling: Option<f64>,
    ) -> (Run, Controller) {
        let now = Instant::now();
        let mut c = Controller::new(ceiling, 0.1, now);
        let mut p = Portal::new(limit, burst, now);
        let run = simulate(&mut c, &mut p, rows, conc, None);
        (run, c)
    }

    const POINTS: [(f64, f64, u64, usize); 3] = [
        (5.0, 1.0, 300, 8),
        (40.0, 5.0, 2000, 32),
        (200.0, 10.0, 12_000, 64),
    ];

    #[tokio::test(start_paused = true)]
    async fn from_no_limit_it_finds_the_portals_rate() {
        for (limit, burst, rows, conc) in POINTS {
            let (run, c) = run_point(limit, burst, rows, conc, None);
            let pace = c.rate().unwrap();
            assert!(
                (0.9 * limit..=1.03 * limit).contains(&pace),
                "rides at {pace:.1}/s under {limit}/s"
            );
            let m = c.measured().unwrap();
            assert!(
                (m - limit).abs() / limit < 0.05,
                "measured {m:.1} for {limit}"
            );
            assert!(
                run.throttled <= conc as u64 + rows / 100,
                "{} 429s",
                run.throttled
            );
        }
    }

    /// The bench's six points (`cargo bench --bench throughput -- --adaptive`
    /// measures them over HTTP): in the model, each reaches 90% of the
    /// portal's rate within the 429 budget of `--concurrency` + 1% of rows,
    /// probes included (one or two a run since they come after 15 s).
    #[tokio::test(start_paused = true)]
    async fn it_rides_just_under_the_portals_rate_from_any_start() {
        let mut misses = Vec::new();
        for (limit, burst, rows, conc) in POINTS {
            for ceiling in [None, Some(2.0 * limit)] {
                let (run, c) = run_point(limit, burst, rows, conc, ceiling);
                let line = format!(
                    "L={limit} -r {ceiling:?}: {:.1}% of L, {} 429s, measured {:?}",
                    run.share * 100.0,
                    run.throttled,
                    c.measured()
                );
                eprintln!("{line}");
                if run.share < 0.9 || run.throttled > conc as u64 + rows / 100 {
                    misses.push(line);
                }
            }
        }
        assert!(misses.is_empty(), "{misses:#?}");
    }

    #[tokio::test(start_paused = true)]
    async fn it_never_exceeds_the_ceiling() {
        let (run, _) = run_point(200.0, 10.0, 600, 16, Some(30.0));
        assert_eq!(run.throttled, 0);
        assert!(run.max_rate <= 31.0, "{} in one second", run.max_rate);
        let now = Instant::now();
        let mut c = Controller::new(Some(80.0), 0.1, now);
        let mut p = Portal::new(40.0, 5.0, now);
        let run = simulate(&mut c, &mut p, 1000, 32, None);
        assert!(c.rate().unwrap() <= 80.0);
        assert!(run.max_rate <= 81.0, "{} in one second", run.max_rate);
    }

    #[tokio::test(start_paused = true)]
    async fn it_follows_a_limit_that_falls_or_rises() {
        // Falls from 100/s to 40/s after 10 s: a 429 doubted, one believed,
        // and an approach from the middle of what it read.
        let now = Instant::now();
        let mut c = Controller::new(None, 0.1, now);
        let mut p = Portal::new(100.0, 5.0, now);
        let run = simulate(&mut c, &mut p, 3000, 32, Some((10.0, 40.0)));
        let found = run.found.expect("the fall is followed");
        assert!(found <= 6.0, "within 90–100% of 40/s after {found:.1} s");
        // The pace at the end may be a probe's, a little over.
        let r = c.rate().unwrap();
        assert!((30.0..=46.0).contains(&r), "{r:.1}/s after the fall");
        // 1,000 rows at 100/s, then 2,000 at 40/s: 60 s at best; 74 s in
        // the model (finding 100/s from nothing costs three 1 s pauses).
        let secs = 3000.0 / (run.share * 100.0);
        assert!(secs <= 76.0, "{secs:.1} s");
        // Rises from 40/s to 80/s after 10 s: the probes find it.
        let now = Instant::now();
        let mut c = Controller::new(None, 0.1, now);
        let mut p = Portal::new(40.0, 5.0, now);
        let run = simulate(&mut c, &mut p, 8000, 32, Some((10.0, 80.0)));
        let found = run.found.expect("the rise is found");
        assert!(found <= 20.0, "within 90–100% of 80/s after {found:.1} s");
        let r = c.rate().unwrap();
        assert!(r >= 60.0, "{r:.1}/s after the rise to 80/s");
    }

    /// The rise, 30/s to 100/s after 15 s, 4,000 rows through 32
    /// workers: a probe soon after the rise finds it and climbs at once
    /// (it was 107 s, the probe a minute away and slow). The whole run
    /// within 75% of the ideal (50.5 s) and the 429 budget.
    #[tokio::test(start_paused = true)]
    async fn a_limit_that_rose_is_found_within_seconds() {
        let now = Instant::now();
        let mut c = Controller::new(None, 0.1, now);
        let mut p = Portal::new(30.0, 5.0, now);
        let run = simulate(&mut c, &mut p, 4000, 32, Some((15.0, 100.0)));
        let secs = 4000.0 / (run.share * 30.0);
        let found = run.found.expect("the rise is found");
        assert!(found <= 20.0, "90% of the new limit after {found:.1} s");
        assert!(secs <= 50.5 / 0.75, "{secs:.1} s");
        assert!(run.throttled <= 32 + 40, "{} 429s", run.throttled);
    }

    /// No limit, and one request in 200 answered 429 (`Retry-After: 1`):
    /// each pauses the pool, nothing more. Without the noise screen, each
    /// stray read as a limit just under the pace, or cut it by β; the pace
    /// sank far below what the pool sends. Over four seeds, the run keeps
    /// 75% of the pause-bound X/(1 + p·X) on average, X the pool's 800/s.
    #[tokio::test(start_paused = true)]
    async fn stray_429s_with_no_limit_leave_the_pool_its_pace() {
        let (x, p) = (16.0 / 0.02, 0.005);
        let bound = x / (1.0 + p * x);
        let mut shares = Vec::new();
        for seed in 0..4 {
            let now = Instant::now();
            let mut c = Controller::new(None, 0.1, now);
            let mut portal = Portal::new(1e9, 1e9, now);
            portal.strays = p;
            portal.random = fastrand::Rng::with_seed(seed);
            let run = simulate(&mut c, &mut portal, 3000, 16, None);
            shares.push(run.share * 1e9 / bound);
        }
        let mean = shares.iter().sum::<f64>() / shares.len() as f64;
        assert!(mean >= 0.75, "{shares:.2?} of the pause-bound");
        assert!(shares.iter().all(|s| *s >= 0.6), "{shares:.2?}");
    }

    /// Unpaced sending resumed after a stray, and the first request of it
    /// is refused: no burst of the portal's (the first burst, at the start,
    /// refused many), so no doubling from one request a second.
    #[test]
    fn only_the_first_unpaced_stretch_is_a_burst() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut c = Controller::new(None, 0.1, t0);
        let mut tickets: Vec<_> = (0..300).map(|i| c.on_send(at(i))).collect();
        let last = tickets.pop().unwrap();
        for t in tickets {
            c.on_answer(t, None, at(320));
        }
        c.on_answer(last, Some(Duration::from_secs(1)), at(320));
        assert_eq!(
            c.tick(at(1400)),
            Some(Change::Stray),
            "a long stretch, unpaced"
        );
        let first = c.on_send(at(1400));
        let rest: Vec<_> = (1..16).map(|i| c.on_send(at(1400 + i))).collect();
        c.on_answer(first, Some(Duration::from_secs(1)), at(1420));
        for t in rest {
            c.on_answer(t, None, at(1420));
        }
        assert_ne!(c.tick(at(2500)), Some(Change::Doubling));
        assert_eq!(c.rate(), None, "still unpaced");
    }

    /// The windows, 100 per 5 s, 1,500 rows through 32 workers:
    /// fixed (`Rack::Attack` with its `Retry-After` to the boundary, and by
    /// default without one) and sliding. Recognised from their 429s, then
    /// spread: at least 90% of 20/s, within the 429 budget (47; 55 without
    /// `Retry-After`, a gap to the target).
    #[tokio::test(start_paused = true)]
    async fn windows_are_recognised_and_spread() {
        let mut misses = Vec::new();
        for (sliding, retry_after) in [(false, true), (false, false), (true, true)] {
            let mut p = Portal::windowed(100, 5.0, sliding, retry_after);
            let mut c = Controller::new(None, 0.1, Instant::now());
            let run = simulate(&mut c, &mut p, 1500, 32, None);
            let line = format!(
                "sliding {sliding}, Retry-After {retry_after}: {:.1}% of 20/s, {} 429s, pace {:?}",
                run.share * 100.0,
                run.throttled,
                c.rate()
            );
            eprintln!("{line}");
            // Without `Retry-After` the model spends 51: the start's 31, then
            // one a second while a window is spent, until its length is known.
            // (Sent over two seconds, 47; but over HTTP with other tests on
            // two cores, a stretch then straddled a boundary now and then
            // and the window was read short.)
            let budget = if retry_after { 47 } else { 55 };
            if run.share < 0.9 || run.throttled > budget {
                misses.push(line);
            }
        }
        assert!(misses.is_empty(), "{misses:#?}");
    }

    /// A portal that also answers 429 now and then for no limit's sake (one
    /// request in 200): each stray reads as a limit a little under the pace.
    /// Believed, they would drag it down 429 after 429; the pace is kept
    /// until a second reading agrees.
    #[tokio::test(start_paused = true)]
    async fn stray_429s_do_not_drag_the_pace_down() {
        let (mut paces, mut shares) = (Vec::new(), Vec::new());
        for seed in 0..8 {
            let now = Instant::now();
            let mut c = Controller::new(None, 0.1, now);
            let mut p = Portal::new(40.0, 5.0, now);
            p.strays = 0.005;
            p.random = fastrand::Rng::with_seed(seed);
            let run = simulate(&mut c, &mut p, 4000, 32, None);
            paces.push(c.rate().unwrap());
            shares.push(run.share);
        }
        eprintln!("paces {paces:.1?}, shares {shares:.2?}");
        // The pace at the end is one moment (a pair of strays that agreed
        // lowers it until the next probe); the share is the whole run. Each
        // stray pauses the pool a second: 20 of them in a 100 s run.
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        assert!(mean(&paces) >= 35.0, "{paces:.1?} under a 40/s limit");
        assert!(mean(&shares) >= 0.7, "{shares:.2?} of L");
        assert!(shares.iter().all(|s| *s >= 0.55), "{shares:.2?} of L");
    }

    /// The moving limits and noise, in the model (tuning aid:
    /// `cargo test --lib shapes_in_the_model -- --ignored --nocapture`;
    /// `POINT=0..5` runs one of the six points instead, `STRAY=seed` the
    /// 40/s portal with strays, `SEED=n` one noise seed; `PACE_TRACE=1`
    /// prints each change of pace).
    #[tokio::test(start_paused = true)]
    #[ignore = "tuning aid: prints the shares"]
    async fn shapes_in_the_model() {
        if let Ok(seed) = std::env::var("STRAY") {
            let now = Instant::now();
            let mut c = Controller::new(None, 0.1, now);
            let mut p = Portal::new(40.0, 5.0, now);
            p.strays = 0.005;
            p.random = fastrand::Rng::with_seed(seed.parse().unwrap());
            let run = simulate(&mut c, &mut p, 4000, 32, None);
            eprintln!("{:.2} of L, {} 429s", run.share, run.throttled);
            return;
        }
        if let Ok(point) = std::env::var("POINT") {
            let i: usize = point.parse().unwrap();
            let (limit, burst, rows, conc) = POINTS[i / 2];
            let ceiling = (i % 2 == 1).then_some(2.0 * limit);
            let (run, _) = run_point(limit, burst, rows, conc, ceiling);
            eprintln!("{:.1}% {} 429s", run.share * 100.0, run.throttled);
            return;
        }
        for (from, to, rows, ideal) in [(100.0, 30.0, 3000, 65.0), (30.0, 100.0, 4000, 50.5)] {
            let now = Instant::now();
            let mut c = Controller::new(None, 0.1, now);
            let mut p = Portal::new(from, 5.0, now);
            let run = simulate(&mut c, &mut p, rows, 32, Some((15.0, to)));
            let secs = rows as f64 / (run.share * from);
            eprintln!(
                "{from}->{to}: {secs:.1} s, {:.1}% of ideal, {} 429s",
                ideal / secs * 100.0,
                run.throttled
            );
        }
        let seeds = std::env::var("SEED").map_or(0..4, |s| {
            let s: u64 = s.parse().unwrap();
            s..s + 1
        });
        for seed in seeds {
            let now = Instant::now();
            let mut c = Controller::new(None, 0.1, now);
            let mut p = Portal::new(1e9, 1e9, now);
            p.strays = 0.005;
            p.random = fastrand::Rng::with_seed(seed);
            let run = simulate(&mut c, &mut p, 3000, 16, None);
            let x = 16.0 / 0.02;
            let bound = x / (1.0 + 0.005 * x);
            let rate = run.share * 1e9;
            eprintln!(
                "noise seed {seed}: {rate:.1}/s, {:.1}% of the pause-bound {bound:.1}",
                rate / bound * 100.0
            );
        }
    }

    /// Two readings that agree on a burst say more than the burst seen at
    /// the start, which a slow opening of connections inflates: the bounds
    /// follow them (they were inverted when the seen burst was far above).
    #[test]
    fn a_fitted_burst_overrides_the_one_seen() {
        let mut c = Controller::new(None, 0.1, Instant::now());
        c.burst_seen = Some(10.0);
        c.burst_fit = Some(5.0);
        c.readings.push_back(drain(100.0, 5.0, 150.0));
        let (least, most) = c.burst_bounds();
        assert!(least <= 5.0 && 5.0 <= most, "{least}..{most}");
    }

    /// The unpaced burst's accepted answers that come after the pause (a
    /// slow create) still count in the burst.
    #[test]
    fn late_answers_of_the_burst_count() {
        let t0 = Instant::now();
        let mut c = Controller::new(None, 0.1, t0);
        let tickets: Vec<_> = (0..8).map(|_| c.on_send(t0)).collect();
        let at = |ms| t0 + Duration::from_millis(ms);
        for t in &tickets[5..] {
            c.on_answer(*t, Some(Duration::from_secs(1)), at(20));
        }
        assert_eq!(c.tick(at(1100)), Some(Change::Doubling));
        for t in &tickets[..5] {
            c.on_answer(*t, None, at(1500));
        }
        assert_eq!(c.burst_seen, Some(5.0));
    }

    /// A pool that cannot reach the pace (few workers, a slow portal: 10
    /// requests a second here, whatever the pace) does not raise it once it
    /// is twice what the pool sends: doubling on would end at no pace at all.
    #[test]
    fn a_pace_the_pool_cannot_reach_is_not_raised() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut c = Controller::new(None, 0.1, t0);
        let tickets: Vec<_> = (0..8).map(|_| c.on_send(t0)).collect();
        for (i, t) in tickets.into_iter().enumerate() {
            c.on_answer(t, (i > 0).then_some(Duration::from_secs(1)), at(20));
        }
        for ms in (1100..20_000).step_by(100) {
            c.tick(at(ms));
            let t = c.on_send(at(ms));
            c.on_answer(t, None, at(ms + 20));
        }
        // The doubling's first second (1, 2, 4 … 32/s) is let run.
        let pace = c.rate().unwrap();
        assert!(pace <= 40.0, "{pace}/s for a pool that sends 10/s");
    }

    /// Sends at `rate` from a full bucket (`limit`, `burst`) until the first
    /// 429: the reading it makes.
    fn drain(limit: f64, burst: f64, rate: f64) -> Reading {
        let t0 = Instant::now();
        let mut p = Portal::new(limit, burst, t0);
        let mut sends = Vec::new();
        for i in 0..100_000 {
            let t = f64::from(i) / rate;
            if p.take(t0 + Duration::from_secs_f64(t)).is_some() {
                return Reading { sends, fail: t };
            }
            sends.push(t);
        }
        unreachable!("{rate}/s never drained the bucket");
    }

    #[test]
    fn a_reading_gives_the_rate_when_the_burst_is_known() {
        for (limit, burst, rate) in [
            (40.0, 5.0, 44.0),
            (40.0, 5.0, 80.0),
            (200.0, 10.0, 210.0),
            (5.0, 1.0, 5.5),
            (5.0, 1.0, 50.0),
        ] {
            let reading = drain(limit, burst, rate);
            let (fit, span) = reading.fit_rate(burst).unwrap();
            assert!(
                (fit - limit).abs() <= 1.0 / span,
                "{fit} for {limit} (sent at {rate}, drained {span} s)"
            );
        }
        // A pace that climbed: the bucket stayed full below the limit.
        let t0 = Instant::now();
        let mut p = Portal::new(40.0, 5.0, t0);
        let (mut sends, mut t, mut rate) = (Vec::new(), 0.0, 10.0);
        let fail = loop {
            if p.take(t0 + Duration::from_secs_f64(t)).is_some() {
                break t;
            }
            sends.push(t);
            rate *= 1.01;
            t += 1.0 / rate;
        };
        let (fit, span) = Reading { sends, fail }.fit_rate(5.0).unwrap();
        assert!((fit - 40.0).abs() <= 1.0 / span, "{fit} (drained {span} s)");
        assert!(span < fail / 2.0, "{span} s of {fail} s");
    }

    #[test]
    fn two_readings_of_different_drains_give_the_burst() {
        for (limit, burst, fast, slow) in [(40.0, 5.0, 80.0, 44.0), (200.0, 10.0, 400.0, 220.0)] {
            let (a, b) = (drain(limit, burst, fast), drain(limit, burst, slow));
            let fit = fit_burst(&a, &b).unwrap();
            assert!((fit - burst).abs() < 1.0, "{fit} for {burst}");
            assert_eq!(fit_burst(&a, &a), None, "one drain twice tells nothing");
        }
    }

    /// A deep bucket a one-second pause does not refill: fewer accepted than
    /// the burst before the 429. Nothing is read (no negative rate); the pace
    /// is cut from the rate that failed.
    #[test]
    fn a_bucket_not_full_at_the_start_reads_nothing() {
        let reading = Reading {
            sends: vec![0.0, 0.1, 0.2],
            fail: 0.3,
        };
        assert_eq!(reading.fit_rate(100.0), None);
        let t0 = Instant::now();
        let mut c = Controller::new(Some(12.0), 0.1, t0);
        c.burst_seen = Some(100.0);
        for i in 0..4 {
            let t = c.on_send(t0 + Duration::from_millis(100 * i));
            let verdict = (i == 3).then_some(Duration::from_secs(1));
            c.on_answer(t, verdict, t0 + Duration::from_millis(100 * i + 20));
        }
        assert!(c.tick(t0 + Duration::from_secs(2)).is_some());
        assert_eq!(c.measured(), None);
        assert!(
            c.rate().is_some_and(|r| r > 0.0 && r < 12.0),
            "{:?}",
            c.rate()
        );
    }

    /// The first 429 at `--rate`: the burst is not known, so the stretch
    /// says only that the rate was too much. Nothing is "accepted" from it
    /// (the summary would advise a rate that throttles).
    #[test]
    fn a_first_429_at_the_ceiling_measures_nothing() {
        let t0 = Instant::now();
        let mut c = Controller::new(Some(72.0), 0.1, t0);
        for i in 0..5 {
            let t = c.on_send(t0 + Duration::from_millis(14 * i));
            let verdict = (i == 4).then_some(Duration::from_secs(1));
            c.on_answer(t, verdict, t0 + Duration::from_millis(14 * i + 20));
        }
        assert_eq!(c.tick(t0 + Duration::from_millis(500)), None, "paused");
        assert!(c.tick(t0 + Duration::from_secs(2)).is_some());
        assert_eq!(c.measured(), None);
        assert!(
            c.rate().is_some_and(|r| r <= 0.7 * 72.0 + 1e-9),
            "{:?}",
            c.rate()
        );
    }
}
