//! The XMedius Cloud client: the two lookups at start, one POST per user, and
//! the classification of each answer into an [`Outcome`].

pub mod classify;
pub mod directory;
pub mod payload;

use std::time::{Duration, SystemTime};

use reqwest::header::{
    ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue, LOCATION, RETRY_AFTER, USER_AGENT,
};
use reqwest::{Client, Url};
use serde_json::Value;

pub use classify::Outcome;
pub use directory::Directory;

use crate::config::Config;

pub const USER_AGENT_VALUE: &str = concat!("xmc-user-importer/", env!("CARGO_PKG_VERSION"));

/// One request's result: the HTTP status (if an answer came) and its meaning.
#[derive(Debug)]
pub struct Attempt {
    pub status: Option<u16>,
    pub outcome: Outcome,
    /// The `data` of a successful answer (used by the lookups at start).
    pub data: Option<Value>,
}

/// The two lookups made once at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    Groups,
    FaxNumbers,
}

impl Lookup {
    /// How messages name it.
    pub fn name(self) -> &'static str {
        match self {
            Lookup::Groups => "groups",
            Lookup::FaxNumbers => "fax numbers",
        }
    }
}

pub struct Portal {
    http: Client,
    users: Url,
    groups: Url,
    fax_numbers: Url,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot set up the HTTP client: {0}")]
pub struct ClientError(String);

impl Portal {
    /// One client for the whole run: a pool as large as the concurrency,
    /// no redirects followed (the token header would go along), the four
    /// headers on every request.
    pub fn new(
        config: &Config,
        timeout: Duration,
        concurrency: usize,
    ) -> Result<Portal, ClientError> {
        // Without a provider chosen by the build, rustls needs one installed
        // once per process; a second install fails harmlessly.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut token = HeaderValue::from_str(config.access_token.expose()).map_err(|_| {
            ClientError("the access token holds characters an HTTP header cannot carry".into())
        })?;
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
            .map_err(|e| ClientError(e.to_string()))?;
        let url = |leaf: &str| {
            let mut u = config.endpoint.clone();
            if let Ok(mut segs) = u.path_segments_mut() {
                segs.pop_if_empty().extend([
                    "enterprises",
                    config.enterprise_account.as_str(),
                    leaf,
                ]);
            }
            u
        };
        Ok(Portal {
            users: url("users"),
            groups: url("groups"),
            fax_numbers: url("fax_numbers"),
            http,
        })
    }

    pub fn url(&self, lookup: Lookup) -> &Url {
        match lookup {
            Lookup::Groups => &self.groups,
            Lookup::FaxNumbers => &self.fax_numbers,
        }
    }

    /// One of the two GETs at start.
    pub async fn get(&self, lookup: Lookup) -> Attempt {
        self.send(self.http.get(self.url(lookup).clone())).await
    }

    /// POSTs one `{"user": …}` body.
    pub async fn create_user(&self, body: bytes::Bytes) -> Attempt {
        self.send(self.http.post(self.users.clone()).body(body))
            .await
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Attempt {
        let resp = match req.send().await {
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
        let body = match resp.bytes().await {
            Ok(b) => b,
            Err(e) => return transport_failure(&e, Some(status)),
        };
        let outcome = classify::classify(
            status,
            retry_after.as_deref(),
            location.as_deref(),
            &body,
            SystemTime::now(),
        );
        let data = match outcome {
            Outcome::Created => serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|mut v| v.get_mut("data").map(Value::take)),
            _ => None,
        };
        Attempt {
            status: Some(status),
            outcome,
            data,
        }
    }
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
        data: None,
    }
}

/// The innermost error's text: "connection refused" rather than reqwest's
/// "error sending request for url (…)".
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}
