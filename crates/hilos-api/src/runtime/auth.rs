//! The `Authorization: Token <key>` header, read the way Django REST
//! Framework's `TokenAuthentication` reads it.

use axum::http::{header, HeaderMap};

/// Why a request could not be authenticated. Each variant carries Django REST
/// Framework's exact message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No `Authorization` header, or one with another scheme.
    NotProvided,
    /// `Token` with nothing after it.
    NoCredentials,
    /// `Token a b`.
    ContainsSpaces,
    /// A key that is not valid text.
    InvalidCharacters,
    /// A well-formed key that is unknown or revoked.
    InvalidToken,
}

impl AuthFailure {
    /// The `detail` message of the 401 body.
    pub fn message(self) -> &'static str {
        match self {
            AuthFailure::NotProvided => "Authentication credentials were not provided.",
            AuthFailure::NoCredentials => "Invalid token header. No credentials provided.",
            AuthFailure::ContainsSpaces => {
                "Invalid token header. Token string should not contain spaces."
            }
            AuthFailure::InvalidCharacters => {
                "Invalid token header. Token string should not contain invalid characters."
            }
            AuthFailure::InvalidToken => "Invalid token.",
        }
    }

    /// The 401 response for this failure.
    pub fn into_response(self) -> axum::response::Response {
        super::errors::unauthorized(self.message())
    }
}

/// Extracts the key from `Authorization: Token <key>`.
///
/// The scheme is case-insensitive and the parts are split on whitespace, as
/// upstream does.
pub fn token_key(headers: &HeaderMap) -> Result<&str, AuthFailure> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(AuthFailure::NotProvided);
    };
    let mut parts = value
        .as_bytes()
        .split(|b| b.is_ascii_whitespace())
        .filter(|part| !part.is_empty());
    match parts.next() {
        Some(scheme) if scheme.eq_ignore_ascii_case(b"token") => {}
        _ => return Err(AuthFailure::NotProvided),
    }
    let key = parts.next().ok_or(AuthFailure::NoCredentials)?;
    if parts.next().is_some() {
        return Err(AuthFailure::ContainsSpaces);
    }
    std::str::from_utf8(key).map_err(|_| AuthFailure::InvalidCharacters)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn key_of(value: Option<&[u8]>) -> Result<String, AuthFailure> {
        let mut headers = HeaderMap::new();
        if let Some(value) = value {
            headers.insert(
                header::AUTHORIZATION,
                HeaderValue::from_bytes(value).expect("test header value"),
            );
        }
        token_key(&headers).map(str::to_owned)
    }

    #[test]
    fn reads_the_key_case_insensitively() {
        assert_eq!(key_of(Some(b"Token abc123")), Ok("abc123".into()));
        assert_eq!(key_of(Some(b"token  abc123 ")), Ok("abc123".into()));
    }

    #[test]
    fn names_each_malformed_header() {
        assert_eq!(key_of(None), Err(AuthFailure::NotProvided));
        assert_eq!(key_of(Some(b"Bearer abc")), Err(AuthFailure::NotProvided));
        assert_eq!(key_of(Some(b"Token")), Err(AuthFailure::NoCredentials));
        assert_eq!(key_of(Some(b"Token a b")), Err(AuthFailure::ContainsSpaces));
        assert_eq!(
            key_of(Some(b"Token \xff\xfe")),
            Err(AuthFailure::InvalidCharacters)
        );
    }
}
