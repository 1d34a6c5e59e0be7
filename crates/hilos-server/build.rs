//! `sqlx::migrate!` embeds the files of `migrations/` in the crate, but
//! cargo does not know the crate reads them: without this, adding or
//! editing a migration leaves a stale build that runs the old set.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
