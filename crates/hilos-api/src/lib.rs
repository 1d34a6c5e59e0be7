//! Server side of the Hilos contact API.
//!
//! Everything here is derived from `openapi/hilos.yaml`: the request and
//! response types, the [`ContactApi`] trait with one method per operation, the
//! per-operation response enums, and [`router`], which turns an implementation
//! of the trait into an [`axum::Router`].
//!
//! The router does all HTTP work before the trait is called: it authenticates
//! the `Authorization: Token <key>` header through [`ContactApi::authenticate`],
//! decodes JSON, form-urlencoded and multipart bodies into one request type,
//! and validates every field against the spec, answering with Django REST
//! Framework's error bodies. An implementation only sees typed, valid input.
//!
//! `src/generated.rs` is written by `cargo xtask codegen`; the hand-written
//! support it relies on lives in [`runtime`].

mod generated;
pub mod runtime;

pub use generated::*;
pub use runtime::errors::ServiceError;
pub use runtime::patch::Patch;

/// The default limit on request body size: 1 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
