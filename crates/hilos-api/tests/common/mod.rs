//! A test double of [`ContactApi`] and a caller of the generated router,
//! shared by the router's test files.

#![allow(dead_code)] // each test binary uses a different subset

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::response::Response;
use hilos_api::runtime::paths::utf8_paths;
use hilos_api::{
    router, ContactApi, ContactDetailReadPublic, CreateOrUpdateContactResponse,
    DeleteContactResponse, ErrorDetail, GetContactResponse, ListContactsQuery,
    ListContactsResponse, PaginatedContactListReadPublicList, PartiallyUpdateContactResponse,
    PatchedContactEditPublic, ServiceError,
};
use serde_json::Value;
use tower::ServiceExt;

/// The one key the double accepts.
pub const KEY: &str = "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b";
/// The double's body size limit.
pub const LIMIT: usize = 4096;
/// The boundary [`multipart`] writes.
pub const BOUNDARY: &str = "XyZBoundary";

/// Records every body that reaches it and answers with a fixed contact.
#[derive(Default)]
pub struct Double {
    pub seen: Mutex<Vec<PatchedContactEditPublic>>,
    pub queries: Mutex<Vec<ListContactsQuery>>,
    pub ids: Mutex<Vec<uuid::Uuid>>,
}

fn not_found() -> ErrorDetail {
    ErrorDetail {
        detail: "Not found.".into(),
    }
}

impl ContactApi for Double {
    type Principal = &'static str;

    async fn authenticate(&self, key: &str) -> Result<Option<Self::Principal>, ServiceError> {
        Ok((key == KEY).then_some("caller"))
    }

    fn max_body_bytes(&self) -> usize {
        LIMIT
    }

    async fn create_or_update_contact(
        &self,
        principal: Self::Principal,
        body: PatchedContactEditPublic,
    ) -> CreateOrUpdateContactResponse {
        assert_eq!(principal, "caller");
        let phone = body.phone.clone().unwrap_or_default();
        self.seen.lock().expect("not poisoned").push(body);
        CreateOrUpdateContactResponse::Created(contact(phone))
    }

    async fn list_contacts(
        &self,
        _principal: Self::Principal,
        query: ListContactsQuery,
    ) -> ListContactsResponse {
        self.queries.lock().expect("not poisoned").push(query);
        ListContactsResponse::Ok(PaginatedContactListReadPublicList {
            count: 0,
            next: None,
            previous: None,
            results: vec![],
        })
    }

    async fn get_contact(&self, _principal: Self::Principal, id: uuid::Uuid) -> GetContactResponse {
        self.ids.lock().expect("not poisoned").push(id);
        GetContactResponse::NotFound(not_found())
    }

    async fn delete_contact(
        &self,
        _principal: Self::Principal,
        id: uuid::Uuid,
    ) -> DeleteContactResponse {
        self.ids.lock().expect("not poisoned").push(id);
        DeleteContactResponse::NoContent
    }

    async fn partially_update_contact(
        &self,
        _principal: Self::Principal,
        id: uuid::Uuid,
        body: PatchedContactEditPublic,
    ) -> PartiallyUpdateContactResponse {
        self.ids.lock().expect("not poisoned").push(id);
        let phone = body.phone.clone().unwrap_or_default();
        self.seen.lock().expect("not poisoned").push(body);
        PartiallyUpdateContactResponse::Ok(contact(phone))
    }
}

fn contact(phone: String) -> ContactDetailReadPublic {
    ContactDetailReadPublic {
        first_name: None,
        last_name: None,
        email: None,
        meta: Some(Default::default()),
        external_url: None,
        canonical_phone: phone.clone(),
        created_by: 1,
        phone,
        id: "0190b8a0-0000-7000-8000-000000000000".into(),
        created_on: None,
        last_updated_on: chrono::Utc::now(),
        source: "website".into(),
        tags: vec![],
        default_assignees: vec![],
        inbox_contacts: vec![],
        default_conversation_url: "http://localhost/c".into(),
    }
}

/// What the router answered.
pub struct Call {
    pub status: StatusCode,
    pub www_authenticate: Option<String>,
    pub body: Value,
}

/// Sends `request` through a fresh router on `api`, wrapped in the
/// runtime's [`utf8_paths`] layer as the server wraps it. Panics when the
/// body is neither empty nor JSON.
pub async fn call(api: &Arc<Double>, request: Request<Body>) -> Call {
    let response: Response = router(api.clone())
        .layer(axum::middleware::from_fn(utf8_paths))
        .oneshot(request)
        .await
        .expect("the router is infallible");
    let status = response.status();
    let www_authenticate = response
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .map(|v| v.to_str().expect("ascii").to_owned());
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            panic!(
                "every response body is JSON, got {status}: {:?}",
                String::from_utf8_lossy(&bytes)
            )
        })
    };
    Call {
        status,
        www_authenticate,
        body,
    }
}

/// `POST /api/contact` with the double's key.
pub fn post(content_type: Option<&str>, body: impl Into<Body>) -> Request<Body> {
    let mut builder =
        Request::post("/api/contact").header(header::AUTHORIZATION, format!("Token {KEY}"));
    if let Some(content_type) = content_type {
        builder = builder.header(header::CONTENT_TYPE, content_type);
    }
    builder.body(body.into()).expect("valid request")
}

/// `POST /api/contact` with a JSON body.
pub fn json_post(body: Value) -> Request<Body> {
    post(Some("application/json"), body.to_string())
}

/// The last body the trait received.
pub fn last_seen(api: &Double) -> PatchedContactEditPublic {
    api.seen
        .lock()
        .expect("not poisoned")
        .last()
        .cloned()
        .expect("the trait was called")
}

/// A multipart body of text fields, delimited by [`BOUNDARY`].
pub fn multipart(fields: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (name, value) in fields {
        out.push_str(&format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    out.push_str(&format!("--{BOUNDARY}--\r\n"));
    out
}

/// Whether `body` has one of Django REST Framework's error shapes:
/// `{"detail": "..."}`, or an object whose every field maps to a list of
/// messages or of per-item error objects.
pub fn is_drf_error(body: &Value) -> bool {
    let Some(object) = body.as_object() else {
        return false;
    };
    if object.is_empty() {
        return false;
    }
    if let Some(detail) = object.get("detail") {
        return object.len() == 1 && detail.is_string();
    }
    object.values().all(is_field_error_list)
}

fn is_field_error_list(value: &Value) -> bool {
    let Some(entries) = value.as_array() else {
        return false;
    };
    !entries.is_empty()
        && entries.iter().all(|entry| match entry {
            Value::String(_) => true,
            Value::Object(fields) => fields.values().all(is_field_error_list),
            _ => false,
        })
}
