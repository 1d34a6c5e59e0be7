//! Contacts and the pure rules of an upsert.
//!
//! A store loads the current contact, resolves tag names and assignee ids
//! against its tables, and then calls [`new_contact`] or [`apply_change`];
//! it only persists what these return.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, SubsecRound, Utc};
use uuid::Uuid;

use super::meta::{merge_meta, MetaPatch};
use super::{Patch, Principal, UpsertError};

/// `source` of a contact created without one.
pub const DEFAULT_SOURCE: &str = "website";

/// One upsert request, already validated and with the phone canonicalised.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactChange {
    /// The phone as the caller sent it; stored as last sent.
    pub phone: String,
    /// The upsert key, from [`super::canonical_phone`].
    pub canonical_phone: String,
    /// A client-chosen id on create; on update it must equal the found id.
    pub id: Option<Uuid>,
    /// First name.
    pub first_name: Patch<String>,
    /// Last name.
    pub last_name: Patch<String>,
    /// Email address.
    pub email: Patch<String>,
    /// Link to the contact in the caller's own system.
    pub external_url: Patch<String>,
    /// Defaults to [`DEFAULT_SOURCE`] on create; on update changes only when sent.
    pub source: Option<String>,
    /// Defaults to now on create; on update changes only when sent.
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

/// An account-level tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tag {
    /// Tag id, unique across accounts.
    pub id: i64,
    /// The name as first stored; later spellings reuse it.
    pub name: String,
}

/// A user of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// User id.
    pub id: i64,
    /// The account the user belongs to.
    pub account_id: i64,
    /// Email address, unique across all accounts.
    pub email: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// When the user was created.
    pub date_joined: DateTime<Utc>,
}

/// A stored contact, with tags and assignees expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// Contact id.
    pub id: Uuid,
    /// Owning account.
    pub account_id: i64,
    /// The phone as last sent.
    pub phone: String,
    /// E.164 key, unique within the account.
    pub canonical_phone: String,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Email address.
    pub email: Option<String>,
    /// External URL.
    pub external_url: Option<String>,
    /// Free-form attributes, all values strings.
    pub meta: BTreeMap<String, String>,
    /// Where the contact came from.
    pub source: String,
    /// The user who created it.
    pub created_by: i64,
    /// Creation time (client-settable).
    pub created_on: DateTime<Utc>,
    /// Time of the last write.
    pub last_updated_on: DateTime<Utc>,
    /// Tags, in the order they were attached.
    pub tags: Vec<Tag>,
    /// Default assignees, in the order they were added.
    pub default_assignees: Vec<User>,
}

/// The result of an upsert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpsertOutcome {
    /// No contact had this phone; this one was made.
    Created(Contact),
    /// The contact with this phone was updated.
    Updated(Contact),
}

impl UpsertOutcome {
    /// The contact as stored.
    pub fn contact(&self) -> &Contact {
        match self {
            UpsertOutcome::Created(c) | UpsertOutcome::Updated(c) => c,
        }
    }

    /// Takes the contact out.
    pub fn into_contact(self) -> Contact {
        match self {
            UpsertOutcome::Created(c) | UpsertOutcome::Updated(c) => c,
        }
    }

    /// Whether the contact was created by this upsert.
    pub fn is_created(&self) -> bool {
        matches!(self, UpsertOutcome::Created(_))
    }
}

/// A requested tag after lookup: one the account has, or a name to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagRef {
    /// The account already has this tag (stored spelling kept).
    Existing(Tag),
    /// No tag matches; create one with this spelling.
    New(String),
}

/// Tags and assignees of a change, looked up by the store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolved {
    /// The change's tags as account tags, in request order, deduplicated.
    pub tags: Option<Vec<Tag>>,
    /// The change's assignees as users, in request order, deduplicated.
    pub assignees: Option<Vec<User>>,
}

/// The key under which tag names compare: case-insensitive.
pub fn tag_key(name: &str) -> String {
    name.to_lowercase()
}

/// Drops repeated names (case-insensitively), keeping the first spelling.
pub fn dedup_tag_names(names: &[String]) -> Vec<String> {
    let mut seen = HashSet::new();
    names
        .iter()
        .filter(|n| seen.insert(tag_key(n)))
        .cloned()
        .collect()
}

/// Matches requested names against `known` account tags.
///
/// The result follows request order without case-insensitive repeats.
pub fn resolve_tag_names(requested: &[String], known: &[Tag]) -> Vec<TagRef> {
    dedup_tag_names(requested)
        .into_iter()
        .map(|name| {
            let key = tag_key(&name);
            match known.iter().find(|t| tag_key(&t.name) == key) {
                Some(tag) => TagRef::Existing(tag.clone()),
                None => TagRef::New(name),
            }
        })
        .collect()
}

/// The requested ids that are not among `found`, in request order, once each.
pub fn unknown_ids(requested: &[i64], found: &[User]) -> Vec<i64> {
    let mut seen = HashSet::new();
    requested
        .iter()
        .copied()
        .filter(|id| seen.insert(*id) && !found.iter().any(|u| u.id == *id))
        .collect()
}

/// Orders `found` users as `requested`, once each, or returns the ids that
/// are missing from `found`.
pub fn resolve_users(requested: &[i64], found: &[User]) -> Result<Vec<User>, Vec<i64>> {
    let missing = unknown_ids(requested, found);
    if !missing.is_empty() {
        return Err(missing);
    }
    let mut seen = HashSet::new();
    Ok(requested
        .iter()
        .filter(|id| seen.insert(**id))
        .filter_map(|id| found.iter().find(|u| u.id == *id).cloned())
        .collect())
}

/// Union of `existing` and `incoming` by id, keeping `existing` order and
/// appending new items; with `overwrite`, just `incoming` without repeats.
pub fn merge_by_id<T: Clone>(
    existing: &[T],
    incoming: &[T],
    overwrite: bool,
    id: impl Fn(&T) -> i64,
) -> Vec<T> {
    let base: &[T] = if overwrite { &[] } else { existing };
    let mut seen = HashSet::new();
    base.iter()
        .chain(incoming)
        .filter(|item| seen.insert(id(item)))
        .cloned()
        .collect()
}

/// Drops sub-microsecond precision, which the databases cannot keep, so a
/// returned contact equals the one read back later.
pub fn truncate_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

/// Builds the contact a create stores.
///
/// Its id is the change's or a new UUID v7; `source` defaults to
/// [`DEFAULT_SOURCE`] and `created_on` to `now`.
pub fn new_contact(
    who: &Principal,
    change: &ContactChange,
    resolved: Resolved,
    now: DateTime<Utc>,
) -> Contact {
    let now = truncate_micros(now);
    let meta = change
        .meta
        .as_ref()
        .map(|patch| merge_meta(&BTreeMap::new(), patch, true))
        .unwrap_or_default();
    Contact {
        id: change.id.unwrap_or_else(Uuid::now_v7),
        account_id: who.account_id,
        phone: change.phone.clone(),
        canonical_phone: change.canonical_phone.clone(),
        first_name: change.first_name.initial(),
        last_name: change.last_name.initial(),
        email: change.email.initial(),
        external_url: change.external_url.initial(),
        meta,
        source: change
            .source
            .clone()
            .unwrap_or_else(|| DEFAULT_SOURCE.to_owned()),
        created_by: who.user_id,
        created_on: change.created_on.map(truncate_micros).unwrap_or(now),
        last_updated_on: now,
        tags: merge_by_id(&[], &resolved.tags.unwrap_or_default(), true, |t| t.id),
        default_assignees: merge_by_id(&[], &resolved.assignees.unwrap_or_default(), true, |u| {
            u.id
        }),
    }
}

/// Applies an update to the contact found by phone.
///
/// Only the fields present change; `created_by` never does. Fails with
/// [`UpsertError::IdMismatch`] when the change names another id.
pub fn apply_change(
    contact: &mut Contact,
    change: &ContactChange,
    resolved: Resolved,
    now: DateTime<Utc>,
) -> Result<(), UpsertError> {
    if change.id.is_some_and(|id| id != contact.id) {
        return Err(UpsertError::IdMismatch);
    }
    contact.phone = change.phone.clone();
    contact.canonical_phone = change.canonical_phone.clone();
    change.first_name.apply_to(&mut contact.first_name);
    change.last_name.apply_to(&mut contact.last_name);
    change.email.apply_to(&mut contact.email);
    change.external_url.apply_to(&mut contact.external_url);
    if let Some(source) = &change.source {
        contact.source = source.clone();
    }
    if let Some(created_on) = change.created_on {
        contact.created_on = truncate_micros(created_on);
    }
    if let Some(patch) = &change.meta {
        contact.meta = merge_meta(&contact.meta, patch, change.overwrite_meta);
    }
    if let Some(tags) = &resolved.tags {
        contact.tags = merge_by_id(&contact.tags, tags, change.overwrite_tags, |t| t.id);
    }
    if let Some(users) = &resolved.assignees {
        contact.default_assignees = merge_by_id(
            &contact.default_assignees,
            users,
            change.overwrite_default_assignees,
            |u| u.id,
        );
    }
    contact.last_updated_on = truncate_micros(now);
    Ok(())
}

#[cfg(test)]
#[path = "contact_tests.rs"]
mod tests;
