//! Development tasks for the Hilos workspace, behind `cargo xtask`.

pub mod bench;
pub mod client_gen;
pub mod codegen;
pub mod files;
pub mod prepare;
pub mod rust_file;
pub mod server_gen;
pub mod spec;

use std::path::PathBuf;

/// The workspace root: the parent of this crate's directory.
pub fn project_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}
