//! The product refers to nothing outside its own repository.

use std::path::Path;

/// Files under `dir` (not `target/` or `.git/`) whose text mentions a path outside the
/// repository.
fn outside_references(dir: &Path, found: &mut Vec<String>) {
    // Built from pieces so that this file does not match itself.
    let needles = [["shared", "/"].concat(), ["..", "/.library"].concat()];
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if !matches!(name, "target" | ".git") {
                outside_references(&path, found);
            }
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        for needle in &needles {
            if text.contains(needle.as_str()) {
                found.push(format!("{} mentions `{needle}`", path.display()));
            }
        }
    }
}

#[test]
fn no_file_refers_outside_the_repository() {
    let mut found = Vec::new();
    outside_references(Path::new(env!("CARGO_MANIFEST_DIR")), &mut found);
    assert!(found.is_empty(), "{found:#?}");
}
