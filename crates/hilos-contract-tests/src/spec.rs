//! Loading the contract and the upstream fragment as JSON values.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// The workspace root.
pub fn project_root() -> PathBuf {
    xtask::project_root()
}

/// The project's contract, `openapi/hilos.yaml`.
pub fn contract() -> Value {
    load_yaml(&project_root().join("openapi/hilos.yaml"))
}

/// Upstream's verbatim fragment.
pub fn upstream() -> Value {
    load_yaml(&project_root().join("openapi/upstream/post-api-contact.yaml"))
}

/// A YAML document as JSON.
pub fn load_yaml(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    parse_yaml(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

/// YAML text as JSON.
pub fn parse_yaml(text: &str) -> Result<Value, yaml_serde::Error> {
    yaml_serde::from_str(text)
}

/// The contract after the preparation transforms of a generator, as JSON.
pub fn prepared_contract(transforms: &[xtask::prepare::Transform]) -> Value {
    let spec = xtask::spec::load(&project_root().join(xtask::spec::SPEC_PATH))
        .expect("the contract parses");
    serde_json::to_value(xtask::prepare::prepare(&spec, transforms)).expect("serialise")
}
