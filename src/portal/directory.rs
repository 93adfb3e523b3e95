//! The enterprise's groups and fax numbers, fetched once at start, and the
//! lookups that turn a row's group name and fax number into the portal's IDs.

use std::collections::HashMap;

use serde_json::Value;

/// The groups answer does not say which group is the default.
#[derive(Debug, thiserror::Error)]
#[error("the groups answer has no \"default\" group")]
pub(crate) struct NoDefaultGroup;

/// The IDs are kept as the portal gave them: JSON object keys, i.e. strings,
/// which is the form the portal is sent back (as the original tool did).
#[derive(Debug, Clone, Default)]
pub(crate) struct Directory {
    pub(crate) default_group: Value,
    /// Exact name → ID, and lower-cased name → ID for a case-insensitive fallback.
    groups: HashMap<String, Value>,
    groups_folded: HashMap<String, Value>,
    /// ID → name, for showing a user's group.
    group_names: HashMap<String, String>,
    /// Number as written by the portal → ID, and ID → number.
    fax_numbers: HashMap<String, Value>,
    fax_by_id: HashMap<String, String>,
}

/// A JSON object key as the ID the portal expects back.
fn id_value(key: &str) -> Value {
    Value::String(key.to_owned())
}

/// An ID as text, whether the portal wrote it as a string or a number.
pub(crate) fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl Directory {
    /// From the `data` of `GET …/groups` and of `GET …/fax_numbers`.
    pub(crate) fn from_answers(groups: &Value, fax: &Value) -> Result<Directory, NoDefaultGroup> {
        let default_group = groups
            .get("default")
            .and_then(id_text)
            .map(Value::String)
            .ok_or(NoDefaultGroup)?;
        let mut dir = Directory {
            default_group,
            ..Default::default()
        };
        if let Some(map) = groups.get("groups").and_then(Value::as_object) {
            for (id, name) in map {
                let Some(name) = name
                    .as_str()
                    .or_else(|| name.get("name").and_then(Value::as_str))
                else {
                    continue;
                };
                dir.groups
                    .entry(name.trim().to_owned())
                    .or_insert_with(|| id_value(id));
                dir.groups_folded
                    .entry(name.trim().to_lowercase())
                    .or_insert_with(|| id_value(id));
                dir.group_names.insert(id.clone(), name.trim().to_owned());
            }
        }
        if let Some(map) = fax.get("fax_numbers").and_then(Value::as_object) {
            for (id, entry) in map {
                let number = entry
                    .get("number")
                    .and_then(Value::as_str)
                    .or_else(|| entry.as_str());
                if let Some(number) = number {
                    dir.fax_numbers
                        .insert(normalize_number(number), id_value(id));
                    dir.fax_by_id.insert(id.clone(), number.trim().to_owned());
                }
            }
        }
        Ok(dir)
    }

    /// The ID of the group named `name` (exact, else case-insensitive).
    pub(crate) fn group(&self, name: &str) -> Option<&Value> {
        self.groups
            .get(name)
            .or_else(|| self.groups_folded.get(&name.to_lowercase()))
    }

    pub(crate) fn fax_number(&self, number: &str) -> Option<&Value> {
        self.fax_numbers.get(&normalize_number(number))
    }

    /// The name of the group with this ID.
    pub(crate) fn group_name(&self, id: &str) -> Option<&str> {
        self.group_names.get(id).map(String::as_str)
    }

    /// The number of the fax number with this ID.
    pub(crate) fn fax_by_id(&self, id: &str) -> Option<&str> {
        self.fax_by_id.get(id).map(String::as_str)
    }

    pub(crate) fn group_count(&self) -> usize {
        self.groups.len()
    }

    pub(crate) fn fax_count(&self) -> usize {
        self.fax_numbers.len()
    }
}

/// `+1 (514) 555-0101` and `+15145550101` are the same number; the second
/// is the form a file gives (E.164).
pub(crate) fn normalize_number(n: &str) -> String {
    n.chars()
        .filter(|c| c.is_ascii_digit() || *c == '+')
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn looks_up_groups_and_fax_numbers() {
        let d = Directory::from_answers(
            &json!({"default": 1, "groups": {"1": "Everyone", "7": "Casterly Rock", "x9": "Other"}}),
            &json!({"fax_numbers": {"42": {"number": "+1 (514) 555-0101"}}}),
        )
        .unwrap();
        assert_eq!(d.default_group, json!("1"));
        assert_eq!(d.group("Casterly Rock"), Some(&json!("7")));
        assert_eq!(d.group("casterly rock"), Some(&json!("7")));
        assert_eq!(d.group("Other"), Some(&json!("x9")));
        assert_eq!(d.group("Nope"), None);
        assert_eq!(d.group_name("7"), Some("Casterly Rock"));
        assert_eq!(d.fax_number("+15145550101"), Some(&json!("42")));
        assert_eq!(d.fax_by_id("42"), Some("+1 (514) 555-0101"));
        assert_eq!(d.fax_number("+15145550102"), None);
    }

    #[test]
    fn needs_a_default_group() {
        assert!(Directory::from_answers(&json!({"groups": {}}), &json!({})).is_err());
    }
}
