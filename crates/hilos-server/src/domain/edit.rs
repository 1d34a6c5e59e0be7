//! The pure rules of listing, partially updating (`PATCH`) and deleting
//! contacts by id.
//!
//! A partial update reuses the upsert's merge ([`apply_change`]): a store
//! loads the contact by id, turns the [`ContactUpdate`] into the
//! [`ContactChange`] an upsert of that contact would be, and persists what
//! [`apply_update`] returns.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::contact::{apply_change, Contact, ContactChange, Resolved};
use super::meta::MetaPatch;
use super::{Patch, StoreError, UpsertError};

/// One page of a contact listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactPage {
    /// How many contacts of the account match, on every page together.
    pub count: u64,
    /// This page's contacts, newest first (`created_on` descending, ties by
    /// `id` descending).
    ///
    /// Each carries its tags in attach order, but its `default_assignees`
    /// are left empty: the list form does not show them, and loading them
    /// would cost a query per page for nothing. Read one contact by id for
    /// its assignees.
    pub contacts: Vec<Contact>,
}

/// One `PATCH` of a contact found by id, validated, with the phone (when
/// sent) canonicalised.
///
/// The same fields and flags as [`ContactChange`], except that the phone is
/// optional: without it the contact keeps its phone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactUpdate {
    /// The phone as sent and its canonical form, from
    /// [`super::canonical_phone`]; `None` keeps the stored phone.
    pub phone: Option<(String, String)>,
    /// When given, must equal the id the contact is addressed by.
    pub id: Option<Uuid>,
    /// First name.
    pub first_name: Patch<String>,
    /// Last name.
    pub last_name: Patch<String>,
    /// Email address.
    pub email: Patch<String>,
    /// Link to the contact in the caller's own system.
    pub external_url: Patch<String>,
    /// Changes only when sent.
    pub source: Option<String>,
    /// Changes only when sent.
    pub created_on: Option<DateTime<Utc>>,
    /// Meta changes; `None` when `meta` was not sent.
    pub meta: Option<MetaPatch>,
    /// Replace the whole meta map instead of merging.
    pub overwrite_meta: bool,
    /// Tag names; `None` when `tags` was not sent.
    pub tags: Option<Vec<String>>,
    /// Replace the contact's tags instead of adding to them.
    pub overwrite_tags: bool,
    /// User ids; `None` when `default_assignees` was not sent.
    pub default_assignees: Option<Vec<i64>>,
    /// Replace the contact's assignees instead of adding to them.
    pub overwrite_default_assignees: bool,
}

impl ContactUpdate {
    /// An update sending `phone` (as sent, canonical) or not, with every
    /// other field taken from `fields`; its `phone` and `canonical_phone`
    /// are ignored.
    pub fn new(phone: Option<(String, String)>, fields: ContactChange) -> Self {
        ContactUpdate {
            phone,
            ..ContactUpdate::from(fields)
        }
    }

    /// The canonical phone this update moves the contact to, if it sends one
    /// that differs from `current`'s.
    pub fn new_canonical_phone(&self, current: &Contact) -> Option<&str> {
        self.phone
            .as_ref()
            .map(|(_, canonical)| canonical.as_str())
            .filter(|canonical| *canonical != current.canonical_phone)
    }

    /// The upsert of `current` that has the same effect: the phone, when not
    /// sent, is the stored one.
    pub fn to_change(&self, current: &Contact) -> ContactChange {
        let (phone, canonical_phone) = self
            .phone
            .clone()
            .unwrap_or_else(|| (current.phone.clone(), current.canonical_phone.clone()));
        ContactChange {
            phone,
            canonical_phone,
            id: self.id,
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            email: self.email.clone(),
            external_url: self.external_url.clone(),
            source: self.source.clone(),
            created_on: self.created_on,
            meta: self.meta.clone(),
            overwrite_meta: self.overwrite_meta,
            tags: self.tags.clone(),
            overwrite_tags: self.overwrite_tags,
            default_assignees: self.default_assignees.clone(),
            overwrite_default_assignees: self.overwrite_default_assignees,
        }
    }
}

impl From<ContactChange> for ContactUpdate {
    /// An upsert's fields as a partial update that also sends the phone.
    fn from(change: ContactChange) -> Self {
        ContactUpdate {
            phone: Some((change.phone, change.canonical_phone)),
            id: change.id,
            first_name: change.first_name,
            last_name: change.last_name,
            email: change.email,
            external_url: change.external_url,
            source: change.source,
            created_on: change.created_on,
            meta: change.meta,
            overwrite_meta: change.overwrite_meta,
            tags: change.tags,
            overwrite_tags: change.overwrite_tags,
            default_assignees: change.default_assignees,
            overwrite_default_assignees: change.overwrite_default_assignees,
        }
    }
}

/// Why a partial update by id was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    /// No contact has this id in the caller's account.
    #[error("no such contact")]
    NotFound,
    /// Another contact of the account already has the new canonical phone.
    #[error("another contact already has this phone")]
    PhoneTaken,
    /// The body's `id` differs from the id in the path.
    #[error("the id does not match the contact's id")]
    IdMismatch,
    /// These `default_assignees` are not users of the caller's account.
    #[error("unknown default assignees: {0:?}")]
    UnknownAssignees(Vec<i64>),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<UpsertError> for UpdateError {
    /// The upsert refusals that can happen to an update, as update errors.
    fn from(err: UpsertError) -> Self {
        match err {
            UpsertError::IdMismatch => UpdateError::IdMismatch,
            UpsertError::UnknownAssignees(ids) => UpdateError::UnknownAssignees(ids),
            UpsertError::Store(e) => UpdateError::Store(e),
            // An update never creates, so no id can be taken; a store that
            // says so has a bug.
            UpsertError::IdTaken => {
                UpdateError::Store(StoreError::internal("update reported a taken id"))
            }
        }
    }
}

/// Checks the body's `id` against the id the contact is addressed by.
pub fn check_update_id(update: &ContactUpdate, id: Uuid) -> Result<(), UpdateError> {
    match update.id {
        Some(given) if given != id => Err(UpdateError::IdMismatch),
        _ => Ok(()),
    }
}

/// Applies a partial update to the contact found by id, with exactly the
/// merge rules of an upsert (see [`apply_change`]): only the fields present
/// change, meta, tags and assignees merge unless their overwrite flag is
/// set, `created_by` never changes and `last_updated_on` becomes `now`.
///
/// The store must have checked that a new canonical phone is free.
pub fn apply_update(
    contact: &mut Contact,
    update: &ContactUpdate,
    resolved: Resolved,
    now: DateTime<Utc>,
) -> Result<(), UpdateError> {
    check_update_id(update, contact.id)?;
    let change = update.to_change(contact);
    apply_change(contact, &change, resolved, now).map_err(UpdateError::from)
}

/// Search terms of fewer characters than this cannot use a trigram index.
pub const MIN_INDEXED_SEARCH_CHARS: usize = 3;

/// A listing's search term, normalised.
///
/// A contact matches when `text` is a case-insensitive substring of its
/// first name, last name, email or external URL, or when `phone_digits` is
/// a substring of its canonical phone's digits. Every character of the term
/// is literal: `%`, `_` and `\` have no special meaning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactSearch {
    /// The term, trimmed of surrounding whitespace; never empty.
    pub text: String,
    /// The term's digits, when the term is written only with phone
    /// characters (digits, spaces, `+ - ( ) . /`) and has at least one
    /// digit: `"+52 55"` searches phones for `5255`. `None` when the term
    /// cannot match a phone (it has other characters, or no digit).
    pub phone_digits: Option<String>,
}

impl ContactSearch {
    /// The search a raw `search` parameter asks for; `None` (no filter) when
    /// it is absent, empty or only whitespace.
    pub fn parse(raw: Option<&str>) -> Option<Self> {
        let text = raw?.trim();
        if text.is_empty() {
            return None;
        }
        let phone_like = text
            .chars()
            .all(|c| c.is_ascii_digit() || c.is_whitespace() || "+-().".contains(c) || c == '/');
        let digits: String = text.chars().filter(char::is_ascii_digit).collect();
        Some(ContactSearch {
            text: text.to_owned(),
            phone_digits: (phone_like && !digits.is_empty()).then_some(digits),
        })
    }

    /// Whether every part of the term is long enough for a trigram index
    /// ([`MIN_INDEXED_SEARCH_CHARS`]); shorter terms are matched by reading
    /// the account's contacts in list order instead.
    pub fn is_indexable(&self) -> bool {
        self.text.chars().count() >= MIN_INDEXED_SEARCH_CHARS
            && self
                .phone_digits
                .as_ref()
                .is_none_or(|d| d.len() >= MIN_INDEXED_SEARCH_CHARS)
    }
}

/// `value` as a `LIKE` pattern matching it as a substring, with `\` as the
/// escape character: `%`, `_` and `\` in `value` match themselves.
pub fn like_substring_pattern(value: &str) -> String {
    let mut pattern = String::with_capacity(value.len() + 2);
    pattern.push('%');
    for c in value.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

#[cfg(test)]
#[path = "edit_tests.rs"]
mod tests;
