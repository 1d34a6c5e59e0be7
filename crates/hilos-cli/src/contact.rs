//! A contact's fields as text, and the request body they make.
//!
//! The generated types refuse values over the spec's `maxLength`; those are
//! reported per field here, before anything is sent, and marked as the
//! client's own check so they are not mistaken for the server's answer.

use std::str::FromStr;

use hilos_client::types::{self, PatchedContactEditPublic};
use serde_json::{Map, Value};

/// Appended to problems found before sending, so a report tells them apart
/// from the server's answers.
pub const NOT_SENT: &str = "(checked by hilos before sending; not sent)";

/// The fields of one upsert or update, as text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactInput {
    /// The phone number, in any format the server accepts.
    pub phone: Option<String>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Email address.
    pub email: Option<String>,
    /// URL of the contact elsewhere.
    pub external_url: Option<String>,
    /// Where the contact came from.
    pub source: Option<String>,
    /// Tag names.
    pub tags: Vec<String>,
    /// Meta attributes, as key and string value.
    pub meta: Vec<(String, String)>,
    /// Replace the tags rather than add to them.
    pub overwrite_tags: bool,
    /// Replace the meta rather than merge into it.
    pub overwrite_meta: bool,
}

impl ContactInput {
    /// The request body, or one message per field that cannot be sent
    /// (such as `first_name: longer than 100 characters (...)`).
    pub fn to_body(&self) -> Result<PatchedContactEditPublic, Vec<String>> {
        let mut problems = Vec::new();
        let mut body = PatchedContactEditPublic {
            phone: field("phone", &self.phone, &mut problems),
            first_name: field("first_name", &self.first_name, &mut problems),
            last_name: field("last_name", &self.last_name, &mut problems),
            email: field("email", &self.email, &mut problems),
            external_url: field("external_url", &self.external_url, &mut problems),
            source: self.source.clone(),
            overwrite_tags: self.overwrite_tags.then_some(true),
            overwrite_meta: self.overwrite_meta.then_some(true),
            ..PatchedContactEditPublic::default()
        };
        for tag in &self.tags {
            match types::ContactTagRequestName::from_str(tag) {
                Ok(name) => body.tags.push(types::ContactTagRequest { name }),
                Err(e) => problems.push(format!("tags: {tag:?} is {e} {NOT_SENT}")),
            }
        }
        body.meta = self
            .meta
            .iter()
            .map(|(key, value)| (key.clone(), Value::String(value.clone())))
            .collect::<Map<String, Value>>();
        if problems.is_empty() {
            Ok(body)
        } else {
            Err(problems)
        }
    }
}

/// Parses `value` into the generated newtype `T`, noting a problem under
/// `name` if it does not fit.
fn field<T>(name: &str, value: &Option<String>, problems: &mut Vec<String>) -> Option<T>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    let value = value.as_deref()?;
    match value.parse::<T>() {
        Ok(parsed) => Some(parsed),
        Err(e) => {
            problems.push(format!("{name}: {e} {NOT_SENT}"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_the_body() {
        let input = ContactInput {
            phone: Some("+52 1 55 1234 5678".to_owned()),
            first_name: Some("Ana".to_owned()),
            tags: vec!["vip".to_owned()],
            meta: vec![("plan".to_owned(), "gold".to_owned())],
            overwrite_tags: true,
            ..ContactInput::default()
        };
        let body = input.to_body().expect("valid");
        let json = serde_json::to_value(&body).expect("serialises");
        assert_eq!(
            json,
            serde_json::json!({
                "phone": "+52 1 55 1234 5678",
                "first_name": "Ana",
                "tags": [{"name": "vip"}],
                "meta": {"plan": "gold"},
                "overwrite_tags": true,
            })
        );
    }

    #[test]
    fn over_long_values_are_named_and_marked_client_side() {
        let input = ContactInput {
            phone: Some("1".repeat(31)),
            first_name: Some("a".repeat(101)),
            tags: vec!["t".repeat(101)],
            ..ContactInput::default()
        };
        let problems = input.to_body().expect_err("too long");
        assert_eq!(problems.len(), 3);
        assert!(problems[0].starts_with("phone: longer than 30 characters"));
        assert!(problems[1].starts_with("first_name: longer than 100 characters"));
        assert!(problems[2].starts_with("tags: "));
        assert!(problems.iter().all(|p| p.ends_with(NOT_SENT)));
    }
}
