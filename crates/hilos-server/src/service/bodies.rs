//! Stored contacts as the response bodies of the spec.

use hilos_api::{
    AccountMemberUserBasicRead, ContactDetailRead, ContactDetailReadPublic, ContactListReadPublic,
    ContactTag,
};
use serde_json::{Map, Value};

use crate::app::AVATAR_PATH;
use crate::domain::{Contact, Tag, User};

/// Builds response bodies with absolute links under one base URL.
#[derive(Debug, Clone)]
pub struct Bodies {
    base: String,
}

impl Bodies {
    /// Links start with `public_base_url`.
    pub fn new(public_base_url: &str) -> Self {
        Self {
            base: public_base_url.trim_end_matches('/').to_owned(),
        }
    }

    /// The base URL, without a trailing slash.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The body `POST` and `PATCH` answer with.
    pub fn detail_public(&self, contact: Contact) -> ContactDetailReadPublic {
        ContactDetailReadPublic {
            default_conversation_url: self.conversation_url(&contact),
            id: contact.id.to_string(),
            first_name: contact.first_name,
            last_name: contact.last_name,
            email: contact.email,
            meta: Some(meta(contact.meta)),
            external_url: contact.external_url,
            canonical_phone: contact.canonical_phone,
            created_by: contact.created_by,
            phone: contact.phone,
            created_on: Some(contact.created_on),
            last_updated_on: contact.last_updated_on,
            source: contact.source,
            tags: tags(contact.tags),
            default_assignees: contact
                .default_assignees
                .into_iter()
                .map(|user| self.user(user))
                .collect(),
            inbox_contacts: Vec::new(),
        }
    }

    /// The body `GET /api/contact/{id}` answers with: the public detail plus
    /// the fields only the detail view has. This server keeps no notes,
    /// imports or channels, so those are empty.
    pub fn detail(&self, contact: Contact) -> ContactDetailRead {
        let public = self.detail_public(contact);
        ContactDetailRead {
            first_name: public.first_name,
            last_name: public.last_name,
            email: public.email,
            meta: public.meta,
            external_url: public.external_url,
            canonical_phone: public.canonical_phone,
            created_by: public.created_by,
            phone: public.phone,
            id: public.id,
            created_on: public.created_on,
            last_updated_on: public.last_updated_on,
            source: public.source,
            tags: public.tags,
            default_assignees: public.default_assignees,
            inbox_contacts: public.inbox_contacts,
            default_conversation_url: public.default_conversation_url,
            is_deleted: false,
            notes: Vec::new(),
            contact_import: None,
            default_channel: None,
        }
    }

    /// A contact as an item of a list.
    pub fn list_item(&self, contact: Contact) -> ContactListReadPublic {
        ContactListReadPublic {
            first_name: contact.first_name,
            last_name: contact.last_name,
            email: contact.email,
            meta: Some(meta(contact.meta)),
            external_url: contact.external_url,
            canonical_phone: contact.canonical_phone,
            created_by: contact.created_by,
            phone: contact.phone,
            created_on: Some(contact.created_on),
            last_updated_on: contact.last_updated_on,
            source: contact.source,
            tags: tags(contact.tags),
            id: contact.id.to_string(),
        }
    }

    fn conversation_url(&self, contact: &Contact) -> String {
        format!("{}/inbox/contact/{}", self.base, contact.id)
    }

    fn user(&self, user: User) -> AccountMemberUserBasicRead {
        AccountMemberUserBasicRead {
            profile_image: format!("{}{AVATAR_PATH}", self.base),
            id: user.id,
            first_name: user.first_name,
            last_name: user.last_name,
            email: user.email,
            account: user.account_id,
            date_joined: user.date_joined,
        }
    }
}

fn meta(meta: std::collections::BTreeMap<String, String>) -> Map<String, Value> {
    meta.into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect()
}

fn tags(tags: Vec<Tag>) -> Vec<ContactTag> {
    tags.into_iter()
        .map(|tag| ContactTag {
            id: tag.id,
            name: tag.name,
        })
        .collect()
}
