//! A local stand-in for the XMedius Cloud portal: the same three endpoints,
//! the `Authorization-Token` check, Rails-style validation and
//! case-insensitive uniqueness, configurable latency, a per-second rate
//! limit, and fault injection. A real HTTP server on 127.0.0.1 (ephemeral
//! port) on its own thread and runtime, so tests, benchmarks and the demo
//! use it the same way, from sync or async code.
//!
//! Shared by `tests/`, `examples/demo.rs` and `benches/` (included with `#[path]`).
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

pub const TOKEN: &str = "sandbox-token-7f3a9c";
pub const ACCOUNT: &str = "westeros";

/// A fault the sandbox can inject instead of a normal answer to a POST.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// The connection is dropped before any answer; nothing is created.
    Reset,
    /// The user is created, then the connection is dropped.
    CreateThenReset,
    /// 500 with a JSON error; nothing created.
    Error500,
    /// The user is created, then 500.
    CreateThenError500,
    /// 502 with an HTML page from a "proxy".
    BadGatewayHtml,
    /// 503 Service Unavailable.
    Unavailable,
    /// 504 Gateway Timeout.
    GatewayTimeout,
    /// 200 with an HTML page instead of JSON; nothing created.
    NotJson,
    /// 429 with a `Retry-After` of one second (or an HTTP date, every other time).
    Throttle,
    /// The user is created, then the answer takes `slow` (longer than the client's timeout).
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

#[derive(Debug, Clone)]
pub struct SandboxConfig {
    pub token: String,
    pub account: String,
    /// Added to every answer.
    pub latency: Duration,
    /// POSTs allowed per one-second window; past it, 429 with `Retry-After`.
    pub rate_limit: Option<u32>,
    /// Share of POSTs (0.0–1.0) that get a fault, drawn from `faults`.
    pub fault_rate: f64,
    pub faults: Vec<Fault>,
    /// How long `CreateThenSlow` answers take.
    pub slow: Duration,
    /// After this many POSTs, every request is answered 401 (token revoked).
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
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            token: TOKEN.into(),
            account: ACCOUNT.into(),
            latency: Duration::ZERO,
            rate_limit: None,
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

#[derive(Default)]
struct Users {
    usernames: HashSet<String>,
    emails: HashSet<String>,
    created: Vec<Value>,
}

struct Shared {
    cfg: SandboxConfig,
    started: Instant,
    users: Mutex<Users>,
    received: Mutex<Vec<Received>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    posts: AtomicUsize,
    lookups_failed: AtomicUsize,
    window: Mutex<(u64, u32)>,
    rng: Mutex<fastrand::Rng>,
    /// `cfg.fault_rate`, changeable while running.
    fault_rate: Mutex<f64>,
    fault_counts: Mutex<HashMap<String, usize>>,
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
            cfg,
            started: Instant::now(),
            users: Mutex::default(),
            received: Mutex::default(),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            posts: AtomicUsize::new(0),
            lookups_failed: AtomicUsize::new(0),
            window: Mutex::new((0, 0)),
            fault_counts: Mutex::default(),
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

    /// A user that exists before the import.
    pub fn add_user(&self, username: &str, email: &str) {
        let mut u = self.shared.users.lock().unwrap();
        u.usernames.insert(username.to_lowercase());
        u.emails.insert(email.to_lowercase());
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// The bodies of every POST received, in order.
    pub fn post_bodies(&self) -> Vec<Value> {
        self.received()
            .into_iter()
            .filter(|r| r.method == "POST")
            .filter_map(|r| r.body)
            .collect()
    }

    /// When each POST arrived, in seconds since the sandbox started.
    pub fn post_times(&self) -> Vec<f64> {
        self.received()
            .iter()
            .filter(|r| r.method == "POST")
            .map(|r| r.at.as_secs_f64())
            .collect()
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

    /// The user objects created, in order.
    pub fn created(&self) -> Vec<Value> {
        self.shared.users.lock().unwrap().created.clone()
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

    /// Changes the share of POSTs that get a fault (0.0 turns faults off).
    pub fn set_fault_rate(&self, rate: f64) {
        *self.shared.fault_rate.lock().unwrap() = rate;
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
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response()
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
    rec.took = s.started.elapsed() - at;
    s.received.lock().unwrap().push(rec);
    resp
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
    let is_post = method == Method::POST;
    let post_no = if is_post {
        s.posts.fetch_add(1, Ordering::SeqCst) + 1
    } else {
        0
    };
    let revoked = s.cfg.revoke_after.is_some_and(|n| post_no > n);
    if rec.token.as_deref() != Some(s.cfg.token.as_str()) || revoked {
        let r = json_response(
            StatusCode::UNAUTHORIZED,
            json!({"result": false, "errors": ["Invalid access token"]}),
        );
        return (r, 401);
    }
    let base = format!("/enterprises/{}", s.cfg.account);
    let Some(leaf) = path.strip_prefix(&base) else {
        return (
            json_response(
                StatusCode::NOT_FOUND,
                json!({"result": false, "errors": ["Enterprise not found"]}),
            ),
            404,
        );
    };
    match (method.clone(), leaf) {
        (Method::GET, "/groups" | "/fax_numbers") => {
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
                let groups: serde_json::Map<String, Value> = s
                    .cfg
                    .groups
                    .iter()
                    .map(|(id, n)| (id.to_string(), json!(n)))
                    .collect();
                json!({"default": s.cfg.groups.first().map(|g| g.0).unwrap_or(1), "groups": groups})
            } else {
                let fax: serde_json::Map<String, Value> = s
                    .cfg
                    .fax_numbers
                    .iter()
                    .map(|(id, n)| (id.to_string(), json!({"number": n})))
                    .collect();
                json!({"fax_numbers": fax})
            };
            (
                json_response(StatusCode::OK, json!({"result": true, "data": data})),
                200,
            )
        }
        (Method::POST, "/users") => create(s, rec, raw).await,
        _ => (
            json_response(
                StatusCode::NOT_FOUND,
                json!({"result": false, "errors": ["Not found"]}),
            ),
            404,
        ),
    }
}

fn throttled(s: &Shared) -> bool {
    let Some(limit) = s.cfg.rate_limit else {
        return false;
    };
    let second = s.started.elapsed().as_secs();
    let mut w = s.window.lock().unwrap();
    if w.0 != second {
        *w = (second, 0);
    }
    w.1 += 1;
    w.1 > limit
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

async fn create(s: &Shared, rec: &Received, raw: &Bytes) -> (Response, u16) {
    if throttled(s) {
        let until_next_second = 1000 - (s.started.elapsed().as_millis() % 1000) as u64;
        let secs = until_next_second.div_ceil(1000).max(1);
        return too_many(secs.to_string());
    }
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
        Some(Fault::Error500) => {
            return (
                json_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({"result": false, "errors": ["Internal error"]}),
                ),
                500,
            );
        }
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
            let odd = s.posts.load(Ordering::SeqCst) % 2 == 1;
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
    let Some(body) = serde_json::from_slice::<Value>(raw).ok() else {
        return (
            json_response(
                StatusCode::BAD_REQUEST,
                json!({"result": false, "errors": ["Malformed JSON"]}),
            ),
            400,
        );
    };
    let _ = rec;
    let (status, answer) = validate_and_create(s, &body);
    match (fault, status) {
        (Some(Fault::CreateThenReset), StatusCode::OK) => (dropped_connection(), 0),
        (Some(Fault::CreateThenError500), StatusCode::OK) => (
            json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"result": false, "errors": ["Internal error"]}),
            ),
            500,
        ),
        (Some(Fault::CreateThenSlow), StatusCode::OK) => {
            tokio::time::sleep(s.cfg.slow).await;
            (json_response(status, answer), status.as_u16())
        }
        _ => (json_response(status, answer), status.as_u16()),
    }
}

const USER_KEYS: [&str; 22] = [
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
];

/// Rails-style validation of `{"user": {…}}`; creates the user when valid.
fn validate_and_create(s: &Shared, body: &Value) -> (StatusCode, Value) {
    let Some(user) = body.get("user").and_then(Value::as_object) else {
        return (
            StatusCode::BAD_REQUEST,
            json!({"result": false, "errors": ["param is missing or the value is empty: user"]}),
        );
    };
    let mut errors: serde_json::Map<String, Value> = serde_json::Map::new();
    let mut add = |field: &str, msg: &str| {
        if let Some(a) = errors
            .entry(field.to_owned())
            .or_insert_with(|| json!([]))
            .as_array_mut()
        {
            a.push(json!(msg));
        }
    };
    for key in user.keys() {
        if !USER_KEYS.contains(&key.as_str()) && key != "password_confirmation" {
            add("base", &format!("unknown attribute '{key}' for User"));
        }
    }
    let text = |k: &str| user.get(k).and_then(Value::as_str).unwrap_or("");
    let username = text("username");
    let email = text("email");
    if username.is_empty() {
        add("username", "can't be blank");
    } else if !username
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        add("username", "is invalid");
    }
    if email.is_empty() {
        add("email", "can't be blank");
    } else if !email.contains('@') || !email.split('@').nth(1).unwrap_or("").contains('.') {
        add("email", "does not appear to be valid");
    }
    if text("role") != "user" {
        add("role", "is not included in the list");
    }
    let group_ok = user
        .get("group_id")
        .and_then(Value::as_u64)
        .is_some_and(|g| s.cfg.groups.iter().any(|(id, _)| *id == g));
    if !group_ok {
        add("group", "does not exist");
    }
    match (text("fax_number_type"), user.get("selected_fax_number")) {
        ("enterprise", None) => {}
        ("selected", Some(id))
            if id
                .as_u64()
                .is_some_and(|f| s.cfg.fax_numbers.iter().any(|(i, _)| *i == f)) => {}
        _ => add("selected_fax_number", "is invalid"),
    }
    if let Some(l) = user.get("language")
        && !["en", "fr", "de"].contains(&l.as_str().unwrap_or(""))
    {
        add("language", "is not included in the list");
    }
    match text("password_setup_type") {
        "force" => {
            let p = text("password");
            if p.is_empty() {
                add("password", "can't be blank");
            } else if p.chars().count() < 8 {
                add("password", "is too short (minimum is 8 characters)");
            }
            if user.get("password_confirmation").and_then(Value::as_str) != Some(p) {
                add("password_confirmation", "doesn't match Password");
            }
        }
        "user" | "auto" => {
            if user.contains_key("password") || user.contains_key("password_confirmation") {
                add(
                    "password",
                    "must be blank unless password_setup_type is force",
                );
            }
        }
        _ => add("password_setup_type", "is not included in the list"),
    }
    for (k, v) in user {
        if v.as_str() == Some("") {
            add(k, "can't be an empty string");
        }
    }
    let mut users = s.users.lock().unwrap();
    if !username.is_empty() && users.usernames.contains(&username.to_lowercase()) {
        add("username", "has already been taken");
    }
    if !email.is_empty() && users.emails.contains(&email.to_lowercase()) {
        add("email", "has already been taken");
    }
    if !errors.is_empty() {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"result": false, "errors": errors}),
        );
    }
    users.usernames.insert(username.to_lowercase());
    users.emails.insert(email.to_lowercase());
    users.created.push(Value::Object(user.clone()));
    let id = users.created.len();
    (
        StatusCode::OK,
        json!({"result": true, "data": {"id": id, "username": username}}),
    )
}
