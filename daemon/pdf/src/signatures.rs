//! Reading signature fields and the DSS back, for verification.

use std::collections::HashSet;

use crate::document::Document;
use crate::error::{Result, malformed};
use crate::limits::{MAX_TREE_DEPTH, MAX_TREE_NODES};
use crate::object::{Dict, ObjRef, Object, decode_text};
use crate::update::{Dss, SignatureKind};

/// One signed signature field, as found in the AcroForm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureInfo {
    /// Fully qualified field name (`parent.child`).
    pub field_name: String,
    /// `/Type /Sig` (or absent) vs `/Type /DocTimeStamp`.
    pub kind: SignatureKind,
    /// `/Filter`.
    pub filter: Option<String>,
    /// `/SubFilter`.
    pub sub_filter: Option<String>,
    /// `/M`, as written.
    pub signing_time: Option<String>,
    /// `/Reason`.
    pub reason: Option<String>,
    /// `/Location`.
    pub location: Option<String>,
    /// `/ByteRange` as written (normally four numbers).
    pub byte_range: Vec<u64>,
    /// `/Contents`, trailing padding removed using the outer DER length.
    pub contents: Vec<u8>,
    /// The ByteRange starts at 0, has two ranges whose gap is exactly the `/Contents` hex string
    /// (with its `<>`), and the second range ends at the end of a revision.
    pub byte_range_ok: bool,
    /// End offset of the revision the signature covers, when the ByteRange ends at one.
    pub revision_end: Option<u64>,
    /// The ByteRange reaches the end of the file.
    pub covers_whole_file: bool,
    /// Number of revisions (incremental updates) after the signed one.
    pub revisions_after: usize,
}

/// Called on each field: full name, field dictionary, inherited `/FT`.
type FieldVisitor<'f> = dyn FnMut(String, &Dict, Option<&[u8]>) -> Result<()> + 'f;

/// Walks the field tree from `/Fields`, calling `f(full_name, field, inherited /FT)` on each field.
fn walk_fields(doc: &Document<'_>, form: &Dict, f: &mut FieldVisitor<'_>) -> Result<()> {
    let fields = match form.get(b"Fields") {
        None => return Ok(()),
        Some(o) => match doc.resolve(o)? {
            Object::Array(a) => a,
            Object::Null => return Ok(()),
            _ => return malformed("/AcroForm /Fields is not an array"),
        },
    };
    let mut seen: HashSet<ObjRef> = HashSet::new();
    let mut count = 0usize;
    // (node, parent name, inherited FT, depth)
    let mut stack: Vec<(Object, String, Option<Vec<u8>>, usize)> = fields
        .into_iter()
        .rev()
        .map(|o| (o, String::new(), None, 0))
        .collect();
    while let Some((node, parent, ft, depth)) = stack.pop() {
        count += 1;
        if count > MAX_TREE_NODES || depth > MAX_TREE_DEPTH {
            return malformed("the form field tree exceeds the size or depth limit");
        }
        if let Object::Ref(r) = node
            && !seen.insert(r)
        {
            // A field reached twice (a /Kids loop or a field listed twice) has no single full name.
            return malformed(format!(
                "form field {} {} R is reached twice in the field tree",
                r.num, r.generation
            ));
        }
        let Object::Dict(d) = doc.resolve(&node)? else {
            continue;
        };
        let name = match d.get(b"T").and_then(Object::as_str) {
            Some(t) if parent.is_empty() => decode_text(t),
            Some(t) => format!("{parent}.{}", decode_text(t)),
            None => parent.clone(),
        };
        let ft = d.name(b"FT").map(<[u8]>::to_vec).or(ft);
        f(name.clone(), &d, ft.as_deref())?;
        if let Some(kids) = d.get(b"Kids")
            && let Object::Array(kids) = doc.resolve(kids)?
        {
            for k in kids.into_iter().rev() {
                stack.push((k, name.clone(), ft.clone(), depth + 1));
            }
        }
    }
    Ok(())
}

/// Fully qualified names of every field of the form.
pub(crate) fn field_names(doc: &Document<'_>, form: &Dict) -> Result<HashSet<String>> {
    let mut names = HashSet::new();
    walk_fields(doc, form, &mut |n, d, _| {
        if d.get(b"T").is_some() {
            names.insert(n);
        }
        Ok(())
    })?;
    Ok(names)
}

/// The DER length of the outer TLV at the start of `b`, if it parses and fits.
fn der_len(b: &[u8]) -> Option<usize> {
    if *b.first()? != 0x30 {
        return None;
    }
    let l0 = *b.get(1)? as usize;
    let (hdr, len) = if l0 < 0x80 {
        (2, l0)
    } else {
        let n = l0 & 0x7f;
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = len << 8 | *b.get(2 + i)? as usize;
        }
        (2 + n, len)
    };
    let total = hdr.checked_add(len)?;
    (total <= b.len()).then_some(total)
}

impl Document<'_> {
    /// Every signed signature field of the AcroForm (including `/Kids`), in field order.
    pub fn signatures(&self) -> Result<Vec<SignatureInfo>> {
        let cat = self.catalog()?;
        let form = match cat.get(b"AcroForm") {
            None => return Ok(vec![]),
            Some(o) => match self.resolve(o)? {
                Object::Dict(d) => d,
                _ => return Ok(vec![]),
            },
        };
        let mut out = Vec::new();
        walk_fields(self, &form, &mut |name, d, ft| {
            if ft != Some(b"Sig") {
                return Ok(());
            }
            let Some(v) = d.get(b"V") else { return Ok(()) };
            let Object::Dict(sig) = self.resolve(v)? else {
                return Ok(());
            };
            out.push(self.signature_info(name, &sig));
            Ok(())
        })?;
        Ok(out)
    }

    fn signature_info(&self, field_name: String, sig: &Dict) -> SignatureInfo {
        let text = |k: &[u8]| sig.get(k).and_then(Object::as_str).map(decode_text);
        let name = |k: &[u8]| sig.name(k).map(|n| String::from_utf8_lossy(n).into_owned());
        let byte_range: Vec<u64> = match sig.get(b"ByteRange") {
            Some(Object::Array(a)) => a
                .iter()
                .filter_map(|o| match o {
                    Object::Int(i) if *i >= 0 => Some(*i as u64),
                    _ => None,
                })
                .collect(),
            _ => vec![],
        };
        let raw = sig
            .get(b"Contents")
            .and_then(Object::as_str)
            .unwrap_or(&[])
            .to_vec();
        let contents = match der_len(&raw) {
            Some(n) => raw[..n].to_vec(),
            None => raw[..raw.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1)].to_vec(),
        };
        let len = self.data.len() as u64;
        let mut ok = false;
        let mut revision_end = None;
        let mut covers_whole_file = false;
        let mut revisions_after = 0;
        if let [a, b, c, d] = byte_range[..] {
            let end = c.checked_add(d);
            let gap_ok = a == 0 && b < c && end.is_some_and(|e| e <= len) && {
                let gap = &self.data[b as usize..c as usize];
                gap.len() >= 2
                    && gap[0] == b'<'
                    && gap[gap.len() - 1] == b'>'
                    && gap[1..gap.len() - 1].iter().all(u8::is_ascii_hexdigit)
                    && gap.len() - 2 == raw.len() * 2
                    && hex_matches(&gap[1..gap.len() - 1], &raw)
            };
            if let Some(e) = end {
                covers_whole_file = e == len;
                if let Some(i) = self.revision_at(e) {
                    revision_end = Some(e);
                    revisions_after = self.revisions().len() - 1 - i;
                }
            }
            ok = gap_ok && revision_end.is_some();
        }
        SignatureInfo {
            field_name,
            kind: if sig.name(b"Type") == Some(b"DocTimeStamp") {
                SignatureKind::DocTimeStamp
            } else {
                SignatureKind::Signature
            },
            filter: name(b"Filter"),
            sub_filter: name(b"SubFilter"),
            signing_time: text(b"M"),
            reason: text(b"Reason"),
            location: text(b"Location"),
            byte_range,
            contents,
            byte_range_ok: ok,
            revision_end,
            covers_whole_file,
            revisions_after,
        }
    }

    /// The catalog's `/DSS`, decoded (empty if absent).
    pub fn dss(&self) -> Result<Dss> {
        let cat = self.catalog()?;
        let Some(d) = cat.get(b"DSS") else {
            return Ok(Dss::default());
        };
        let Object::Dict(d) = self.resolve(d)? else {
            return malformed("/DSS is not a dictionary");
        };
        let mut out = Dss::default();
        for (key, dst) in [
            (&b"Certs"[..], &mut out.certs),
            (b"OCSPs", &mut out.ocsps),
            (b"CRLs", &mut out.crls),
        ] {
            let Some(a) = d.get(key) else { continue };
            let Object::Array(a) = self.resolve(a)? else {
                continue;
            };
            // The same stream may be listed any number of times: each is read once, and at most
            // MAX_DSS_ENTRIES of each kind are read.
            let mut seen = Vec::new();
            for item in a {
                let Object::Ref(r) = item else {
                    return malformed("a /DSS entry is not a stream reference");
                };
                if seen.contains(&r) {
                    continue;
                }
                if seen.len() == MAX_DSS_ENTRIES {
                    break;
                }
                seen.push(r);
                let stream = self.get_stream(r)?.1;
                if !dst.contains(&stream) {
                    dst.push(stream);
                }
            }
        }
        Ok(out)
    }
}

/// The most entries of each kind (`/Certs`, `/OCSPs`, `/CRLs`) [`Document::dss`] reads.
const MAX_DSS_ENTRIES: usize = 64;

fn hex_matches(hex: &[u8], raw: &[u8]) -> bool {
    let v = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
    hex.chunks_exact(2)
        .zip(raw)
        .all(|(h, &r)| v(h[0]) << 4 | v(h[1]) == r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_length_trimming() {
        assert_eq!(der_len(&[0x30, 0x03, 1, 2, 3, 0, 0]), Some(5));
        assert_eq!(der_len(&[0x30, 0x82, 0x00, 0x01, 9, 0]), Some(5));
        assert_eq!(der_len(&[0x30, 0x85, 1, 1, 1, 1, 1]), None);
        assert_eq!(der_len(&[0x30, 0x10, 1]), None);
        assert_eq!(der_len(&[]), None);
        assert_eq!(der_len(&[0, 0, 0]), None);
    }
}
