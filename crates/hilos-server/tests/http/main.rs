//! End-to-end tests over real HTTP: the whole application on 127.0.0.1:0,
//! on a fresh database per test, for every backend.

#[path = "../common/mod.rs"]
mod common;
mod support;

mod auth;
mod concurrency;
mod contacts;
mod docs;
mod error_bodies;
mod hostile;
mod media;
mod operator;
mod tenancy;
mod upsert;
mod validation;
