//! The enterprise's users as `GET …/users` lists them (SPEC §12), read
//! strictly (SPEC §12a): a role is `user` only when it is exactly that
//! string, an id is usable only when it names one user beyond doubt, and an
//! answer without a list is an error, never an empty enterprise.

use std::fmt;

use crate::input::Column;
use crate::sanitize;

/// A user's role as the list gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Role {
    /// Exactly the string `user`: the only role a sync may delete.
    User,
    /// Any other string (`admin`, `Admin`, `user ` …).
    Named(String),
    /// Not a string: missing, `null`, a list, an object, a number.
    Unknown(&'static str),
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Role::User => f.write_str("the role \"user\""),
            Role::Named(r) => write!(f, "the role \"{}\"", sanitize::visible(r)),
            Role::Unknown(what) => write!(f, "no readable role (it is {what})"),
        }
    }
}

/// One user of the enterprise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PortalUser {
    /// The id as a URL path segment; `None` when the list's id cannot name
    /// one user beyond doubt (the user is then never sent a PUT or DELETE).
    pub(crate) id: Option<String>,
    /// The id as the list gave it, for messages (escaped, cut).
    pub(crate) id_shown: String,
    /// As the portal gave them (`""` for none).
    pub(crate) username: String,
    pub(crate) email: String,
    pub(crate) role: Role,
    /// The portal's text for each column the import knows that it has (an
    /// empty value is not kept: 50,000 users stay a few MB); `group` and
    /// `fax_number` hold the group id and the number.
    values: Box<[(Column, Box<str>)]>,
    pub(crate) group_id: Option<String>,
    pub(crate) fax_id: Option<String>,
}

impl PortalUser {
    /// From one entry of the list.
    #[cfg(test)]
    pub(crate) fn from_json(v: &serde_json::Value) -> PortalUser {
        serde_json::from_value::<Listed>(v.clone())
            .unwrap_or_default()
            .into_user()
    }

    /// The portal's text for `col` (`""` when it has none).
    pub(crate) fn value(&self, col: Column) -> &str {
        match col {
            Column::Username => &self.username,
            Column::Email => &self.email,
            _ => self
                .values
                .iter()
                .find(|(c, _)| *c == col)
                .map_or("", |(_, v)| v),
        }
    }

    /// Exactly the role `user`.
    #[cfg(test)]
    pub(crate) fn is_user_role(&self) -> bool {
        self.role == Role::User
    }

    /// How messages name the user: `"alice" (id 5)`, escaped.
    pub(crate) fn shown(&self) -> String {
        let name = if self.username.is_empty() {
            &self.email
        } else {
            &self.username
        };
        format!(
            "\"{}\" (id {})",
            sanitize::visible(&sanitize::cut(name, 100)),
            self.id_shown
        )
    }

    /// The name a plan lists (username, else e-mail), escaped.
    pub(crate) fn plan_name(&self) -> String {
        let name = if self.username.is_empty() {
            &self.email
        } else {
            &self.username
        };
        sanitize::visible(&sanitize::cut(name, 100)).into_owned()
    }
}

/// Why the list cannot be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum NotAList {
    /// No `data`, or `data: null`: never read as an empty enterprise.
    #[error(
        "the answer has no list of users (no \"data\", or \"data\": null); an empty enterprise \
         would be a list with nobody in it, so nothing is assumed"
    )]
    Missing,
    #[error("the users answer is not a list of users: {0}")]
    Malformed(#[source] serde_json::Error),
}

/// The list as it comes: straight, or under `users`.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum List {
    Plain(Vec<Listed>),
    Wrapped { users: Vec<Listed> },
}

/// One entry of the list, read field by field (no JSON tree of the whole
/// list is built: 10,000 users stay a few MB).
#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Listed {
    id: Scalar,
    username: Scalar,
    email: Scalar,
    role: Scalar,
    first_name: Scalar,
    last_name: Scalar,
    salutation: Scalar,
    job_title: Scalar,
    company_name: Scalar,
    address: Scalar,
    city: Scalar,
    state: Scalar,
    country: Scalar,
    zip_code: Scalar,
    phone_number: Scalar,
    mobile_number: Scalar,
    language: Scalar,
    time_zone: Scalar,
    group_id: Scalar,
    main_fax_number_id: Scalar,
    main_fax_number: Scalar,
}

/// A value of the list as it came: text, a number, or something else that
/// a role or an id must not be mistaken for.
#[derive(serde::Deserialize, Default)]
#[serde(untagged)]
enum Scalar {
    Text(String),
    Number(serde_json::Number),
    Flag(bool),
    Null(()),
    List(#[allow(dead_code)] Vec<serde::de::IgnoredAny>),
    Other(serde::de::IgnoredAny),
    /// The key is absent.
    #[default]
    #[serde(skip)]
    Missing,
}

impl Scalar {
    /// As text: strings as they are, numbers in decimal.
    fn text(self) -> Option<String> {
        match self {
            Scalar::Text(s) => Some(s),
            Scalar::Number(n) => Some(n.to_string()),
            Scalar::Flag(b) => Some(b.to_string()),
            Scalar::Null(()) | Scalar::List(_) | Scalar::Other(_) | Scalar::Missing => None,
        }
    }

    /// What a value that is not text is, for messages.
    fn kind(&self) -> &'static str {
        match self {
            Scalar::Text(_) => "text",
            Scalar::Number(_) => "a number",
            Scalar::Flag(_) => "true or false",
            Scalar::Null(()) => "null",
            Scalar::List(_) => "a list",
            Scalar::Other(_) => "an object",
            Scalar::Missing => "missing",
        }
    }

    fn role(self) -> Role {
        match self {
            Scalar::Text(s) if s == "user" => Role::User,
            Scalar::Text(s) => Role::Named(s),
            other => Role::Unknown(other.kind()),
        }
    }

    /// The id as a path segment, when it names one user beyond doubt, and
    /// as messages show it.
    fn id(self) -> (Option<String>, String) {
        match self {
            Scalar::Text(s) => {
                let shown = format!("\"{}\"", sanitize::visible(&sanitize::cut(&s, 40)));
                (usable_id(&s).then_some(s), shown)
            }
            // Only an integer round-trips: 2^64, 1.2e29 or 2.5 arrive as
            // floats, and their text names another user (or none).
            Scalar::Number(n) if n.is_i64() || n.is_u64() => (Some(n.to_string()), n.to_string()),
            Scalar::Number(n) => (None, n.to_string()),
            other => (None, other.kind().to_owned()),
        }
    }
}

impl Listed {
    fn into_user(self) -> PortalUser {
        let plain = |s: Scalar| s.text().unwrap_or_default().trim().to_owned();
        let group_id = self.group_id.text();
        let values = [
            (Column::FirstName, plain(self.first_name)),
            (Column::LastName, plain(self.last_name)),
            (Column::Group, group_id.clone().unwrap_or_default()),
            (Column::FaxNumber, plain(self.main_fax_number)),
            (Column::Salutation, plain(self.salutation)),
            (Column::JobTitle, plain(self.job_title)),
            (Column::CompanyName, plain(self.company_name)),
            (Column::Address, plain(self.address)),
            (Column::City, plain(self.city)),
            (Column::State, plain(self.state)),
            (Column::Country, plain(self.country)),
            (Column::ZipCode, plain(self.zip_code)),
            (Column::PhoneNumber, plain(self.phone_number)),
            (Column::MobileNumber, plain(self.mobile_number)),
            (Column::Language, plain(self.language)),
            (Column::TimeZone, plain(self.time_zone)),
        ];
        let (id, id_shown) = self.id.id();
        PortalUser {
            id,
            id_shown,
            username: self.username.text().unwrap_or_default(),
            email: self.email.text().unwrap_or_default(),
            role: self.role.role(),
            values: values
                .into_iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(c, v)| (c, v.into_boxed_str()))
                .collect(),
            group_id,
            fax_id: self.main_fax_number_id.text(),
        }
    }
}

/// A text id that names one user in a URL path, beyond doubt: not `.` or
/// `..` (a path segment that is dropped or climbs to the `users`
/// collection), no space, control or invisible character, and, when it
/// starts like a number, a whole number written plainly — a portal that
/// reads ids as Ruby's `to_i` does would read `"5abc"` or `"1.2e29"` as
/// another user's id.
fn usable_id(id: &str) -> bool {
    let numeric_start = id.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+');
    !id.is_empty()
        && id.len() <= 128
        && !id.chars().all(|c| c == '.')
        && !id
            .chars()
            .any(|c| c.is_whitespace() || sanitize::is_invisible(c))
        && (!numeric_start
            || id.parse::<i64>().is_ok_and(|n| n.to_string() == id)
            || id.parse::<u64>().is_ok_and(|n| n.to_string() == id))
}

/// Every user of the `data` of `GET …/users` (its JSON text). Every entry
/// is kept, whatever it lacks: a user without a usable id, a role or a
/// username is still someone the file may name, and must not be mistaken
/// for an absent user.
pub(crate) fn parse_list(data: &str) -> Result<Vec<PortalUser>, NotAList> {
    if data.trim() == "null" {
        return Err(NotAList::Missing);
    }
    let list = match serde_json::from_str(data).map_err(NotAList::Malformed)? {
        List::Plain(l) | List::Wrapped { users: l } => l,
    };
    Ok(list.into_iter().map(Listed::into_user).collect())
}

/// The user of the `data` of `GET …/users/{id}` (its JSON text).
pub(crate) fn parse_one(data: &str) -> Result<PortalUser, NotAList> {
    if data.trim() == "null" {
        return Err(NotAList::Missing);
    }
    serde_json::from_str::<Listed>(data)
        .map(Listed::into_user)
        .map_err(NotAList::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_a_listed_user() {
        let users = parse_list(
            &json!([
                {"id": 1001, "username": "tirion", "email": "t@w.com", "role": "user",
                 "first_name": "Tirion", "language": "en", "group_id": 12,
                 "main_fax_number_id": 501, "main_fax_number": "+15145550101", "time_zone": null},
                {"id": 1002, "email": "nameless@w.com", "role": "user"},
            ])
            .to_string(),
        )
        .unwrap();
        assert_eq!(users.len(), 2, "a user without a username is still a user");
        let u = &users[0];
        assert_eq!(u.id.as_deref(), Some("1001"));
        assert_eq!(u.value(Column::FirstName), "Tirion");
        assert_eq!(u.value(Column::TimeZone), "");
        assert_eq!(u.value(Column::FaxNumber), "+15145550101");
        assert_eq!(u.group_id.as_deref(), Some("12"));
        assert_eq!(u.fax_id.as_deref(), Some("501"));
        assert!(u.is_user_role());
        assert_eq!(users[1].username, "");
        assert_eq!(users[1].email, "nameless@w.com");
        assert!(matches!(
            parse_list(r#"{"x": 1}"#),
            Err(NotAList::Malformed(_))
        ));
        let wrapped = parse_list(r#"{"users": [{"id": "7", "username": "a"}]}"#).unwrap();
        assert_eq!(wrapped[0].id.as_deref(), Some("7"));
    }

    #[test]
    fn no_list_is_an_error_never_an_empty_enterprise() {
        assert!(matches!(parse_list("null"), Err(NotAList::Missing)));
        assert!(matches!(parse_list(" null "), Err(NotAList::Missing)));
        assert!(parse_list("[]").unwrap().is_empty());
        assert!(matches!(parse_one("null"), Err(NotAList::Missing)));
    }

    #[test]
    fn only_the_exact_string_user_is_the_user_role() {
        let roles = [
            (json!({"id": 1}), Role::Unknown("missing")),
            (json!({"id": 1, "role": null}), Role::Unknown("null")),
            (json!({"id": 1, "role": ["admin"]}), Role::Unknown("a list")),
            (json!({"id": 1, "role": []}), Role::Unknown("a list")),
            (
                json!({"id": 1, "role": {"name": "admin"}}),
                Role::Unknown("an object"),
            ),
            (json!({"id": 1, "role": 1}), Role::Unknown("a number")),
            (json!({"id": 1, "role": "User"}), Role::Named("User".into())),
            (
                json!({"id": 1, "role": "user "}),
                Role::Named("user ".into()),
            ),
            (
                json!({"id": 1, "role": "admin"}),
                Role::Named("admin".into()),
            ),
            (json!({"id": 1, "role": "user"}), Role::User),
        ];
        for (entry, role) in roles {
            let u = PortalUser::from_json(&entry);
            assert_eq!(u.role, role, "{entry}");
            assert_eq!(u.is_user_role(), role == Role::User, "{entry}");
        }
    }

    #[test]
    fn an_id_is_usable_only_when_it_names_one_user_beyond_doubt() {
        // Parsed from text, as the portal sends it: 2^64 and 1.2e29 are floats.
        let list = r#"[
            {"id": 18446744073709551616, "username": "big"},
            {"id": 1.2e29, "username": "exp"},
            {"id": 2.5, "username": "half"},
            {"id": "x\ny", "username": "newline"},
            {"id": "..", "username": "climber"},
            {"id": ".", "username": "dot"},
            {"id": "", "username": "empty"},
            {"id": null, "username": "null"},
            {"username": "none"},
            {"id": "5abc", "username": "prefix"},
            {"id": "007", "username": "zeros"},
            {"id": " 5", "username": "padded"},
            {"id": "1\u200b", "username": "invisible"},
            {"id": true, "username": "flag"},
            {"id": 18446744073709551615, "username": "u64max"},
            {"id": -3, "username": "negative"},
            {"id": "42", "username": "text"},
            {"id": "a.b", "username": "dotted"},
            {"id": "usr_9f", "username": "word"}
        ]"#;
        let users = parse_list(list).unwrap();
        let usable: Vec<(&str, &str)> = users
            .iter()
            .filter_map(|u| u.id.as_deref().map(|id| (u.username.as_str(), id)))
            .collect();
        assert_eq!(
            usable,
            [
                ("u64max", "18446744073709551615"),
                ("negative", "-3"),
                ("text", "42"),
                ("dotted", "a.b"),
                ("word", "usr_9f"),
            ]
        );
        assert_eq!(
            users.len(),
            19,
            "unaddressable users are kept, never dropped"
        );
        let newline = users.iter().find(|u| u.username == "newline").unwrap();
        assert_eq!(newline.id_shown, "\"x\\ny\"", "shown escaped");
        assert_eq!(users[0].shown(), "\"big\" (id 1.8446744073709552e+19)");
    }
}
