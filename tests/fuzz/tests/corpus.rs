//! Replays every seed and every input the fuzzers kept (`corpus/<target>/*`) through the same entry
//! function as the fuzz target, on stable and without libFuzzer: a parser change that panics on any of
//! them fails here, in CI.

use std::path::{Path, PathBuf};

fn corpus_files(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_corpus_file_runs_clean() {
    let mut failures = Vec::new();
    let mut counts = Vec::new();
    for (target, entry) in sigil_fuzz::TARGETS {
        let files = corpus_files(target);
        assert!(!files.is_empty(), "corpus/{target} has no seeds");
        for file in &files {
            let data = std::fs::read(file).unwrap();
            if std::panic::catch_unwind(|| entry(&data)).is_err() {
                failures.push(format!("{target}: {}", file.display()));
            }
        }
        counts.push(format!("{target} {}", files.len()));
    }
    eprintln!("corpus files replayed: {}", counts.join(", "));
    assert!(failures.is_empty(), "panicked on:\n{}", failures.join("\n"));
}

#[test]
fn every_fuzz_target_is_replayed() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz_targets");
    for file in std::fs::read_dir(dir).unwrap() {
        let path = file.unwrap().path();
        let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
        if name == "config" && !cfg!(feature = "config") {
            continue;
        }
        assert!(
            sigil_fuzz::TARGETS
                .iter()
                .any(|(target, _)| *target == name),
            "fuzz_targets/{name}.rs has no entry in TARGETS"
        );
        assert!(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("corpus")
                .join(&name)
                .is_dir(),
            "fuzz_targets/{name}.rs has no corpus directory"
        );
    }
}

/// The `tsr` target only exercises signature, ESS and chain code if a seed gets that far: the OpenSSL-made
/// responses must verify against their own imprint with their embedded certificates as anchors.
#[test]
fn tsr_seeds_reach_a_verified_token() {
    use sigil_rfc3161::{TrustStore, inspect, verify_token_against_digest};
    let mut verified = Vec::new();
    for file in corpus_files("tsr") {
        let data = std::fs::read(&file).unwrap();
        let Ok(token) = inspect(&data) else { continue };
        let mut anchors = TrustStore::new();
        for certificate in &token.certificates {
            anchors.add_root(certificate).unwrap();
        }
        if verify_token_against_digest(&data, &token.message_imprint, &anchors)
            .is_ok_and(|v| v.trust.is_chained())
        {
            verified.push(file.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    assert!(verified.len() >= 3, "verified and chained: {verified:?}");
}

#[test]
fn device_seeds_reach_their_verdicts() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/device");
    let verdict = |name: &str| sigil_fuzz::device_verdict(&std::fs::read(dir.join(name)).unwrap());
    assert_eq!(verdict("approve-valid.txt"), Ok("approve"));
    assert_eq!(verdict("poll-valid.txt"), Ok("poll"));
    assert_eq!(verdict("approve-high-s.txt"), Err("INVALID_SIGNATURE"));
}

#[test]
fn httpsig_valid_seed_is_accepted() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/httpsig");
    let valid = std::fs::read(dir.join("sigilum-valid.txt")).unwrap();
    assert_eq!(sigil_fuzz::httpsig_verdict(&valid), Ok(()));
    let b26 = std::fs::read(dir.join("rfc9421-b26.txt")).unwrap();
    assert_eq!(sigil_fuzz::httpsig_verdict(&b26), Err("SIGNATURE_INVALID"));
}
