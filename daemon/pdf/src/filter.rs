//! Stream decoding: FlateDecode with PNG/TIFF-free predictors, under a size bound.

use crate::error::{PdfError, Result, malformed};
use crate::object::{Dict, Object};

/// Decodes `raw` according to the stream dictionary's `/Filter` and `/DecodeParms`.
/// Only no filter and `/FlateDecode` (optionally with PNG predictors 10-15) are supported.
pub(crate) fn decode(dict: &Dict, raw: &[u8], limit: usize) -> Result<Vec<u8>> {
    let filters: Vec<&[u8]> = match dict.get(b"Filter") {
        None => vec![],
        Some(Object::Name(n)) => vec![n],
        Some(Object::Array(a)) => a
            .iter()
            .map(|o| match o {
                Object::Name(n) => Ok(n.as_slice()),
                _ => malformed("/Filter array holds a non-name"),
            })
            .collect::<Result<_>>()?,
        Some(_) => return malformed("/Filter is neither a name nor an array"),
    };
    let parms: Option<&Dict> = match dict.get(b"DecodeParms") {
        Some(Object::Dict(d)) => Some(d),
        Some(Object::Array(a)) => a.first().and_then(|o| o.as_dict()),
        _ => None,
    };
    match filters.as_slice() {
        [] => {
            if raw.len() > limit {
                return malformed("stream larger than the decode limit");
            }
            Ok(raw.to_vec())
        }
        [b"FlateDecode" | b"Fl"] => {
            let out = inflate(raw, limit)?;
            match parms {
                Some(p) => unpredict(p, out),
                None => Ok(out),
            }
        }
        other => Err(PdfError::Unsupported(format!(
            "stream filter {:?} (only FlateDecode is read)",
            other
                .iter()
                .map(|f| String::from_utf8_lossy(f).into_owned())
                .collect::<Vec<_>>()
        ))),
    }
}

fn inflate(raw: &[u8], limit: usize) -> Result<Vec<u8>> {
    use miniz_oxide::inflate::{TINFLStatus, decompress_to_vec_zlib_with_limit};
    match decompress_to_vec_zlib_with_limit(raw, limit) {
        Ok(v) => Ok(v),
        Err(e) if e.status == TINFLStatus::HasMoreOutput => {
            malformed(format!("Flate stream inflates past the {limit}-byte limit"))
        }
        // A truncated stream is refused rather than half-read: pyHanko refuses it too, and an
        // incremental update on top of an xref we only partly read would hide objects.
        Err(e) if e.status == TINFLStatus::FailedCannotMakeProgress => {
            malformed("Flate stream is truncated")
        }
        Err(e) => malformed(format!("Flate stream does not decode ({:?})", e.status)),
    }
}

fn unpredict(p: &Dict, data: Vec<u8>) -> Result<Vec<u8>> {
    let predictor = p.int(b"Predictor").unwrap_or(1);
    if predictor == 1 {
        return Ok(data);
    }
    if !(10..=15).contains(&predictor) {
        return Err(PdfError::Unsupported(format!("predictor {predictor}")));
    }
    let colors = p.int(b"Colors").unwrap_or(1);
    let bpc = p.int(b"BitsPerComponent").unwrap_or(8);
    let columns = p.int(b"Columns").unwrap_or(1);
    if !(1..=32).contains(&colors)
        || ![1, 2, 4, 8, 16].contains(&bpc)
        || !(1..=1 << 20).contains(&columns)
    {
        return malformed("predictor parameters out of range");
    }
    let bpp = ((colors * bpc + 7) / 8) as usize;
    let row = ((columns * colors * bpc + 7) / 8) as usize;
    let mut out = Vec::with_capacity(data.len());
    let mut prev = vec![0u8; row];
    for chunk in data.chunks(row + 1) {
        let kind = chunk[0];
        let mut cur = chunk[1..].to_vec();
        cur.resize(row, 0);
        for i in 0..row {
            let left = if i >= bpp { cur[i - bpp] } else { 0 };
            let up = prev[i];
            let upleft = if i >= bpp { prev[i - bpp] } else { 0 };
            cur[i] = match kind {
                0 => cur[i],
                1 => cur[i].wrapping_add(left),
                2 => cur[i].wrapping_add(up),
                3 => cur[i].wrapping_add(((left as u16 + up as u16) / 2) as u8),
                4 => cur[i].wrapping_add(paeth(left, up, upleft)),
                k => return malformed(format!("PNG predictor row type {k}")),
            };
        }
        let take = chunk.len() - 1;
        out.extend_from_slice(&cur[..take.min(row)]);
        prev = cur;
    }
    Ok(out)
}

fn paeth(a: u8, b: u8, c: u8) -> u8 {
    let p = a as i16 + b as i16 - c as i16;
    let (pa, pb, pc) = (
        (p - a as i16).abs(),
        (p - b as i16).abs(),
        (p - c as i16).abs(),
    );
    if pa <= pb && pa <= pc {
        a
    } else if pb <= pc {
        b
    } else {
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_up_predictor() {
        // Two rows of 3 columns, filter type 2 (Up).
        let enc = [2u8, 1, 2, 3, 2, 1, 1, 1];
        let mut p = Dict::default();
        p.set(b"Predictor", Object::Int(12));
        p.set(b"Columns", Object::Int(3));
        assert_eq!(unpredict(&p, enc.to_vec()).unwrap(), vec![1, 2, 3, 2, 3, 4]);
    }

    #[test]
    fn inflate_bomb_is_bounded() {
        let big = vec![0u8; 1 << 20];
        let z = miniz_oxide::deflate::compress_to_vec_zlib(&big, 6);
        assert!(matches!(inflate(&z, 1000), Err(PdfError::Malformed(_))));
        assert_eq!(inflate(&z, 2 << 20).unwrap().len(), 1 << 20);
    }
}
