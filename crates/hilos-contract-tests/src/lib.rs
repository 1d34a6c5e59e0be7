//! Checks that keep `openapi/hilos.yaml`, the generated client and the
//! server in step.
//!
//! The library holds the shared pieces: loading documents ([`spec`]), a
//! normalised, flat view of an OpenAPI document that makes two documents
//! comparable path by path ([`view`]), validation of response bodies against
//! the spec ([`validate`]) with a proxy that applies it to every response
//! ([`proxy`]), and a real server on a temporary database ([`server`]). The checks themselves are the tests under `tests/`.

pub mod proxy;
pub mod server;
pub mod spec;
pub mod validate;
pub mod view;
