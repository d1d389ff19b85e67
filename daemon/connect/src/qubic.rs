//! Qubic identities: the 60-letter text form of a 32-byte public key, with its KangarooTwelve checksum.
//!
//! KangarooTwelve (K12, RFC 9861) is implemented here on a 12-round Keccak-p\[1600\] permutation, with an
//! empty customization string, including the tree mode for inputs of 8192 bytes or more.

use crate::Refusal;

/// Number of letters in an identity: 4 fragments of 14 base-26 digits, then 4 checksum letters.
pub const IDENTITY_LEN: usize = 60;

/// Base-26 digits per 64-bit fragment of the public key.
const FRAGMENT_DIGITS: usize = 14;

/// The 60-character upper-case identity of a 32-byte public key: 56 letters of base-26 digits of the
/// key's 4 little-endian `u64` fragments (14 letters each, least significant digit first, `A` = 0), then
/// 4 checksum letters from the low 18 bits of `K12(key, 3 bytes)` read little-endian.
pub fn identity(public_key: &[u8; 32]) -> String {
    let mut out = String::with_capacity(IDENTITY_LEN);
    for chunk in public_key.chunks_exact(8) {
        let mut fragment = u64::from_le_bytes(chunk.try_into().expect("8-byte chunk"));
        for _ in 0..FRAGMENT_DIGITS {
            out.push(letter(fragment % 26));
            fragment /= 26;
        }
    }
    let mut checksum = checksum(public_key);
    for _ in 0..4 {
        out.push(letter(u64::from(checksum % 26)));
        checksum /= 26;
    }
    out
}

/// Checks the shape of an identity (exactly 60 letters `A`–`Z`, each fragment below 2^64) and its
/// checksum; returns the public key. Refused with `invalid_identity` (no field: the caller sets it).
pub fn parse_identity(text: &str) -> Result<[u8; 32], Refusal> {
    let refuse = |message: &str| Refusal::new("invalid_identity", message.to_owned(), None);
    if text.len() != IDENTITY_LEN || !text.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(refuse(
            "a Qubic identity is exactly 60 upper-case letters A-Z",
        ));
    }
    let digits = text.as_bytes();
    let mut key = [0u8; 32];
    for (index, chunk) in key.chunks_exact_mut(8).enumerate() {
        let group = &digits[index * FRAGMENT_DIGITS..(index + 1) * FRAGMENT_DIGITS];
        let mut fragment: u64 = 0;
        for &digit in group.iter().rev() {
            fragment = fragment
                .checked_mul(26)
                .and_then(|f| f.checked_add(u64::from(digit - b'A')))
                .ok_or_else(|| refuse("a fragment of the identity exceeds 64 bits"))?;
        }
        chunk.copy_from_slice(&fragment.to_le_bytes());
    }
    if identity(&key) != text {
        return Err(refuse("the identity's checksum does not match"));
    }
    Ok(key)
}

fn letter(digit: u64) -> char {
    char::from(b'A' + u8::try_from(digit).expect("a base-26 digit"))
}

fn checksum(public_key: &[u8; 32]) -> u32 {
    let digest = k12(public_key, 3);
    u32::from_le_bytes([digest[0], digest[1], digest[2], 0]) & 0x3_ffff
}

/// KangarooTwelve of `input` with an empty customization string, `output_len` bytes long.
pub fn k12(input: &[u8], output_len: usize) -> Vec<u8> {
    // S = M || C || length_encode(|C|); with C empty that is M || 0x00.
    let mut message = Vec::with_capacity(input.len() + 1);
    message.extend_from_slice(input);
    message.push(0x00);
    if message.len() <= CHUNK {
        return turbo_shake128(&[&message], 0x07, output_len);
    }
    let chunks: Vec<&[u8]> = message.chunks(CHUNK).collect();
    let mut node: Vec<u8> = Vec::with_capacity(CHUNK + 8 + 32 * chunks.len() + 12);
    node.extend_from_slice(chunks[0]);
    node.extend_from_slice(&[0x03, 0, 0, 0, 0, 0, 0, 0]);
    for chunk in &chunks[1..] {
        node.extend_from_slice(&turbo_shake128(&[chunk], 0x0b, 32));
    }
    node.extend_from_slice(&length_encode(chunks.len() - 1));
    node.extend_from_slice(&[0xff, 0xff]);
    turbo_shake128(&[&node], 0x06, output_len)
}

/// K12's chunk size, in bytes.
const CHUNK: usize = 8192;
/// TurboSHAKE128's rate, in bytes.
const RATE: usize = 168;

/// RFC 9861 `length_encode`: the big-endian bytes of `x` without leading zeros, then their count.
fn length_encode(x: usize) -> Vec<u8> {
    let bytes = (x as u64).to_be_bytes();
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    let mut out = bytes[start..].to_vec();
    out.push(u8::try_from(bytes.len() - start).expect("at most 8"));
    out
}

/// TurboSHAKE128 of the concatenation of `parts`, with domain separation byte `domain`.
fn turbo_shake128(parts: &[&[u8]], domain: u8, output_len: usize) -> Vec<u8> {
    let mut state = [0u64; 25];
    let mut offset = 0;
    for part in parts {
        for &byte in *part {
            xor_byte(&mut state, offset, byte);
            offset += 1;
            if offset == RATE {
                keccak_p1600_12(&mut state);
                offset = 0;
            }
        }
    }
    xor_byte(&mut state, offset, domain);
    xor_byte(&mut state, RATE - 1, 0x80);
    keccak_p1600_12(&mut state);
    let mut out = Vec::with_capacity(output_len);
    loop {
        for index in 0..RATE {
            if out.len() == output_len {
                return out;
            }
            out.push((state[index / 8] >> (8 * (index % 8))) as u8);
        }
        keccak_p1600_12(&mut state);
    }
}

fn xor_byte(state: &mut [u64; 25], index: usize, byte: u8) {
    state[index / 8] ^= u64::from(byte) << (8 * (index % 8));
}

/// The last 12 round constants of Keccak-f\[1600\] (rounds 12 to 23).
const ROUND_CONSTANTS: [u64; 12] = [
    0x0000_0000_8000_808b,
    0x8000_0000_0000_008b,
    0x8000_0000_0000_8089,
    0x8000_0000_0000_8003,
    0x8000_0000_0000_8002,
    0x8000_0000_0000_0080,
    0x0000_0000_0000_800a,
    0x8000_0000_8000_000a,
    0x8000_0000_8000_8081,
    0x8000_0000_0000_8080,
    0x0000_0000_8000_0001,
    0x8000_0000_8000_8008,
];

/// Rotation offsets of ρ, indexed `x + 5y`.
const RHO: [u32; 25] = [
    0, 1, 62, 28, 27, 36, 44, 6, 55, 20, 3, 10, 43, 25, 39, 41, 45, 15, 21, 8, 18, 2, 61, 56, 14,
];

/// Keccak-p\[1600, 12\]: the last 12 rounds of Keccak-f\[1600\]; lanes indexed `x + 5y`.
fn keccak_p1600_12(a: &mut [u64; 25]) {
    for &round_constant in &ROUND_CONSTANTS {
        // θ
        let mut c = [0u64; 5];
        for x in 0..5 {
            c[x] = a[x] ^ a[x + 5] ^ a[x + 10] ^ a[x + 15] ^ a[x + 20];
        }
        for x in 0..5 {
            let d = c[(x + 4) % 5] ^ c[(x + 1) % 5].rotate_left(1);
            for y in 0..5 {
                a[x + 5 * y] ^= d;
            }
        }
        // ρ and π: B[y, 2x + 3y] = rot(A[x, y], r[x, y])
        let mut b = [0u64; 25];
        for x in 0..5 {
            for y in 0..5 {
                b[y + 5 * ((2 * x + 3 * y) % 5)] = a[x + 5 * y].rotate_left(RHO[x + 5 * y]);
            }
        }
        // χ
        for y in 0..5 {
            for x in 0..5 {
                a[x + 5 * y] = b[x + 5 * y] ^ (!b[(x + 1) % 5 + 5 * y] & b[(x + 2) % 5 + 5 * y]);
            }
        }
        // ι
        a[0] ^= round_constant;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// RFC 9861's `ptn(n)`: the bytes 0x00..0xFA repeated, truncated to `n`.
    fn ptn(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn k12_published_vectors() {
        // RFC 9861 §5 (KangarooTwelve, empty customization).
        assert_eq!(
            hex(&k12(&[], 32)),
            "1ac2d450fc3b4205d19da7bfca1b37513c0803577ac7167f06fe2ce1f0ef39e5"
        );
        assert_eq!(
            hex(&k12(&[], 64)),
            "1ac2d450fc3b4205d19da7bfca1b37513c0803577ac7167f06fe2ce1f0ef39e5\
             4269c056b8c82e48276038b6d292966cc07a3d4645272e31ff38508139eb0a71"
        );
        // The last 32 of 10032 output bytes.
        assert_eq!(
            hex(&k12(&[], 10032)[10000..]),
            "e8dc563642f7228c84684c898405d3a834799158c079b12880277a1d28e2ff6d"
        );
        assert_eq!(
            hex(&k12(&ptn(17), 32)),
            "6bf75fa2239198db4772e36478f8e19b0f371205f6a9a93a273f51df37122888"
        );
    }

    /// Outputs computed independently with pycryptodome's `Crypto.Hash.KangarooTwelve`, across the
    /// single-node / tree boundary (S = M || 0x00 is 8192 bytes for an 8191-byte input).
    #[test]
    fn k12_matches_pycryptodome() {
        let cases: &[(usize, &str)] = &[
            (
                1,
                "2bda92450e8b147f8a7cb629e784a058efca7cf7d8218e02d345dfaa65244a1f",
            ),
            (
                289,
                "0c315ebcdedbf61426de7dcf8fb725d1e74675d7f5327a5067f367b108ecb67c",
            ),
            (
                4913,
                "cb552e2ec77d9910701d578b457ddf772c12e322e4ee7fe417f92c758f0d59d0",
            ),
            (
                8191,
                "1b577636f723643e990cc7d6a659837436fd6a103626600eb8301cd1dbe553d6",
            ),
            (
                8192,
                "48f256f6772f9edfb6a8b661ec92dc93b95ebd05a08a17b39ae3490870c926c3",
            ),
            (
                8193,
                "bb66fe72eaea5179418d5295ee1344854d8ad7f3fa17efcb467ec152341284cf",
            ),
            (
                83521,
                "8701045e22205345ff4dda05555cbb5c3af1a771c2b89baef37db43d9998b9fe",
            ),
        ];
        for &(n, expected) in cases {
            assert_eq!(hex(&k12(&ptn(n), 32)), expected, "ptn({n})");
        }
        // Squeezing past one rate block (168 bytes).
        assert_eq!(
            hex(&k12(&[], 200)[168..]),
            "59c7baf61bdc50b732446bcbd7ea72a6a3256bae291c39f79d5cd55aba979d64"
        );
        assert_eq!(
            hex(&k12(b"abc", 64)),
            "ab174f328c55a5510b0b209791bf8b60e801a7cfc2aa42042dcb8f547fbe3a7d\
             3f5b54d116a705d36aac2a7eac7a19e3f0f058cb3c238ac7f034178ae34f212e"
        );
        assert!(k12(b"abc", 0).is_empty());
    }

    /// Identities computed independently (pycryptodome K12 and a Python transcription of the encoding).
    #[test]
    fn identities_match_the_independent_computation() {
        let random: [u8; 32] = [
            0x6a, 0xbb, 0x02, 0xd1, 0xd3, 0xcd, 0x4c, 0xda, 0x5e, 0xee, 0x31, 0x45, 0x90, 0x6f,
            0x29, 0x5f, 0x1f, 0xdf, 0x6e, 0x42, 0x8f, 0xa0, 0x2c, 0x9c, 0x8d, 0x2f, 0x5a, 0xbc,
            0xf5, 0xbb, 0x17, 0x87,
        ];
        let cases: [([u8; 32], &str); 3] = [
            // The well-known Qubic burn address.
            (
                [0u8; 32],
                "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAFXIB",
            ),
            (
                [0xff; 32],
                "PQMUYSXMZCXHLHPQMUYSXMZCXHLHPQMUYSXMZCXHLHPQMUYSXMZCXHLHTGWM",
            ),
            (
                random,
                "EPIMSWIECMTVIGYPQWLNZOMPGWTCHEQOUWZMSXBYNEVGVFUBXPIZEAYDLQHE",
            ),
        ];
        for (key, expected) in cases {
            assert_eq!(identity(&key), expected);
            assert_eq!(parse_identity(expected).unwrap(), key);
        }
    }

    #[test]
    fn parse_identity_refuses_bad_shapes_and_checksums() {
        let good = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAFXIB";
        for bad in [
            "",
            &good[..59],
            &format!("{good}A"),
            &good.to_lowercase(),
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAFXIC", // checksum
            "BAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAFXIB", // key changed
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA1FXIB",
            // 26^14 - 1 > 2^64 - 1: a fragment of all Z overflows.
            "ZZZZZZZZZZZZZZAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAFXIB",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAFXIÉ",
        ] {
            let refusal = parse_identity(bad).unwrap_err();
            assert_eq!(refusal.reason, "invalid_identity", "{bad}");
        }
    }

    #[test]
    fn length_encode_matches_rfc9861() {
        assert_eq!(length_encode(0), [0x00]);
        assert_eq!(length_encode(12), [0x0c, 0x01]);
        assert_eq!(length_encode(65538), [0x01, 0x00, 0x02, 0x03]);
    }
}
