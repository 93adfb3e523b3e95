//! How fast requests go out: the shared token bucket at the pace the portal
//! advertises (`advert`, `advertised`) or the adaptive controller finds
//! (`adaptive`), the pause gate every worker waits on after a 429, and the
//! retry backoff schedule. Owns its constants.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use backon::BackoffBuilder;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::Notify;
use tokio::time::Instant;

mod adaptive;
pub(crate) mod advert;
mod advertised;
mod noise;
mod windows;

use adaptive::{Change, Controller};
use advert::Advert;
use advertised::{Advertised, Event};

/// The token bucket in front of every row's request, at the pace the portal
/// advertises in its answers' headers, or else the one the [`Controller`]
/// sets: `--rate` (or none with `-r 0`) until the portal answers 429, then
/// just under the rate the portal was measured to accept. Never above
/// `--rate`.
pub(crate) struct Pacer {
    burst: NonZeroU32,
    state: Mutex<PacerState>,
    /// Wakes the waiters of a limiter that was just replaced, so that they
    /// queue on the new one (at the new rate) instead of the old; and those
    /// waiting for the first answer or the end of a hold.
    changed: Notify,
}

struct PacerState {
    controller: Controller,
    advertised: Advertised,
    /// The pace of `limiter` (`None`: unpaced).
    in_force: Option<f64>,
    limiter: Option<Arc<Bucket>>,
    /// Counts limiter replacements: a token from an older one does not count.
    generation: u64,
    /// When the last request went out.
    last_send: Option<Instant>,
    /// Requests sent so far.
    sends: u64,
    /// The first request went out at this time and no answer came yet: the
    /// others wait for it (it may advertise the limit), at most `FIRST_WAIT`.
    first_out: Option<Instant>,
    answered: bool,
    /// The answers the portal accepted, and when the last came.
    accepted: u64,
    first_send: Option<Instant>,
    last_answer: Option<Instant>,
}

/// How a paced request's attempt ended, as the pacer reads it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Answer {
    /// Any answer but a 429 or a failure.
    Accepted,
    /// A 429 asking to wait this long.
    Throttled(Duration),
    /// A 5xx, a reset, a timeout: it says nothing of the rate limit.
    Failed,
}

/// What a request carries from its turn to its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ticket {
    turn: adaptive::Ticket,
    /// The how-manieth request it was.
    seq: u64,
}

/// A row that has been answered 429 for this long gives up; a single
/// `Retry-After` this long stops the run. Pauses never last longer.
pub(crate) const THROTTLE_GIVE_UP: Duration = Duration::from_secs(600);
/// `Retry-After` values beyond this are read as this (a day): far beyond
/// what a row waits anyway, and no `Instant` overflow.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(86_400);

/// The lowest pace a 429 may bring (or `--rate`, when lower).
const MIN_RATE: f64 = 0.1;
/// A rate this high is no limit at all (its period would round to zero).
const MAX_RATE: f64 = 1e9;
/// How early a POST may go to make up for the late wake-up of the one before.
const EARLY: Duration = Duration::from_millis(2);
const MAX_BURST: NonZeroU32 = NonZeroU32::new(10_000).unwrap();
/// The first request goes alone: its answer may advertise the limit, and
/// the pool then starts at that pace instead of drawing a burst of 429s.
/// The others wait for it this long at most.
const FIRST_WAIT: Duration = Duration::from_secs(1);
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
    /// `rate` per second, holding `burst`: full, or (`Some(waited)`) one
    /// that replaces another mid-run, which hands out no burst at once but
    /// counts the time already waited since the last POST, so that a pace
    /// changed more often than its period still sends.
    fn new(rate: f64, burst: NonZeroU32, waited: Option<Duration>) -> Bucket {
        // At most a day between tokens: far beyond any rate a user gives.
        let rate = rate.clamp(1.0 / 86_400.0, MAX_RATE);
        // `1/k` of a period: a quarter at most, and at most `EARLY` (a portal
        // whose burst is one refuses a POST that comes early by more than its
        // own slack); for a fractional rate, small enough that the extra cell
        // never adds a whole POST to a window.
        let fraction = rate.fract();
        let for_fraction = if fraction < 1e-9 {
            4.0
        } else {
            (1.0 / (1.0 - fraction)).floor() + 1.0
        };
        let for_early = (1.0 / rate / EARLY.as_secs_f64()).ceil();
        // Clamped to 4..=10,000 first: the cast is exact.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let k = for_fraction.max(for_early).clamp(4.0, 10_000.0) as u32;
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
        if let Some(waited) = waited {
            // Clamped to 0..=k: the cast is exact.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let credit = (waited.as_secs_f64() * rate * f64::from(k))
                .floor()
                .clamp(0.0, f64::from(k)) as u32;
            if let Some(take) = NonZeroU32::new(cells.get() - credit) {
                let _ = limiter.check_n(take);
            }
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
        let ceiling = (rate > 0.0 && rate < MAX_RATE).then_some(rate);
        let floor = ceiling.map_or(MIN_RATE, |r| r.min(MIN_RATE));
        Pacer {
            burst,
            state: Mutex::new(PacerState {
                controller: Controller::new(ceiling, floor, Instant::now()),
                advertised: Advertised::default(),
                in_force: ceiling,
                limiter: ceiling.map(|r| Arc::new(Bucket::new(r, burst, None))),
                generation: 0,
                last_send: None,
                sends: 0,
                first_out: None,
                answered: false,
                accepted: 0,
                first_send: None,
                last_answer: None,
            }),
            changed: Notify::new(),
        }
    }

    /// Waits for a token of the limiter in force: call once before each
    /// request; hand the ticket back with its answer.
    pub(crate) async fn acquire(&self) -> Ticket {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let (limiter, generation, wait) = {
                let mut s = self.lock();
                self.follow_controller(&mut s);
                (
                    s.limiter.clone(),
                    s.generation,
                    s.wait_until(Instant::now()),
                )
            };
            if let Some(until) = wait {
                tokio::select! {
                    () = tokio::time::sleep_until(until) => {}
                    () = changed => {}
                }
                continue;
            }
            let Some(limiter) = limiter else {
                if let Some(t) = Self::sent(&mut self.lock()) {
                    return t;
                }
                continue;
            };
            tokio::select! {
                () = limiter.until_ready() => {
                    let mut s = self.lock();
                    if s.generation == generation && let Some(t) = Self::sent(&mut s) {
                        return t;
                    }
                }
                () = changed => {}
            }
        }
    }

    /// The turn is taken now, unless a wait began meanwhile.
    fn sent(s: &mut PacerState) -> Option<Ticket> {
        let now = Instant::now();
        if s.wait_until(now).is_some() {
            return None;
        }
        s.last_send = Some(now);
        s.first_send.get_or_insert(now);
        if s.sends == 0 {
            s.first_out = Some(now);
        }
        s.sends += 1;
        Some(Ticket {
            turn: s.controller.on_send(now),
            seq: s.sends,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PacerState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the controller's due decisions; a new pace (the advertised one
    /// when believed, else the controller's) replaces the limiter.
    fn follow_controller(&self, s: &mut PacerState) {
        let before = s.controller.rate();
        let change = s.controller.tick(Instant::now());
        let advertised = s.advertised.pace();
        if advertised.is_none()
            && let Some(change) = change
        {
            log_change(change, before, &s.controller);
        }
        let ceiling = s.controller.ceiling();
        let pace = match advertised {
            Some(a) => Some(ceiling.map_or(a, |c| a.min(c))),
            None => s.controller.rate(),
        };
        if pace == s.in_force {
            return;
        }
        if let Some(a) = advertised {
            let from = s
                .in_force
                .map_or_else(|| "no limit".to_owned(), |r| format!("{r:.2}/s"));
            let to = pace.map_or_else(|| "no limit".to_owned(), |r| format!("{r:.2}/s"));
            let advertised = s.advertised.advertised().unwrap_or(a);
            tracing::info!(
                %from,
                %to,
                advertised = %format!("{advertised:.2}/s"),
                "pace: just under the limit the portal advertises"
            );
        }
        s.in_force = pace;
        let waited = s.last_send.map_or(Duration::ZERO, |t| t.elapsed());
        s.limiter = pace.map(|r| Arc::new(Bucket::new(r, self.burst, Some(waited))));
        s.generation += 1;
        self.changed.notify_waiters();
    }

    /// The answer to the request of `ticket`, and what its headers advertise.
    pub(crate) fn on_answer(&self, ticket: Ticket, answer: Answer, advert: Option<&Advert>) {
        let now = Instant::now();
        let mut s = self.lock();
        if !s.answered {
            s.answered = true;
            self.changed.notify_waiters();
        }
        let throttled = match answer {
            Answer::Accepted => {
                s.accepted += 1;
                s.last_answer = Some(now);
                None
            }
            Answer::Throttled(d) => Some(d),
            // Not a reading: neither accepted nor refused by a limit.
            Answer::Failed => return,
        };
        let sent_since = s.sends.saturating_sub(ticket.seq);
        let event = s
            .advertised
            .on_answer(advert, throttled.is_some(), sent_since, now);
        log_event(event);
        if matches!(event, Some(Event::Hold { .. })) {
            self.changed.notify_waiters();
        }
        s.controller.on_answer(ticket.turn, throttled, now);
        // Its decisions may be due now (a window reopened, a pause's end),
        // not only at the next turn.
        self.follow_controller(&mut s);
    }

    /// The rate the portal was measured (or advertised) to accept, once it
    /// throttled; never one below what the run itself got accepted: such a
    /// reading was wrong, and advice from it would slow the next run down.
    pub(crate) fn learned(&self) -> Option<f64> {
        let s = self.lock();
        let learned = s
            .advertised
            .advertised()
            .or_else(|| s.controller.measured())?;
        (learned >= s.achieved()).then_some(learned)
    }

    /// The pace in force now (`None`: unlimited).
    #[cfg(test)]
    fn current_rate(&self) -> Option<f64> {
        self.lock().in_force
    }
}

impl PacerState {
    /// Until when no request may go: the first one's answer is awaited, or
    /// the advertised quota is spent.
    fn wait_until(&self, now: Instant) -> Option<Instant> {
        let first = self
            .first_out
            .filter(|_| !self.answered)
            .map(|t| t + FIRST_WAIT)
            .filter(|t| *t > now);
        first.or_else(|| self.advertised.hold_until(now))
    }

    /// Accepted answers per second, from the first send to the last answer.
    fn achieved(&self) -> f64 {
        match (self.first_send, self.last_answer) {
            (Some(a), Some(b)) if b > a => {
                let n = self.accepted as f64;
                n / b.duration_since(a).as_secs_f64()
            }
            _ => 0.0,
        }
    }
}

/// `-v`: a change of the controller's pace, with its reason.
fn log_change(change: Change, before: Option<f64>, c: &Controller) {
    let after = c.rate();
    let why = match change {
        Change::Doubling => "starting up: doubling after the first 429s",
        Change::Measured => "429: just under the rate the portal accepted",
        Change::Approach => "429: approaching the portal's rate from below",
        Change::Cut => "429 with nothing to measure: well above the portal's limit",
        Change::Kept => {
            "429 sooner than the portal's measured rate allows: the pace is kept until \
             another 429 shows whether its limit fell"
        }
        Change::Stray => {
            "429 that no limit explains (the portal refuses now and then whatever the pace): \
             the pool paused for it, the pace is kept"
        }
        Change::Noisy => {
            "429s that no limit explains keep coming: from now on a 429 lowers the pace only \
             when a limit's (many at once, or soon again and again); probing back up"
        }
        Change::Probe => "quiet for a while: probing above the portal's rate",
        Change::Climb => "climbing",
        Change::WindowSeen => {
            "429s of a window limiter (a quota per period): each window's quota at once, \
             until its length is known"
        }
        Change::Window => {
            "429s of a window limiter (a quota per period): its quota spread evenly over each window"
        }
    };
    if after == before {
        if matches!(change, Change::Kept | Change::Stray | Change::Noisy) {
            tracing::info!("{why}");
        }
        return;
    }
    // Two decimals: a probe's first step is an eighth of a percent.
    let from = before.map_or_else(|| "no limit".to_owned(), |r| format!("{r:.2}/s"));
    let to = after.map_or_else(|| "no limit".to_owned(), |r| format!("{r:.2}/s"));
    let measured = c
        .measured()
        .map_or_else(|| "not yet".to_owned(), |m| format!("{m:.2}/s"));
    // Each step of a climb is a detail (`-vv`); where it starts is not.
    if change == Change::Climb {
        tracing::debug!(%from, %to, %measured, "pace: {why}");
    } else {
        tracing::info!(%from, %to, %measured, "pace: {why}");
    }
}

/// `-v`: what an answer's rate-limit headers changed.
fn log_event(event: Option<Event>) {
    match event {
        Some(Event::Contradicted { remaining }) => tracing::info!(
            remaining,
            "429 although the portal's headers said requests remained: its advertised limit \
             is not the one that throttles, and is ignored from now on"
        ),
        Some(Event::Overshot { margin }) => tracing::info!(
            margin = %format!("{:.0}%", margin * 100.0),
            "429 at the advertised limit: the pace goes further under it"
        ),
        Some(Event::Hold { until }) => tracing::debug!(
            ?until,
            "the advertised quota is spent by the requests in flight: waiting for its reset"
        ),
        None => {}
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

    #[tokio::test(start_paused = true)]
    async fn a_429_after_a_long_stretch_sets_the_pace_just_under_it() {
        let p = Pacer::new(0.0, 1);
        assert_eq!(p.current_rate(), None, "-r 0: unpaced until a 429");
        // The first request alone (its answer advertises nothing), then
        // the unpaced burst: 5 accepted in all, then 429s.
        let first = p.acquire().await;
        p.on_answer(first, Answer::Accepted, None);
        let mut tickets = Vec::new();
        for _ in 0..15 {
            tickets.push(p.acquire().await);
        }
        for (i, t) in tickets.into_iter().enumerate() {
            let answer = if i >= 4 {
                Answer::Throttled(Duration::from_secs(1))
            } else {
                Answer::Accepted
            };
            p.on_answer(t, answer, None);
        }
        assert_eq!(p.current_rate(), None, "decided at the pause's end");
        tokio::time::advance(Duration::from_secs(1)).await;
        let t = p.acquire().await;
        assert_eq!(
            p.current_rate(),
            Some(5.0),
            "start-up from the burst's size"
        );
        p.on_answer(t, Answer::Accepted, None);
    }

    /// The first request goes alone; its answer advertises 40 per second
    /// (the structured form): the others go at that pace, a little under,
    /// without a 429. A 429 that says requests remain makes the pool pace
    /// on its own again (`-r 0`: unpaced until a 429 of its own).
    #[tokio::test(start_paused = true)]
    async fn the_first_answer_sets_the_advertised_pace() {
        let p = Arc::new(Pacer::new(0.0, 1));
        let first = p.acquire().await;
        let second = tokio::spawn({
            let p = p.clone();
            async move { p.acquire().await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            !second.is_finished(),
            "the others wait for the first answer"
        );
        let fields = [
            ("ratelimit-policy", r#""writes";q=40;w=1"#),
            ("ratelimit", r#""writes";r=4;t=1"#),
        ];
        let get = |name: &str| {
            fields
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        };
        let ad = advert::read(&get, std::time::SystemTime::now());
        p.on_answer(first, Answer::Accepted, ad.as_ref());
        let second = second.await.unwrap();
        assert_eq!(p.current_rate(), Some(40.0 * 0.99));
        // The bucket (governor) keeps real time, not the paused clock.
        let t0 = std::time::Instant::now();
        for _ in 0..40 {
            let t = p.acquire().await;
            p.on_answer(t, Answer::Accepted, ad.as_ref());
        }
        let took = t0.elapsed().as_secs_f64();
        assert!((0.95..1.1).contains(&took), "40 requests in {took:.3} s");
        let contradicted = Advert {
            remaining: Some(3.0),
            ..ad.unwrap()
        };
        p.on_answer(
            second,
            Answer::Throttled(Duration::from_secs(1)),
            Some(&contradicted),
        );
        assert_eq!(p.current_rate(), None, "the headers are no longer believed");
        assert_eq!(p.learned(), None, "nothing measured, nothing advised");
    }

    #[test]
    fn a_rate_below_the_floor_is_kept() {
        let p = Pacer::new(0.05, 1);
        assert_eq!(p.current_rate(), Some(0.05));
    }

    #[test]
    fn any_rate_and_burst_make_a_bucket() {
        for rate in [1e-9, 0.05, 0.5, 2.8, 27.999_999_999, 28.0, 100.0, 1e6, 1e12] {
            for burst in [1, 7, 10_000, u32::MAX] {
                let b = Bucket::new(rate, NonZeroU32::new(burst).unwrap(), Some(Duration::ZERO));
                assert!(b.cells_per_post.get() <= 10_000);
            }
        }
    }

    /// A new pace counts the time already waited since the last POST: a
    /// pace raised more often than its period still sends.
    #[test]
    fn a_new_bucket_counts_the_time_already_waited() {
        let burst = NonZeroU32::MIN;
        let waited = Bucket::new(2.0, burst, Some(Duration::from_millis(500)));
        assert!(
            waited
                .limiter
                .check_n(waited.cells_per_post)
                .is_ok_and(|r| r.is_ok())
        );
        let fresh = Bucket::new(2.0, burst, Some(Duration::ZERO));
        assert!(
            fresh
                .limiter
                .check_n(fresh.cells_per_post)
                .is_ok_and(|r| r.is_err())
        );
        let half = Bucket::new(2.0, burst, Some(Duration::from_millis(250)));
        assert!(
            half.limiter
                .check_n(half.cells_per_post)
                .is_ok_and(|r| r.is_err())
        );
    }

    /// A portal whose burst is one refuses a POST that comes early; a late
    /// wake-up is made up by at most 2 ms (a quarter period at high rates).
    #[test]
    fn a_post_goes_at_most_two_milliseconds_early() {
        for (rate, k) in [(5.0, 100), (0.5, 1000), (200.0, 4), (1000.0, 4), (2.8, 179)] {
            let b = Bucket::new(rate, NonZeroU32::MIN, None);
            assert_eq!(b.cells_per_post.get(), k, "{rate}/s");
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
            s.limiter = None;
            s.generation += 1;
            p.changed.notify_waiters();
        }
        tokio::time::timeout(Duration::from_secs(2), waiter)
            .await
            .expect("the waiter stayed on the old limiter")
            .unwrap();
    }
}
