//! Finding the rate the portal accepts and riding just under it.
//!
//! The portal's limit is a server-side token bucket we cannot see: `L`
//! requests per second with a burst of `B`. What the pool can see is when it
//! sent each request and whether the answer was a 429. The controller reads
//! those the way a token bucket writes them:
//!
//! - A *segment* is a stretch of sending at one rate that starts with the
//!   portal's bucket full: after a 429 pause (the pause refills it), or at a
//!   step of the start-up doubling (the rates before it passed).
//! - When a segment ends in a 429, the `A` requests accepted before it, over
//!   the `s` seconds since the segment's first send, satisfy `A ≈ B + L·s`.
//!   With `B` known that gives `L`; `A / s` is an upper bound anyway.
//! - `B` comes from the first unpaced burst of `-r 0` (everything sent at
//!   once, `B` of it accepted), or from two 429-ended segments at different
//!   rates (two points on the line `A = B + L·s`).
//!
//! The pace then follows CUBIC's shape (RFC 9438) around that estimate:
//! cruise at 99% of it for a while, then probe upwards in growing steps; a
//! 429 that comes quickly (far above the limit) cuts the pace by β = 0.7 or
//! back to the highest rate that held, as the AWS SDKs' adaptive mode does.
//! Each burst of 429s counts once: the pool pauses for it anyway.
//!
//! Pure logic: time comes in as arguments, so the unit tests run it against
//! a simulated portal on a virtual clock.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// Cruise at this share of the measured rate.
const CRUISE: f64 = 0.99;
/// A quick 429 cuts the pace to this share (CUBIC's β).
const BETA: f64 = 0.7;
/// A rate that lasted this long without a 429 passed.
const PASS: Duration = Duration::from_secs(1);
/// How long to cruise before probing upwards, at first.
const HOLD: Duration = Duration::from_secs(20);
/// How long to cruise on a rough measurement before probing.
const ROUGH_HOLD: Duration = Duration::from_secs(5);
/// The longest cruise between probes (a probe that finds the same limit
/// doubles the next hold).
const MAX_HOLD: Duration = Duration::from_secs(60);
/// The start-up doubling period, after the first unpaced burst.
const DOUBLING: Duration = Duration::from_millis(250);
/// How often the pace is reconsidered while cruising.
const STEP: Duration = Duration::from_millis(500);
/// A probe step lasts this long, and grows each time (0.5%, 1%, 1.5%, 2%).
const PROBE_EVERY: Duration = Duration::from_secs(2);
const PROBE_FIRST: f64 = 0.005;
const PROBE_MAX: f64 = 0.02;
/// A 429-ended segment is worth measuring when it lasted this long with this
/// many accepted, or when the portal's burst is known and it accepted this
/// many more than the burst.
const MEASURE_SPAN: f64 = 2.0;
const MEASURE_ACCEPTED: u64 = 20;
const MEASURE_OVER_BURST: f64 = 20.0;
/// An unpaced start whose first 429 came this soon was one burst.
const BURST_SPAN: Duration = Duration::from_millis(100);
/// Accepted send times kept per segment (older ones are only counted).
const KEEP_SENDS: usize = 100_000;

/// Where the controller is in its search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// No 429 yet: unpaced (`-r 0`) or at `--rate`.
    Start,
    /// After the first unpaced burst: doubling from the burst's size.
    Doubling,
    /// The limit is roughly known: cruise under it, probe now and then.
    Cruise,
}

/// Why the pace changed (logged with `-v`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// The start-up doubling.
    Doubling,
    /// A 429 whose segment measured the portal's rate.
    Measured,
    /// A 429 that came quickly: far above the limit.
    Cut,
    /// Closing in on the measured rate from below.
    Recover,
    /// Probing above it.
    Probe,
}

/// The stretch of sending since the portal's bucket was last full.
#[derive(Debug)]
struct Segment {
    id: u64,
    first_send: Option<Instant>,
    /// One rate all along (the `A = B + L·s` reading holds).
    clean: bool,
    /// Accepted requests of this segment: send times (kept in order), and
    /// how many older ones were only counted.
    accepted: VecDeque<Instant>,
    accepted_folded: u64,
    /// The earliest send of a request of this segment answered 429.
    first_failure: Option<Instant>,
}

impl Segment {
    fn new(id: u64) -> Segment {
        Segment {
            id,
            first_send: None,
            clean: true,
            accepted: VecDeque::new(),
            accepted_folded: 0,
            first_failure: None,
        }
    }

    fn accepted_total(&self) -> u64 {
        self.accepted_folded + self.accepted.len() as u64
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
            self.accepted_folded += 1;
        }
    }

    /// The 429 came within the first moments: everything was sent at once.
    fn is_burst(&self) -> bool {
        match (self.first_send, self.first_failure) {
            (Some(a), Some(b)) => b.saturating_duration_since(a) <= BURST_SPAN,
            _ => true,
        }
    }

    /// Accepted requests per second, up to the first 429.
    fn send_rate(&self) -> Option<f64> {
        let (a, b) = (self.first_send?, self.first_failure?);
        let span = b.saturating_duration_since(a).as_secs_f64();
        (span > 0.0).then(|| self.accepted_before(b) as f64 / span)
    }

    /// Accepted requests sent before `t`.
    fn accepted_before(&self, t: Instant) -> u64 {
        let after = self.accepted.iter().rev().take_while(|s| **s >= t).count();
        self.accepted_total() - after as u64
    }
}

/// What a request carries from its turn to its answer: the segment it was
/// sent in, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ticket {
    segment: u64,
    sent: Instant,
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
    /// A 429 ended the segment; the decision is taken at the pause's end,
    /// when the answers of the segment are in.
    pending: Option<Pending>,
    next_step: Instant,
    /// The portal's burst, once known.
    burst: Option<f64>,
    /// `(s, A)` of recent clean 429-ended segments.
    points: VecDeque<(f64, u64)>,
    /// The rate the portal accepted, as last measured.
    measured: Option<f64>,
    /// The lowest rate that failed quickly, and the highest that passed,
    /// since the last measurement.
    cap: Option<f64>,
    passed: Option<f64>,
    hold: Duration,
    hold_until: Instant,
    probe: Option<f64>,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    rate: Option<f64>,
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
            burst: None,
            points: VecDeque::new(),
            measured: None,
            cap: None,
            passed: None,
            hold: HOLD,
            hold_until: now,
            probe: None,
        }
    }

    /// The pace in force: requests per second, `None` for no limit.
    pub(crate) fn rate(&self) -> Option<f64> {
        self.rate
    }

    /// The rate the portal was measured to accept, once a 429 told. Not the
    /// rate a quick 429 refused (`cap`): that one is only an upper bound,
    /// and advising it would draw more 429s.
    pub(crate) fn measured(&self) -> Option<f64> {
        self.measured
    }

    /// A request is sent now.
    pub(crate) fn on_send(&mut self, now: Instant) -> Ticket {
        self.segment.first_send.get_or_insert(now);
        Ticket {
            segment: self.segment.id,
            sent: now,
        }
    }

    /// The portal answered the request of `ticket`: accepted (any answer but
    /// a 429), or throttled. Answers of older segments no longer count.
    pub(crate) fn on_answer(&mut self, ticket: Ticket, throttled: Option<Duration>, now: Instant) {
        if ticket.segment != self.segment.id {
            // A request of the segment before, accepted while this one had
            // begun, took one of its tokens: it counts here, as sent first.
            if ticket.segment + 1 == self.segment.id
                && throttled.is_none()
                && let Some(first) = self.segment.first_send
            {
                self.segment.record_accepted(first);
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
        let first = self.segment.first_failure.get_or_insert(ticket.sent);
        *first = (*first).min(ticket.sent);
        if self.pending.is_none() {
            self.pending = Some(Pending { rate: self.rate });
        }
        let end = now + pause;
        self.episode_end = Some(self.episode_end.map_or(end, |e| e.max(end)));
    }

    /// Called before each send: takes the decisions that are due. Returns the
    /// reason when the pace changed.
    pub(crate) fn tick(&mut self, now: Instant) -> Option<Change> {
        if self.episode_end.is_some_and(|e| now < e) {
            return None;
        }
        self.episode_end = None;
        if let Some(p) = self.pending.take() {
            return Some(self.after_throttle(p, now));
        }
        if self.rate.is_none() || now < self.next_step {
            return None;
        }
        self.step(now)
    }

    fn set_rate(&mut self, rate: f64, now: Instant) {
        let r = self.ceiling.map_or(rate, |c| rate.min(c)).max(self.floor);
        if self.rate != Some(r) {
            self.rate = Some(r);
            self.rate_since = now;
            self.segment.clean = false;
        }
    }

    /// A new segment: the portal's bucket is full again.
    fn new_segment(&mut self) {
        self.segment = Segment::new(self.segment.id + 1);
    }

    /// The decision at the end of a 429 pause.
    fn after_throttle(&mut self, p: Pending, now: Instant) -> Change {
        let seg = std::mem::replace(&mut self.segment, Segment::new(0));
        self.segment = Segment::new(seg.id + 1);
        self.probe = None;
        let was_probing = self.probe_was_on(now);
        let change = match p.rate {
            // Unpaced for a while: what went through measures the portal.
            None if !seg.is_burst() => {
                let r = seg.send_rate().unwrap_or(1.0);
                self.read_segment(&seg, r, false, now)
            }
            None => {
                // The unpaced burst: what it got accepted is the portal's burst.
                let b = (seg.accepted_total() as f64).max(1.0);
                self.burst = Some(b);
                self.mode = Mode::Doubling;
                self.set_rate(b, now);
                self.next_step = now + DOUBLING;
                return Change::Doubling;
            }
            Some(r) => self.read_segment(&seg, r, was_probing, now),
        };
        self.mode = Mode::Cruise;
        self.hold_until = now + self.hold;
        self.next_step = now + STEP;
        self.rate_since = now;
        self.segment.clean = true;
        change
    }

    fn probe_was_on(&self, now: Instant) -> bool {
        self.mode == Mode::Cruise && now >= self.hold_until
    }

    /// What a 429-ended segment at rate `r` says, and the pace after it.
    fn read_segment(&mut self, seg: &Segment, r: f64, was_probing: bool, now: Instant) -> Change {
        if self.passed.is_some_and(|f| f >= r) {
            self.passed = Some(r * 0.97);
        }
        let (Some(first), Some(fail)) = (seg.first_send, seg.first_failure) else {
            return self.cut(r, now);
        };
        let span = fail
            .saturating_duration_since(first)
            .as_secs_f64()
            .max(1e-3);
        let accepted = seg.accepted_before(fail);
        if seg.clean {
            self.points.push_back((span, accepted));
            if self.points.len() > 4 {
                self.points.pop_front();
            }
        }
        let burst = self.burst_size();
        tracing::trace!(
            rate = r,
            span,
            accepted,
            clean = seg.clean,
            ?burst,
            "segment ended by a 429"
        );
        // Past the burst: `A = B + L·s` gives `L`. Short of it, the bucket
        // was not full at the start (a pause refills only `L` a second), so
        // subtracting `B` would read too little, even a negative rate.
        let past_burst = burst.filter(|b| seg.clean && accepted as f64 >= b + MEASURE_OVER_BURST);
        let informative =
            past_burst.is_some() || (span >= MEASURE_SPAN && accepted >= MEASURE_ACCEPTED);
        if !informative {
            return self.cut(r, now);
        }
        let upper = accepted as f64 / span;
        let m = match past_burst {
            Some(b) => ((accepted as f64 + 0.5 - b) / span).min(upper),
            None if seg.clean => upper,
            // Rates changed within the segment: the one that failed was just
            // above the limit.
            None => 0.985 * r,
        };
        // One token more or less moves `m` by `1/span`: a rough reading is
        // checked again soon, a precise one held.
        let precise = seg.clean && 1.0 / (span * m) <= 0.01;
        self.hold = match self.measured {
            Some(old) if was_probing && (m - old).abs() / old < 0.02 => {
                (self.hold * 2).min(MAX_HOLD)
            }
            _ if precise => HOLD,
            _ => ROUGH_HOLD,
        };
        self.measured = Some(m);
        self.cap = None;
        self.set_rate(CRUISE * m.min(r), now);
        Change::Measured
    }

    /// A 429 that came quickly: far above the limit.
    fn cut(&mut self, r: f64, now: Instant) -> Change {
        let cap = self.cap.map_or(r, |c| c.min(r));
        self.cap = Some(cap);
        let next = match self.passed.filter(|f| *f < r) {
            None => BETA * r,
            Some(lo) if cap <= lo * 1.04 => lo,
            // Half way between what held and what failed.
            Some(lo) => f64::midpoint(lo, cap).min(r * 0.99).max(lo),
        };
        if self.measured.is_some_and(|m| m >= r) {
            self.measured = None;
        }
        self.set_rate(next, now);
        Change::Cut
    }

    /// The portal's burst: from the unpaced burst, else from two 429-ended
    /// segments at different rates (`A = B + L·s`, solved for `B`).
    fn burst_size(&self) -> Option<f64> {
        if self.burst.is_some() {
            return self.burst;
        }
        let pts: Vec<_> = self.points.iter().rev().take(3).collect();
        for (i, (s2, a2)) in pts.iter().enumerate() {
            for (s1, a1) in pts.iter().skip(i + 1) {
                if s1.max(*s2) < 1.3 * s1.min(*s2) {
                    continue;
                }
                let l = (*a2 as f64 - *a1 as f64) / (s2 - s1);
                let b = *a2 as f64 - l * s2;
                if l > 0.0 && b >= 0.0 && b <= (*a1).min(*a2) as f64 {
                    return Some(b.max(1.0));
                }
            }
        }
        None
    }

    /// A quiet moment: double (start-up), close in on the measured rate, or
    /// probe above it.
    fn step(&mut self, now: Instant) -> Option<Change> {
        let rate = self.rate?;
        if self.mode == Mode::Doubling {
            if self.ceiling.is_some_and(|c| rate >= c) {
                return None;
            }
            self.passed = Some(rate);
            // The rates so far passed: the next doubling starts from a full bucket.
            self.set_rate(rate * 2.0, now);
            self.new_segment();
            self.next_step = now + DOUBLING;
            return Some(Change::Doubling);
        }
        self.next_step = now + STEP;
        if self.mode != Mode::Cruise {
            return None;
        }
        let held = now.saturating_duration_since(self.rate_since);
        if held >= PASS && self.passed.is_none_or(|f| rate > f) {
            self.passed = Some(rate);
        }
        let goal = match (
            self.cap.map(|c| 0.97 * c),
            self.measured.map(|m| CRUISE * m),
        ) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(goal) = goal
            && rate < goal * 0.995
        {
            if held < PASS {
                return None;
            }
            self.set_rate(rate + ((goal - rate) * 0.5).max(rate * 0.005), now);
            return Some(Change::Recover);
        }
        if now < self.hold_until || held < PROBE_EVERY || self.ceiling.is_some_and(|c| rate >= c) {
            return None;
        }
        let step = self
            .probe
            .map_or(PROBE_FIRST, |p| (p + PROBE_FIRST).min(PROBE_MAX));
        self.probe = Some(step);
        self.set_rate(rate * (1.0 + step), now);
        Some(Change::Probe)
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
    }

    impl Portal {
        fn new(rate: f64, burst: f64, now: Instant) -> Portal {
            Portal {
                rate,
                burst,
                tokens: burst,
                last: now,
            }
        }

        /// `None`: accepted; else the `Retry-After` (whole seconds, ≥ 1).
        fn take(&mut self, now: Instant) -> Option<Duration> {
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
        elapsed: f64,
    }

    /// `rows` requests through `concurrency` workers against `portal`, with
    /// `latency` per answer; the pool pauses on each 429 as the engine does.
    /// `change` alters the portal's rate at a time.
    fn simulate(
        c: &mut Controller,
        portal: &mut Portal,
        rows: u64,
        concurrency: usize,
        change: Option<(f64, f64)>,
    ) -> Run {
        let latency = Duration::from_millis(20);
        let t0 = Instant::now();
        let mut now = t0;
        let mut in_flight: Vec<(Instant, Ticket, Option<Duration>)> = Vec::new();
        let mut pause_until = now;
        let mut next_send = now;
        let (mut accepted, mut throttled, mut to_send) = (0, 0, rows);
        let mut max_rate: f64 = 0.0;
        let mut sends_window: VecDeque<Instant> = VecDeque::new();
        while accepted < rows {
            if let Some((at, rate)) = change
                && now.duration_since(t0).as_secs_f64() >= at
            {
                portal.rate = rate;
            }
            // Answers due now.
            in_flight.sort_by_key(|f| f.0);
            while in_flight.first().is_some_and(|f| f.0 <= now) {
                let (_, ticket, verdict) = in_flight.remove(0);
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
            if let Some(ch) = c.tick(now)
                && std::env::var_os("PACE_TRACE").is_some()
            {
                eprintln!(
                    "{:7.2} {ch:?} {before:?} -> {:?} m={:?}",
                    now.duration_since(t0).as_secs_f64(),
                    c.rate(),
                    c.measured()
                );
            }
            let can = in_flight.len() < concurrency && to_send > 0 && now >= pause_until;
            if can && now >= next_send {
                let ticket = c.on_send(now);
                let verdict = portal.take(now + latency / 2);
                in_flight.push((now + latency, ticket, verdict));
                to_send -= 1;
                // Paced like a bucket: late sends are made up, as governor does.
                next_send = c.rate().map_or(now, |r| {
                    let period = Duration::from_secs_f64(1.0 / r);
                    next_send.max(now.checked_sub(period).unwrap_or(now)) + period
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
        Run {
            throttled,
            max_rate,
            elapsed: now.duration_since(t0).as_secs_f64(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn from_no_limit_it_finds_the_portals_rate() {
        for (rate, burst, rows, conc) in [(40.0, 5.0, 2000, 32), (200.0, 10.0, 12_000, 64)] {
            let now = Instant::now();
            let mut c = Controller::new(None, 0.1, now);
            let mut p = Portal::new(rate, burst, now);
            let r = simulate(&mut c, &mut p, rows, conc, None);
            let pace = c.rate().unwrap();
            assert!(
                (0.9 * rate..=1.03 * rate).contains(&pace),
                "rides at {pace:.1}/s under {rate}/s"
            );
            let m = c.measured().unwrap();
            assert!((m - rate).abs() / rate < 0.05, "measured {m:.1} for {rate}");
            assert!(
                r.throttled <= conc as u64 + rows / 100,
                "{} 429s",
                r.throttled
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn it_never_exceeds_the_ceiling() {
        let now = Instant::now();
        let mut c = Controller::new(Some(30.0), 0.1, now);
        let mut p = Portal::new(200.0, 10.0, now);
        let r = simulate(&mut c, &mut p, 600, 16, None);
        assert_eq!(r.throttled, 0);
        assert!(r.max_rate <= 31.0, "{} in one second", r.max_rate);
        let now = Instant::now();
        let mut c = Controller::new(Some(80.0), 0.1, now);
        let mut p = Portal::new(40.0, 5.0, now);
        simulate(&mut c, &mut p, 1000, 32, None);
        assert!(c.rate().unwrap() <= 80.0);
    }

    #[tokio::test(start_paused = true)]
    async fn it_follows_a_limit_that_falls_or_rises() {
        // Falls from 100/s to 40/s after 10 s.
        let now = Instant::now();
        let mut c = Controller::new(None, 0.1, now);
        let mut p = Portal::new(100.0, 5.0, now);
        simulate(&mut c, &mut p, 3000, 32, Some((10.0, 40.0)));
        let r = c.rate().unwrap();
        assert!(
            (30.0..=41.0).contains(&r),
            "{r:.1}/s after the fall to 40/s"
        );
        // Rises from 40/s to 80/s after 10 s: the probes find it.
        let now = Instant::now();
        let mut c = Controller::new(None, 0.1, now);
        let mut p = Portal::new(40.0, 5.0, now);
        let run = simulate(&mut c, &mut p, 8000, 32, Some((10.0, 80.0)));
        let r = c.rate().unwrap();
        assert!(
            r >= 60.0,
            "{r:.1}/s after the rise to 80/s ({:.0} s)",
            run.elapsed
        );
    }

    /// A deep bucket a one-second pause does not refill (B = 100, L = 10/s):
    /// a segment starts with far fewer than B tokens. One that is
    /// informative by its length, not by passing the burst, must not have
    /// the burst subtracted: that read a negative rate and sank the pace to
    /// its floor.
    #[test]
    fn a_segment_short_of_the_burst_is_never_read_as_a_negative_rate() {
        let t0 = Instant::now();
        let mut c = Controller::new(None, 0.1, t0);
        c.burst = Some(100.0);
        let mut seg = Segment::new(c.segment.id);
        seg.first_send = Some(t0);
        for i in 0..65 {
            seg.accepted.push_back(t0 + Duration::from_millis(i * 84));
        }
        seg.first_failure = Some(t0 + Duration::from_millis(5500));
        let now = t0 + Duration::from_secs(6);
        c.read_segment(&seg, 11.8, false, now);
        let m = c.measured().unwrap();
        assert!(m > 0.0, "measured {m}");
        let pace = c.rate().unwrap();
        assert!(pace >= 5.0, "{pace}/s");
    }

    /// A quick 429 says only that the rate refused was too much: no rate is
    /// "accepted" from it (the summary would advise a rate that throttles).
    #[test]
    fn a_quick_429_measures_nothing() {
        let t0 = Instant::now();
        let mut c = Controller::new(None, 0.1, t0);
        let mut seg = Segment::new(c.segment.id);
        seg.first_send = Some(t0);
        for i in 0..3 {
            seg.accepted.push_back(t0 + Duration::from_millis(i * 10));
        }
        seg.first_failure = Some(t0 + Duration::from_millis(40));
        c.read_segment(&seg, 72.0, false, t0 + Duration::from_millis(60));
        assert_eq!(c.measured(), None);
        assert!(c.rate().is_some_and(|r| r < 72.0), "{:?}", c.rate());
    }

    #[test]
    fn the_burst_is_fitted_from_two_segments() {
        let now = Instant::now();
        let mut c = Controller::new(Some(80.0), 0.1, now);
        // L = 40, B = 5: A = 5 + 40 s.
        c.points.push_back((0.125, 10));
        c.points.push_back((1.7, 73));
        let b = c.burst_size().unwrap();
        assert!((b - 5.0).abs() < 0.5, "{b}");
    }
}
