//! The Hilos contact server.
//!
//! - [`domain`]: the pure rules of `POST /api/contact` (phone
//!   canonicalisation, meta, tag and assignee merging).
//! - [`store`]: the [`store::ContactStore`] boundary and its SQLite
//!   implementation.
//! - [`service`]: the generated `ContactApi` trait implemented on a store.
//! - [`app`]: the HTTP application with its layers; [`serve`]: running it;
//!   [`docs`]: the embedded documentation page.
//! - [`limits`]: timeouts, the concurrency limit and the rate limit.
//! - [`config`]: the command line; [`metrics`]: what `/metrics` exports.

pub mod app;
pub mod config;
pub mod docs;
pub mod domain;
pub mod limits;
pub mod metrics;
pub mod serve;
pub mod service;
pub mod store;
