//! The enterprise's users as `GET …/users` lists them (SPEC §12).

use crate::input::Column;

/// One user of the enterprise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PortalUser {
    /// As the portal gave it (a number becomes its decimal text).
    pub(crate) id: String,
    pub(crate) username: String,
    pub(crate) email: String,
    pub(crate) role: String,
    /// The portal's text for each column the import knows (`""` for none);
    /// `group` and `fax_number` hold the group id and the number.
    values: Vec<(Column, String)>,
    pub(crate) group_id: Option<String>,
    pub(crate) fax_id: Option<String>,
}

impl PortalUser {
    /// From one entry of the list; `None` when it has no id or username.
    #[cfg(test)]
    pub(crate) fn from_json(v: &serde_json::Value) -> Option<PortalUser> {
        serde_json::from_value::<Listed>(v.clone())
            .ok()?
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
                .map_or("", |(_, v)| v.as_str()),
        }
    }

    /// An administrator or any role but `user`.
    pub(crate) fn is_user_role(&self) -> bool {
        self.role == "user"
    }
}

/// Why the list cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("the users answer is not a list of users: {0}")]
pub(crate) struct NotAList(#[source] serde_json::Error);

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

/// A value of the list as text (strings as they are, numbers in decimal).
#[derive(serde::Deserialize, Default)]
#[serde(untagged)]
enum Scalar {
    Text(String),
    Number(serde_json::Number),
    Flag(bool),
    #[default]
    None,
    Other(serde::de::IgnoredAny),
}

impl Scalar {
    fn text(self) -> Option<String> {
        match self {
            Scalar::Text(s) => Some(s),
            Scalar::Number(n) => Some(n.to_string()),
            Scalar::Flag(b) => Some(b.to_string()),
            Scalar::None | Scalar::Other(_) => None,
        }
    }
}

impl Listed {
    fn into_user(self) -> Option<PortalUser> {
        let plain = |s: Scalar| s.text().unwrap_or_default().trim().to_owned();
        let group_id = self.group_id.text();
        let values = vec![
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
        Some(PortalUser {
            id: self.id.text().filter(|s| usable_id(s))?,
            username: self.username.text().filter(|s| !s.is_empty())?,
            email: self.email.text().unwrap_or_default(),
            role: self.role.text().unwrap_or_else(|| "user".into()),
            values,
            group_id,
            fax_id: self.main_fax_number_id.text(),
        })
    }
}

/// An id that names one user in a URL path: `.` or `..` as a path segment
/// would be dropped or climb, and a PUT or a DELETE would reach the whole
/// `users` collection.
fn usable_id(id: &str) -> bool {
    !id.is_empty() && !id.chars().all(|c| c == '.')
}

/// Every user of the `data` of `GET …/users` (its JSON text). Entries
/// without a usable id or a username are left out (nothing could be done
/// with them: they are neither matched nor deleted).
pub(crate) fn parse_list(data: &str) -> Result<Vec<PortalUser>, NotAList> {
    let list = match serde_json::from_str(data).map_err(NotAList)? {
        List::Plain(l) | List::Wrapped { users: l } => l,
    };
    Ok(list.into_iter().filter_map(Listed::into_user).collect())
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
                {"id": 1002, "email": "nameless@w.com"},
            ])
            .to_string(),
        )
        .unwrap();
        assert_eq!(users.len(), 1);
        let u = &users[0];
        assert_eq!(u.id, "1001");
        assert_eq!(u.value(Column::FirstName), "Tirion");
        assert_eq!(u.value(Column::TimeZone), "");
        assert_eq!(u.value(Column::FaxNumber), "+15145550101");
        assert_eq!(u.group_id.as_deref(), Some("12"));
        assert_eq!(u.fax_id.as_deref(), Some("501"));
        assert!(u.is_user_role());
        assert!(parse_list(r#"{"x": 1}"#).is_err());
        let wrapped = parse_list(r#"{"users": [{"id": "7", "username": "a"}]}"#).unwrap();
        assert_eq!(wrapped[0].id, "7");
    }

    #[test]
    fn an_id_that_is_not_one_path_segment_leaves_the_user_out() {
        let users = parse_list(
            &json!([
                {"id": "..", "username": "climber"},
                {"id": ".", "username": "dot"},
                {"id": "", "username": "empty"},
                {"id": "a.b", "username": "dotted"},
            ])
            .to_string(),
        )
        .unwrap();
        let names: Vec<&str> = users.iter().map(|u| u.username.as_str()).collect();
        assert_eq!(names, ["dotted"]);
    }
}
