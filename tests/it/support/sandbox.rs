//! A local stand-in for the XMedius Cloud portal: the lookups, the user
//! directory (list, read, create, update, delete; SPEC §5 and §12), the
//! `Authorization-Token` check (and a token without the *Query user
//! directory* permission), Rails-style validation and case-insensitive
//! uniqueness, configurable latency, a rate limit on writes (a token bucket,
//! a fixed window as `Rack::Attack` runs it, or a sliding window; advertised
//! in the answers' headers or not), and fault injection. A real HTTP server on 127.0.0.1 (ephemeral port) on
//! its own thread and runtime, so tests, benchmarks and the demo use it the
//! same way, from sync or async code.
//!
//! Shared by `tests/`, `examples/` and `benches/` (included with `#[path]`).
// Shared by several test binaries: not every one uses every item, and none
// exports them.
#![allow(dead_code, unreachable_pub)]

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// The access token with every permission.
pub const TOKEN: &str = "sandbox-token-7f3a9c";
/// An access token without the *Query user directory* permission: accepted
/// for everything except `GET /users` and `GET /users/{id}` (403).
pub const LIMITED_TOKEN: &str = "sandbox-token-no-directory";
pub const ACCOUNT: &str = "westeros";
/// The id of the first user the sandbox stores; later ones count up from it.
pub const FIRST_USER_ID: u64 = 1000;
/// The roles an update may set (besides the role the user already has).
pub const ROLES: [&str; 2] = ["user", "admin"];
/// The fields of a USER object, as the directory answers them (SPEC §12).
pub const USER_FIELDS: [&str; 22] = [
    "id",
    "username",
    "email",
    "role",
    "first_name",
    "last_name",
    "salutation",
    "job_title",
    "company_name",
    "address",
    "city",
    "state",
    "country",
    "zip_code",
    "phone_number",
    "mobile_number",
    "language",
    "time_zone",
    "group_id",
    "main_fax_number_id",
    "main_fax_number",
    "external_id",
];

/// The free-text fields of a user, `first_name` to `mobile_number` in
/// [`USER_FIELDS`]: any string, sent and answered as is.
const TEXT_FIELDS: &[&str] = USER_FIELDS.split_at(4).1.split_at(12).0;

const LANGUAGES: [&str; 3] = ["en", "fr", "de"];

/// The Rails time zone names the portal accepts (the first column).
const TIME_ZONES_TSV: &str = include_str!("../../../src/input/rails_time_zones.tsv");

fn is_time_zone(name: &str) -> bool {
    TIME_ZONES_TSV
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split('\t').next())
        .any(|z| !z.is_empty() && z == name)
}

/// A fault the sandbox can inject instead of a normal answer to a write
/// (POST, PUT or DELETE on users). "Create" in a name means "apply": the
/// user is created, updated or deleted before the faulty answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// The connection is dropped before any answer; nothing is applied.
    Reset,
    /// The write is applied, then the connection is dropped.
    CreateThenReset,
    /// 500 with a JSON error; nothing applied.
    Error500,
    /// The write is applied, then 500.
    CreateThenError500,
    /// 502 with an HTML page from a "proxy"; nothing applied.
    BadGatewayHtml,
    /// 503 Service Unavailable; nothing applied.
    Unavailable,
    /// 504 Gateway Timeout; nothing applied.
    GatewayTimeout,
    /// 200 with an HTML page instead of JSON; nothing applied.
    NotJson,
    /// 429 with a `Retry-After` of one second (or an HTTP date, every other time).
    Throttle,
    /// The write is applied, then the answer takes `slow` (longer than the client's timeout).
    CreateThenSlow,
}

impl Fault {
    pub const ALL: [Fault; 10] = [
        Fault::Reset,
        Fault::CreateThenReset,
        Fault::Error500,
        Fault::CreateThenError500,
        Fault::BadGatewayHtml,
        Fault::Unavailable,
        Fault::GatewayTimeout,
        Fault::NotJson,
        Fault::Throttle,
        Fault::CreateThenSlow,
    ];
}

/// The portal's own limit on writes: a token bucket of `burst` tokens,
/// refilled at `rate` tokens per second, full at start. Each write
/// (POST, PUT, DELETE on users) takes a token; without one the answer is
/// 429 with a whole-second `Retry-After` (≥ 1) and no token is taken.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Tokens per second (fractional allowed).
    pub rate: f64,
    /// Bucket size: how many writes may arrive at once.
    pub burst: u32,
}

impl RateLimit {
    pub fn new(rate: f64, burst: u32) -> RateLimit {
        assert!(
            rate > 0.0 && burst >= 1,
            "RateLimit needs rate > 0 and burst >= 1"
        );
        RateLimit { rate, burst }
    }
}

/// A window limiter on writes, as Rails' `Rack::Attack` and API gateways run
/// them. Every write counts, those refused included (as `Rack::Attack` counts).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Window {
    /// `limit` writes per `period`, the count reset at each boundary (whole
    /// multiples of the period since the Unix epoch, as `Rack::Attack` keys
    /// them). Past it: 429, with `Retry-After` = the whole seconds to the
    /// boundary when `retry_after`, else `Rack::Attack`'s default answer: no
    /// `Retry-After` and a `text/plain` body `Retry later`.
    Fixed {
        limit: u32,
        period: Duration,
        retry_after: bool,
    },
    /// At most `limit` writes accepted in any `period`; past it, 429 with
    /// the whole seconds until the oldest accepted one leaves the window.
    Sliding { limit: u32, period: Duration },
}

/// How the portal advertises its limit on every write's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Advertise {
    #[default]
    Nothing,
    /// The separate fields of the IETF draft (`RateLimit-Limit`,
    /// `-Remaining`, `-Reset`, `RateLimit-Policy: 40;w=1`) and the common
    /// `X-RateLimit-Limit`, `-Remaining`, `-Reset` (a Unix time).
    Fields,
    /// The draft's structured form: `RateLimit-Policy: "writes";q=40;w=1`
    /// and `RateLimit: "writes";r=4;t=1`.
    Structured,
}

/// What the limiter says of itself after a write: its quota per window,
/// what remains of it, and the seconds until it is whole again.
struct Advertised {
    quota: f64,
    window: f64,
    remaining: u64,
    reset: u64,
}

impl Advertise {
    fn headers(self, a: &Advertised) -> Vec<(&'static str, String)> {
        let policy = format!("{};w={}", a.quota, a.window);
        match self {
            Advertise::Nothing => Vec::new(),
            Advertise::Fields => {
                let unix = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs())
                    + a.reset;
                vec![
                    ("ratelimit-limit", a.quota.to_string()),
                    ("ratelimit-remaining", a.remaining.to_string()),
                    ("ratelimit-reset", a.reset.to_string()),
                    ("ratelimit-policy", policy),
                    ("x-ratelimit-limit", a.quota.to_string()),
                    ("x-ratelimit-remaining", a.remaining.to_string()),
                    ("x-ratelimit-reset", unix.to_string()),
                ]
            }
            Advertise::Structured => vec![
                (
                    "ratelimit-policy",
                    format!("\"writes\";q={};w={}", a.quota, a.window),
                ),
                (
                    "ratelimit",
                    format!("\"writes\";r={};t={}", a.remaining, a.reset),
                ),
            ],
        }
    }
}

/// Why a write was refused: the `Retry-After` to send, if any; and whether
/// the answer is `Rack::Attack`'s (`text/plain`, `Retry later`) or the
/// portal's own JSON.
struct Refused(Option<u64>, bool);

/// The limiters in front of writes: the token bucket and, or, a window.
struct Bucket {
    limit: Option<RateLimit>,
    tokens: f64,
    last: Instant,
    window: Option<Window>,
    /// Fixed window: its index (Unix seconds / period) and its count.
    fixed: (u64, u32),
    /// Sliding window: the accepted writes still in it.
    sliding: std::collections::VecDeque<Instant>,
}

impl Bucket {
    fn new(limit: Option<RateLimit>, window: Option<Window>) -> Bucket {
        Bucket {
            limit,
            tokens: limit.map_or(0.0, |l| f64::from(l.burst)),
            last: Instant::now(),
            window,
            fixed: (0, 0),
            sliding: std::collections::VecDeque::new(),
        }
    }

    fn refill(&mut self, now: Instant) {
        if let Some(l) = self.limit {
            let gained = now.saturating_duration_since(self.last).as_secs_f64() * l.rate.max(0.0);
            self.tokens = (self.tokens + gained).min(f64::from(l.burst));
        }
        self.last = now;
    }

    /// Admits a write or refuses it; and what the limiter then says of
    /// itself (the window's, when there is one).
    fn admit(&mut self, now: Instant) -> (Result<(), Refused>, Option<Advertised>) {
        let verdict = match self.window {
            Some(w) => self.window_take(w, now),
            None => self.take(now).map_err(|secs| Refused(Some(secs), false)),
        };
        (verdict, self.advertised(now))
    }

    /// Takes a token, or says how many whole seconds until one is there.
    fn take(&mut self, now: Instant) -> Result<(), u64> {
        let Some(l) = self.limit else {
            return Ok(());
        };
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(());
        }
        if l.rate <= 0.0 {
            return Err(3600);
        }
        // Whole seconds, at least one, as a server computes it from its bucket.
        let wait = ((1.0 - self.tokens) / l.rate).ceil().clamp(1.0, 86_400.0);
        Err(Duration::from_secs_f64(wait).as_secs())
    }

    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    fn window_take(&mut self, w: Window, now: Instant) -> Result<(), Refused> {
        match w {
            Window::Fixed {
                limit,
                period,
                retry_after,
            } => {
                let (index, to_boundary) = fixed_window(period);
                if self.fixed.0 != index {
                    self.fixed = (index, 0);
                }
                self.fixed.1 += 1;
                if self.fixed.1 <= limit {
                    return Ok(());
                }
                // `Rack::Attack`: `period - (now.to_i % period)`, whole seconds.
                Err(Refused(
                    retry_after.then(|| to_boundary.as_secs_f64().ceil() as u64),
                    true,
                ))
            }
            Window::Sliding { limit, period } => {
                while self
                    .sliding
                    .front()
                    .is_some_and(|t| now.saturating_duration_since(*t) >= period)
                {
                    self.sliding.pop_front();
                }
                if self.sliding.len() < limit as usize {
                    self.sliding.push_back(now);
                    return Ok(());
                }
                let leaves = self.sliding.front().map_or(period, |t| *t + period - now);
                Err(Refused(
                    Some(leaves.as_secs_f64().ceil().max(1.0) as u64),
                    false,
                ))
            }
        }
    }

    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    fn advertised(&mut self, now: Instant) -> Option<Advertised> {
        match self.window {
            Some(Window::Fixed { limit, period, .. }) => {
                let (_, to_boundary) = fixed_window(period);
                Some(Advertised {
                    quota: f64::from(limit),
                    window: period.as_secs_f64(),
                    remaining: u64::from(limit.saturating_sub(self.fixed.1)),
                    reset: to_boundary.as_secs_f64().ceil() as u64,
                })
            }
            Some(Window::Sliding { limit, period }) => Some(Advertised {
                quota: f64::from(limit),
                window: period.as_secs_f64(),
                remaining: (limit as usize).saturating_sub(self.sliding.len()) as u64,
                reset: self
                    .sliding
                    .front()
                    .map_or(0, |t| (*t + period - now).as_secs_f64().ceil() as u64),
            }),
            None => {
                let l = self.limit?;
                self.refill(now);
                Some(Advertised {
                    quota: l.rate,
                    window: 1.0,
                    remaining: self.tokens.floor() as u64,
                    reset: ((f64::from(l.burst) - self.tokens) / l.rate).ceil() as u64,
                })
            }
        }
    }

    /// A new limit: the tokens earned so far are kept (up to the new
    /// bucket's size); a bucket that did not exist starts full.
    fn set(&mut self, limit: Option<RateLimit>, now: Instant) {
        self.refill(now);
        match (self.limit, limit) {
            (None, Some(l)) => self.tokens = f64::from(l.burst),
            (Some(_), Some(l)) => self.tokens = self.tokens.min(f64::from(l.burst)),
            _ => self.tokens = 0.0,
        }
        self.limit = limit;
    }
}

/// The fixed window of `period` we are in (its index since the Unix epoch)
/// and the time to its end.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn fixed_window(period: Duration) -> (u64, Duration) {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let p = period.as_nanos().max(1);
    let index = since.as_nanos() / p;
    let end = Duration::from_nanos(((index + 1) * p - since.as_nanos()) as u64);
    (index as u64, end)
}

#[derive(Debug, Clone)]
pub struct SandboxConfig {
    pub token: String,
    pub account: String,
    /// Added to every answer.
    pub latency: Duration,
    /// The portal's token bucket on writes; past it, 429 with `Retry-After`.
    /// Changeable while running with [`Sandbox::set_rate_limit`].
    pub rate_limit: Option<RateLimit>,
    /// A window limiter on writes instead of the token bucket.
    pub window: Option<Window>,
    /// How the limit in force is advertised on every write's answer.
    pub advertise: Advertise,
    /// Share of writes (0.0–1.0) that get a fault, drawn from `faults`.
    pub fault_rate: f64,
    pub faults: Vec<Fault>,
    /// How long `CreateThenSlow` answers take.
    pub slow: Duration,
    /// After this many writes (POST, PUT, DELETE), every request is answered
    /// 401 (token revoked): the next write and everything after it.
    pub revoke_after: Option<usize>,
    /// Every request is answered `302 Location: <this>`.
    pub redirect_to: Option<String>,
    /// `(id, name)`; the first is the default group.
    pub groups: Vec<(u64, String)>,
    /// `(id, number)`
    pub fax_numbers: Vec<(u64, String)>,
    /// Seed of the fault draws, for repeatable runs.
    pub seed: u64,
    /// The lookups at start fail this many times with 503 before answering.
    pub lookup_failures: usize,
    /// `Retry-After` of `Fault::Throttle` answers (default: "1", or an HTTP
    /// date one second ahead every other time).
    pub throttle_retry_after: Option<String>,
    /// The lookups at start are answered 429 with this `Retry-After`.
    pub lookup_retry_after: Option<String>,
    /// `/users/{id}` reads its id as Ruby's `String#to_i` does: the leading
    /// digits (`"1.8e+19"` → 1, `"xy"` → 0), as a Rails portal's `find` may.
    pub ruby_ids: bool,
    /// `GET /users` answers this body instead of the list (e.g. `{"result": true}`).
    pub list_answer: Option<Value>,
    /// Right after `GET /users` is answered, the user with this username
    /// (planted or stored) becomes an administrator: promoted after the
    /// list was read, while a confirmation prompt waited.
    pub promote_on_list: Option<String>,
    /// A successful PUT or DELETE is answered `204 No Content`, no body.
    pub no_content: bool,
    /// Right after `GET /users` is answered, the stored user with the first
    /// username takes the second (its id now names someone else).
    pub rename_on_list: Option<(String, String)>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            token: TOKEN.into(),
            account: ACCOUNT.into(),
            latency: Duration::ZERO,
            rate_limit: None,
            window: None,
            advertise: Advertise::Nothing,
            fault_rate: 0.0,
            faults: Vec::new(),
            slow: Duration::from_secs(3),
            revoke_after: None,
            redirect_to: None,
            groups: vec![
                (1, "Everyone".into()),
                (12, "Casterly Rock".into()),
                (13, "Winterfell".into()),
                (14, "Night's Watch".into()),
            ],
            fax_numbers: vec![(501, "+15145550101".into()), (502, "+442071234567".into())],
            seed: 7,
            lookup_failures: 0,
            throttle_retry_after: None,
            lookup_retry_after: None,
            ruby_ids: false,
            list_answer: None,
            promote_on_list: None,
            no_content: false,
            rename_on_list: None,
        }
    }
}

/// One request as the sandbox received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub token: Option<String>,
    pub content_type: Option<String>,
    pub accept: Option<String>,
    pub user_agent: Option<String>,
    pub body: Option<Value>,
    /// Since the sandbox started.
    pub at: Duration,
    /// The answer's status (0: the connection was dropped).
    pub status: u16,
    /// From arrival to answer: the portal's own latency.
    pub took: Duration,
}

/// The enterprise's users: USER objects by id, with case-insensitive
/// indexes of usernames and e-mails for uniqueness.
struct Store {
    next_id: u64,
    users: BTreeMap<u64, Map<String, Value>>,
    by_username: HashMap<String, u64>,
    by_email: HashMap<String, u64>,
    /// The user objects of every successful POST, as sent, in order.
    created: Vec<Value>,
}

impl Default for Store {
    fn default() -> Self {
        Store {
            next_id: FIRST_USER_ID,
            users: BTreeMap::new(),
            by_username: HashMap::new(),
            by_email: HashMap::new(),
            created: Vec::new(),
        }
    }
}

impl Store {
    fn taken(&self, username: &str, email: &str) -> (bool, bool) {
        (
            self.by_username.contains_key(&username.to_lowercase()),
            self.by_email.contains_key(&email.to_lowercase()),
        )
    }

    /// Stores `fields` (USER keys only) as a new user and returns its id.
    fn insert(&mut self, fields: Map<String, Value>) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let mut user: Map<String, Value> = USER_FIELDS
            .iter()
            .map(|k| (k.to_string(), Value::Null))
            .collect();
        user.extend(fields);
        user.insert("id".into(), json!(id));
        let text = |k: &str| user[k].as_str().unwrap_or("").to_lowercase();
        self.by_username.insert(text("username"), id);
        self.by_email.insert(text("email"), id);
        self.users.insert(id, user);
        id
    }

    fn remove(&mut self, id: u64) -> bool {
        let Some(user) = self.users.remove(&id) else {
            return false;
        };
        let text = |k: &str| user[k].as_str().unwrap_or("").to_lowercase();
        self.by_username.remove(&text("username"));
        self.by_email.remove(&text("email"));
        true
    }
}

struct Shared {
    cfg: SandboxConfig,
    started: Instant,
    store: Mutex<Store>,
    received: Mutex<Vec<Received>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    posts: AtomicUsize,
    /// POSTs, PUTs and DELETEs received (for `revoke_after`).
    writes: AtomicUsize,
    lookups_failed: AtomicUsize,
    bucket: Mutex<Bucket>,
    rng: Mutex<fastrand::Rng>,
    /// `cfg.fault_rate`, changeable while running.
    fault_rate: Mutex<f64>,
    fault_counts: Mutex<HashMap<String, usize>>,
    /// Raw USER entries listed as they are, after the stored users: the
    /// mess real directories hold (odd roles, ids and names, duplicates).
    planted: Mutex<Vec<Value>>,
}

pub struct Sandbox {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sandbox {
    pub fn start(cfg: SandboxConfig) -> Sandbox {
        let shared = Arc::new(Shared {
            rng: Mutex::new(fastrand::Rng::with_seed(cfg.seed)),
            fault_rate: Mutex::new(cfg.fault_rate),
            bucket: Mutex::new(Bucket::new(cfg.rate_limit, cfg.window)),
            cfg,
            started: Instant::now(),
            store: Mutex::default(),
            received: Mutex::default(),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            posts: AtomicUsize::new(0),
            writes: AtomicUsize::new(0),
            lookups_failed: AtomicUsize::new(0),
            fault_counts: Mutex::default(),
            planted: Mutex::default(),
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("local addr");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let thread = std::thread::Builder::new()
            .name("sandbox".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("sandbox runtime");
                rt.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                    let _ = axum::serve(listener, app)
                        .with_graceful_shutdown(async {
                            let _ = rx.await;
                        })
                        .await;
                });
                rt.shutdown_timeout(Duration::from_millis(100));
            })
            .expect("sandbox thread");
        Sandbox {
            addr,
            shared,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `{url}/enterprises/{account}{leaf}`, e.g. `enterprise_url("/users/1000")`.
    pub fn enterprise_url(&self, leaf: &str) -> String {
        format!(
            "{}/enterprises/{}{leaf}",
            self.url(),
            self.shared.cfg.account
        )
    }

    /// A config file's JSON pointing at this sandbox.
    pub fn config_json(&self, mode: &str) -> String {
        json!({
            "endpoint": self.url(),
            "enterprise_account": self.shared.cfg.account,
            "access_token": self.shared.cfg.token,
            "password_setup_mode": mode,
        })
        .to_string()
    }

    /// A user (role `user`, default group) that exists before the import.
    pub fn add_user(&self, username: &str, email: &str) -> u64 {
        self.add_user_with("user", json!({"username": username, "email": email}))
    }

    /// A user with any role (`admin` for administrators) and any USER
    /// fields (`username` and `email` required; `group_id` defaults to the
    /// default group; ids may be numbers or strings; `main_fax_number` is
    /// filled in from `main_fax_number_id`). Not validated beyond that: a
    /// test may plant data the portal holds. Panics on an unknown field or
    /// a username or e-mail already taken. Returns the new user's id.
    pub fn add_user_with(&self, role: &str, fields: Value) -> u64 {
        let Value::Object(mut fields) = fields else {
            panic!("sandbox: add_user_with needs a JSON object, got {fields}");
        };
        for key in fields.keys() {
            assert!(
                USER_FIELDS.contains(&key.as_str()) && key != "id" && key != "role",
                "sandbox: add_user_with: {key:?} is not a USER field (or is set by the sandbox)"
            );
        }
        let text = |k: &str| {
            fields
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        let (username, email) = (text("username"), text("email"));
        assert!(
            !username.is_empty() && !email.is_empty(),
            "sandbox: add_user_with needs a username and an email"
        );
        fields.insert("role".into(), json!(role));
        let cfg = &self.shared.cfg;
        let group = match fields.get("group_id") {
            None | Some(Value::Null) => cfg.groups.first().map_or(1, |g| g.0),
            Some(v) => id_of(v).unwrap_or_else(|| panic!("sandbox: group_id {v} is not an id")),
        };
        fields.insert("group_id".into(), json!(group));
        if let Some(v) = fields.get("main_fax_number_id").filter(|v| !v.is_null()) {
            let fax = id_of(v).unwrap_or_else(|| panic!("sandbox: main_fax_number_id {v}"));
            fields.insert("main_fax_number_id".into(), json!(fax));
            if fields.get("main_fax_number").is_none_or(Value::is_null)
                && let Some((_, n)) = cfg.fax_numbers.iter().find(|(i, _)| *i == fax)
            {
                fields.insert("main_fax_number".into(), json!(n));
            }
        }
        let mut store = self.shared.store.lock().unwrap();
        let (u, e) = store.taken(&username, &email);
        assert!(!u, "sandbox: username {username} already taken");
        assert!(!e, "sandbox: email {email} already taken");
        store.insert(fields)
    }

    /// Lists `entry` as it is (any JSON: no field is checked or filled in),
    /// after the stored users. `GET`, `PUT` and `DELETE` on `/users/{id}`
    /// reach a planted entry whose id, as text, is that path segment (or,
    /// with `ruby_ids`, whose whole-number id is its `to_i`). Planted
    /// entries take no part in uniqueness: they are what a portal's
    /// database holds, not what its validation allows.
    pub fn plant(&self, entry: Value) {
        self.shared.planted.lock().unwrap().push(entry);
    }

    /// The planted entries still there.
    pub fn planted(&self) -> Vec<Value> {
        self.shared.planted.lock().unwrap().clone()
    }

    /// Every user as the directory answers them (USER objects), by id.
    pub fn users(&self) -> Vec<Value> {
        let store = self.shared.store.lock().unwrap();
        store.users.values().cloned().map(Value::Object).collect()
    }

    /// The USER object with this id.
    pub fn user(&self, id: u64) -> Option<Value> {
        let store = self.shared.store.lock().unwrap();
        store.users.get(&id).cloned().map(Value::Object)
    }

    /// The USER object whose username this is (case-insensitive).
    pub fn user_by_username(&self, username: &str) -> Option<Value> {
        let store = self.shared.store.lock().unwrap();
        let id = store.by_username.get(&username.to_lowercase())?;
        store.users.get(id).cloned().map(Value::Object)
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// How many requests with this method (`"GET"`, `"PUT"`, …) were answered.
    pub fn count_method(&self, method: &str) -> usize {
        self.received()
            .iter()
            .filter(|r| r.method.eq_ignore_ascii_case(method))
            .count()
    }

    /// The JSON bodies of every request with this method, in order.
    pub fn bodies(&self, method: &str) -> Vec<Value> {
        self.received()
            .into_iter()
            .filter(|r| r.method.eq_ignore_ascii_case(method))
            .filter_map(|r| r.body)
            .collect()
    }

    /// The paths of every request with this method, in order
    /// (`/enterprises/westeros/users/1000` for a DELETE).
    pub fn paths(&self, method: &str) -> Vec<String> {
        self.received()
            .into_iter()
            .filter(|r| r.method.eq_ignore_ascii_case(method))
            .map(|r| r.path)
            .collect()
    }

    /// The bodies of every POST received, in order.
    pub fn post_bodies(&self) -> Vec<Value> {
        self.bodies("POST")
    }

    /// The bodies of every PUT received, in order.
    pub fn put_bodies(&self) -> Vec<Value> {
        self.bodies("PUT")
    }

    /// When each POST arrived, in seconds since the sandbox started.
    pub fn post_times(&self) -> Vec<f64> {
        self.times(|m| m == "POST")
    }

    /// When each write (POST, PUT, DELETE) arrived, in seconds since the sandbox started.
    pub fn write_times(&self) -> Vec<f64> {
        self.times(|m| matches!(m, "POST" | "PUT" | "DELETE"))
    }

    fn times(&self, keep: impl Fn(&str) -> bool) -> Vec<f64> {
        let mut at: Vec<f64> = self
            .received()
            .iter()
            .filter(|r| keep(&r.method))
            .map(|r| r.at.as_secs_f64())
            .collect();
        at.sort_by(f64::total_cmp);
        at
    }

    /// The most POSTs that arrived within one second (sliding windows, each
    /// starting at a request).
    pub fn busiest_second(&self) -> usize {
        let at = self.post_times();
        (0..at.len())
            .map(|i| at[i..].iter().take_while(|t| **t < at[i] + 1.0).count())
            .max()
            .unwrap_or(0)
    }

    pub fn post_count(&self) -> usize {
        self.shared.posts.load(Ordering::SeqCst)
    }

    /// POSTs, PUTs and DELETEs received so far (counted on arrival).
    pub fn write_count(&self) -> usize {
        self.shared.writes.load(Ordering::SeqCst)
    }

    /// The user objects of every successful POST, as sent (password
    /// included), in order; a later update or delete does not change them.
    pub fn created(&self) -> Vec<Value> {
        self.shared.store.lock().unwrap().created.clone()
    }

    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }

    pub fn count_status(&self, status: u16) -> usize {
        self.received()
            .iter()
            .filter(|r| r.status == status)
            .count()
    }

    /// Changes the share of writes that get a fault (0.0 turns faults off).
    pub fn set_fault_rate(&self, rate: f64) {
        *self.shared.fault_rate.lock().unwrap() = rate;
    }

    /// Changes the portal's rate limit while running (`None`: no limit).
    /// Tokens already in the bucket are kept, up to the new size; a
    /// bucket that did not exist starts full.
    pub fn set_rate_limit(&self, limit: Option<RateLimit>) {
        self.shared
            .bucket
            .lock()
            .unwrap()
            .set(limit, Instant::now());
    }

    /// How many of each fault were injected.
    pub fn fault_counts(&self) -> HashMap<String, usize> {
        self.shared.fault_counts.lock().unwrap().clone()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct InFlight<'a>(&'a Shared);

impl<'a> InFlight<'a> {
    fn enter(s: &'a Shared) -> Self {
        let now = s.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        s.max_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(s)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

fn json_response(status: StatusCode, v: Value) -> Response {
    (status, axum::Json(v)).into_response()
}

/// A JSON answer and its status, as the handlers return them.
fn answer_json(status: StatusCode, v: Value) -> (Response, u16) {
    (json_response(status, v), status.as_u16())
}

fn dropped_connection() -> Response {
    let stream = futures::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "sandbox: reset",
        ))
    });
    Response::new(Body::from_stream(stream))
}

fn hdr(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// An id given as a JSON number or as the string of one (`12` or `"12"`):
/// the lookups give ids as object keys, so clients send them back as strings.
fn id_of(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse::<u64>().ok().filter(|n| n.to_string() == *s),
        _ => None,
    }
}

async fn handle(
    State(s): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let _guard = InFlight::enter(&s);
    let at = s.started.elapsed();
    let mut rec = Received {
        method: method.to_string(),
        path: uri.path().to_owned(),
        token: hdr(&headers, "authorization-token"),
        content_type: hdr(&headers, "content-type"),
        accept: hdr(&headers, "accept"),
        user_agent: hdr(&headers, "user-agent"),
        body: serde_json::from_slice(&body).ok(),
        at,
        status: 0,
        took: Duration::ZERO,
    };
    if !s.cfg.latency.is_zero() {
        tokio::time::sleep(s.cfg.latency).await;
    }
    let (resp, status) = answer(&s, &method, uri.path(), &rec, &body).await;
    rec.status = status;
    rec.took = s.started.elapsed().checked_sub(at).unwrap();
    s.received.lock().unwrap().push(rec);
    resp
}

/// What a write does to the directory.
#[derive(Debug, Clone, Copy)]
enum Write {
    Create,
    Update(Option<u64>),
    Delete(Option<u64>),
}

async fn answer(
    s: &Shared,
    method: &Method,
    path: &str,
    rec: &Received,
    raw: &Bytes,
) -> (Response, u16) {
    if let Some(to) = &s.cfg.redirect_to {
        let r = (StatusCode::FOUND, [(header::LOCATION, to.clone())], "").into_response();
        return (r, 302);
    }
    if method == Method::POST {
        s.posts.fetch_add(1, Ordering::SeqCst);
    }
    let is_write = [Method::POST, Method::PUT, Method::DELETE].contains(method);
    // The token dies at write number `revoke_after + 1`; every request from then on is refused.
    let revoked = if is_write {
        let n = s.writes.fetch_add(1, Ordering::SeqCst) + 1;
        s.cfg.revoke_after.is_some_and(|limit| n > limit)
    } else {
        let n = s.writes.load(Ordering::SeqCst);
        s.cfg.revoke_after.is_some_and(|limit| n > limit)
    };
    let token = rec.token.as_deref();
    let limited = token == Some(LIMITED_TOKEN) && s.cfg.token != LIMITED_TOKEN;
    if revoked || (token != Some(s.cfg.token.as_str()) && !limited) {
        return answer_json(
            StatusCode::UNAUTHORIZED,
            json!({"result": false, "errors": ["Invalid access token"]}),
        );
    }
    let base = format!("/enterprises/{}", s.cfg.account);
    let Some(leaf) = path.strip_prefix(&base) else {
        return answer_json(
            StatusCode::NOT_FOUND,
            json!({"result": false, "errors": ["Enterprise not found"]}),
        );
    };
    // `/users/{id}`: an id that is not a number is an unknown user.
    let segment = leaf
        .strip_prefix("/users/")
        .filter(|rest| !rest.is_empty() && !rest.contains('/'));
    if let Some(seg) = segment.filter(|_| !limited)
        && let Some(answer) = planted_user(s, method, seg)
    {
        return answer;
    }
    let user_id = segment.map(|rest| {
        if s.cfg.ruby_ids {
            Some(ruby_to_i(rest))
        } else {
            rest.parse::<u64>().ok()
        }
    });
    match (method.clone(), leaf, user_id) {
        (Method::GET, "/groups" | "/fax_numbers", _) => lookup(s, leaf),
        (Method::GET, "/users", _) | (Method::GET, _, Some(_)) if limited => answer_json(
            StatusCode::FORBIDDEN,
            json!({"result": false, "errors": ["The access token lacks the Query user directory permission"]}),
        ),
        (Method::GET, "/users", _) => {
            let mut users: Vec<Value> = {
                let store = s.store.lock().unwrap();
                store.users.values().cloned().map(Value::Object).collect()
            };
            users.extend(s.planted.lock().unwrap().iter().cloned());
            let body = s
                .cfg
                .list_answer
                .clone()
                .unwrap_or_else(|| json!({"result": true, "data": users}));
            if let Some(name) = &s.cfg.promote_on_list {
                promote(s, name);
            }
            if let Some((from, to)) = &s.cfg.rename_on_list {
                rename(s, from, to);
            }
            answer_json(StatusCode::OK, body)
        }
        (Method::GET, _, Some(id)) => {
            let user = {
                let store = s.store.lock().unwrap();
                id.and_then(|id| store.users.get(&id).cloned())
            };
            match user {
                Some(u) => answer_json(StatusCode::OK, json!({"result": true, "data": u})),
                None => user_not_found(),
            }
        }
        (Method::POST, "/users", _) => write(s, Write::Create, raw).await,
        (Method::PUT, _, Some(id)) => write(s, Write::Update(id), raw).await,
        (Method::DELETE, _, Some(id)) => write(s, Write::Delete(id), raw).await,
        _ => answer_json(
            StatusCode::NOT_FOUND,
            json!({"result": false, "errors": ["Not found"]}),
        ),
    }
}

/// The leading whole number of `s`, as Ruby's `String#to_i` reads it (0 when none).
fn ruby_to_i(s: &str) -> u64 {
    let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap_or(0)
}

/// The id of a planted entry as a path segment names it.
fn planted_id(entry: &Value) -> Option<String> {
    match entry.get("id")? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A request on `/users/{seg}` that reaches planted entries, if any does.
fn planted_user(s: &Shared, method: &Method, seg: &str) -> Option<(Response, u16)> {
    let reached = |e: &Value| {
        planted_id(e).as_deref() == Some(seg)
            || (s.cfg.ruby_ids
                && e.get("id").and_then(Value::as_u64) == Some(ruby_to_i(seg))
                && e.get("id").is_some_and(Value::is_u64))
    };
    let mut planted = s.planted.lock().unwrap();
    let first = planted.iter().position(reached)?;
    Some(match *method {
        Method::GET => answer_json(
            StatusCode::OK,
            json!({"result": true, "data": planted[first].clone()}),
        ),
        Method::DELETE => {
            planted.retain(|e| !reached(e));
            done(s)
        }
        Method::PUT => done(s),
        _ => return None,
    })
}

/// A successful PUT or DELETE: `{"result": true}`, or 204 with `no_content`.
fn done(s: &Shared) -> (Response, u16) {
    if s.cfg.no_content {
        return (StatusCode::NO_CONTENT.into_response(), 204);
    }
    answer_json(StatusCode::OK, json!({"result": true}))
}

/// Makes the user named `username` (stored or planted) an administrator.
fn promote(s: &Shared, username: &str) {
    let mut store = s.store.lock().unwrap();
    if let Some(id) = store.by_username.get(&username.to_lowercase()).copied()
        && let Some(u) = store.users.get_mut(&id)
    {
        u.insert("role".into(), json!("admin"));
    }
    drop(store);
    for e in s.planted.lock().unwrap().iter_mut() {
        if e.get("username").and_then(Value::as_str) == Some(username)
            && let Some(map) = e.as_object_mut()
        {
            map.insert("role".into(), json!("admin"));
        }
    }
}

/// Gives the stored user named `from` the username `to` (same id).
fn rename(s: &Shared, from: &str, to: &str) {
    let mut store = s.store.lock().unwrap();
    if let Some(id) = store.by_username.remove(&from.to_lowercase()) {
        store.by_username.insert(to.to_lowercase(), id);
        if let Some(u) = store.users.get_mut(&id) {
            u.insert("username".into(), json!(to));
        }
    }
}

fn user_not_found() -> (Response, u16) {
    answer_json(
        StatusCode::NOT_FOUND,
        json!({"result": false, "errors": ["User not found"]}),
    )
}

/// `GET /groups` and `GET /fax_numbers`, with the configured start-up trouble.
fn lookup(s: &Shared, leaf: &str) -> (Response, u16) {
    if let Some(wait) = &s.cfg.lookup_retry_after {
        let mut r = (StatusCode::TOO_MANY_REQUESTS, "{}").into_response();
        if let Ok(v) = wait.parse() {
            r.headers_mut().insert("retry-after", v);
        }
        return (r, 429);
    }
    if s.lookups_failed.load(Ordering::SeqCst) < s.cfg.lookup_failures {
        s.lookups_failed.fetch_add(1, Ordering::SeqCst);
        return (
            (StatusCode::SERVICE_UNAVAILABLE, "<html>503</html>").into_response(),
            503,
        );
    }
    let data = if leaf == "/groups" {
        let groups: Map<String, Value> = s
            .cfg
            .groups
            .iter()
            .map(|(id, n)| (id.to_string(), json!(n)))
            .collect();
        json!({"default": s.cfg.groups.first().map_or(1, |g| g.0), "groups": groups})
    } else {
        let fax: Map<String, Value> = s
            .cfg
            .fax_numbers
            .iter()
            .map(|(id, n)| (id.to_string(), json!({"number": n})))
            .collect();
        json!({"fax_numbers": fax})
    };
    answer_json(StatusCode::OK, json!({"result": true, "data": data}))
}

fn too_many(retry_after: String) -> (Response, u16) {
    let r = (
        StatusCode::TOO_MANY_REQUESTS,
        [
            (header::RETRY_AFTER, retry_after),
            (header::CONTENT_TYPE, "application/json".into()),
        ],
        r#"{"result":false,"errors":["Rate limit exceeded"]}"#,
    )
        .into_response();
    (r, 429)
}

fn internal_error() -> (Response, u16) {
    answer_json(
        StatusCode::INTERNAL_SERVER_ERROR,
        json!({"result": false, "errors": ["Internal error"]}),
    )
}

/// A write: the rate limit, then a fault maybe, then the change itself.
async fn write(s: &Shared, op: Write, raw: &Bytes) -> (Response, u16) {
    let (verdict, advertised) = s.bucket.lock().unwrap().admit(Instant::now());
    let advert = advertised.map_or_else(Vec::new, |a| s.cfg.advertise.headers(&a));
    let (mut resp, status) = match verdict {
        Err(Refused(Some(secs), false)) => too_many(secs.to_string()),
        // `Rack::Attack`'s answer, with its `Retry-After` or (its default) without.
        Err(Refused(retry_after, _)) => {
            let mut r = (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::CONTENT_TYPE, "text/plain")],
                "Retry later\n",
            )
                .into_response();
            if let Some(secs) = retry_after {
                r.headers_mut()
                    .insert(header::RETRY_AFTER, axum::http::HeaderValue::from(secs));
            }
            (r, 429)
        }
        Ok(()) => write_admitted(s, op, raw).await,
    };
    for (name, value) in advert {
        if let Ok(v) = axum::http::HeaderValue::from_str(&value) {
            resp.headers_mut().insert(name, v);
        }
    }
    (resp, status)
}

/// A write the limiter let through: a fault maybe, then the change itself.
async fn write_admitted(s: &Shared, op: Write, raw: &Bytes) -> (Response, u16) {
    let fault = {
        let mut rng = s.rng.lock().unwrap();
        let rate = *s.fault_rate.lock().unwrap();
        if !s.cfg.faults.is_empty() && rng.f64() < rate {
            Some(s.cfg.faults[rng.usize(..s.cfg.faults.len())])
        } else {
            None
        }
    };
    if let Some(f) = fault {
        *s.fault_counts
            .lock()
            .unwrap()
            .entry(format!("{f:?}"))
            .or_default() += 1;
    }
    match fault {
        Some(Fault::Reset) => return (dropped_connection(), 0),
        Some(Fault::Error500) => return internal_error(),
        Some(Fault::BadGatewayHtml) => {
            let page = "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>";
            return (
                (
                    StatusCode::BAD_GATEWAY,
                    [(header::CONTENT_TYPE, "text/html")],
                    page,
                )
                    .into_response(),
                502,
            );
        }
        Some(Fault::Unavailable) => {
            return (
                (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable").into_response(),
                503,
            );
        }
        Some(Fault::GatewayTimeout) => {
            return ((StatusCode::GATEWAY_TIMEOUT, "").into_response(), 504);
        }
        Some(Fault::NotJson) => {
            return (
                (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, "text/html")],
                    "<html>Please wait…</html>",
                )
                    .into_response(),
                200,
            );
        }
        Some(Fault::Throttle) => {
            let odd = s.writes.load(Ordering::SeqCst) % 2 == 1;
            let value = if let Some(v) = &s.cfg.throttle_retry_after {
                v.clone()
            } else if odd {
                httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(1))
            } else {
                "1".into()
            };
            return too_many(value);
        }
        _ => {}
    }
    let (status, answer) = match op {
        Write::Delete(id) => delete_user(s, id),
        Write::Create | Write::Update(_) => {
            let Some(body) = serde_json::from_slice::<Value>(raw).ok() else {
                return answer_json(
                    StatusCode::BAD_REQUEST,
                    json!({"result": false, "errors": ["Malformed JSON"]}),
                );
            };
            match op {
                Write::Update(id) => update_user(s, id, &body),
                _ => create_user(s, &body),
            }
        }
    };
    if s.cfg.no_content
        && status == StatusCode::OK
        && !matches!(op, Write::Create)
        && fault.is_none()
    {
        return done(s);
    }
    match (fault, status) {
        (Some(Fault::CreateThenReset), StatusCode::OK) => (dropped_connection(), 0),
        (Some(Fault::CreateThenError500), StatusCode::OK) => internal_error(),
        (Some(Fault::CreateThenSlow), StatusCode::OK) => {
            tokio::time::sleep(s.cfg.slow).await;
            answer_json(status, answer)
        }
        _ => answer_json(status, answer),
    }
}

/// The keys a create call accepts.
const CREATE_KEYS: [&str; 24] = [
    "username",
    "email",
    "role",
    "group_id",
    "selected_fax_number",
    "fax_number_type",
    "language",
    "time_zone",
    "first_name",
    "last_name",
    "salutation",
    "job_title",
    "company_name",
    "address",
    "city",
    "state",
    "country",
    "zip_code",
    "phone_number",
    "mobile_number",
    "password_setup_type",
    "password",
    "password_confirmation",
    "disable_welcome_email",
];

/// Rails-style errors: field → messages.
#[derive(Default)]
struct Errors(Map<String, Value>);

impl Errors {
    fn add(&mut self, field: &str, msg: &str) {
        if let Some(a) = self
            .0
            .entry(field.to_owned())
            .or_insert_with(|| json!([]))
            .as_array_mut()
        {
            a.push(json!(msg));
        }
    }

    fn answer(self) -> (StatusCode, Value) {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"result": false, "errors": self.0}),
        )
    }
}

fn missing_user() -> (StatusCode, Value) {
    (
        StatusCode::BAD_REQUEST,
        json!({"result": false, "errors": ["param is missing or the value is empty: user"]}),
    )
}

/// A user's fax number as a request sets it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum FaxChoice {
    /// Not in the request: left as it is.
    Unchanged,
    /// `"fax_number_type": "enterprise"`.
    Enterprise,
    /// `"selected"`, with the number's id and number.
    Selected(u64, String),
}

/// The checks a create and an update share, for the fields present in
/// `user`. Returns the group id and the fax number to store, when given and
/// valid.
fn check_common(
    s: &Shared,
    user: &Map<String, Value>,
    errors: &mut Errors,
) -> (Option<u64>, FaxChoice) {
    for &k in TEXT_FIELDS {
        if user.get(k).is_some_and(|v| !v.is_string() && !v.is_null()) {
            errors.add(k, "is invalid");
        }
    }
    if let Some(l) = user.get("language")
        && !LANGUAGES.contains(&l.as_str().unwrap_or(""))
    {
        errors.add("language", "is not included in the list");
    }
    if let Some(z) = user.get("time_zone")
        && !is_time_zone(z.as_str().unwrap_or(""))
    {
        errors.add("time_zone", "is not included in the list");
    }
    let group = user
        .get("group_id")
        .map(|g| id_of(g).filter(|g| s.cfg.groups.iter().any(|(id, _)| id == g)));
    if group == Some(None) {
        errors.add("group", "does not exist");
    }
    let fax_type = user.get("fax_number_type");
    let selected = user.get("selected_fax_number");
    let fax = if fax_type.is_none() && selected.is_none() {
        FaxChoice::Unchanged
    } else {
        let choice = match (fax_type.and_then(Value::as_str), selected) {
            (Some("enterprise"), None) => Some(FaxChoice::Enterprise),
            (Some("selected"), Some(id)) => id_of(id)
                .and_then(|f| s.cfg.fax_numbers.iter().find(|(i, _)| *i == f))
                .map(|(i, n)| FaxChoice::Selected(*i, n.clone())),
            _ => None,
        };
        choice.unwrap_or_else(|| {
            errors.add("selected_fax_number", "is invalid");
            FaxChoice::Unchanged
        })
    };
    for (k, v) in user {
        if v.as_str() == Some("") {
            errors.add(k, "can't be an empty string");
        }
    }
    (group.flatten(), fax)
}

/// Sets the group and fax number of a stored user.
fn apply_ids(user: &mut Map<String, Value>, group: Option<u64>, fax: FaxChoice) {
    if let Some(g) = group {
        user.insert("group_id".into(), json!(g));
    }
    let (id, number) = match fax {
        FaxChoice::Unchanged => return,
        FaxChoice::Selected(id, n) => (json!(id), json!(n)),
        FaxChoice::Enterprise => (Value::Null, Value::Null),
    };
    user.insert("main_fax_number_id".into(), id);
    user.insert("main_fax_number".into(), number);
}

/// Rails-style validation of `{"user": {…}}`; creates the user when valid.
fn create_user(s: &Shared, body: &Value) -> (StatusCode, Value) {
    let Some(user) = body.get("user").and_then(Value::as_object) else {
        return missing_user();
    };
    let mut errors = Errors::default();
    for key in user.keys() {
        if !CREATE_KEYS.contains(&key.as_str()) {
            errors.add("base", &format!("unknown attribute '{key}' for User"));
        }
    }
    let text = |k: &str| user.get(k).and_then(Value::as_str).unwrap_or("");
    let username = text("username");
    let email = text("email");
    if username.is_empty() {
        errors.add("username", "can't be blank");
    } else if !username
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        errors.add("username", "is invalid");
    }
    if email.is_empty() {
        errors.add("email", "can't be blank");
    } else if !email.contains('@') || !email.split('@').nth(1).unwrap_or("").contains('.') {
        errors.add("email", "does not appear to be valid");
    }
    if text("role") != "user" {
        errors.add("role", "is not included in the list");
    }
    if user
        .get("disable_welcome_email")
        .is_some_and(|v| !v.is_boolean())
    {
        errors.add("disable_welcome_email", "is invalid");
    }
    let (group, fax) = check_common(s, user, &mut errors);
    if !user.contains_key("group_id") {
        errors.add("group", "does not exist");
    }
    if !user.contains_key("fax_number_type") && !user.contains_key("selected_fax_number") {
        errors.add("selected_fax_number", "is invalid");
    }
    match text("password_setup_type") {
        "force" => {
            let p = text("password");
            if p.is_empty() {
                errors.add("password", "can't be blank");
            } else if p.chars().count() < 8 {
                errors.add("password", "is too short (minimum is 8 characters)");
            }
            if user.get("password_confirmation").and_then(Value::as_str) != Some(p) {
                errors.add("password_confirmation", "doesn't match Password");
            }
        }
        "user" | "auto" => {
            if user.contains_key("password") || user.contains_key("password_confirmation") {
                errors.add(
                    "password",
                    "must be blank unless password_setup_type is force",
                );
            }
        }
        _ => errors.add("password_setup_type", "is not included in the list"),
    }
    let mut store = s.store.lock().unwrap();
    let (username_taken, email_taken) = store.taken(username, email);
    if !username.is_empty() && username_taken {
        errors.add("username", "has already been taken");
    }
    if !email.is_empty() && email_taken {
        errors.add("email", "has already been taken");
    }
    if !errors.0.is_empty() {
        return errors.answer();
    }
    let mut fields: Map<String, Value> = user
        .iter()
        .filter(|(k, _)| USER_FIELDS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    apply_ids(&mut fields, group, fax);
    let id = store.insert(fields);
    store.created.push(Value::Object(user.clone()));
    (StatusCode::OK, json!({"result": true, "data": {"id": id}}))
}

/// `PUT /users/{id}`: validates each changed field, applies them all or none.
fn update_user(s: &Shared, id: Option<u64>, body: &Value) -> (StatusCode, Value) {
    let mut store = s.store.lock().unwrap();
    let Some(current) = id.and_then(|id| store.users.get_mut(&id)) else {
        return (
            StatusCode::NOT_FOUND,
            json!({"result": false, "errors": ["User not found"]}),
        );
    };
    let Some(user) = body.get("user").and_then(Value::as_object) else {
        return missing_user();
    };
    let mut errors = Errors::default();
    for (k, v) in user {
        match k.as_str() {
            "username" | "email" | "id" | "external_id" => errors.add(k, "cannot be changed"),
            "role" => {
                let role = v.as_str().unwrap_or("");
                if !ROLES.contains(&role)
                    && current.get("role").and_then(Value::as_str) != Some(role)
                {
                    errors.add("role", "is not included in the list");
                }
            }
            "group_id" | "selected_fax_number" | "fax_number_type" | "language" | "time_zone" => {}
            k if TEXT_FIELDS.contains(&k) => {}
            _ => errors.add("base", &format!("unknown attribute '{k}' for User")),
        }
    }
    let (group, fax) = check_common(s, user, &mut errors);
    if !errors.0.is_empty() {
        return errors.answer();
    }
    for (k, v) in user {
        if k == "role" || k == "language" || k == "time_zone" || TEXT_FIELDS.contains(&k.as_str()) {
            current.insert(k.clone(), v.clone());
        }
    }
    apply_ids(current, group, fax);
    (StatusCode::OK, json!({"result": true}))
}

/// `DELETE /users/{id}`.
fn delete_user(s: &Shared, id: Option<u64>) -> (StatusCode, Value) {
    let mut store = s.store.lock().unwrap();
    if id.is_some_and(|id| store.remove(id)) {
        (StatusCode::OK, json!({"result": true}))
    } else {
        (
            StatusCode::NOT_FOUND,
            json!({"result": false, "errors": ["User not found"]}),
        )
    }
}
