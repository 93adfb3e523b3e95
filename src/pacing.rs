//! How fast rows go out: the shared token bucket (with adaptive slow-down on
//! 429s), the pause gate every worker waits on after a 429, and the retry
//! backoff schedule.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use backon::BackoffBuilder;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::Notify;
use tokio::time::Instant;

/// The token bucket in front of every POST. `--rate 0` means none, until the
/// portal answers 429: then the rate drops multiplicatively (x0.7) and comes
/// back additively in quiet seconds, never above `--rate`.
pub(crate) struct Pacer {
    max_rate: Option<f64>,
    /// The lowest rate a 429 may bring: 0.1/s, or `--rate` when lower.
    floor: f64,
    burst: NonZeroU32,
    state: Mutex<PacerState>,
    /// Wakes the waiters of a limiter that was just replaced, so that they
    /// queue on the new one (at the new rate) instead of the old.
    changed: Notify,
    started: Instant,
}

struct PacerState {
    /// The rate in force; `None` means unlimited.
    rate: Option<f64>,
    limiter: Option<Arc<Bucket>>,
    /// Counts limiter replacements: a token from an older one does not count.
    generation: u64,
    /// When the last 429 pause ends (or ended): the quiet time counts from there.
    last_throttle: Option<Instant>,
    last_raise: Instant,
    /// The additive step, fixed at the first 429.
    step: f64,
    /// With `--rate 0`: above this, limiting stops again.
    release_above: f64,
    /// Answers that were not 429, and where the current measure of them
    /// started (the end of the last 429 pause).
    accepted: u64,
    accepted_mark: (Instant, u64),
}

/// A row that has been answered 429 for this long gives up; a single
/// `Retry-After` this long stops the run. Pauses never last longer.
pub(crate) const THROTTLE_GIVE_UP: Duration = Duration::from_secs(600);
/// `Retry-After` values beyond this are read as this (a day): far beyond
/// what a row waits anyway, and no `Instant` overflow.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(86_400);

const DECREASE: f64 = 0.7;
const MIN_RATE: f64 = 0.1;
/// A rate this high is no limit at all (its period would round to zero).
const MAX_RATE: f64 = 1e9;
const MAX_BURST: NonZeroU32 = NonZeroU32::new(10_000).unwrap();
const QUIET: Duration = Duration::from_secs(1);
/// 429s closer together than this are one burst, counted once.
const SAME_BURST: Duration = Duration::from_millis(250);

/// The token bucket of a rate: a governor limiter counting in `1/k` of a
/// token. A POST takes `k` cells; the bucket holds `k * burst + 1`.
///
/// With whole tokens (`k = 1`, burst 1) a POST that leaves a few hundred
/// microseconds after its turn (timer and task wake-up) pushes every later
/// turn back by as much, and the rate ends ~2% under `--rate`. The extra cell
/// lets a POST go up to `1/k` of a period early, so a late wake-up is made up
/// on the next turn; the slots stay one period apart, so no 1-second window
/// holds more than `--rate + --burst` POSTs (`k` is chosen so that the extra
/// cell never adds a whole POST to a window, fractional rates included).
pub(crate) struct Bucket {
    limiter: DefaultDirectRateLimiter,
    cells_per_post: NonZeroU32,
}

impl Bucket {
    /// `rate` per second, holding `burst`; `full` at the start, or empty
    /// (a bucket that replaces another mid-run hands out no burst at once).
    fn new(rate: f64, burst: NonZeroU32, full: bool) -> Bucket {
        // At most a day between tokens: far beyond any rate a user gives.
        let rate = rate.clamp(1.0 / 86_400.0, MAX_RATE);
        let fraction = rate.fract();
        let k = if fraction < 1e-9 {
            4
        } else {
            // Clamped to 4..=10,000 first: the cast is exact.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let k = ((1.0 / (1.0 - fraction)).floor() + 1.0).clamp(4.0, 10_000.0) as u32;
            k
        };
        // The command line's bound, which keeps governor's sums in range.
        let burst = burst.min(MAX_BURST);
        let cells = burst
            .get()
            .checked_mul(k)
            .and_then(|c| c.checked_add(1))
            .and_then(NonZeroU32::new);
        let (k, cells) = match cells {
            Some(c) => (k, c),
            // A burst too large to split: whole tokens.
            None => (1, burst),
        };
        let period = Duration::from_secs_f64(1.0 / rate / f64::from(k));
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
            .allow_burst(cells);
        let limiter = RateLimiter::direct(quota);
        if !full {
            let _ = limiter.check_n(cells);
        }
        Bucket {
            limiter,
            cells_per_post: NonZeroU32::new(k).unwrap_or(NonZeroU32::MIN),
        }
    }

    /// Waits for the turn of one POST.
    async fn until_ready(&self) {
        // `cells_per_post` never exceeds the bucket's size.
        let _ = self.limiter.until_n_ready(self.cells_per_post).await;
    }
}

impl Pacer {
    /// `rate` in requests per second (`0` = no limit), `burst` the bucket's size.
    pub(crate) fn new(rate: f64, burst: u32) -> Pacer {
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        let max_rate = (rate > 0.0 && rate < MAX_RATE).then_some(rate);
        let now = Instant::now();
        Pacer {
            max_rate,
            floor: max_rate.map_or(MIN_RATE, |r| r.min(MIN_RATE)),
            burst,
            state: Mutex::new(PacerState {
                rate: max_rate,
                limiter: max_rate.map(|r| Arc::new(Bucket::new(r, burst, true))),
                generation: 0,
                last_throttle: None,
                last_raise: now,
                step: 0.0,
                release_above: f64::INFINITY,
                accepted: 0,
                accepted_mark: (now, 0),
            }),
            changed: Notify::new(),
            started: now,
        }
    }

    /// Waits for a token of the limiter in force: call once before each POST.
    pub(crate) async fn acquire(&self) {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let (limiter, generation) = {
                let mut s = self.lock();
                self.maybe_raise(&mut s);
                (s.limiter.clone(), s.generation)
            };
            let Some(limiter) = limiter else {
                return;
            };
            tokio::select! {
                () = limiter.until_ready() => {
                    if self.lock().generation == generation {
                        return;
                    }
                }
                () = changed => {}
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PacerState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set_rate(&self, s: &mut PacerState, rate: Option<f64>) {
        s.rate = rate;
        s.limiter = rate.map(|r| Arc::new(Bucket::new(r, self.burst, false)));
        s.generation += 1;
        self.changed.notify_waiters();
    }

    /// A 429 was answered and every worker now pauses for `pause`: slow the
    /// whole pool down.
    pub(crate) fn on_throttle(&self, pause: Duration) {
        let now = Instant::now();
        let pause_end = now + pause.min(THROTTLE_GIVE_UP);
        let mut s = self.lock();
        // 429s during the pause, or just after the last one, are one burst.
        if let Some(t) = s.last_throttle
            && now.saturating_duration_since(t) < SAME_BURST
        {
            s.last_throttle = Some(t.max(pause_end));
            s.last_raise = s.last_raise.max(pause_end);
            return;
        }
        // What the portal accepted since the last pause ended is the best
        // estimate of what it allows; without one, the run's average.
        let (at, count) = s.accepted_mark;
        let since_mark = s.accepted - count;
        let secs = now.saturating_duration_since(at).as_secs_f64();
        let measured = (secs >= 0.05 && since_mark > 0).then(|| since_mark as f64 / secs);
        let average = || {
            let secs = now.duration_since(self.started).as_secs_f64().max(0.05);
            (s.accepted > 0).then(|| s.accepted as f64 / secs)
        };
        let current = match (s.rate, measured) {
            (Some(r), Some(m)) => r.min(m),
            (Some(r), None) => r,
            (None, Some(m)) => m,
            (None, None) => average().unwrap_or(1.0),
        };
        if self.max_rate.is_none() && s.release_above.is_infinite() {
            s.release_above = (current * 2.0).max(1.0);
        }
        // The pause is not a quiet period: the next measure starts after it.
        s.accepted_mark = (pause_end, s.accepted);
        let new_rate = (current * DECREASE).max(self.floor);
        if s.step == 0.0 {
            s.step = (self.max_rate.unwrap_or(current) / 20.0).max(0.5);
        }
        self.set_rate(&mut s, Some(new_rate));
        s.last_throttle = Some(pause_end);
        s.last_raise = pause_end;
        tracing::info!(rate = format!("{new_rate:.1}/s"), "429: slowing down");
    }

    fn maybe_raise(&self, s: &mut PacerState) {
        let Some(rate) = s.rate else {
            return;
        };
        let Some(last) = s.last_throttle else {
            return;
        };
        let now = Instant::now();
        if now.saturating_duration_since(last) < QUIET
            || now.saturating_duration_since(s.last_raise) < QUIET
        {
            return;
        }
        s.last_raise = now;
        let raised = rate + s.step;
        match self.max_rate {
            Some(max) if raised >= max => {
                self.set_rate(s, Some(max));
                s.last_throttle = None;
            }
            None if raised >= s.release_above => {
                self.set_rate(s, None);
                s.last_throttle = None;
                s.release_above = f64::INFINITY;
                s.accepted_mark = (now, s.accepted);
            }
            _ => self.set_rate(s, Some(raised)),
        }
        tracing::debug!(rate = ?s.rate, "quiet: speeding up");
    }

    /// An answer that was not a 429: the portal did not throttle this request.
    pub(crate) fn on_not_throttled(&self) {
        self.lock().accepted += 1;
    }

    /// The rate in force now (`None`: unlimited).
    #[cfg(test)]
    fn current_rate(&self) -> Option<f64> {
        self.lock().rate
    }
}

/// After a 429 every worker waits here until the portal's `Retry-After` has passed.
#[derive(Default)]
pub(crate) struct PauseGate {
    state: Mutex<PauseState>,
}

#[derive(Default)]
struct PauseState {
    until: Option<Instant>,
    /// 429 answers, and the time the pool spent paused in all.
    throttled: u64,
    paused: Duration,
}

impl PauseGate {
    /// Everyone waits `d` from now (at most the 10 minutes after which a
    /// throttled row gives up), unless a longer pause is already on.
    pub(crate) fn pause_for(&self, d: Duration) {
        let now = Instant::now();
        let t = now + d.min(THROTTLE_GIVE_UP);
        let mut s = self.lock();
        s.throttled += 1;
        let from = s.until.map_or(now, |u| u.max(now));
        if t > from {
            s.paused += t - from;
            s.until = Some(t);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PauseState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn is_paused(&self) -> bool {
        self.lock().until.is_some_and(|t| t > Instant::now())
    }

    /// How many 429s paused the pool, and for how long in all.
    pub(crate) fn totals(&self) -> (u64, Duration) {
        let s = self.lock();
        (s.throttled, s.paused)
    }

    pub(crate) async fn wait(&self) {
        loop {
            let until = self.lock().until;
            match until {
                Some(t) if t > Instant::now() => tokio::time::sleep_until(t).await,
                _ => return,
            }
        }
    }
}

/// The retry schedule: exponential from 0.5 s, doubling, capped at 30 s,
/// with full jitter (a uniform draw between zero and the step).
#[derive(Debug)]
pub(crate) struct Backoff {
    steps: backon::ExponentialBackoff,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            steps: backon::ExponentialBuilder::default()
                .with_min_delay(Duration::from_millis(500))
                .with_max_delay(Duration::from_secs(30))
                .with_factor(2.0)
                .without_max_times()
                .build(),
        }
    }
}

impl Backoff {
    /// The ceiling of the next wait (before jitter).
    pub(crate) fn next_ceiling(&mut self) -> Duration {
        self.steps.next().unwrap_or(Duration::from_secs(30))
    }

    /// The next wait: uniform in `[0, ceiling]`.
    pub(crate) fn next_delay(&mut self) -> Duration {
        self.next_ceiling().mul_f64(fastrand::f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_schedule_doubles_to_the_cap() {
        let mut b = Backoff::default();
        let ceilings: Vec<u64> = (0..9)
            .map(|_| u64::try_from(b.next_ceiling().as_millis()).unwrap())
            .collect();
        assert_eq!(
            ceilings,
            [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
        );
    }

    #[test]
    fn full_jitter_stays_under_the_ceiling_and_spreads() {
        let mut seen_low = false;
        let mut seen_high = false;
        for _ in 0..200 {
            let mut b = Backoff::default();
            b.next_ceiling();
            let d = b.next_delay(); // ceiling 1 s
            assert!(d <= Duration::from_secs(1));
            seen_low |= d < Duration::from_millis(300);
            seen_high |= d > Duration::from_millis(700);
        }
        assert!(seen_low && seen_high);
    }

    #[tokio::test(start_paused = true)]
    async fn pause_gate_holds_everyone_until_the_latest_deadline() {
        let g = PauseGate::default();
        g.pause_for(Duration::from_secs(2));
        g.pause_for(Duration::from_secs(1));
        let t0 = Instant::now();
        g.wait().await;
        assert_eq!(t0.elapsed().as_secs(), 2);
        let t1 = Instant::now();
        g.wait().await;
        assert!(t1.elapsed() < Duration::from_millis(1));
        assert_eq!(
            g.totals(),
            (2, Duration::from_secs(2)),
            "overlaps count once"
        );
    }

    #[tokio::test]
    async fn throttling_lowers_then_restores_the_rate() {
        let p = Pacer::new(100.0, 1);
        assert_eq!(p.current_rate(), Some(100.0));
        p.on_throttle(Duration::ZERO);
        assert_eq!(p.current_rate(), Some(70.0));
        p.on_throttle(Duration::ZERO); // same burst of 429s: counted once
        assert_eq!(p.current_rate(), Some(70.0));
        {
            let mut s = p.state.lock().unwrap();
            s.last_throttle = Some(Instant::now() - Duration::from_secs(2));
            s.last_raise = Instant::now() - Duration::from_secs(2);
        }
        p.acquire().await;
        assert_eq!(p.current_rate(), Some(75.0));
        for _ in 0..10 {
            {
                let mut s = p.state.lock().unwrap();
                s.last_raise = Instant::now() - Duration::from_secs(2);
            }
            p.acquire().await;
        }
        assert_eq!(p.current_rate(), Some(100.0), "never above --rate");
    }

    #[tokio::test(start_paused = true)]
    async fn the_pause_itself_is_not_a_quiet_second() {
        let p = Pacer::new(100.0, 1);
        p.on_throttle(Duration::from_secs(1));
        assert_eq!(p.current_rate(), Some(70.0));
        // A 429 answered during the pause belongs to the same burst.
        tokio::time::advance(Duration::from_millis(600)).await;
        p.on_throttle(Duration::from_secs(1));
        assert_eq!(p.current_rate(), Some(70.0));
        // The pause (until 1.6 s) is over: no raise before a quiet second after it.
        tokio::time::advance(Duration::from_millis(1100)).await;
        p.acquire().await;
        assert_eq!(p.current_rate(), Some(70.0));
        tokio::time::advance(Duration::from_secs(1)).await;
        p.acquire().await;
        assert_eq!(p.current_rate(), Some(75.0));
    }

    #[test]
    fn a_rate_below_the_floor_is_kept() {
        let p = Pacer::new(0.05, 1);
        p.on_throttle(Duration::ZERO);
        assert_eq!(p.current_rate(), Some(0.05), "never above --rate");
    }

    #[test]
    fn any_rate_and_burst_make_a_bucket() {
        for rate in [1e-9, 0.05, 0.5, 2.8, 27.999_999_999, 28.0, 100.0, 1e6, 1e12] {
            for burst in [1, 7, 10_000, u32::MAX] {
                let b = Bucket::new(rate, NonZeroU32::new(burst).unwrap(), false);
                assert!(b.cells_per_post.get() <= 10_000);
            }
        }
    }

    #[tokio::test]
    async fn a_waiter_moves_to_a_new_limiter_at_once() {
        // One token every 100 s: the second acquire would wait that long.
        let p = Arc::new(Pacer::new(0.01, 1));
        p.acquire().await;
        let waiter = tokio::spawn({
            let p = p.clone();
            async move { p.acquire().await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished());
        {
            let mut s = p.lock();
            p.set_rate(&mut s, None);
        }
        tokio::time::timeout(Duration::from_secs(2), waiter)
            .await
            .expect("the waiter stayed on the old limiter")
            .unwrap();
    }

    #[tokio::test]
    async fn unlimited_gets_a_limit_only_after_a_429() {
        let p = Pacer::new(0.0, 1);
        assert_eq!(p.current_rate(), None);
        for _ in 0..40 {
            p.acquire().await;
            p.on_not_throttled();
        }
        {
            let mut s = p.state.lock().unwrap();
            s.accepted_mark.0 = Instant::now() - Duration::from_secs(1);
        }
        p.on_throttle(Duration::ZERO);
        // 40 accepted in the last second: 70% of that.
        let r = p.current_rate().unwrap();
        assert!((27.0..=29.0).contains(&r), "{r}");
    }
}
