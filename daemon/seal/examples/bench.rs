//! Per-seal building cost with a P-256 software key, signing excluded (the KMS signs), printed in µs. A
//! measurement, not a test: `cargo run -p sigil-seal --release --example bench` (needs `openssl` for the test PKI).

use std::time::Instant;

use sigil_seal::{CadesBuilder, CadesOptions, HashAlgorithm, SealSigner};

// The oracle tests' PKI helpers; the measurement uses a few of them.
#[allow(dead_code)]
#[path = "../tests/oracles/support.rs"]
mod support;

use support::{KeyKind, pki, tsa};

fn main() {
    let pki = pki(KeyKind::P256);
    let tsa = tsa();
    let chain = pki.chain();
    let algorithm = pki.key.algorithm();
    let digest = HashAlgorithm::Sha256.digest(b"document");
    let signature_for = |builder: &CadesBuilder| pki.key.sign(builder.to_be_signed()).unwrap();
    let token = {
        let builder = CadesBuilder::new(
            HashAlgorithm::Sha256,
            &digest,
            &chain,
            algorithm,
            CadesOptions::default(),
        )
        .unwrap();
        let signature = signature_for(&builder);
        tsa.stamp(builder.assemble(&signature).unwrap().signature_value())
    };
    const ROUNDS: u32 = 2000;
    // Signatures made beforehand so that only building is timed: new + to_be_signed, assemble (which
    // checks the KMS signature under the certificate), add the time-stamp token, encode.
    let mut builders = Vec::new();
    let mut signatures = Vec::new();
    for _ in 0..ROUNDS {
        let builder = CadesBuilder::new(
            HashAlgorithm::Sha256,
            &digest,
            &chain,
            algorithm,
            CadesOptions::default(),
        )
        .unwrap();
        signatures.push(signature_for(&builder));
        builders.push(builder);
    }
    let start = Instant::now();
    for _ in 0..ROUNDS {
        let builder = CadesBuilder::new(
            HashAlgorithm::Sha256,
            &digest,
            &chain,
            algorithm,
            CadesOptions::default(),
        )
        .unwrap();
        std::hint::black_box(builder.to_be_signed());
    }
    let prepare = start.elapsed() / ROUNDS;
    let start = Instant::now();
    for (builder, signature) in builders.into_iter().zip(&signatures) {
        let mut cms = builder.assemble(signature).unwrap();
        cms.add_signature_timestamp(&token).unwrap();
        std::hint::black_box(cms.to_der().unwrap());
    }
    let finish = start.elapsed() / ROUNDS;
    let total = prepare + finish;
    println!(
        "CAdES B-T building, P-256, signing excluded: prepare {} µs + assemble/verify/timestamp/encode {} µs = {} µs per seal ({:.0} seals/s/core)",
        prepare.as_micros(),
        finish.as_micros(),
        total.as_micros(),
        1e6 / total.as_micros().max(1) as f64
    );
}
