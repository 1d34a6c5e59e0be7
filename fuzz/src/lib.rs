//! What the fuzz targets share: decoding one body the way the router does,
//! then checking its fields.

use std::sync::LazyLock;

use hilos_api::runtime::body::{decode_object, BodyError};
use hilos_api::PatchedContactEditPublic;
use http::{header, HeaderMap, HeaderValue};

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a tokio runtime")
});

/// Decodes `bytes` as a request body of `content_type` and validates the
/// result as the contact body. Any outcome is fine but a panic; a refusal
/// must be one the router answers with a 4xx.
pub fn decode_contact(content_type: &[u8], bytes: &[u8]) {
    let Ok(content_type) = HeaderValue::from_bytes(content_type) else {
        return;
    };
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, content_type);
    let decoded = RUNTIME.block_on(decode_object(
        &headers,
        bytes,
        PatchedContactEditPublic::FORM,
    ));
    match decoded {
        Ok(object) => {
            let _ = PatchedContactEditPublic::from_object(&object);
        }
        Err(BodyError::TooLarge) => panic!("a complete body cannot be too large"),
        Err(_) => {}
    }
}
