//! Incremental updates: the original bytes, then new and rewritten objects, then one xref
//! section of the same kind as the previous one.

use std::collections::HashSet;
use std::hash::{BuildHasher, Hasher};

use crate::document::{Document, XrefKind};
use crate::error::{PdfError, Result, malformed};
use crate::object::{Dict, ObjRef, Object, text_string, write_dict, write_object};

/// Keys of an xref stream dictionary that describe the stream itself, not the document.
const STREAM_KEYS: &[&[u8]] = &[
    b"Type",
    b"W",
    b"Index",
    b"Length",
    b"Filter",
    b"DecodeParms",
    b"F",
    b"FFilter",
    b"FDecodeParms",
    b"DL",
];

/// Collects the objects of one incremental update and writes it.
pub(crate) struct Update<'d, 'a> {
    doc: &'d Document<'a>,
    next_num: u32,
    objects: Vec<(ObjRef, Vec<u8>)>,
}

/// Where things landed in the written update.
pub(crate) struct Written {
    pub bytes: Vec<u8>,
    /// Offset in `bytes` of each object's body (same order as added).
    pub body_offsets: Vec<usize>,
}

impl<'d, 'a> Update<'d, 'a> {
    pub fn new(doc: &'d Document<'a>) -> Self {
        Update {
            doc,
            next_num: doc.size().max(1),
            objects: Vec::new(),
        }
    }

    /// Reserves a fresh object number.
    pub fn alloc(&mut self) -> ObjRef {
        let r = ObjRef {
            num: self.next_num,
            generation: 0,
        };
        self.next_num += 1;
        r
    }

    /// Adds (or rewrites, for an existing reference) an object with the given serialized body.
    /// Returns its index for [`Written::body_offsets`].
    /// A second put of the same reference replaces the first in place (indexes stay valid).
    pub fn put_raw(&mut self, r: ObjRef, body: Vec<u8>) -> usize {
        if let Some(i) = self.objects.iter().position(|(o, _)| *o == r) {
            self.objects[i].1 = body;
            return i;
        }
        self.objects.push((r, body));
        self.objects.len() - 1
    }

    /// Adds or rewrites an object.
    pub fn put(&mut self, r: ObjRef, obj: &Object) -> usize {
        let mut body = Vec::new();
        write_object(&mut body, obj);
        self.put_raw(r, body)
    }

    /// Writes the original file, the objects, the xref section and trailer.
    pub fn finish(mut self) -> Result<Written> {
        let doc = self.doc;
        if self.next_num > crate::limits::MAX_OBJECT_NUMBER {
            return Err(PdfError::Unsupported(format!(
                "the update would need object numbers above {} (trailer /Size is {})",
                crate::limits::MAX_OBJECT_NUMBER,
                doc.size()
            )));
        }
        let mut out = Vec::with_capacity(doc.data.len() + 16 * 1024);
        out.extend_from_slice(doc.data);
        if !matches!(out.last(), Some(b'\n' | b'\r')) {
            out.push(b'\n');
        }
        let mut offsets = Vec::with_capacity(self.objects.len() + 1);
        let mut body_offsets = Vec::with_capacity(self.objects.len());
        for (r, body) in &self.objects {
            offsets.push((r.num, r.generation, out.len() as u64));
            out.extend_from_slice(format!("{} {} obj\n", r.num, r.generation).as_bytes());
            body_offsets.push(out.len());
            out.extend_from_slice(body);
            out.extend_from_slice(b"\nendobj\n");
        }

        let mut trailer = doc.trailer.clone();
        trailer.remove(b"Prev");
        trailer.remove(b"XRefStm");
        for k in STREAM_KEYS {
            trailer.remove(k);
        }
        trailer.set(b"Prev", Object::Int(doc.startxref as i64));
        // /ID: keep the first element, renew the second (ISO 32000-1, 14.4); create both if absent.
        let fresh = fresh_id(out.len());
        let id0 = match trailer.get(b"ID") {
            Some(Object::Array(a)) if a.len() == 2 && a[0].as_str().is_some() => a[0].clone(),
            _ => Object::HexStr(fresh.clone()),
        };
        trailer.set(b"ID", Object::Array(vec![id0, Object::HexStr(fresh)]));

        let xref_at = out.len() as u64;
        match doc.kind {
            // A hybrid file's newest section is a table: a table again keeps pre-1.5 readers working
            // (they see the table chain) while 1.5 readers still reach the /XRefStm of the older section.
            XrefKind::Table | XrefKind::Hybrid => {
                let size = self.next_num;
                trailer.set(b"Size", Object::Int(size as i64));
                offsets.sort_unstable();
                out.extend_from_slice(b"xref\n");
                for run in runs(&offsets) {
                    out.extend_from_slice(format!("{} {}\n", run[0].0, run.len()).as_bytes());
                    for (_, g, off) in run {
                        out.extend_from_slice(format!("{off:010} {g:05} n\r\n").as_bytes());
                    }
                }
                out.extend_from_slice(b"trailer\n");
                write_dict(&mut out, &trailer);
                out.push(b'\n');
            }
            XrefKind::Stream => {
                let me = self.alloc();
                let size = self.next_num;
                offsets.push((me.num, 0, xref_at));
                offsets.sort_unstable();
                let owidth = (8 - (xref_at.max(1).leading_zeros() / 8) as usize).max(1);
                let mut rows = Vec::new();
                let mut index = Vec::new();
                for run in runs(&offsets) {
                    index.push(Object::Int(run[0].0 as i64));
                    index.push(Object::Int(run.len() as i64));
                    for (_, g, off) in run {
                        rows.push(1u8);
                        rows.extend_from_slice(&off.to_be_bytes()[8 - owidth..]);
                        rows.extend_from_slice(&g.to_be_bytes());
                    }
                }
                let mut d = Dict::default();
                d.set(b"Type", Object::Name(b"XRef".to_vec()));
                d.set(b"Size", Object::Int(size as i64));
                d.set(
                    b"W",
                    Object::Array(vec![
                        Object::Int(1),
                        Object::Int(owidth as i64),
                        Object::Int(2),
                    ]),
                );
                d.set(b"Index", Object::Array(index));
                d.set(b"Length", Object::Int(rows.len() as i64));
                for (k, v) in trailer.0 {
                    if k != b"Size" {
                        d.set(&k, v);
                    }
                }
                out.extend_from_slice(format!("{} 0 obj\n", me.num).as_bytes());
                write_dict(&mut out, &d);
                out.extend_from_slice(b"\nstream\n");
                out.extend_from_slice(&rows);
                out.extend_from_slice(b"\nendstream\nendobj\n");
            }
        }
        out.extend_from_slice(format!("startxref\n{xref_at}\n%%EOF\n").as_bytes());
        Ok(Written {
            bytes: out,
            body_offsets,
        })
    }
}

/// Runs of consecutive object numbers (one xref subsection each).
fn runs(sorted: &[(u32, u16, u64)]) -> Vec<&[(u32, u16, u64)]> {
    let mut v = Vec::new();
    let mut start = 0;
    for i in 1..=sorted.len() {
        if i == sorted.len() || sorted[i].0 != sorted[i - 1].0 + 1 {
            v.push(&sorted[start..i]);
            start = i;
        }
    }
    v
}

/// 16 bytes for the second /ID element: unique per update, not secret.
fn fresh_id(salt: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(16);
    for i in 0..2u64 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_usize(salt);
        h.write_u64(i);
        if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            h.write_u128(t.as_nanos());
        }
        v.extend_from_slice(&h.finish().to_be_bytes());
    }
    v
}

// ---------------------------------------------------------------- signature placeholders

/// What kind of signature dictionary to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureKind {
    /// `/Type /Sig /SubFilter /ETSI.CAdES.detached` (PAdES baseline signature).
    Signature,
    /// `/Type /DocTimeStamp /SubFilter /ETSI.RFC3161` (PAdES document timestamp).
    DocTimeStamp,
}

/// What [`prepare_signature`] writes.
#[derive(Debug, Clone)]
pub struct SignatureSpec {
    /// Signature or document timestamp.
    pub kind: SignatureKind,
    /// Capacity of `/Contents` in bytes of DER (the hex placeholder is twice as long, plus `<>`).
    pub contents_capacity: usize,
    /// Field name (`/T`); `None` picks the first free `Signature<N>`. Must not contain `.`.
    pub field_name: Option<String>,
    /// `/M`, a PDF date such as `D:20260101120000Z` (see [`pdf_date`]). Signatures only.
    /// PAdES baseline (EN 319 142-1, B-B) puts the claimed signing time here and wants no
    /// `signing-time` attribute in the CMS (pyHanko 0.38 accepts one, but the profile does not).
    pub signing_time: Option<String>,
    /// `/Reason`. Signatures only.
    pub reason: Option<String>,
    /// `/Location`. Signatures only.
    pub location: Option<String>,
    /// `/ContactInfo`. Signatures only.
    pub contact_info: Option<String>,
    /// `/Name`. Signatures only.
    pub name: Option<String>,
}

impl SignatureSpec {
    /// A spec with only the kind and the capacity set.
    pub fn new(kind: SignatureKind, contents_capacity: usize) -> Self {
        SignatureSpec {
            kind,
            contents_capacity,
            field_name: None,
            signing_time: None,
            reason: None,
            location: None,
            contact_info: None,
            name: None,
        }
    }
}

/// Formats seconds since the Unix epoch (UTC) as a PDF date `D:YYYYMMDDHHmmSSZ`.
pub fn pdf_date(unix_secs: i64) -> String {
    let days = unix_secs.div_euclid(86_400);
    let secs = unix_secs.rem_euclid(86_400);
    // Civil from days (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "D:{y:04}{m:02}{d:02}{:02}{:02}{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Width reserved for the `/ByteRange` array so its numbers can be filled in after layout.
const BYTE_RANGE_WIDTH: usize = 48;
/// Upper bound on `/Contents` capacity (bytes of DER).
pub const MAX_CONTENTS_CAPACITY: usize = 1 << 20;

/// An incremental update holding a signature placeholder, ready for [`Prepared::embed`].
#[derive(Debug, Clone)]
pub struct Prepared {
    bytes: Vec<u8>,
    byte_range: [u64; 4],
    field_name: String,
}

impl Prepared {
    /// The whole prepared file (original bytes, then the update, `/Contents` still zeros).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
    /// `/ByteRange` as written: `[0, contents_start, contents_end, rest_len]`.
    pub fn byte_range(&self) -> [u64; 4] {
        self.byte_range
    }
    /// The field name the signature was written under.
    pub fn field_name(&self) -> &str {
        &self.field_name
    }
    /// Capacity of the placeholder in bytes of DER.
    pub fn capacity(&self) -> usize {
        ((self.byte_range[2] - self.byte_range[1] - 2) / 2) as usize
    }
    /// The two slices the signature covers, in order: hash them, in that order, with any digest.
    pub fn signed_ranges(&self) -> impl Iterator<Item = &[u8]> {
        let [a, b, c, d] = self.byte_range.map(|x| x as usize);
        [&self.bytes[a..a + b], &self.bytes[c..c + d]].into_iter()
    }
    /// Writes `der` as hex into the placeholder (the rest stays zero) and returns the file.
    pub fn embed(self, der: &[u8]) -> Result<Vec<u8>> {
        let capacity = self.capacity();
        if der.len() > capacity {
            return Err(PdfError::ContentsTooSmall {
                needed: der.len(),
                capacity,
            });
        }
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut bytes = self.bytes;
        let start = self.byte_range[1] as usize + 1;
        for (i, b) in der.iter().enumerate() {
            bytes[start + 2 * i] = HEX[(b >> 4) as usize];
            bytes[start + 2 * i + 1] = HEX[(b & 15) as usize];
        }
        Ok(bytes)
    }
}

/// The AcroForm as the update sees it, and how to write it back.
enum FormSlot {
    /// `/AcroForm n 0 R`: rewrite that object.
    Indirect(ObjRef),
    /// Inline in the catalog, or absent: a new AcroForm object and a rewritten catalog.
    InCatalog,
}

/// Writes an incremental update with an empty signature field whose `/Contents` is a placeholder.
pub fn prepare_signature(doc: &Document<'_>, spec: &SignatureSpec) -> Result<Prepared> {
    if spec.contents_capacity == 0 || spec.contents_capacity > MAX_CONTENTS_CAPACITY {
        return Err(PdfError::InvalidSpec(format!(
            "contents capacity must be between 1 and {MAX_CONTENTS_CAPACITY} bytes"
        )));
    }
    if let Some(m) = &spec.signing_time
        && (!m.starts_with("D:") || m.len() < 6 || !m.is_ascii())
    {
        return Err(PdfError::InvalidSpec(
            "signing time is not a PDF date (D:YYYYMMDDHHmmSS...)".into(),
        ));
    }
    let root = doc.root_ref();
    let mut catalog = doc.catalog()?;
    if spec.kind == SignatureKind::Signature && doc_mdp_permissions(doc, &catalog)? == Some(1) {
        return Err(PdfError::Unsupported(
            "the document is certified with DocMDP /P 1: no further signature is permitted".into(),
        ));
    }
    let (page_ref, mut page) = doc.first_page()?;

    // The form, and its field names for uniqueness.
    let (slot, mut form) = match catalog.get(b"AcroForm") {
        Some(Object::Ref(r)) => (
            FormSlot::Indirect(*r),
            doc.resolve_dict(&Object::Ref(*r), "/AcroForm")?,
        ),
        Some(Object::Dict(d)) => (FormSlot::InCatalog, d.clone()),
        None => (FormSlot::InCatalog, Dict::default()),
        Some(_) => return malformed("/AcroForm is neither a dictionary nor a reference"),
    };
    let taken: HashSet<String> = crate::signatures::field_names(doc, &form)?;
    let field_name = match &spec.field_name {
        Some(n) => {
            if n.is_empty() || n.contains('.') {
                return Err(PdfError::InvalidSpec(
                    "field name must be non-empty and contain no '.'".into(),
                ));
            }
            if taken.contains(n) {
                return Err(PdfError::InvalidSpec(format!(
                    "a field named {n:?} already exists"
                )));
            }
            n.clone()
        }
        None => (1..)
            .map(|i| format!("Signature{i}"))
            .find(|n| !taken.contains(n))
            .expect("unbounded"),
    };

    // Sealing over an unfinished signature (a /V whose /Contents holds no CMS) would freeze a
    // signature no validator can read, and make the whole file unverifiable.
    for s in doc.signatures()? {
        if s.contents.first() != Some(&0x30) {
            return Err(PdfError::Unsupported(format!(
                "signature field {:?} holds an unfinished signature (its /Contents is not a CMS)",
                s.field_name
            )));
        }
    }
    let mut up = Update::new(doc);
    let sig_ref = up.alloc();
    let field_ref = up.alloc();

    // 1. The signature dictionary, with fixed-width placeholders.
    let mut body = Vec::with_capacity(spec.contents_capacity * 2 + 512);
    let (ty, sub): (&[u8], &[u8]) = match spec.kind {
        SignatureKind::Signature => (b"Sig", b"ETSI.CAdES.detached"),
        SignatureKind::DocTimeStamp => (b"DocTimeStamp", b"ETSI.RFC3161"),
    };
    body.extend_from_slice(b"<</Type");
    crate::object::write_name(&mut body, ty);
    body.extend_from_slice(b"/Filter/Adobe.PPKLite/SubFilter");
    crate::object::write_name(&mut body, sub);
    body.extend_from_slice(b"/ByteRange ");
    let br_at = body.len();
    body.extend(std::iter::repeat_n(b' ', BYTE_RANGE_WIDTH));
    body.extend_from_slice(b"/Contents ");
    let contents_at = body.len();
    body.push(b'<');
    body.extend(std::iter::repeat_n(b'0', spec.contents_capacity * 2));
    body.push(b'>');
    if spec.kind == SignatureKind::Signature {
        let mut extra = Dict::default();
        let texts: [(&[u8], &Option<String>); 4] = [
            (b"Reason", &spec.reason),
            (b"Location", &spec.location),
            (b"ContactInfo", &spec.contact_info),
            (b"Name", &spec.name),
        ];
        if let Some(m) = &spec.signing_time {
            extra.set(b"M", Object::Str(m.as_bytes().to_vec()));
        }
        for (k, v) in texts {
            if let Some(v) = v {
                extra.set(k, text_string(v));
            }
        }
        for (k, v) in &extra.0 {
            crate::object::write_name(&mut body, k);
            body.push(b' ');
            write_object(&mut body, v);
        }
    }
    body.extend_from_slice(b">>");
    let sig_idx = up.put_raw(sig_ref, body);

    // 2. The merged field + invisible widget.
    let mut field = Dict::default();
    field.set(b"Type", Object::Name(b"Annot".to_vec()));
    field.set(b"Subtype", Object::Name(b"Widget".to_vec()));
    field.set(b"FT", Object::Name(b"Sig".to_vec()));
    field.set(b"T", text_string(&field_name));
    field.set(b"V", Object::Ref(sig_ref));
    field.set(b"Rect", Object::Array(vec![Object::Int(0); 4]));
    field.set(b"F", Object::Int(132));
    field.set(b"P", Object::Ref(page_ref));
    up.put(field_ref, &Object::Dict(field));

    // 3. /Fields and /SigFlags.
    append_to_array(doc, &mut up, &mut form, b"Fields", field_ref)?;
    form.set(b"SigFlags", Object::Int(3));
    match slot {
        FormSlot::Indirect(r) => {
            up.put(r, &Object::Dict(form));
        }
        FormSlot::InCatalog => {
            let r = up.alloc();
            up.put(r, &Object::Dict(form));
            catalog.set(b"AcroForm", Object::Ref(r));
            up.put(root, &Object::Dict(catalog));
        }
    }

    // 4. The first page's /Annots.
    if append_to_array(doc, &mut up, &mut page, b"Annots", field_ref)? && page_ref != root {
        up.put(page_ref, &Object::Dict(page));
    }

    let written = up.finish()?;
    let mut bytes = written.bytes;
    let sig_body = written.body_offsets[sig_idx];
    let c_start = (sig_body + contents_at) as u64;
    let c_end = c_start + 2 + 2 * spec.contents_capacity as u64;
    let total = bytes.len() as u64;
    let byte_range = [0, c_start, c_end, total - c_end];
    let text = format!("[0 {} {} {}]", byte_range[1], byte_range[2], byte_range[3]);
    if text.len() > BYTE_RANGE_WIDTH {
        return Err(PdfError::Unsupported(
            "file too large for the /ByteRange field".into(),
        ));
    }
    let at = sig_body + br_at;
    bytes[at..at + text.len()].copy_from_slice(text.as_bytes());
    Ok(Prepared {
        bytes,
        byte_range,
        field_name,
    })
}

/// The `/P` of the certification signature (`/Perms /DocMDP`), if the document is certified.
/// A document timestamp and a DSS remain allowed at `/P 1` (ISO 32000-2, 12.8.2.2.2 and PAdES).
fn doc_mdp_permissions(doc: &Document<'_>, catalog: &Dict) -> Result<Option<i64>> {
    let Some(perms) = catalog.get(b"Perms") else {
        return Ok(None);
    };
    let Object::Dict(perms) = doc.resolve(perms)? else {
        return Ok(None);
    };
    let Some(sig) = perms.get(b"DocMDP") else {
        return Ok(None);
    };
    let Object::Dict(sig) = doc.resolve(sig)? else {
        return Ok(None);
    };
    let Some(refs) = sig.get(b"Reference") else {
        return Ok(Some(2));
    };
    let Object::Array(refs) = doc.resolve(refs)? else {
        return Ok(Some(2));
    };
    for r in refs {
        let Object::Dict(r) = doc.resolve(&r)? else {
            continue;
        };
        if r.name(b"TransformMethod") != Some(b"DocMDP") {
            continue;
        }
        let params = match r.get(b"TransformParams") {
            Some(p) => doc.resolve(p)?,
            None => Object::Null,
        };
        let p = params.as_dict().and_then(|d| d.int(b"P")).unwrap_or(2);
        return Ok(Some(p));
    }
    Ok(Some(2))
}

/// Appends `item` to the array `dict[key]`: in place if inline (or absent), or by rewriting the
/// array object if `dict[key]` is a reference to one. Returns whether `dict` itself changed.
fn append_to_array(
    doc: &Document<'_>,
    up: &mut Update<'_, '_>,
    dict: &mut Dict,
    key: &[u8],
    item: ObjRef,
) -> Result<bool> {
    match dict.get(key).cloned() {
        None => dict.set(key, Object::Array(vec![Object::Ref(item)])),
        Some(Object::Array(mut a)) => {
            a.push(Object::Ref(item));
            dict.set(key, Object::Array(a));
        }
        Some(Object::Ref(r)) => match doc.resolve(&Object::Ref(r))? {
            Object::Array(mut a) => {
                a.push(Object::Ref(item));
                up.put(r, &Object::Array(a));
                return Ok(false);
            }
            Object::Null => dict.set(key, Object::Array(vec![Object::Ref(item)])),
            _ => return malformed(format!("/{} is not an array", String::from_utf8_lossy(key))),
        },
        Some(_) => return malformed(format!("/{} is not an array", String::from_utf8_lossy(key))),
    }
    Ok(true)
}

// ---------------------------------------------------------------- DSS

/// Validation material for the Document Security Store (PAdES B-LT / B-LTA), all DER.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dss {
    /// Certificates.
    pub certs: Vec<Vec<u8>>,
    /// OCSP responses (`OCSPResponse`).
    pub ocsps: Vec<Vec<u8>>,
    /// CRLs.
    pub crls: Vec<Vec<u8>>,
}

/// Writes an incremental update that adds `dss` to the catalog's `/DSS` (created if absent,
/// extended if present; other DSS entries such as `/VRI` are kept).
pub fn add_dss(doc: &Document<'_>, dss: &Dss) -> Result<Vec<u8>> {
    let root = doc.root_ref();
    let mut catalog = doc.catalog()?;
    let mut up = Update::new(doc);
    let (dss_ref, mut dict, rewrite_catalog) = match catalog.get(b"DSS") {
        Some(Object::Ref(r)) => (*r, doc.resolve_dict(&Object::Ref(*r), "/DSS")?, false),
        Some(Object::Dict(d)) => (up.alloc(), d.clone(), true),
        None => (up.alloc(), Dict::default(), true),
        Some(_) => return malformed("/DSS is neither a dictionary nor a reference"),
    };
    dict.set(b"Type", Object::Name(b"DSS".to_vec()));
    for (key, items) in [
        (&b"Certs"[..], &dss.certs),
        (b"OCSPs", &dss.ocsps),
        (b"CRLs", &dss.crls),
    ] {
        if items.is_empty() {
            continue;
        }
        let mut arr = match dict.get(key) {
            None => vec![],
            Some(o) => match doc.resolve(o)? {
                Object::Array(a) => a,
                Object::Null => vec![],
                _ => {
                    return malformed(format!(
                        "/DSS /{} is not an array",
                        String::from_utf8_lossy(key)
                    ));
                }
            },
        };
        for der in items {
            let r = up.alloc();
            let mut body = format!("<</Length {}>>\nstream\n", der.len()).into_bytes();
            body.extend_from_slice(der);
            body.extend_from_slice(b"\nendstream");
            up.put_raw(r, body);
            arr.push(Object::Ref(r));
        }
        dict.set(key, Object::Array(arr));
    }
    up.put(dss_ref, &Object::Dict(dict));
    if rewrite_catalog {
        catalog.set(b"DSS", Object::Ref(dss_ref));
        up.put(root, &Object::Dict(catalog));
    }
    Ok(up.finish()?.bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pdf_dates() {
        assert_eq!(pdf_date(0), "D:19700101000000Z");
        assert_eq!(pdf_date(1_700_000_000), "D:20231114221320Z");
        assert_eq!(pdf_date(951_782_400), "D:20000229000000Z");
    }
}
