//! What an answer from the portal means for the row: the one place that
//! decides, matched exhaustively by the retry loop.

use std::time::{Duration, SystemTime};

use serde_json::Value;
use serde_json::value::RawValue;

/// A success answer's envelope: where its `data` is, in the answer.
#[derive(serde::Deserialize)]
struct Envelope<'a> {
    result: Option<bool>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
}

/// The `data` of a success answer, as its JSON text: the answer itself and
/// where `data` lies in it, so that a 25 MB user list is not copied.
#[derive(Clone)]
pub(crate) struct Data {
    answer: String,
    range: std::ops::Range<usize>,
}

impl Data {
    /// The `data` at `range` of the answer `body`.
    fn new(body: Vec<u8>, range: std::ops::Range<usize>) -> Data {
        match String::from_utf8(body) {
            Ok(answer) if answer.get(range.clone()).is_some() => Data { answer, range },
            // Not reached (serde_json read `data` as UTF-8 text): a copy then.
            Ok(answer) => Data::copied(answer.as_bytes(), range),
            Err(e) => Data::copied(e.as_bytes(), range),
        }
    }

    fn copied(body: &[u8], range: std::ops::Range<usize>) -> Data {
        let answer = String::from_utf8_lossy(body.get(range).unwrap_or_default()).into_owned();
        Data {
            range: 0..answer.len(),
            answer,
        }
    }

    /// The JSON text.
    pub(crate) fn json(&self) -> &str {
        &self.answer[self.range.clone()]
    }
}

/// Its size, not its text: a debug log line must not hold 25 MB of users.
impl std::fmt::Debug for Data {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Data({} bytes)", self.range.len())
    }
}

impl PartialEq for Data {
    fn eq(&self, other: &Data) -> bool {
        self.json() == other.json()
    }
}

use crate::pacing::MAX_RETRY_AFTER;

/// The meaning of one attempt.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    /// 2xx with `"result": true`, and the answer's `data` as its JSON text
    /// (a user list is read straight into users, not into a JSON tree).
    Success { data: Option<Data> },
    /// Refused only because the username and the e-mail are both taken.
    Exists,
    /// Refused for a reason retrying will not change.
    Rejected { message: String },
    /// 404: what was asked for does not exist (a user deleted meanwhile).
    NotFound { message: String },
    /// Worth retrying. `maybe_sent`: the portal may have acted on the request
    /// (a timeout or reset after sending, a 5xx), so the user may exist now.
    Transient { reason: String, maybe_sent: bool },
    /// 429: every worker waits `retry_after`, then this row is sent again.
    Throttled { retry_after: Duration },
    /// 401/403: the token was refused; nothing more may be sent.
    Unauthorized { message: String },
    /// A lookup's answer longer than it may be (not read): asking again
    /// would not shorten it.
    TooLarge { message: String },
}

impl Outcome {
    /// The same outcome with each of its texts passed through `f`.
    pub(crate) fn map_text(self, f: impl Fn(&str) -> String) -> Outcome {
        match self {
            Outcome::Rejected { message } => Outcome::Rejected {
                message: f(&message),
            },
            Outcome::NotFound { message } => Outcome::NotFound {
                message: f(&message),
            },
            Outcome::Unauthorized { message } => Outcome::Unauthorized {
                message: f(&message),
            },
            Outcome::Transient { reason, maybe_sent } => Outcome::Transient {
                reason: f(&reason),
                maybe_sent,
            },
            other => other,
        }
    }
}

/// Classifies an HTTP answer. `retry_after` and `location` are the raw header values.
pub(crate) fn classify(
    status: u16,
    retry_after: Option<&str>,
    location: Option<&str>,
    body: Vec<u8>,
    now: SystemTime,
) -> Outcome {
    // No Content: done, and nothing to say (a PUT or a DELETE). A lookup
    // that needs `data` finds none and says so.
    if status == 204 {
        return Outcome::Success { data: None };
    }
    let body = match success(status, body) {
        Ok(outcome) => return outcome,
        Err(body) => body,
    };
    let body = body.as_slice();
    let json: Option<Value> = serde_json::from_slice(body).ok();
    match status {
        200..=299 => match json
            .as_ref()
            .and_then(|v| v.get("result"))
            .and_then(Value::as_bool)
        {
            Some(true) => Outcome::Success { data: None },
            Some(false) => refusal(status, json.as_ref()),
            None => Outcome::Transient {
                reason: format!("HTTP {status} with an answer that is not the portal's JSON"),
                maybe_sent: true,
            },
        },
        300..=399 => Outcome::Rejected {
            message: format!(
                "the portal answered with a redirect (HTTP {status}{}); redirects are never followed so the \
                 access token cannot travel elsewhere: check \"endpoint\" in the config",
                location.map(|l| format!(" to {l}")).unwrap_or_default()
            ),
        },
        401 | 403 => Outcome::Unauthorized {
            message: format!(
                "the portal refused the access token (HTTP {status}{}): check that it is current and has the \
                 Manage users permission",
                json.as_ref()
                    .and_then(portal_message)
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            ),
        },
        429 => Outcome::Throttled {
            retry_after: retry_after
                .and_then(|v| parse_retry_after(v, now))
                .unwrap_or(Duration::from_secs(1)),
        },
        500 | 502 | 503 | 504 => Outcome::Transient {
            reason: format!("HTTP {status} {}", reason_phrase(status)),
            maybe_sent: true,
        },
        404 => Outcome::NotFound {
            message: json.as_ref().and_then(portal_message).map_or_else(
                || "HTTP 404 Not Found".to_owned(),
                |m| format!("HTTP 404: {m}"),
            ),
        },
        _ => other_refusal(status, json.as_ref(), body),
    }
}

/// A 2xx with `"result": true`, its `data` found in the answer and the
/// answer moved (not copied) into it; else the answer back.
fn success(status: u16, body: Vec<u8>) -> Result<Outcome, Vec<u8>> {
    if !(200..=299).contains(&status) {
        return Err(body);
    }
    let found = match serde_json::from_slice::<Envelope<'_>>(&body) {
        Ok(Envelope {
            result: Some(true),
            data,
        }) => data.map(|raw| {
            let start = (raw.get().as_ptr() as usize).saturating_sub(body.as_ptr() as usize);
            start..start + raw.get().len()
        }),
        _ => return Err(body),
    };
    Ok(Outcome::Success {
        data: found.map(|range| Data::new(body, range)),
    })
}

/// Any other status: a refusal, in the portal's words when it has some.
fn other_refusal(status: u16, json: Option<&Value>, body: &[u8]) -> Outcome {
    match json {
        Some(v) if v.get("result").is_some() || v.get("errors").is_some() => {
            refusal(status, Some(v))
        }
        _ if status >= 500 => Outcome::Rejected {
            message: format!("HTTP {status} {}", reason_phrase(status)),
        },
        None if !body.is_empty() => Outcome::Rejected {
            message: format!(
                "HTTP {status} {} (the answer was not JSON)",
                reason_phrase(status)
            ),
        },
        _ => Outcome::Rejected {
            message: json.and_then(portal_message).map_or_else(
                || format!("HTTP {status} {}", reason_phrase(status)),
                |m| format!("HTTP {status}: {m}"),
            ),
        },
    }
}

/// `result: false`: already existing, or rejected with the portal's words.
fn refusal(status: u16, json: Option<&Value>) -> Outcome {
    let errors = json.and_then(|v| v.get("errors"));
    if errors.is_some_and(only_username_and_email_taken) {
        return Outcome::Exists;
    }
    let message = errors
        .map(readable_errors)
        .filter(|m| !m.is_empty())
        .or_else(|| json.and_then(portal_message))
        .unwrap_or_else(|| {
            format!("the portal refused the user (HTTP {status}) without saying why")
        });
    Outcome::Rejected { message }
}

fn is_taken(msg: &str) -> bool {
    let m = msg.to_lowercase();
    m.contains("taken") || m.contains("already exists") || m.contains("already in use")
}

/// Rails errors naming both username and email as taken, and nothing else.
fn only_username_and_email_taken(errors: &Value) -> bool {
    match errors {
        Value::Object(map) => {
            let all_taken = |v: &Value| match v {
                Value::Array(a) => {
                    !a.is_empty() && a.iter().all(|m| m.as_str().is_some_and(is_taken))
                }
                Value::String(s) => is_taken(s),
                _ => false,
            };
            map.len() == 2
                && map.get("username").is_some_and(all_taken)
                && map.get("email").is_some_and(all_taken)
        }
        Value::Array(list) => {
            let msgs: Vec<String> = list
                .iter()
                .filter_map(|m| m.as_str())
                .map(str::to_lowercase)
                .collect();
            msgs.len() == list.len()
                && msgs.iter().all(|m| is_taken(m))
                && msgs.iter().any(|m| m.contains("username"))
                && msgs.iter().any(|m| m.contains("email"))
                && msgs
                    .iter()
                    .all(|m| m.contains("username") || m.contains("email"))
        }
        _ => false,
    }
}

/// `{"email": ["does not appear to be valid"]}` → `email: does not appear to be valid`.
pub(crate) fn readable_errors(errors: &Value) -> String {
    match errors {
        Value::Object(map) => map
            .iter()
            .map(|(field, v)| {
                let msgs = match v {
                    Value::Array(a) => a.iter().map(value_text).collect::<Vec<_>>().join(", "),
                    other => value_text(other),
                };
                if field == "base" {
                    msgs
                } else {
                    format!("{field}: {msgs}")
                }
            })
            .collect::<Vec<_>>()
            .join("; "),
        Value::Array(list) => list.iter().map(value_text).collect::<Vec<_>>().join("; "),
        other => value_text(other),
    }
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A `message` or `error` the portal may put beside `result`.
fn portal_message(v: &Value) -> Option<String> {
    ["message", "error", "errors"]
        .iter()
        .filter_map(|k| v.get(k))
        .map(readable_errors)
        .find(|m| !m.is_empty())
}

/// `Retry-After`: delta-seconds or an HTTP date (a date in the past is zero).
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    let wait = if let Ok(secs) = value.parse::<u64>() {
        Duration::from_secs(secs)
    } else if let Ok(secs) = value.parse::<f64>() {
        if !(secs.is_finite() && secs >= 0.0) {
            return None;
        }
        Duration::from_secs_f64(secs.min(MAX_RETRY_AFTER.as_secs_f64()))
    } else {
        let at = httpdate::parse_http_date(value).ok()?;
        at.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

fn reason_phrase(status: u16) -> &'static str {
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(status: u16, body: &str) -> Outcome {
        classify(
            status,
            None,
            None,
            body.as_bytes().to_vec(),
            SystemTime::now(),
        )
    }

    #[test]
    fn success() {
        let Outcome::Success { data: Some(data) } = c(200, r#"{"result":true,"data":{"id":5}}"#)
        else {
            panic!("not a success")
        };
        assert_eq!(data.json(), r#"{"id":5}"#);
        assert_eq!(
            c(201, r#"{"result":true}"#),
            Outcome::Success { data: None }
        );
    }

    #[test]
    fn no_content_is_a_success() {
        assert_eq!(c(204, ""), Outcome::Success { data: None });
        assert_eq!(c(204, "anything"), Outcome::Success { data: None });
        assert!(
            matches!(c(200, ""), Outcome::Transient { .. }),
            "a 200 owes JSON"
        );
    }

    #[test]
    fn already_existing_user_is_exists() {
        let both = r#"{"result":false,"errors":{"username":["has already been taken"],"email":["has already been taken"]}}"#;
        assert_eq!(c(422, both), Outcome::Exists);
        assert_eq!(c(200, both), Outcome::Exists);
        let list = r#"{"result":false,"errors":["Username has already been taken","Email has already been taken"]}"#;
        assert_eq!(c(422, list), Outcome::Exists);
    }

    #[test]
    fn one_field_taken_is_a_rejection() {
        let only_user = r#"{"result":false,"errors":{"username":["has already been taken"]}}"#;
        assert_eq!(
            c(422, only_user),
            Outcome::Rejected {
                message: "username: has already been taken".into()
            }
        );
        let plus_other = r#"{"result":false,"errors":{"username":["has already been taken"],"email":["has already been taken"],"group":["is invalid"]}}"#;
        assert!(matches!(c(422, plus_other), Outcome::Rejected { .. }));
    }

    #[test]
    fn rejections_are_readable() {
        assert_eq!(
            c(
                422,
                r#"{"result":false,"errors":{"email":["does not appear to be valid"]}}"#
            ),
            Outcome::Rejected {
                message: "email: does not appear to be valid".into()
            }
        );
        assert_eq!(
            c(
                422,
                r#"{"result":false,"errors":{"password":["is too short","needs a digit"],"base":["Quota reached"]}}"#
            ),
            Outcome::Rejected {
                message: "Quota reached; password: is too short, needs a digit".into()
            }
        );
        assert_eq!(
            c(200, r#"{"result":false,"errors":["Seat limit reached"]}"#),
            Outcome::Rejected {
                message: "Seat limit reached".into()
            }
        );
        assert_eq!(
            c(404, "<html>nope</html>"),
            Outcome::NotFound {
                message: "HTTP 404 Not Found".into()
            }
        );
        assert_eq!(
            c(404, r#"{"result":false,"errors":["User not found"]}"#),
            Outcome::NotFound {
                message: "HTTP 404: User not found".into()
            }
        );
        assert_eq!(
            c(400, r#"{"message":"bad payload"}"#),
            Outcome::Rejected {
                message: "HTTP 400: bad payload".into()
            }
        );
        assert!(matches!(c(501, ""), Outcome::Rejected { .. }));
    }

    #[test]
    fn transient_failures() {
        for s in [500, 502, 503, 504] {
            assert!(
                matches!(
                    c(s, "<html>Bad gateway</html>"),
                    Outcome::Transient {
                        maybe_sent: true,
                        ..
                    }
                ),
                "{s}"
            );
        }
        assert!(matches!(
            c(200, "<html>proxy</html>"),
            Outcome::Transient {
                maybe_sent: true,
                ..
            }
        ));
        assert!(matches!(c(200, r#"{"data":1}"#), Outcome::Transient { .. }));
    }

    #[test]
    fn redirects_and_auth() {
        let o = classify(
            302,
            None,
            Some("https://elsewhere.example/login"),
            Vec::new(),
            SystemTime::now(),
        );
        let Outcome::Rejected { message } = o else {
            panic!()
        };
        assert!(
            message.contains("redirect (HTTP 302 to https://elsewhere.example/login)"),
            "{message}"
        );
        assert!(matches!(
            c(401, r#"{"result":false}"#),
            Outcome::Unauthorized { .. }
        ));
        assert!(matches!(c(403, "Forbidden"), Outcome::Unauthorized { .. }));
    }

    #[test]
    fn throttling_and_retry_after() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            classify(429, None, None, Vec::new(), now),
            Outcome::Throttled {
                retry_after: Duration::from_secs(1)
            }
        );
        assert_eq!(
            classify(429, Some("7"), None, Vec::new(), now),
            Outcome::Throttled {
                retry_after: Duration::from_secs(7)
            }
        );
        assert_eq!(
            classify(429, Some("junk"), None, Vec::new(), now),
            Outcome::Throttled {
                retry_after: Duration::from_secs(1)
            }
        );
        let date = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(parse_retry_after(&date, now), Some(Duration::from_secs(30)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(parse_retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("1.5", now),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(parse_retry_after("-3", now), None);
        let day = Some(Duration::from_secs(86_400));
        assert_eq!(parse_retry_after("18446744073709551615", now), day);
        assert_eq!(parse_retry_after("1e300", now), day);
    }
}
