//! The `config` fuzz corpus (tests/fuzz/corpus/config) replayed through the fuzz target's own entry
//! function. It lives here, not in the fuzz crate's regression test, because this test binary already links
//! the daemon: the fuzz crate would have to build SurrealDB a second time for it (see tests/fuzz/README.md).

use std::path::Path;

#[path = "../fuzz/src/config_entry.rs"]
mod config_entry;

#[test]
fn config_fuzz_corpus_runs_clean() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fuzz/corpus/config");
    let mut failures = Vec::new();
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if !path.is_file() {
            continue;
        }
        count += 1;
        let data = std::fs::read(&path).unwrap();
        if std::panic::catch_unwind(|| config_entry::config(&data)).is_err() {
            failures.push(path.display().to_string());
        }
    }
    assert!(count > 0, "{} has no seeds", dir.display());
    assert!(failures.is_empty(), "panicked on:\n{}", failures.join("\n"));
}
