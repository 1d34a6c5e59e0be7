//! Domain rules of the contact API, free of HTTP and of any one database.
//!
//! Everything here is pure so that each store (SQLite now, PostgreSQL later)
//! applies exactly the same rules inside its own transaction.

pub mod contact;
pub mod edit;
pub mod meta;
pub mod phone;
pub mod phone_validity;

pub use contact::{
    apply_change, dedup_tag_names, merge_by_id, new_contact, resolve_tag_names, resolve_users,
    tag_key, truncate_micros, unknown_ids, Contact, ContactChange, Resolved, Tag, TagRef,
    UpsertOutcome, User, DEFAULT_SOURCE,
};
pub use edit::{
    apply_update, check_update_id, like_substring_pattern, ContactPage, ContactSearch,
    ContactUpdate, UpdateError, MIN_INDEXED_SEARCH_CHARS,
};
pub use meta::{merge_meta, meta_patch_from_json, MetaLimits, MetaPatch};
pub use phone::{canonical_phone, InvalidPhone};

/// A field of a partial update: absent keeps the stored value, `null`
/// clears it, a value replaces it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Patch<T> {
    /// The field was not sent; keep what is stored.
    #[default]
    Absent,
    /// The field was sent as `null`; clear it.
    Null,
    /// The field was sent with a value; store it.
    Value(T),
}

impl<T: Clone> Patch<T> {
    /// Applies this patch to a stored optional value.
    pub fn apply_to(&self, current: &mut Option<T>) {
        match self {
            Patch::Absent => {}
            Patch::Null => *current = None,
            Patch::Value(v) => *current = Some(v.clone()),
        }
    }

    /// The value a new record gets: absent and null both mean "none".
    pub fn initial(&self) -> Option<T> {
        match self {
            Patch::Value(v) => Some(v.clone()),
            Patch::Absent | Patch::Null => None,
        }
    }
}

/// The authenticated caller. Every read and write is scoped to its account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Principal {
    /// The account the caller's user belongs to.
    pub account_id: i64,
    /// The caller's user id (recorded as `created_by`).
    pub user_id: i64,
}

/// Why a storage operation failed, in the two kinds callers act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or is too busy right now; the
    /// request may be retried (HTTP 503).
    #[error("database unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Anything else: a bug, corrupt data, a failed migration (HTTP 500).
    #[error("database error: {0}")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    /// An internal error carrying only a message.
    pub fn internal(message: impl Into<String>) -> Self {
        StoreError::Internal(message.into().into())
    }

    /// Whether retrying later may succeed.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

/// Why an upsert was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum UpsertError {
    /// The request's `id` differs from the id of the contact found by phone.
    #[error("the id does not match the contact with this phone")]
    IdMismatch,
    /// A create asked for an `id` that another contact already has.
    #[error("a contact with this id already exists")]
    IdTaken,
    /// These `default_assignees` are not users of the caller's account.
    #[error("unknown default assignees: {0:?}")]
    UnknownAssignees(Vec<i64>),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why an administrative operation (accounts, users, tokens) failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// No account has this id.
    #[error("account {0} does not exist")]
    AccountNotFound(i64),
    /// No user has this email.
    #[error("no user with email {0:?}")]
    UserNotFound(String),
    /// Another user already has this email (emails are unique globally).
    #[error("a user with email {0:?} already exists")]
    EmailTaken(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_apply_keeps_clears_and_sets() {
        let mut v = Some("old".to_owned());
        Patch::Absent.apply_to(&mut v);
        assert_eq!(v.as_deref(), Some("old"));
        Patch::Value("new".to_owned()).apply_to(&mut v);
        assert_eq!(v.as_deref(), Some("new"));
        Patch::<String>::Null.apply_to(&mut v);
        assert_eq!(v, None);
    }

    #[test]
    fn patch_initial() {
        assert_eq!(Patch::<i32>::Absent.initial(), None);
        assert_eq!(Patch::<i32>::Null.initial(), None);
        assert_eq!(Patch::Value(3).initial(), Some(3));
    }
}
