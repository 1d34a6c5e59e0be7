//! The implementation of the generated [`ContactApi`] trait: field rules that
//! need the domain (phone, meta, source), then one store call per request.

use hilos_api::runtime::errors::{messages, FieldErrors};
use hilos_api::{
    AccountMemberUserBasicRead, ContactApi, ContactDetailReadPublic, ContactTag,
    CreateOrUpdateContactResponse, ErrorDetail, PatchedContactEditPublic, ServiceError,
    ValidationError,
};
use serde_json::Value;

use crate::domain::{
    canonical_phone, meta_patch_from_json, Contact, ContactChange, MetaLimits, Principal,
    StoreError, UpsertError, User,
};
use crate::store::ContactStore;

/// `source` is stored in a column of this many characters upstream.
const SOURCE_MAX_LENGTH: usize = 255;

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
    config: ServiceConfig,
}

impl<S: ContactStore> ContactService<S> {
    /// A service answering from `store`.
    pub fn new(store: S, config: ServiceConfig) -> Self {
        Self { store, config }
    }

    /// The store behind the service.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Applies the rules that need more than the spec: the phone must
    /// canonicalise, meta is bounded and stored as text, `source` is bounded.
    fn to_change(&self, body: PatchedContactEditPublic) -> Result<ContactChange, FieldErrors> {
        let mut errors = FieldErrors::new();
        let canonical = match &body.phone {
            None => {
                errors.add("phone", messages::REQUIRED);
                None
            }
            Some(phone) => match canonical_phone(phone, self.config.default_region) {
                Ok(canonical) => Some(canonical),
                Err(invalid) => {
                    errors.add("phone", invalid.to_string());
                    None
                }
            },
        };
        let meta = match &body.meta {
            None => None,
            Some(object) => match meta_patch_from_json(object, &self.config.meta_limits) {
                Ok(patch) => Some(patch),
                Err(problems) => {
                    problems.into_iter().for_each(|p| errors.add("meta", p));
                    None
                }
            },
        };
        if let Some(source) = &body.source {
            if source.chars().count() > SOURCE_MAX_LENGTH {
                errors.add("source", messages::max_length(SOURCE_MAX_LENGTH));
            }
        }
        let (Some(canonical_phone), true) = (canonical, errors.is_empty()) else {
            return Err(errors);
        };
        Ok(ContactChange {
            overwrite_meta: body.overwrite_meta_or_default(),
            overwrite_tags: body.overwrite_tags_or_default(),
            overwrite_default_assignees: body.overwrite_default_assignees_or_default(),
            phone: body.phone.unwrap_or_default(),
            canonical_phone,
            id: body.id,
            first_name: patch(body.first_name),
            last_name: patch(body.last_name),
            email: patch(body.email),
            external_url: patch(body.external_url),
            source: body.source,
            created_on: body.created_on,
            meta,
            tags: body
                .tags
                .map(|tags| tags.into_iter().map(|tag| tag.name).collect()),
            default_assignees: body.default_assignees,
        })
    }

    fn contact_body(&self, contact: Contact) -> ContactDetailReadPublic {
        let base = self.config.public_base_url.trim_end_matches('/');
        ContactDetailReadPublic {
            default_conversation_url: format!("{base}/inbox/contact/{}", contact.id),
            id: contact.id.to_string(),
            first_name: contact.first_name,
            last_name: contact.last_name,
            email: contact.email,
            meta: Some(
                contact
                    .meta
                    .into_iter()
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect(),
            ),
            external_url: contact.external_url,
            canonical_phone: contact.canonical_phone,
            created_by: contact.created_by,
            phone: contact.phone,
            created_on: Some(contact.created_on),
            last_updated_on: contact.last_updated_on,
            source: contact.source,
            tags: contact
                .tags
                .into_iter()
                .map(|tag| ContactTag {
                    id: tag.id,
                    name: tag.name,
                })
                .collect(),
            default_assignees: contact
                .default_assignees
                .into_iter()
                .map(|user| user_body(user, base))
                .collect(),
            inbox_contacts: Vec::new(),
        }
    }
}

fn patch(value: hilos_api::Patch<String>) -> crate::domain::Patch<String> {
    match value {
        hilos_api::Patch::Absent => crate::domain::Patch::Absent,
        hilos_api::Patch::Null => crate::domain::Patch::Null,
        hilos_api::Patch::Value(v) => crate::domain::Patch::Value(v),
    }
}

fn user_body(user: User, base: &str) -> AccountMemberUserBasicRead {
    AccountMemberUserBasicRead {
        profile_image: format!("{base}{}", crate::app::AVATAR_PATH),
        id: user.id,
        first_name: user.first_name,
        last_name: user.last_name,
        email: user.email,
        account: user.account_id,
        date_joined: user.date_joined,
    }
}

fn validation(errors: FieldErrors) -> CreateOrUpdateContactResponse {
    CreateOrUpdateContactResponse::BadRequest(ValidationError {
        detail: None,
        non_field_errors: None,
        extra: errors.into_fields(),
    })
}

fn service_error(error: &StoreError) -> ServiceError {
    tracing::error!(%error, "store failed");
    if error.is_unavailable() {
        ServiceError::Unavailable
    } else {
        ServiceError::Internal
    }
}

impl<S: ContactStore> ContactApi for ContactService<S> {
    type Principal = Principal;

    async fn authenticate(&self, key: &str) -> Result<Option<Principal>, ServiceError> {
        self.store
            .principal_for_token(key)
            .await
            .map_err(|e| service_error(&e))
    }

    fn max_body_bytes(&self) -> usize {
        self.config.max_body_bytes
    }

    async fn create_or_update_contact(
        &self,
        principal: Principal,
        body: PatchedContactEditPublic,
    ) -> CreateOrUpdateContactResponse {
        let change = match self.to_change(body) {
            Ok(change) => change,
            Err(errors) => return validation(errors),
        };
        match self.store.upsert_contact(&principal, change).await {
            Ok(outcome) => {
                CreateOrUpdateContactResponse::Created(self.contact_body(outcome.into_contact()))
            }
            Err(error) => {
                let mut errors = FieldErrors::new();
                match error {
                    UpsertError::IdMismatch => errors.add(
                        "id",
                        "Does not match the id of the contact with this phone.",
                    ),
                    UpsertError::IdTaken => {
                        errors.add("id", "contact with this id already exists.")
                    }
                    UpsertError::UnknownAssignees(ids) => {
                        for id in ids {
                            errors.add(
                                "default_assignees",
                                format!("Invalid pk \"{id}\" - object does not exist."),
                            );
                        }
                    }
                    UpsertError::Store(error) => {
                        // The spec documents 500 for this operation; a database
                        // that is only briefly away is still reported as such.
                        service_error(&error);
                        return CreateOrUpdateContactResponse::InternalServerError(ErrorDetail {
                            detail: messages::SERVER_ERROR.to_owned(),
                        });
                    }
                }
                validation(errors)
            }
        }
    }
}
