//! The XMedius Cloud client: builds each request (the lookups at start, one
//! POST per user), sends it, and classifies the answer into an [`Outcome`].
//! It does not retry or pace: the engine in `retry` does, for every request.

pub(crate) mod classify;
pub(crate) mod directory;
pub(crate) mod payload;
pub(crate) mod users;

use std::time::{Duration, SystemTime};

pub(crate) use classify::Outcome;
pub(crate) use directory::Directory;
use reqwest::header::{
    ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue, LOCATION, RETRY_AFTER, USER_AGENT,
};
use reqwest::{Client, Method, Url};

use crate::config::Config;
use crate::pacing::advert::{self, Advert};
use crate::sanitize;

const USER_AGENT_VALUE: &str = concat!("xmc-user-importer/", env!("CARGO_PKG_VERSION"));

/// One request as a job carries it: the worker sends it without knowing
/// what it is for.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) method: Method,
    pub(crate) url: Url,
    pub(crate) body: Option<bytes::Bytes>,
    /// Waits for a turn of the shared pacer (every row's request); the
    /// lookups at start do not.
    pub(crate) paced: bool,
    /// The longest answer read; longer is a failed attempt.
    pub(crate) max_answer: usize,
    /// A 401/403 stops the whole run (the token was revoked). Not for the
    /// user list: a token may lack only that permission.
    pub(crate) refusal_stops: bool,
}

/// One request's result: the HTTP status (if an answer came) and its meaning.
#[derive(Debug)]
pub(crate) struct Attempt {
    pub(crate) status: Option<u16>,
    pub(crate) outcome: Outcome,
    /// What the answer's headers say of the portal's rate limit.
    pub(crate) advert: Option<Advert>,
}

/// The lookups made once at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lookup {
    Groups,
    FaxNumbers,
    /// Every user of the enterprise (updates, exports, deletions, syncs).
    Users,
}

impl Lookup {
    /// How messages name it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Lookup::Groups => "groups",
            Lookup::FaxNumbers => "fax numbers",
            Lookup::Users => "users",
        }
    }

    fn leaf(self) -> &'static str {
        match self {
            Lookup::Groups => "groups",
            Lookup::FaxNumbers => "fax_numbers",
            Lookup::Users => "users",
        }
    }
}

pub(crate) struct Portal {
    http: Client,
    /// `{endpoint}/enterprises/{account}`
    base: Url,
    /// Blanked from whatever the portal says back.
    token: crate::secret::Secret,
}

/// No answer of the portal is this long: past it, the answer is cut off
/// unread (a hostile or broken server must not fill the memory).
pub(crate) const MAX_ANSWER_BYTES: usize = 1 << 20;
/// The user list holds every user (~500 bytes each): room for 200,000.
const MAX_USER_LIST_BYTES: usize = 100 << 20;

/// The HTTP client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The token cannot travel in an HTTP header.
    #[error("the access token holds characters an HTTP header cannot carry")]
    Token,
    /// The TLS or connection pool setup failed.
    #[error("cannot set up the HTTP client: {0}")]
    Build(#[source] reqwest::Error),
}

impl Portal {
    /// One client for the whole run: a pool as large as the concurrency,
    /// no redirects followed (the token header would go along), the four
    /// headers on every request.
    pub(crate) fn new(
        config: &Config,
        timeout: Duration,
        concurrency: usize,
    ) -> Result<Portal, ClientError> {
        // Without a provider chosen by the build, rustls needs one installed
        // once per process; a second install fails harmlessly.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut token =
            HeaderValue::from_str(config.access_token.expose()).map_err(|_| ClientError::Token)?;
        token.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert("Authorization-Token", token);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
        let http = Client::builder()
            .default_headers(headers)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout)
            .pool_max_idle_per_host(concurrency.max(1))
            .tcp_nodelay(true)
            .build()
            .map_err(ClientError::Build)?;
        let mut base = config.endpoint.clone();
        if let Ok(mut segs) = base.path_segments_mut() {
            segs.pop_if_empty()
                .extend(["enterprises", config.enterprise_account.as_str()]);
        }
        Ok(Portal {
            http,
            base,
            token: config.access_token.clone(),
        })
    }

    /// `{endpoint}/enterprises/{account}/{leaf…}`
    fn url(&self, leaf: &[&str]) -> Url {
        let mut u = self.base.clone();
        if let Ok(mut segs) = u.path_segments_mut() {
            segs.extend(leaf);
        }
        u
    }

    /// One of the two GETs at start.
    pub(crate) fn lookup(&self, lookup: Lookup) -> Request {
        Request {
            method: Method::GET,
            url: self.url(&[lookup.leaf()]),
            body: None,
            paced: false,
            max_answer: match lookup {
                Lookup::Users => MAX_USER_LIST_BYTES,
                Lookup::Groups | Lookup::FaxNumbers => MAX_ANSWER_BYTES,
            },
            refusal_stops: lookup != Lookup::Users,
        }
    }

    /// The POST that creates one user from its `{"user": …}` body.
    pub(crate) fn create(&self, body: bytes::Bytes) -> Request {
        Request {
            method: Method::POST,
            url: self.url(&["users"]),
            body: Some(body),
            paced: true,
            max_answer: MAX_ANSWER_BYTES,
            refusal_stops: true,
        }
    }

    /// The PUT that changes the fields of user `id` given in its body.
    pub(crate) fn update(&self, id: &str, body: bytes::Bytes) -> Request {
        Request {
            method: Method::PUT,
            url: self.url(&["users", id]),
            body: Some(body),
            paced: true,
            max_answer: MAX_ANSWER_BYTES,
            refusal_stops: true,
        }
    }

    /// The GET of user `id` (the check right before its deletion).
    pub(crate) fn read_user(&self, id: &str) -> Request {
        Request {
            method: Method::GET,
            url: self.url(&["users", id]),
            body: None,
            paced: true,
            max_answer: MAX_ANSWER_BYTES,
            refusal_stops: true,
        }
    }

    /// The DELETE of user `id`.
    pub(crate) fn delete(&self, id: &str) -> Request {
        Request {
            method: Method::DELETE,
            url: self.url(&["users", id]),
            body: None,
            paced: true,
            max_answer: MAX_ANSWER_BYTES,
            refusal_stops: true,
        }
    }

    /// Sends one request once and classifies the answer.
    pub(crate) async fn send(&self, request: &Request) -> Attempt {
        let mut builder = self
            .http
            .request(request.method.clone(), request.url.clone());
        if let Some(body) = &request.body {
            builder = builder.body(body.clone());
        }
        let resp = match builder.send().await {
            Ok(r) => r,
            Err(e) => return transport_failure(&e, None),
        };
        let status = resp.status().as_u16();
        let header = |name| {
            resp.headers()
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        let retry_after = header(RETRY_AFTER);
        let location = header(LOCATION);
        let advert = advert::read(
            &|name: &str| {
                resp.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            },
            SystemTime::now(),
        );
        let body = match read_capped(resp, request.max_answer).await {
            Ok(Some(b)) => b,
            Ok(None) => {
                let reason = format!(
                    "HTTP {status} with an answer longer than {} MiB (not read)",
                    request.max_answer >> 20
                );
                let outcome = if request.method == Method::GET {
                    Outcome::TooLarge { message: reason }
                } else {
                    Outcome::Transient {
                        reason,
                        maybe_sent: true,
                    }
                };
                return Attempt {
                    status: Some(status),
                    advert,
                    outcome,
                };
            }
            Err(e) => return transport_failure(&e, Some(status)),
        };
        let outcome = classify::classify(
            status,
            retry_after.as_deref(),
            location.as_deref(),
            body,
            SystemTime::now(),
        );
        Attempt {
            status: Some(status),
            advert,
            outcome: outcome.map_text(|t| sanitize::portal_text(t, &[self.token.expose()])),
        }
    }
}

/// The answer's body, read chunk by chunk up to `max` bytes; `None` when
/// it is longer.
async fn read_capped(
    mut resp: reqwest::Response,
    max: usize,
) -> Result<Option<Vec<u8>>, reqwest::Error> {
    // A large answer (the user list) says its length: one allocation of
    // that size, not a doubling vector that briefly holds three times it.
    let announced = resp
        .content_length()
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(0);
    let mut body = Vec::with_capacity(announced.min(max));
    while let Some(chunk) = resp.chunk().await? {
        if body.len() + chunk.len() > max {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

/// A request that got no usable answer. Only a refused connection is sure
/// not to have reached the portal.
fn transport_failure(e: &reqwest::Error, status: Option<u16>) -> Attempt {
    let (reason, maybe_sent) = if e.is_timeout() {
        ("no answer within the timeout".to_owned(), true)
    } else if e.is_connect() {
        (format!("cannot connect: {}", root_cause(e)), false)
    } else if status.is_some() {
        (format!("the answer was cut off: {}", root_cause(e)), true)
    } else {
        (format!("the connection failed: {}", root_cause(e)), true)
    };
    Attempt {
        status,
        outcome: Outcome::Transient { reason, maybe_sent },
        advert: None,
    }
}

/// The innermost error's text: "connection refused" rather than reqwest's
/// "error sending request for url (…)".
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    if answers_plain_http(e) {
        return "the endpoint answers plain HTTP; for a local sandbox use http://".to_owned();
    }
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// An `https://` endpoint whose server answered in plain HTTP: TLS reads
/// its first bytes as a record of no known type.
fn answers_plain_http(e: &(dyn std::error::Error + 'static)) -> bool {
    let plain = |r: &rustls::Error| {
        matches!(
            r,
            rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType)
        )
    };
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(r) = err.downcast_ref::<rustls::Error>() {
            return plain(r);
        }
        // An I/O error wraps the TLS one, maybe in another I/O error; its
        // `source` skips the wrapped error.
        if let Some(inner) = err
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            cur = Some(inner);
            continue;
        }
        cur = err.source();
    }
    false
}
