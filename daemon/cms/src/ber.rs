//! Liberal input: rewrites BER as DER so that the strict `der` decoders can read what real TSAs send.
//!
//! The rewrite is the identity on DER, so a DER certificate or signed-attribute block nested inside a BER
//! envelope keeps its exact bytes (and its signature). It does not sort SETs: unsorted and duplicate SET
//! elements are tolerated by [`crate::asn1::SetOf`]'s reader instead, which keeps the received order.

use der::{Decode, Encode, asn1::Any};

/// How deep constructed values may nest before the input is refused (stack safety on hostile input).
const MAX_DEPTH: usize = 48;

/// How a parsed structure was encoded on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireEncoding {
    /// Strict DER.
    Der,
    /// BER that was rewritten to DER before decoding (indefinite or non-minimal lengths, constructed
    /// OCTET STRING or BIT STRING, BOOLEAN TRUE other than 0xFF, non-minimal INTEGER).
    Ber,
}

/// Why a byte string is not even BER.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BerError {
    /// The input ends inside a tag, length or value.
    #[error("truncated at byte {0}")]
    Truncated(usize),
    /// A length is longer than the rest of the input or than this module accepts.
    #[error("invalid length at byte {0}")]
    InvalidLength(usize),
    /// An indefinite length on a primitive value, or an end-of-contents marker where none may stand.
    #[error("misplaced indefinite length or end-of-contents at byte {0}")]
    Indefinite(usize),
    /// Constructed values nest deeper than this module accepts.
    #[error("nesting deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// A constructed string holds something other than segments of its own type.
    #[error("invalid constructed string segment at byte {0}")]
    BadSegment(usize),
    /// Bytes follow the outermost value.
    #[error("{0} trailing bytes after the value")]
    TrailingData(usize),
}

/// Rewrites one BER value (and nothing after it) as DER.
///
/// # Errors
/// [`BerError`] when the input is not one complete BER value.
pub fn normalize(input: &[u8]) -> Result<Vec<u8>, BerError> {
    let mut out = Vec::with_capacity(input.len());
    let end = element(input, 0, 0, &mut out)?;
    if end != input.len() {
        return Err(BerError::TrailingData(input.len() - end));
    }
    Ok(out)
}

/// Decodes `T` strictly, and when that fails, once more from the DER rewrite of the input. The strict
/// error is the one reported when both fail, because it points at the received bytes.
///
/// # Errors
/// The strict decoder's error when neither the input nor its rewrite decodes as `T`.
pub fn decode_liberal<T>(input: &[u8]) -> Result<(T, WireEncoding), der::Error>
where
    T: for<'a> Decode<'a, Error = der::Error>,
{
    match T::from_der(input) {
        Ok(value) => Ok((value, WireEncoding::Der)),
        Err(strict) => match normalize(input) {
            Ok(rewritten) if rewritten != input => T::from_der(&rewritten)
                .map(|value| (value, WireEncoding::Ber))
                .map_err(|_| strict),
            _ => Err(strict),
        },
    }
}

/// [`decode_liberal`] for a value held as [`Any`] inside an outer structure.
///
/// # Errors
/// As [`decode_liberal`].
pub fn decode_any<T>(any: &Any) -> Result<(T, WireEncoding), der::Error>
where
    T: for<'a> Decode<'a, Error = der::Error>,
{
    decode_liberal(&any.to_der()?)
}

struct Header {
    tag: Vec<u8>,
    constructed: bool,
    /// `None` for an indefinite length.
    length: Option<usize>,
    /// Offset of the first content byte.
    content: usize,
}

fn header(input: &[u8], start: usize) -> Result<Header, BerError> {
    let first = *input.get(start).ok_or(BerError::Truncated(start))?;
    let mut pos = start + 1;
    if first & 0x1F == 0x1F {
        // High tag number form: base-128 digits, the last without its top bit. Four digits cover every
        // tag number in use; more is refused rather than overflowing.
        loop {
            let byte = *input.get(pos).ok_or(BerError::Truncated(pos))?;
            pos += 1;
            if byte & 0x80 == 0 {
                break;
            }
            if pos - start > 5 {
                return Err(BerError::InvalidLength(pos));
            }
        }
    }
    let tag = input[start..pos].to_vec();
    let constructed = first & 0x20 != 0;
    let length_byte = *input.get(pos).ok_or(BerError::Truncated(pos))?;
    pos += 1;
    let length = match length_byte {
        0x00..=0x7F => Some(usize::from(length_byte)),
        0x80 => {
            if !constructed {
                return Err(BerError::Indefinite(pos - 1));
            }
            None
        }
        0xFF => return Err(BerError::InvalidLength(pos - 1)),
        _ => {
            // Long form, possibly with leading zero octets (non-minimal: BER allows it, DER does not).
            let count = usize::from(length_byte & 0x7F);
            let bytes = input
                .get(pos..pos + count)
                .ok_or(BerError::Truncated(pos))?;
            pos += count;
            let mut value: usize = 0;
            for &byte in bytes {
                if value > (usize::MAX >> 8) {
                    return Err(BerError::InvalidLength(pos));
                }
                value = (value << 8) | usize::from(byte);
            }
            Some(value)
        }
    };
    if let Some(length) = length
        && length > input.len().saturating_sub(pos)
    {
        return Err(BerError::Truncated(input.len()));
    }
    Ok(Header {
        tag,
        constructed,
        length,
        content: pos,
    })
}

/// Rewrites the element at `start`, appending DER to `out`; returns the offset just past it.
fn element(input: &[u8], start: usize, depth: usize, out: &mut Vec<u8>) -> Result<usize, BerError> {
    if depth > MAX_DEPTH {
        return Err(BerError::TooDeep);
    }
    let head = header(input, start)?;
    if head.tag == [0x00] {
        // End-of-contents outside an indefinite-length value.
        return Err(BerError::Indefinite(start));
    }
    let (content, end) = if head.constructed {
        let mut children = Vec::new();
        let end = match head.length {
            Some(length) => {
                let limit = head.content + length;
                let mut pos = head.content;
                while pos < limit {
                    pos = element(&input[..limit], pos, depth + 1, &mut children)?;
                }
                limit
            }
            None => {
                let mut pos = head.content;
                loop {
                    match input.get(pos..pos + 2) {
                        Some([0x00, 0x00]) => break pos + 2,
                        Some(_) => pos = element(input, pos, depth + 1, &mut children)?,
                        None => return Err(BerError::Truncated(input.len())),
                    }
                }
            }
        };
        (children, end)
    } else {
        let length = head.length.unwrap_or_default();
        let value = &input[head.content..head.content + length];
        (primitive(head.tag[0], value), head.content + length)
    };

    let (tag, content) = match (head.tag.as_slice(), head.constructed) {
        // Constructed OCTET STRING: concatenate the (already rewritten, hence primitive) segments.
        ([0x24], true) => (vec![0x04], join_segments(&content, 0x04, start)?),
        // Constructed BIT STRING: segments other than the last carry no unused bits.
        ([0x23], true) => (vec![0x03], join_bit_segments(&content, start)?),
        _ => (head.tag, content),
    };
    out.extend_from_slice(&tag);
    write_length(content.len(), out);
    out.extend_from_slice(&content);
    Ok(end)
}

/// Fixes the primitive encodings DER narrows: BOOLEAN TRUE must be 0xFF and INTEGER must be minimal.
fn primitive(tag: u8, value: &[u8]) -> Vec<u8> {
    match (tag, value) {
        (0x01, [byte]) if *byte != 0 => vec![0xFF],
        (0x02, _) => {
            let mut start = 0;
            while start + 1 < value.len()
                && ((value[start] == 0x00 && value[start + 1] & 0x80 == 0)
                    || (value[start] == 0xFF && value[start + 1] & 0x80 != 0))
            {
                start += 1;
            }
            value[start..].to_vec()
        }
        _ => value.to_vec(),
    }
}

/// Splits rewritten DER into its top-level (tag, value) pairs; only used on this module's own output.
fn segments(der: &[u8], at: usize) -> Result<Vec<(u8, &[u8])>, BerError> {
    let mut list = Vec::new();
    let mut pos = 0;
    while pos < der.len() {
        let head = header(der, pos).map_err(|_| BerError::BadSegment(at))?;
        let length = head.length.ok_or(BerError::BadSegment(at))?;
        if head.tag.len() != 1 {
            return Err(BerError::BadSegment(at));
        }
        list.push((head.tag[0], &der[head.content..head.content + length]));
        pos = head.content + length;
    }
    Ok(list)
}

fn join_segments(content: &[u8], tag: u8, at: usize) -> Result<Vec<u8>, BerError> {
    let mut joined = Vec::new();
    for (segment_tag, value) in segments(content, at)? {
        if segment_tag != tag {
            return Err(BerError::BadSegment(at));
        }
        joined.extend_from_slice(value);
    }
    Ok(joined)
}

fn join_bit_segments(content: &[u8], at: usize) -> Result<Vec<u8>, BerError> {
    let parts = segments(content, at)?;
    let mut joined = vec![0u8];
    for (index, (segment_tag, value)) in parts.iter().enumerate() {
        let (&unused, bits) = value.split_first().ok_or(BerError::BadSegment(at))?;
        if *segment_tag != 0x03 || (unused != 0 && index + 1 != parts.len()) || unused > 7 {
            return Err(BerError::BadSegment(at));
        }
        joined[0] = unused;
        joined.extend_from_slice(bits);
    }
    Ok(joined)
}

/// Appends a minimal DER length.
fn write_length(length: usize, out: &mut Vec<u8>) {
    if length < 0x80 {
        out.push(length as u8);
    } else {
        let bytes = length.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_is_left_alone() {
        let der = [0x30, 0x06, 0x02, 0x01, 0x05, 0x01, 0x01, 0xFF];
        assert_eq!(normalize(&der).unwrap(), der);
    }

    #[test]
    fn rewrites_ber_forms() {
        // Each row: BER input, expected DER.
        let table: &[(&[u8], &[u8])] = &[
            // Indefinite-length SEQUENCE.
            (
                &[0x30, 0x80, 0x02, 0x01, 0x05, 0x00, 0x00],
                &[0x30, 0x03, 0x02, 0x01, 0x05],
            ),
            // Non-minimal long-form length.
            (
                &[0x30, 0x82, 0x00, 0x03, 0x02, 0x01, 0x05],
                &[0x30, 0x03, 0x02, 0x01, 0x05],
            ),
            // Constructed OCTET STRING, itself indefinite.
            (
                &[
                    0x24, 0x80, 0x04, 0x01, 0xAA, 0x04, 0x02, 0xBB, 0xCC, 0x00, 0x00,
                ],
                &[0x04, 0x03, 0xAA, 0xBB, 0xCC],
            ),
            // BOOLEAN TRUE as 0x01.
            (&[0x01, 0x01, 0x01], &[0x01, 0x01, 0xFF]),
            // Non-minimal INTEGER.
            (&[0x02, 0x03, 0x00, 0x00, 0x7F], &[0x02, 0x01, 0x7F]),
            // Constructed BIT STRING.
            (
                &[0x23, 0x08, 0x03, 0x02, 0x00, 0xAA, 0x03, 0x02, 0x04, 0xB0],
                &[0x03, 0x03, 0x04, 0xAA, 0xB0],
            ),
        ];
        for (ber, der) in table {
            assert_eq!(normalize(ber).unwrap(), *der, "input {ber:02x?}");
        }
    }

    #[test]
    fn refuses_broken_input() {
        let table: &[(&[u8], BerError)] = &[
            (&[], BerError::Truncated(0)),
            (&[0x30], BerError::Truncated(1)),
            (&[0x30, 0x05, 0x02], BerError::Truncated(3)),
            (&[0x04, 0x80, 0x00, 0x00], BerError::Indefinite(1)),
            (&[0x30, 0x80, 0x02, 0x01, 0x05], BerError::Truncated(5)),
            (&[0x30, 0x00, 0xFF], BerError::TrailingData(1)),
            (&[0x00, 0x00], BerError::Indefinite(0)),
        ];
        for (input, expected) in table {
            assert_eq!(
                normalize(input).unwrap_err(),
                *expected,
                "input {input:02x?}"
            );
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let mut input = Vec::new();
        for _ in 0..10_000 {
            input.extend_from_slice(&[0x30, 0x80]);
        }
        assert_eq!(normalize(&input).unwrap_err(), BerError::TooDeep);
    }
}
