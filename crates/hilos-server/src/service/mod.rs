//! The implementation of the generated [`ContactApi`] trait: the rules that
//! need the domain (phone, meta, source, paging), then one store call per
//! request.

mod bodies;
mod changes;
pub mod pages;

use hilos_api::runtime::errors::{messages, FieldErrors};
use hilos_api::{
    ContactApi, CreateOrUpdateContactResponse, DeleteContactResponse, ErrorDetail,
    GetContactResponse, ListContactsQuery, ListContactsResponse,
    PaginatedContactListReadPublicList, PartiallyUpdateContactResponse, PatchedContactEditPublic,
    ServiceError, ValidationError,
};
use std::sync::Arc;

use uuid::Uuid;

pub use bodies::Bodies;
use changes::Changes;
use pages::{page_link, PageRequest};

use crate::domain::{MetaLimits, Principal, StoreError, UpdateError, UpsertError};
use crate::metrics::Metrics;
use crate::store::ContactStore;

/// Settings of the service that are not about storage.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Absolute base URL under which links in responses are built.
    pub public_base_url: String,
    /// The largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Bounds on `meta`.
    pub meta_limits: MetaLimits,
    /// The region used for phone numbers that are not international.
    pub default_region: Option<phonenumber::country::Id>,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            public_base_url: "http://127.0.0.1:8000".to_owned(),
            max_body_bytes: hilos_api::DEFAULT_MAX_BODY_BYTES,
            meta_limits: MetaLimits::default(),
            default_region: None,
        }
    }
}

/// The contact API on top of a [`ContactStore`].
pub struct ContactService<S> {
    store: S,
    max_body_bytes: usize,
    changes: Changes,
    bodies: Bodies,
    metrics: Arc<Metrics>,
}

impl<S: ContactStore> ContactService<S> {
    /// A service answering from `store`.
    pub fn new(store: S, config: ServiceConfig) -> Self {
        Self {
            store,
            max_body_bytes: config.max_body_bytes,
            changes: Changes::new(config.meta_limits, config.default_region),
            bodies: Bodies::new(&config.public_base_url),
            metrics: Metrics::new(),
        }
    }

    /// The store behind the service.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The metrics the service and its HTTP layers record.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }
}

fn validation(errors: FieldErrors) -> ValidationError {
    ValidationError {
        detail: None,
        non_field_errors: None,
        extra: errors.into_fields(),
    }
}

fn one_error(field: &str, message: impl Into<String>) -> ValidationError {
    let mut errors = FieldErrors::new();
    errors.add(field, message);
    validation(errors)
}

fn detail(message: &str) -> ErrorDetail {
    ErrorDetail {
        detail: message.to_owned(),
    }
}

fn unknown_assignees(ids: &[i64]) -> ValidationError {
    let mut errors = FieldErrors::new();
    for id in ids {
        errors.add(
            "default_assignees",
            format!("Invalid pk \"{id}\" - object does not exist."),
        );
    }
    validation(errors)
}

/// Logs a store failure; the client only learns whether to retry.
fn failure(error: &StoreError) -> Failure {
    tracing::error!(%error, "store failed");
    if error.is_unavailable() {
        Failure::Unavailable
    } else {
        Failure::Internal
    }
}

/// A store failure, as the two documented statuses it can become.
enum Failure {
    Unavailable,
    Internal,
}

impl Failure {
    fn body(&self) -> ErrorDetail {
        match self {
            Failure::Unavailable => detail(messages::UNAVAILABLE),
            Failure::Internal => detail(messages::SERVER_ERROR),
        }
    }
}

/// Maps a store failure onto an operation's 500 and 503 variants.
macro_rules! fail {
    ($response:ident, $error:expr) => {{
        let failure = failure(&$error);
        match failure {
            Failure::Unavailable => $response::ServiceUnavailable(failure.body()),
            Failure::Internal => $response::InternalServerError(failure.body()),
        }
    }};
}

const ID_MISMATCH: &str = "Does not match the id of the contact with this phone.";

impl<S: ContactStore> ContactApi for ContactService<S> {
    type Principal = Principal;

    async fn authenticate(&self, key: &str) -> Result<Option<Principal>, ServiceError> {
        self.store
            .principal_for_token(key)
            .await
            .map_err(|e| match failure(&e) {
                Failure::Unavailable => ServiceError::Unavailable,
                Failure::Internal => ServiceError::Internal,
            })
    }

    fn max_body_bytes(&self) -> usize {
        self.max_body_bytes
    }

    async fn create_or_update_contact(
        &self,
        principal: Principal,
        body: PatchedContactEditPublic,
    ) -> CreateOrUpdateContactResponse {
        use CreateOrUpdateContactResponse as R;
        let change = match self.changes.upsert(body) {
            Ok(change) => change,
            Err(errors) => return R::BadRequest(validation(errors)),
        };
        match self.store.upsert_contact(&principal, change).await {
            Ok(outcome) => {
                self.metrics.contact_upserted(outcome.is_created());
                R::Created(self.bodies.detail_public(outcome.into_contact()))
            }
            Err(UpsertError::IdMismatch) => R::BadRequest(one_error("id", ID_MISMATCH)),
            Err(UpsertError::IdTaken) => {
                R::BadRequest(one_error("id", "contact with this id already exists."))
            }
            Err(UpsertError::UnknownAssignees(ids)) => R::BadRequest(unknown_assignees(&ids)),
            Err(UpsertError::Store(error)) => fail!(R, error),
        }
    }

    async fn list_contacts(
        &self,
        principal: Principal,
        query: ListContactsQuery,
    ) -> ListContactsResponse {
        use ListContactsResponse as R;
        let Some(page) = PageRequest::new(query.page, query.page_size) else {
            return R::NotFound(detail("Invalid page."));
        };
        let search = query
            .search
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let listed = self
            .store
            .list_contacts(principal.account_id, search, page.offset(), page.size)
            .await;
        let listed = match listed {
            Ok(listed) => listed,
            Err(error) => return fail!(R, error),
        };
        if !page.exists(listed.count) {
            return R::NotFound(detail("Invalid page."));
        }
        let base = format!("{}/api/contact", self.bodies.base());
        let params = [
            ("page_size", query.page_size.map(|s| s.to_string())),
            ("search", query.search.clone()),
        ];
        R::Ok(PaginatedContactListReadPublicList {
            count: listed.count as i64,
            next: page
                .has_next(listed.count)
                .then(|| page_link(&base, &params, page.page + 1)),
            previous: (page.page > 1).then(|| page_link(&base, &params, page.page - 1)),
            results: listed
                .contacts
                .into_iter()
                .map(|c| self.bodies.list_item(c))
                .collect(),
        })
    }

    async fn get_contact(&self, principal: Principal, id: Uuid) -> GetContactResponse {
        use GetContactResponse as R;
        match self.store.get_contact(principal.account_id, id).await {
            Ok(Some(contact)) => R::Ok(self.bodies.detail(contact)),
            Ok(None) => R::NotFound(detail(messages::NOT_FOUND)),
            Err(error) => fail!(R, error),
        }
    }

    async fn delete_contact(&self, principal: Principal, id: Uuid) -> DeleteContactResponse {
        use DeleteContactResponse as R;
        match self.store.delete_contact(principal.account_id, id).await {
            Ok(true) => R::NoContent,
            Ok(false) => R::NotFound(detail(messages::NOT_FOUND)),
            Err(error) => fail!(R, error),
        }
    }

    async fn partially_update_contact(
        &self,
        principal: Principal,
        id: Uuid,
        body: PatchedContactEditPublic,
    ) -> PartiallyUpdateContactResponse {
        use PartiallyUpdateContactResponse as R;
        let update = match self.changes.update(body) {
            Ok(update) => update,
            Err(errors) => return R::BadRequest(validation(errors)),
        };
        match self.store.update_contact(&principal, id, update).await {
            Ok(contact) => R::Ok(self.bodies.detail_public(contact)),
            Err(UpdateError::NotFound) => R::NotFound(detail(messages::NOT_FOUND)),
            Err(UpdateError::PhoneTaken) => R::BadRequest(one_error(
                "phone",
                "contact with this phone already exists.",
            )),
            Err(UpdateError::IdMismatch) => {
                R::BadRequest(one_error("id", "Does not match the id of this contact."))
            }
            Err(UpdateError::UnknownAssignees(ids)) => R::BadRequest(unknown_assignees(&ids)),
            Err(UpdateError::Store(error)) => fail!(R, error),
        }
    }
}
