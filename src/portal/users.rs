//! The enterprise's users as `GET …/users` lists them (SPEC §12).

use serde_json::Value;

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

/// The columns an update may change, with the key the portal uses.
pub(crate) const EDITABLE: [Column; 16] = [
    Column::FirstName,
    Column::LastName,
    Column::Group,
    Column::FaxNumber,
    Column::Salutation,
    Column::JobTitle,
    Column::CompanyName,
    Column::Address,
    Column::City,
    Column::State,
    Column::Country,
    Column::ZipCode,
    Column::PhoneNumber,
    Column::MobileNumber,
    Column::Language,
    Column::TimeZone,
];

/// A value of a listed user as text: strings as they are, numbers in
/// decimal, anything else (null, missing) as nothing.
fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl PortalUser {
    /// From one entry of the list; `None` when it has no id or username.
    pub(crate) fn from_json(v: &Value) -> Option<PortalUser> {
        let get = |k: &str| text(v.get(k));
        let values = EDITABLE
            .iter()
            .map(|&c| {
                let key = match c {
                    Column::Group => "group_id",
                    Column::FaxNumber => "main_fax_number",
                    other => other.name(),
                };
                (c, get(key).unwrap_or_default().trim().to_owned())
            })
            .collect();
        Some(PortalUser {
            id: get("id").filter(|s| !s.is_empty())?,
            username: get("username").filter(|s| !s.is_empty())?,
            email: get("email").unwrap_or_default(),
            role: get("role").unwrap_or_else(|| "user".into()),
            values,
            group_id: get("group_id"),
            fax_id: get("main_fax_number_id"),
        })
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
#[error("the users answer is not a list of users")]
pub(crate) struct NotAList;

/// Every user of the `data` of `GET …/users`. Entries without an id or a
/// username are left out (nothing could be done with them).
pub(crate) fn parse_list(data: &Value) -> Result<Vec<PortalUser>, NotAList> {
    let list = data
        .as_array()
        .or_else(|| data.get("users").and_then(Value::as_array))
        .ok_or(NotAList)?;
    Ok(list.iter().filter_map(PortalUser::from_json).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_a_listed_user() {
        let users = parse_list(&json!([
            {"id": 1001, "username": "tirion", "email": "t@w.com", "role": "user",
             "first_name": "Tirion", "language": "en", "group_id": 12,
             "main_fax_number_id": 501, "main_fax_number": "+15145550101", "time_zone": null},
            {"id": 1002, "email": "nameless@w.com"},
        ]))
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
        assert!(parse_list(&json!({"x": 1})).is_err());
    }
}
