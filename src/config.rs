//! The JSON configuration file: reading it, the endpoint rules, the
//! `XMC_ACCESS_TOKEN` override, and errors that name the file and the key.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use reqwest::Url;
use serde_json::{Map, Value};

use crate::secret::Secret;
use crate::suggest::did_you_mean;

pub(crate) const DEFAULT_ENDPOINT: &str = "https://portal.xmedius.com";
const KNOWN_KEYS: [&str; 6] = [
    "endpoint",
    "enterprise_account",
    "access_token",
    "password_setup_mode",
    "columns",
    "derive",
];

/// How each new user gets a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PasswordMode {
    /// The password comes from the CSV's `password` column.
    Manual,
    /// The portal e-mails the user to choose one.
    UserChoice,
    /// The portal generates one and tells nobody.
    Random,
}

impl PasswordMode {
    pub(crate) const NAMES: [&'static str; 3] = ["manual", "user_choice", "random"];

    fn parse(s: &str) -> Option<Self> {
        match s {
            "manual" => Some(Self::Manual),
            "user_choice" => Some(Self::UserChoice),
            "random" => Some(Self::Random),
            _ => None,
        }
    }

    /// The portal's `password_setup_type` for this mode.
    pub(crate) fn setup_type(self) -> &'static str {
        match self {
            Self::Manual => "force",
            Self::UserChoice => "user",
            Self::Random => "auto",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// The path without a trailing `/` (a bare host keeps its root `/`).
    pub(crate) endpoint: Url,
    pub(crate) enterprise_account: String,
    pub(crate) access_token: Secret,
    pub(crate) password_mode: PasswordMode,
    /// `"columns"`: the import column → the file's header, as written.
    pub(crate) columns: Vec<(String, String)>,
    /// `"derive"`: the import column → its template, as written.
    pub(crate) derive: Vec<(String, String)>,
}

/// What is wrong with the config file; every one exits 2 before anything is sent.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// It cannot be read.
    #[error("config file {}: {}", path.display(), describe_io_error(path, source))]
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// It holds nothing.
    #[error(
        "config file {} is empty: it must hold a JSON object such as \
         {{\"enterprise_account\": \"acme\", \"access_token\": \"…\", \"password_setup_mode\": \"manual\"}}",
        path.display()
    )]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// It is not JSON.
    #[error(
        "config file {}, line {}, column {}: invalid JSON: {}{hint}",
        path.display(),
        source.line(),
        source.column(),
        json_reason(source)
    )]
    Json {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
        /// A hint when the file looks like the users CSV.
        hint: &'static str,
    },
    /// A key is missing or wrong.
    #[error("config file {}: {reason}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, and what to do.
        reason: String,
    },
}

impl Config {
    /// Reads and checks the file. `env_token` (from `XMC_ACCESS_TOKEN`) wins over
    /// the file's `access_token`. Returns the warnings to show (unknown keys).
    pub(crate) fn load(
        path: &Path,
        env_token: Option<Secret>,
    ) -> Result<(Config, Vec<String>), ConfigError> {
        let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let from_env = env_token.is_some();
        let (config, mut warnings) = Self::parse(path, &bytes, env_token)?;
        if !from_env && let Some(w) = readable_by_others(path) {
            warnings.push(w);
        }
        Ok((config, warnings))
    }

    pub(crate) fn parse(
        path: &Path,
        bytes: &[u8],
        env_token: Option<Secret>,
    ) -> Result<(Config, Vec<String>), ConfigError> {
        let invalid = |reason: String| ConfigError::Invalid {
            path: path.to_owned(),
            reason,
        };
        let map = json_object(path, bytes)?;
        let warnings = map
            .keys()
            .filter(|k| !KNOWN_KEYS.contains(&k.as_str()))
            .map(|k| {
                format!(
                    "config file {}: unknown key \"{k}\" is ignored{}",
                    path.display(),
                    did_you_mean(k, KNOWN_KEYS)
                )
            })
            .collect();
        let endpoint = match string_key(&map, "endpoint").map_err(invalid)? {
            None => DEFAULT_ENDPOINT,
            Some(s) if s.trim().is_empty() => DEFAULT_ENDPOINT,
            Some(s) => s.trim(),
        };
        let config = Config {
            endpoint: parse_endpoint(endpoint).map_err(invalid)?,
            enterprise_account: enterprise_account(&map).map_err(invalid)?,
            access_token: access_token(&map, env_token).map_err(invalid)?,
            password_mode: password_mode(&map).map_err(invalid)?,
            columns: string_pairs(&map, "columns", "{\"email\": \"Work Email\"}")
                .map_err(invalid)?,
            derive: string_pairs(&map, "derive", "{\"username\": \"{email.local}\"}")
                .map_err(invalid)?,
        };
        Ok((config, warnings))
    }
}

/// The file's JSON object, or an error naming the line and column.
fn json_object(path: &Path, bytes: &[u8]) -> Result<Map<String, Value>, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid {
        path: path.to_owned(),
        reason,
    };
    let text = std::str::from_utf8(bytes)
        .map_err(|_| invalid("is not UTF-8 text; save it as UTF-8 JSON".into()))?;
    let text = text.trim_start_matches('\u{feff}');
    if text.trim().is_empty() {
        return Err(ConfigError::Empty {
            path: path.to_owned(),
        });
    }
    let value: Value = serde_json::from_str(text).map_err(|source| ConfigError::Json {
        path: path.to_owned(),
        source,
        hint: looks_like_csv(text),
    })?;
    match value {
        Value::Object(map) => Ok(map),
        other => Err(invalid(format!(
            "must hold a JSON object ({{ … }}), not {}",
            kind_of(&other)
        ))),
    }
}

fn enterprise_account(map: &Map<String, Value>) -> Result<String, String> {
    string_key(map, "enterprise_account")?
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| {
            "\"enterprise_account\" is missing or empty: set it to your enterprise's account name"
                .into()
        })
}

/// `XMC_ACCESS_TOKEN` wins over the file's `access_token`.
fn access_token(map: &Map<String, Value>, env_token: Option<Secret>) -> Result<Secret, String> {
    let file_token = string_key(map, "access_token")?;
    let token = match env_token.filter(|t| !t.expose().trim().is_empty()) {
        Some(t) => t.expose().trim().to_owned(),
        None => file_token
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(
                "\"access_token\" is missing or empty: set it, or set the XMC_ACCESS_TOKEN \
                 environment variable (a token with the Manage users permission)",
            )?
            .to_owned(),
    };
    if token.chars().any(char::is_control) {
        return Err("the access token holds control characters; copy it again".into());
    }
    Ok(Secret::new(token))
}

fn password_mode(map: &Map<String, Value>) -> Result<PasswordMode, String> {
    let mode = string_key(map, "password_setup_mode")?.ok_or_else(|| {
        format!(
            "\"password_setup_mode\" is missing: set it to one of {}",
            quoted_list(&PasswordMode::NAMES)
        )
    })?;
    PasswordMode::parse(mode.trim()).ok_or_else(|| {
        format!(
            "\"password_setup_mode\" is \"{mode}\"; it must be one of {}{}",
            quoted_list(&PasswordMode::NAMES),
            did_you_mean(mode, PasswordMode::NAMES)
        )
    })
}

/// A config holding the token should be the owner's alone, as ssh asks of
/// keys: a warning naming the mode and the fix.
#[cfg(unix)]
fn readable_by_others(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then(|| {
        format!(
            "config file {} holds the access token and is readable by others (mode {mode:04o}): \
             chmod 600 {}",
            path.display(),
            path.display()
        )
    })
}

#[cfg(not(unix))]
fn readable_by_others(_: &Path) -> Option<String> {
    None
}

fn string_key<'a>(map: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, String> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(format!(
            "\"{key}\" must be a string (in double quotes), not {}",
            kind_of(other)
        )),
    }
}

/// An object of strings (`"columns"`, `"derive"`), by key; empty when absent.
fn string_pairs(
    map: &Map<String, Value>,
    key: &str,
    example: &str,
) -> Result<Vec<(String, String)>, String> {
    let object = match map.get(key) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Object(o)) => o,
        Some(other) => {
            return Err(format!(
                "\"{key}\" must be an object such as {example}, not {}",
                kind_of(other)
            ));
        }
    };
    object
        .iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k.clone(), s.clone())),
            other => Err(format!(
                "\"{key}\": \"{k}\" must be a string (in double quotes), not {}",
                kind_of(other)
            )),
        })
        .collect()
}

/// `https://` anywhere; `http://` only to this machine, for local testing:
/// the token must never cross a network in clear text.
pub(crate) fn parse_endpoint(s: &str) -> Result<Url, String> {
    let url = Url::parse(s).map_err(|e| {
        format!("\"endpoint\" \"{s}\" is not a URL ({e}); write it like {DEFAULT_ENDPOINT}")
    })?;
    let host = url.host_str().unwrap_or_default();
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(host) => {}
        "http" => {
            return Err(format!(
                "\"endpoint\" \"{s}\" uses http:// to a host that is not this machine; the access \
                 token would travel unencrypted. Use https://"
            ));
        }
        other => {
            return Err(format!(
                "\"endpoint\" \"{s}\" has the scheme \"{other}\"; it must start with https://"
            ));
        }
    }
    if host.is_empty() {
        return Err(format!("\"endpoint\" \"{s}\" has no host name"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        // Not echoed: it holds a password.
        return Err(format!(
            "\"endpoint\" holds a user name or password before its host (https://user:password@{host}/…); \
             the access token is the only credential the portal takes: remove them"
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "\"endpoint\" \"{s}\" must not have a query (?…) or fragment (#…)"
        ));
    }
    let mut url = url;
    let trimmed = url.path().trim_end_matches('/').to_owned();
    url.set_path(&trimmed);
    Ok(url)
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn quoted_list(names: &[&str]) -> String {
    let q: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
    q.join(", ")
}

/// A hint when the "config" is in fact the users CSV (the two arguments swapped).
fn looks_like_csv(text: &str) -> &'static str {
    let first = text.lines().next().unwrap_or("").to_ascii_lowercase();
    if !first.trim_start().starts_with(['{', '['])
        && first.contains("username")
        && first.contains("email")
    {
        ". This looks like the users CSV: the config file comes first, then the CSV \
         (xmc-user-importer CONFIG CSV)"
    } else {
        ""
    }
}

/// `serde_json`'s message without its own " at line L column C" suffix.
fn json_reason(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg,
    }
}

/// A sentence for an I/O error on a file the user named.
pub(crate) fn describe_io_error(path: &Path, e: &std::io::Error) -> String {
    use std::io::ErrorKind::{IsADirectory, NotFound, PermissionDenied};
    match e.kind() {
        NotFound => "does not exist; check the path".to_owned(),
        PermissionDenied => "cannot be read: permission denied".to_owned(),
        IsADirectory => "is a directory, not a file".to_owned(),
        _ if path.is_dir() => "is a directory, not a file".to_owned(),
        _ => format!("cannot be read: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<(Config, Vec<String>), ConfigError> {
        Config::parse(Path::new("c.json"), json.as_bytes(), None)
    }

    const OK: &str =
        r#"{"enterprise_account":"acme","access_token":"T0K","password_setup_mode":"manual"}"#;

    #[test]
    fn defaults_endpoint_and_maps_modes() {
        let (c, w) = parse(OK).unwrap();
        assert!(w.is_empty());
        assert_eq!(c.endpoint.as_str(), "https://portal.xmedius.com/");
        assert_eq!(c.password_mode.setup_type(), "force");
        assert_eq!(
            PasswordMode::parse("user_choice").unwrap().setup_type(),
            "user"
        );
        assert_eq!(PasswordMode::parse("random").unwrap().setup_type(), "auto");
    }

    #[test]
    fn columns_and_derive_are_objects_of_strings() {
        let with = |extra: &str| parse(&OK.replace('}', &format!(",{extra}}}")));
        let (c, w) = with(
            r#""columns":{"email":"Work Email","first_name":"Legal First Name"},"derive":{"username":"{email.local}"}"#,
        )
        .unwrap();
        assert!(w.is_empty(), "known keys: {w:?}");
        assert_eq!(
            c.columns,
            [
                ("email".to_owned(), "Work Email".to_owned()),
                ("first_name".to_owned(), "Legal First Name".to_owned())
            ]
        );
        assert_eq!(
            c.derive,
            [("username".to_owned(), "{email.local}".to_owned())]
        );
        let e = with(r#""columns":["email"]"#).unwrap_err().to_string();
        assert!(e.contains("\"columns\" must be an object such as"), "{e}");
        let e = with(r#""derive":{"username":1}"#).unwrap_err().to_string();
        assert!(
            e.contains(
                "\"derive\": \"username\" must be a string (in double quotes), not a number"
            ),
            "{e}"
        );
        let (c, _) = parse(OK).unwrap();
        assert!(c.columns.is_empty() && c.derive.is_empty());
    }

    #[test]
    fn endpoint_rules() {
        assert_eq!(
            parse_endpoint("https://x.example.com/").unwrap().as_str(),
            "https://x.example.com/"
        );
        assert_eq!(
            parse_endpoint("https://x.example.com/api/")
                .unwrap()
                .as_str(),
            "https://x.example.com/api"
        );
        assert!(parse_endpoint("http://127.0.0.1:8080").is_ok());
        assert!(parse_endpoint("http://127.5.5.5").is_ok());
        assert!(parse_endpoint("http://localhost:3000/").is_ok());
        assert!(parse_endpoint("http://[::1]:3000/").is_ok());
        let e = parse_endpoint("http://admin:S3cretPW@127.0.0.1:8080").unwrap_err();
        assert!(
            e.contains("user name or password") && !e.contains("S3cretPW"),
            "{e}"
        );
        assert!(parse_endpoint("https://admin@portal.example.com").is_err());
        let e = parse_endpoint("http://portal.xmedius.com").unwrap_err();
        assert!(e.contains("unencrypted"), "{e}");
        assert!(parse_endpoint("ftp://x.com").is_err());
        assert!(parse_endpoint("portal.xmedius.com").is_err());
    }

    #[test]
    fn env_token_wins_and_token_is_required() {
        let (c, _) = Config::parse(Path::new("c"), OK.as_bytes(), Some("ENV".into())).unwrap();
        assert_eq!(c.access_token.expose(), "ENV");
        let e = parse(r#"{"enterprise_account":"a","password_setup_mode":"random"}"#).unwrap_err();
        assert!(e.to_string().contains("XMC_ACCESS_TOKEN"));
        let (c, _) = Config::parse(
            Path::new("c"),
            br#"{"enterprise_account":"a","password_setup_mode":"random"}"#,
            Some("E".into()),
        )
        .unwrap();
        assert_eq!(c.access_token.expose(), "E");
    }

    #[test]
    fn friendly_errors() {
        let e = parse("{\n  \"enterprise_account\": \"a\",\n}")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 3, column 1"), "{e}");
        let e = parse("").unwrap_err().to_string();
        assert!(e.contains("is empty"), "{e}");
        let e = parse("Username,Email\njon,jon@x.io\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 1, column 1: invalid JSON"), "{e}");
        assert!(
            e.contains("looks like the users CSV: the config file comes first"),
            "{e}"
        );
        let e = parse("{\"username,email\"").unwrap_err().to_string();
        assert!(!e.contains("users CSV"), "{e}");
        let e = parse("[1]").unwrap_err().to_string();
        assert!(e.contains("a list"), "{e}");
        let e = parse(
            r#"{"enterprise_account":"a","access_token":"t","password_setup_mode":"manuel"}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains(r#""manual", "user_choice", "random""#), "{e}");
        assert!(e.contains("did you mean \"manual\""), "{e}");
        let e = parse(r#"{"enterprise_account":7}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("must be a string"), "{e}");
    }

    #[test]
    fn unknown_keys_warn_with_suggestion() {
        let (_, w) = parse(
            r#"{"enterprise_acount":"x","enterprise_account":"acme","access_token":"t","password_setup_mode":"random"}"#,
        )
        .unwrap();
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("\"enterprise_acount\""));
        assert!(w[0].contains("did you mean \"enterprise_account\""));
    }

    #[test]
    fn token_never_in_debug() {
        let (c, _) = parse(OK).unwrap();
        assert!(!format!("{c:?}").contains("T0K"));
    }
}
