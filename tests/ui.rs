//! Compile-fail tests: each mistake in `tests/ui/` must fail to compile with the
//! message checked in beside it. Regenerate with `TRYBUILD=overwrite cargo test ui`.

#[test]
fn derive_and_routing_mistakes_do_not_compile() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
