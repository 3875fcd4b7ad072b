//! docs/verifying-tokens.md shows the example the crate compiles, so it cannot drift.

#[test]
fn the_docs_show_the_compiled_example() {
    let root = env!("CARGO_MANIFEST_DIR");
    let docs = std::fs::read_to_string(format!("{root}/../../docs/verifying-tokens.md")).unwrap();
    let example = std::fs::read_to_string(format!("{root}/examples/axum_service.rs")).unwrap();
    let code: String = example
        .lines()
        .skip_while(|line| line.starts_with("//!") || line.is_empty())
        .map(|line| format!("{line}\n"))
        .collect();

    assert!(
        docs.contains(&format!("```rust\n{code}```")),
        "docs/verifying-tokens.md differs from the example"
    );
}
