//! Request bodies as domain changes: the field rules that need the domain
//! and so cannot be checked from the spec alone.

use hilos_api::runtime::errors::{messages, FieldErrors};
use hilos_api::PatchedContactEditPublic;

use crate::domain::{
    canonical_phone, meta_patch_from_json, ContactChange, ContactUpdate, MetaLimits, Patch,
};

/// `source` is stored in a column of this many characters upstream.
const SOURCE_MAX_LENGTH: usize = 255;

/// Turns validated request bodies into changes for the store.
#[derive(Debug, Clone)]
pub struct Changes {
    meta_limits: MetaLimits,
    default_region: Option<phonenumber::country::Id>,
}

impl Changes {
    /// With these meta bounds and phone region.
    pub fn new(meta_limits: MetaLimits, default_region: Option<phonenumber::country::Id>) -> Self {
        Self {
            meta_limits,
            default_region,
        }
    }

    /// A `POST` body: the phone is required, since it is the upsert key.
    pub fn upsert(&self, body: PatchedContactEditPublic) -> Result<ContactChange, FieldErrors> {
        let mut errors = FieldErrors::new();
        if body.phone.is_none() {
            errors.add("phone", messages::REQUIRED);
        }
        match self.change(body, errors)? {
            (Some((phone, canonical_phone)), change) => Ok(ContactChange {
                phone,
                canonical_phone,
                ..change
            }),
            // Only reached if the phone were neither missing nor invalid
            // nor valid; answer as for a missing one.
            (None, _) => {
                let mut errors = FieldErrors::new();
                errors.add("phone", messages::REQUIRED);
                Err(errors)
            }
        }
    }

    /// A `PATCH` body: every field is optional, the phone too.
    pub fn update(&self, body: PatchedContactEditPublic) -> Result<ContactUpdate, FieldErrors> {
        let (phone, change) = self.change(body, FieldErrors::new())?;
        Ok(ContactUpdate::new(phone, change))
    }

    /// Checks the phone, meta and source, and builds the change; the phone
    /// comes back apart, as sent and canonical, when there is one.
    #[allow(clippy::type_complexity)]
    fn change(
        &self,
        body: PatchedContactEditPublic,
        mut errors: FieldErrors,
    ) -> Result<(Option<(String, String)>, ContactChange), FieldErrors> {
        let overwrite_meta = body.overwrite_meta_or_default();
        let overwrite_tags = body.overwrite_tags_or_default();
        let overwrite_default_assignees = body.overwrite_default_assignees_or_default();
        let phone = match body.phone {
            None => None,
            Some(phone) => match canonical_phone(&phone, self.default_region) {
                Ok(canonical) => Some((phone, canonical)),
                Err(invalid) => {
                    errors.add("phone", invalid.to_string());
                    None
                }
            },
        };
        let meta = match &body.meta {
            None => None,
            Some(object) => match meta_patch_from_json(object, &self.meta_limits) {
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
        if !errors.is_empty() {
            return Err(errors);
        }
        let change = ContactChange {
            phone: String::new(),
            canonical_phone: String::new(),
            id: body.id,
            first_name: patch(body.first_name),
            last_name: patch(body.last_name),
            email: patch(body.email),
            external_url: patch(body.external_url),
            source: body.source,
            created_on: body.created_on,
            meta,
            overwrite_meta,
            tags: body
                .tags
                .map(|tags| tags.into_iter().map(|tag| tag.name).collect()),
            overwrite_tags,
            default_assignees: body.default_assignees,
            overwrite_default_assignees,
        };
        Ok((phone, change))
    }
}

fn patch(value: hilos_api::Patch<String>) -> Patch<String> {
    match value {
        hilos_api::Patch::Absent => Patch::Absent,
        hilos_api::Patch::Null => Patch::Null,
        hilos_api::Patch::Value(v) => Patch::Value(v),
    }
}
