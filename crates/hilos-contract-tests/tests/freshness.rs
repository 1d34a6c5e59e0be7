//! Check 1: the generated files match a fresh `cargo xtask codegen`.

use xtask::codegen::{run, Mode};

#[test]
fn generated_files_match_a_fresh_codegen() {
    let report =
        run(&hilos_contract_tests::spec::project_root(), Mode::Check).expect("codegen runs");
    assert!(
        report.is_ok(),
        "generated code drifted from openapi/hilos.yaml:\n{report}"
    );
}
