//! Hand-written support for the generated router and types.
//!
//! The generated code stays small and readable by calling into these modules
//! for everything that does not depend on the spec: parsing the auth header,
//! reading and decoding bodies, checking field values, and shaping errors the
//! way Django REST Framework does.

pub mod auth;
pub mod body;
pub mod errors;
pub mod fields;
pub mod patch;
pub mod paths;
