//! Arbitrary-length ASN.1 INTEGERs as they appear in serial numbers and nonces, with the decimal and hex
//! renderings the API reports, and random generation for new serials and nonces.

use core::fmt;

use der::asn1::Int;

/// A signed ASN.1 INTEGER of any length (serial numbers, nonces).
///
/// Two values are equal when their minimal two's-complement encodings are equal, which is how a nonce
/// echoed by a TSA is compared with the one sent.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct BigInteger {
    /// Minimal big-endian two's-complement bytes, never empty.
    twos_complement: Vec<u8>,
}

impl BigInteger {
    /// A non-negative integer from big-endian unsigned bytes (leading zeros allowed; empty means zero).
    #[must_use]
    pub fn from_unsigned_bytes(bytes: &[u8]) -> Self {
        let significant = &bytes[bytes.iter().take_while(|&&b| b == 0).count()..];
        let mut twos_complement = Vec::with_capacity(significant.len() + 1);
        if significant.first().is_none_or(|&b| b & 0x80 != 0) {
            twos_complement.push(0);
        }
        twos_complement.extend_from_slice(significant);
        Self { twos_complement }
    }

    /// A positive integer of `bytes` random bytes from the operating system's CSPRNG (`bytes * 8 - 1` bits
    /// of entropy: the top bit is cleared to keep the encoding at `bytes` octets).
    ///
    /// # Errors
    /// Fails only if the operating system's random source fails.
    pub fn random_positive(bytes: usize) -> Result<Self, getrandom::Error> {
        let mut buffer = vec![0u8; bytes.max(1)];
        loop {
            getrandom::fill(&mut buffer)?;
            buffer[0] &= 0x7F;
            if buffer.iter().any(|&b| b != 0) {
                return Ok(Self::from_unsigned_bytes(&buffer));
            }
        }
    }

    /// The value of a decoded INTEGER.
    #[must_use]
    pub fn from_int(int: &Int) -> Self {
        Self::from_twos_complement(int.as_bytes())
    }

    /// A value from big-endian two's-complement bytes, minimal or not (empty means zero).
    #[must_use]
    pub fn from_twos_complement(bytes: &[u8]) -> Self {
        if bytes.is_empty() {
            return Self {
                twos_complement: vec![0],
            };
        }
        let mut start = 0;
        while start + 1 < bytes.len()
            && ((bytes[start] == 0x00 && bytes[start + 1] & 0x80 == 0)
                || (bytes[start] == 0xFF && bytes[start + 1] & 0x80 != 0))
        {
            start += 1;
        }
        Self {
            twos_complement: bytes[start..].to_vec(),
        }
    }

    /// The value as an INTEGER to encode.
    #[must_use]
    pub fn to_int(&self) -> Int {
        // The bytes are minimal and non-empty by construction, which is all `Int::new` checks.
        Int::new(&self.twos_complement).unwrap_or_else(|_| unreachable_int())
    }

    /// Minimal big-endian two's-complement bytes (the DER INTEGER contents).
    #[must_use]
    pub fn as_twos_complement(&self) -> &[u8] {
        &self.twos_complement
    }

    /// Whether the value is below zero.
    #[must_use]
    pub fn is_negative(&self) -> bool {
        self.twos_complement[0] & 0x80 != 0
    }

    /// Big-endian magnitude without leading zeros (empty for zero).
    #[must_use]
    pub fn magnitude(&self) -> Vec<u8> {
        let mut bytes = self.twos_complement.clone();
        if self.is_negative() {
            // Two's complement negation: invert and add one.
            for byte in &mut bytes {
                *byte = !*byte;
            }
            for byte in bytes.iter_mut().rev() {
                let (sum, carry) = byte.overflowing_add(1);
                *byte = sum;
                if !carry {
                    break;
                }
            }
        }
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        bytes.split_off(skip)
    }

    /// Lowercase hex of the magnitude, `-` first when negative, `0` for zero.
    #[must_use]
    pub fn to_hex(&self) -> String {
        let magnitude = self.magnitude();
        if magnitude.is_empty() {
            return "0".to_owned();
        }
        let sign = if self.is_negative() { "-" } else { "" };
        format!("{sign}{}", crate::hex(&magnitude))
    }

    /// Decimal rendering, `-` first when negative.
    #[must_use]
    pub fn to_decimal(&self) -> String {
        // Schoolbook base conversion: fine for the at most a few dozen bytes of a serial or nonce.
        let mut digits: Vec<u8> = vec![0];
        for byte in self.magnitude() {
            let mut carry = u32::from(byte);
            for digit in &mut digits {
                let value = u32::from(*digit) * 256 + carry;
                *digit = (value % 10) as u8;
                carry = value / 10;
            }
            while carry > 0 {
                digits.push((carry % 10) as u8);
                carry /= 10;
            }
        }
        while digits.len() > 1 && digits.last() == Some(&0) {
            digits.pop();
        }
        let sign = if self.is_negative() { "-" } else { "" };
        let body: String = digits.iter().rev().map(|d| char::from(b'0' + d)).collect();
        format!("{sign}{body}")
    }

    /// Number of octets in the DER encoding of the contents.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        self.twos_complement.len()
    }
}

#[cold]
fn unreachable_int() -> Int {
    // `Int::new` accepts every non-empty minimal two's-complement string, so this is never reached; a
    // zero is still a valid INTEGER if it ever were.
    Int::new(&[0]).unwrap_or_else(|_| unreachable_int())
}

impl fmt::Debug for BigInteger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BigInteger(0x{})", self.to_hex())
    }
}

impl fmt::Display for BigInteger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_decimal())
    }
}

impl From<u64> for BigInteger {
    fn from(value: u64) -> Self {
        Self::from_unsigned_bytes(&value.to_be_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_decimal_and_hex() {
        let table: &[(&[u8], &str, &str)] = &[
            (&[0x00], "0", "0"),
            (&[0x01], "1", "01"),
            (&[0x00, 0xFF], "255", "ff"),
            (&[0xFF], "-1", "-01"),
            (&[0x80], "-128", "-80"),
            (&[0x01, 0x00], "256", "0100"),
            (
                &[0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
                "18446744073709551615",
                "ffffffffffffffff",
            ),
        ];
        for (bytes, decimal, hex) in table {
            let value = BigInteger::from_twos_complement(bytes);
            assert_eq!(value.to_decimal(), *decimal, "{bytes:02x?}");
            assert_eq!(value.to_hex(), *hex, "{bytes:02x?}");
        }
    }

    #[test]
    fn unsigned_bytes_gain_a_sign_octet_when_needed() {
        assert_eq!(
            BigInteger::from_unsigned_bytes(&[0x80]).as_twos_complement(),
            [0x00, 0x80]
        );
        assert_eq!(
            BigInteger::from_unsigned_bytes(&[0x00, 0x7F]).as_twos_complement(),
            [0x7F]
        );
        assert_eq!(
            BigInteger::from_unsigned_bytes(&[]).as_twos_complement(),
            [0x00]
        );
        assert_eq!(BigInteger::from(1u64).to_decimal(), "1");
    }

    #[test]
    fn random_values_are_positive_and_sized() {
        for _ in 0..32 {
            let value = BigInteger::random_positive(16).unwrap();
            assert!(!value.is_negative());
            assert!(value.encoded_len() <= 16);
        }
    }
}
