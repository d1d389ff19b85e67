//! The lazy document: the xref chain read once, objects parsed on demand.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::error::{PdfError, Result, malformed};
use crate::filter;
use crate::limits::*;
use crate::object::{Dict, Lexer, ObjRef, Object, Token, is_ws};

/// The kind of cross-reference section a revision ends with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XrefKind {
    /// A classic `xref` table with a `trailer` dictionary.
    Table,
    /// A cross-reference stream (`/Type /XRef`, PDF 1.5).
    Stream,
    /// A classic table whose trailer points at an xref stream with `/XRefStm` (PDF 1.5 hybrid).
    Hybrid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Entry {
    Free,
    InFile { offset: u64, generation: u16 },
    InStream { stream: u32, index: u32 },
}

struct Section {
    entries: Vec<(u32, Entry)>,
    trailer: Dict,
    kind: XrefKind,
    offset: u64,
}

struct ObjStm {
    data: Vec<u8>,
    first: usize,
    offsets: Vec<(u32, usize)>,
}

/// A parsed PDF: the merged cross-reference table, the newest trailer and the revision
/// boundaries. Objects are parsed only when asked for.
pub struct Document<'a> {
    pub(crate) data: &'a [u8],
    xref: HashMap<u32, Entry>,
    pub(crate) trailer: Dict,
    pub(crate) kind: XrefKind,
    pub(crate) startxref: u64,
    revisions: Vec<Revision>,
    objstms: RefCell<HashMap<u32, Arc<ObjStm>>>,
    decoded: Cell<usize>,
    /// Object streams being loaded right now (an object stream's /Length may live in another one).
    loading: Cell<usize>,
}

#[derive(Debug, Clone, Copy)]
struct Revision {
    /// Offset right after `%%EOF`.
    eof: u64,
    /// Offset after `%%EOF` and its end-of-line marker.
    end: u64,
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    while at + needle.len() <= hay.len() {
        // Skip to the next occurrence of the first byte (a tight loop the compiler vectorizes).
        at += hay[at..].iter().position(|&b| b == needle[0])?;
        if hay[at..].starts_with(needle) {
            return Some(at);
        }
        at += 1;
    }
    None
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

impl<'a> Document<'a> {
    /// Reads the header, `startxref` and the whole xref chain of `data`.
    ///
    /// Fails with [`PdfError::Encrypted`] if the trailer has `/Encrypt`, otherwise with
    /// [`PdfError::Malformed`] or [`PdfError::Unsupported`] naming the first problem.
    pub fn parse(data: &'a [u8]) -> Result<Document<'a>> {
        let Some(h) = find(&data[..data.len().min(1024)], b"%PDF-", 0) else {
            return malformed("no %PDF- header in the first 1024 bytes");
        };
        let v = &data[h + 5..data.len().min(h + 8)];
        if !(v.len() == 3 && v[0].is_ascii_digit() && v[1] == b'.' && v[2].is_ascii_digit()) {
            return malformed("the %PDF- header has no version number");
        }
        let tail_start = data.len().saturating_sub(STARTXREF_WINDOW);
        let Some(sx) = rfind(&data[tail_start..], b"startxref").map(|p| p + tail_start) else {
            return malformed("no startxref near the end of the file");
        };
        let mut lx = Lexer::new(data, sx + 9);
        let start = lx.expect_uint("the startxref offset")?;

        let mut doc = Document {
            data,
            xref: HashMap::new(),
            trailer: Dict::default(),
            kind: XrefKind::Table,
            startxref: 0,
            revisions: Vec::new(),
            objstms: RefCell::new(HashMap::new()),
            decoded: Cell::new(0),
            loading: Cell::new(0),
        };
        let mut visited = HashSet::new();
        let mut next = Some(start);
        let mut section_offsets = Vec::new();
        let mut first = true;
        while let Some(off) = next {
            if section_offsets.len() >= MAX_XREF_SECTIONS {
                return malformed(format!("more than {MAX_XREF_SECTIONS} xref sections"));
            }
            let sec = doc.read_section(off)?;
            if !visited.insert(sec.offset) {
                return malformed(format!(
                    "/Prev loop: the xref section at offset {} is read twice",
                    sec.offset
                ));
            }
            if first {
                if sec.trailer.get(b"Encrypt").is_some() {
                    return Err(PdfError::Encrypted);
                }
                doc.trailer = sec.trailer.clone();
                doc.kind = sec.kind;
                doc.startxref = sec.offset;
                first = false;
            }
            for (num, e) in sec.entries {
                doc.xref.entry(num).or_insert(e);
            }
            section_offsets.push(sec.offset);
            next = match sec.trailer.get(b"Prev") {
                None => None,
                Some(Object::Int(p)) if *p >= 0 => Some(*p as u64),
                Some(_) => return malformed("/Prev is not a non-negative integer"),
            };
        }
        match doc.trailer.get(b"Root") {
            Some(Object::Ref(_)) => {}
            _ => return malformed("the trailer has no /Root reference"),
        }
        doc.revisions = doc.find_revisions(&section_offsets);
        Ok(doc)
    }

    /// Each section's revision ends at the first `%%EOF` after it; an older section placed later in the
    /// file (a linearized file's main table) merges the newer one into its revision.
    fn find_revisions(&self, sections: &[u64]) -> Vec<Revision> {
        // One scan for every %%EOF, then a binary search per section (a hostile file may have
        // thousands of sections).
        let mut eofs = Vec::new();
        let mut from = sections.iter().copied().min().unwrap_or(0) as usize;
        while let Some(p) = find(self.data, b"%%EOF", from) {
            eofs.push(p);
            from = p + 5;
        }
        let mut revs: Vec<Revision> = Vec::new();
        let mut running: Option<Revision> = None;
        for &off in sections.iter().rev() {
            let i = eofs.partition_point(|&p| (p as u64) < off);
            let r = match eofs.get(i).copied() {
                Some(p) => {
                    let eof = p + 5;
                    let mut end = eof;
                    if self.data.get(end) == Some(&b'\r') {
                        end += 1;
                    }
                    if self.data.get(end) == Some(&b'\n') {
                        end += 1;
                    }
                    Revision {
                        eof: eof as u64,
                        end: end as u64,
                    }
                }
                None => Revision {
                    eof: self.data.len() as u64,
                    end: self.data.len() as u64,
                },
            };
            let r = match running {
                Some(run) if run.end > r.end => run,
                _ => r,
            };
            running = Some(r);
            if revs.last().is_none_or(|l| l.end != r.end) {
                revs.push(r);
            }
        }
        revs
    }

    /// End offsets of the revisions, oldest first: each is the offset right after a `%%EOF`
    /// (and its end-of-line marker) that closes an xref section of the chain.
    pub fn revisions(&self) -> Vec<u64> {
        self.revisions.iter().map(|r| r.end).collect()
    }

    /// Index of the revision ending exactly at `end` (after `%%EOF`, with or without its EOL).
    pub(crate) fn revision_at(&self, end: u64) -> Option<usize> {
        self.revisions
            .iter()
            .position(|r| r.end == end || r.eof == end)
    }

    /// The kind of the newest xref section (what an incremental update must write again).
    pub fn xref_kind(&self) -> XrefKind {
        self.kind
    }

    /// The raw bytes this document was parsed from.
    pub fn bytes(&self) -> &'a [u8] {
        self.data
    }

    /// The newest trailer (for an xref stream, its dictionary).
    pub fn trailer(&self) -> &Dict {
        &self.trailer
    }

    /// The highest object number in use plus one, or the trailer's /Size if larger.
    pub(crate) fn size(&self) -> u32 {
        let max = self.xref.keys().copied().max().map_or(0, |m| m + 1);
        let size = self
            .trailer
            .int(b"Size")
            .unwrap_or(0)
            .clamp(0, MAX_OBJECT_NUMBER as i64 + 1) as u32;
        max.max(size)
    }

    fn read_section(&self, offset: u64) -> Result<Section> {
        let data = self.data;
        let mut pos = usize::try_from(offset).unwrap_or(usize::MAX);
        if pos >= data.len() {
            return malformed(format!("xref offset {offset} is past the end of the file"));
        }
        // Tolerated damage: an offset that lands on whitespace before the section.
        while pos < data.len() && is_ws(data[pos]) {
            pos += 1;
        }
        if data[pos..].starts_with(b"xref") {
            let mut sec = self.read_table(pos)?;
            if let Some(x) = sec.trailer.get(b"XRefStm") {
                let Object::Int(x) = *x else {
                    return malformed("/XRefStm is not an integer");
                };
                let stm = self.read_xref_stream(u64::try_from(x).unwrap_or(u64::MAX))?;
                // The stream adds the objects the table lists as free or omits (compressed ones).
                let stm_map: HashMap<u32, Entry> = stm.entries.iter().copied().collect();
                let in_table: HashSet<u32> = sec.entries.iter().map(|(n, _)| *n).collect();
                let mut merged: Vec<(u32, Entry)> = sec
                    .entries
                    .iter()
                    .map(|&(n, e)| match (e, stm_map.get(&n)) {
                        (Entry::Free, Some(&s)) => (n, s),
                        _ => (n, e),
                    })
                    .collect();
                merged.extend(
                    stm.entries
                        .into_iter()
                        .filter(|(n, _)| !in_table.contains(n)),
                );
                sec.entries = merged;
                sec.kind = XrefKind::Hybrid;
            }
            Ok(sec)
        } else if data.get(pos).is_some_and(u8::is_ascii_digit) {
            self.read_xref_stream(pos as u64)
        } else {
            malformed(format!("no xref table or xref stream at offset {offset}"))
        }
    }

    fn read_table(&self, pos: usize) -> Result<Section> {
        let mut lx = Lexer::new(self.data, pos + 4);
        let mut entries = Vec::new();
        loop {
            let save = lx.pos;
            match lx.next_token()? {
                Some(Token::Keyword(b"trailer")) => break,
                Some(Token::Int(first)) if first >= 0 => {
                    let count = lx.expect_uint("an xref subsection count")?;
                    let max_entries = (self.data.len() - lx.pos) as u64 / 18 + 1;
                    if count > max_entries {
                        return malformed(format!(
                            "xref subsection at offset {save} claims {count} entries"
                        ));
                    }
                    for i in 0..count {
                        let num = first as u64 + i;
                        let off = lx.expect_uint("an xref entry offset")?;
                        let generation = lx.expect_uint("an xref entry generation")?;
                        let at = lx.pos;
                        let kind = match lx.next_token()? {
                            Some(Token::Keyword(b"n")) => true,
                            Some(Token::Keyword(b"f")) => false,
                            _ => {
                                return malformed(format!(
                                    "xref entry type is not n or f at offset {at}"
                                ));
                            }
                        };
                        if num > MAX_OBJECT_NUMBER as u64 {
                            return malformed(format!("object number {num} is above the limit"));
                        }
                        let e = if kind && off > 0 {
                            Entry::InFile {
                                offset: off,
                                generation: generation.min(65535) as u16,
                            }
                        } else {
                            Entry::Free
                        };
                        entries.push((num as u32, e));
                    }
                }
                _ => return malformed(format!("bad xref table content at offset {save}")),
            }
        }
        let trailer = match lx.parse_object(0)? {
            Object::Dict(d) => d,
            _ => return malformed("trailer is not a dictionary"),
        };
        Ok(Section {
            entries,
            trailer,
            kind: XrefKind::Table,
            offset: pos as u64,
        })
    }

    fn read_xref_stream(&self, offset: u64) -> Result<Section> {
        let mut pos = usize::try_from(offset).unwrap_or(usize::MAX);
        while pos < self.data.len() && is_ws(self.data[pos]) {
            pos += 1;
        }
        let (_, dict, raw) = self.stream_at(pos, None)?;
        if dict.name(b"Type") != Some(b"XRef") {
            return malformed(format!(
                "the object at offset {offset} is not an xref stream"
            ));
        }
        let decoded = self.decode_stream(&dict, raw)?;
        let w: Vec<usize> = match dict.get(b"W") {
            Some(Object::Array(a)) if a.len() == 3 => a
                .iter()
                .map(|o| match o {
                    Object::Int(i) if (0..=8).contains(i) => Ok(*i as usize),
                    _ => malformed("xref stream /W holds a bad width"),
                })
                .collect::<Result<_>>()?,
            _ => return malformed("xref stream has no /W [a b c]"),
        };
        let width: usize = w.iter().sum();
        if width == 0 {
            return malformed("xref stream /W widths are all zero");
        }
        let size = dict.int(b"Size").unwrap_or(-1);
        if !(0..=MAX_OBJECT_NUMBER as i64 + 1).contains(&size) {
            return malformed("xref stream /Size missing or out of range");
        }
        let index: Vec<(u64, u64)> = match dict.get(b"Index") {
            None => vec![(0, size as u64)],
            Some(Object::Array(a)) if a.len() % 2 == 0 => a
                .chunks(2)
                .map(|c| match (&c[0], &c[1]) {
                    (Object::Int(s), Object::Int(n)) if *s >= 0 && *n >= 0 => {
                        Ok((*s as u64, *n as u64))
                    }
                    _ => malformed("xref stream /Index holds a bad pair"),
                })
                .collect::<Result<_>>()?,
            Some(_) => return malformed("xref stream /Index is not an array of pairs"),
        };
        let field = |row: &[u8], i: usize| -> u64 {
            let start: usize = w[..i].iter().sum();
            row[start..start + w[i]]
                .iter()
                .fold(0u64, |acc, &b| acc << 8 | b as u64)
        };
        let mut entries = Vec::new();
        let mut rows = decoded.chunks_exact(width);
        for (first, count) in index {
            for i in 0..count {
                let Some(row) = rows.next() else {
                    return malformed("xref stream data is shorter than its /Index says");
                };
                let num = first + i;
                if num > MAX_OBJECT_NUMBER as u64 {
                    return malformed(format!("object number {num} is above the limit"));
                }
                let t = if w[0] == 0 { 1 } else { field(row, 0) };
                let (a, b) = (field(row, 1), field(row, 2));
                let e = match t {
                    0 => Entry::Free,
                    1 => Entry::InFile {
                        offset: a,
                        generation: b.min(65535) as u16,
                    },
                    2 => Entry::InStream {
                        stream: u32::try_from(a)
                            .map_err(|_| PdfError::Malformed("object stream number".into()))?,
                        index: u32::try_from(b)
                            .map_err(|_| PdfError::Malformed("object stream index".into()))?,
                    },
                    // Unknown types are to be ignored (as null references) per ISO 32000.
                    _ => Entry::Free,
                };
                entries.push((num as u32, e));
            }
        }
        Ok(Section {
            entries,
            trailer: dict,
            kind: XrefKind::Stream,
            offset: pos as u64,
        })
    }

    fn decode_stream(&self, dict: &Dict, raw: &[u8]) -> Result<Vec<u8>> {
        let budget = MAX_DECODED_TOTAL.saturating_sub(self.decoded.get());
        let out = filter::decode(dict, raw, MAX_DECODED_STREAM.min(budget))?;
        self.decoded.set(self.decoded.get() + out.len());
        Ok(out)
    }

    /// Parses `num gen obj` at `pos`, checking the number when `expect` is given.
    fn object_header(&self, pos: usize, expect: Option<u32>) -> Result<(Lexer<'a>, ObjRef)> {
        let mut lx = Lexer::new(self.data, pos);
        lx.skip_ws();
        let at = lx.pos;
        let num = lx.expect_uint("an object number")?;
        let generation = lx.expect_uint("a generation number")?;
        lx.expect_keyword(b"obj")?;
        if let Some(e) = expect
            && num != e as u64
        {
            return malformed(format!(
                "xref says object {e} is at offset {at}, but object {num} is there"
            ));
        }
        Ok((
            lx,
            ObjRef {
                num: num as u32,
                generation: generation.min(65535) as u16,
            },
        ))
    }

    /// The stream object at `pos`: its reference, dictionary and raw (still encoded) data.
    fn stream_at(&self, pos: usize, expect: Option<u32>) -> Result<(ObjRef, Dict, &'a [u8])> {
        let (mut lx, r) = self.object_header(pos, expect)?;
        let Object::Dict(dict) = lx.parse_object(0)? else {
            return malformed(format!("object {} is not a stream", r.num));
        };
        lx.expect_keyword(b"stream")?;
        let d = self.data;
        let mut start = lx.pos;
        if d.get(start) == Some(&b'\r') {
            start += 1;
        }
        if d.get(start) == Some(&b'\n') {
            start += 1;
        }
        let len = match dict.get(b"Length") {
            Some(Object::Int(l)) if *l >= 0 => *l as usize,
            Some(Object::Ref(lr)) if lr.num != r.num => match self.get(*lr)? {
                Object::Int(l) if l >= 0 => l as usize,
                _ => {
                    return malformed(format!(
                        "object {}: indirect /Length is not an integer",
                        r.num
                    ));
                }
            },
            _ => return malformed(format!("object {}: stream without a usable /Length", r.num)),
        };
        let end = start.checked_add(len).filter(|&e| e <= d.len());
        let Some(end) = end else {
            return malformed(format!(
                "object {}: stream /Length {len} runs past the end of the file",
                r.num
            ));
        };
        let mut after = Lexer::new(d, end);
        after.skip_ws();
        if !d[after.pos..].starts_with(b"endstream") {
            return malformed(format!(
                "object {}: no endstream after /Length {len} bytes",
                r.num
            ));
        }
        Ok((r, dict, &d[start..end]))
    }

    fn objstm(&self, num: u32) -> Result<Arc<ObjStm>> {
        if let Some(s) = self.objstms.borrow().get(&num) {
            return Ok(s.clone());
        }
        let Some(Entry::InFile { offset, .. }) = self.xref.get(&num).copied() else {
            return malformed(format!(
                "object stream {num} is not a plain object in the file"
            ));
        };
        if self.loading.get() >= MAX_OBJSTM_NESTING {
            return malformed(format!(
                "object stream {num}: /Length lookups nest through too many object streams"
            ));
        }
        self.loading.set(self.loading.get() + 1);
        let found = self.stream_at(usize::try_from(offset).unwrap_or(usize::MAX), Some(num));
        self.loading.set(self.loading.get() - 1);
        let (_, dict, raw) = found?;
        if dict.name(b"Type") != Some(b"ObjStm") {
            return malformed(format!(
                "object {num} is referenced as an object stream but is not one"
            ));
        }
        let data = self.decode_stream(&dict, raw)?;
        let n = dict.int(b"N").unwrap_or(-1);
        let first = dict.int(b"First").unwrap_or(-1);
        if n < 0 || n as usize > data.len() || first < 0 || first as usize > data.len() {
            return malformed(format!("object stream {num}: bad /N or /First"));
        }
        let mut lx = Lexer::new(&data, 0);
        let mut offsets = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let on = lx.expect_uint("an object number in an object stream")?;
            let oo = lx.expect_uint("an offset in an object stream")?;
            offsets.push((on.min(u32::MAX as u64) as u32, oo as usize));
        }
        let s = Arc::new(ObjStm {
            data,
            first: first as usize,
            offsets,
        });
        self.objstms.borrow_mut().insert(num, s.clone());
        Ok(s)
    }

    /// The object `r` (its dictionary if it is a stream); `null` if free or absent.
    pub fn get(&self, r: ObjRef) -> Result<Object> {
        match self.xref.get(&r.num).copied() {
            None | Some(Entry::Free) => Ok(Object::Null),
            Some(Entry::InFile { offset, .. }) => {
                let pos = usize::try_from(offset).unwrap_or(usize::MAX);
                if pos >= self.data.len() {
                    return malformed(format!(
                        "object {} has offset {offset} past the end of the file",
                        r.num
                    ));
                }
                let (mut lx, _) = self.object_header(pos, Some(r.num))?;
                lx.parse_object(0)
            }
            Some(Entry::InStream { stream, index }) => {
                let s = self.objstm(stream)?;
                let Some(&(on, off)) = s.offsets.get(index as usize) else {
                    return malformed(format!(
                        "object {}: index {index} past object stream {stream}",
                        r.num
                    ));
                };
                if on != r.num {
                    return malformed(format!(
                        "object stream {stream} holds object {on} where {} was expected",
                        r.num
                    ));
                }
                let pos = s.first.checked_add(off).filter(|&p| p < s.data.len());
                let Some(pos) = pos else {
                    return malformed(format!("object {}: bad offset in object stream", r.num));
                };
                Lexer::new(&s.data, pos).parse_object(0)
            }
        }
    }

    /// The stream object `r`: its dictionary and decoded data.
    pub fn get_stream(&self, r: ObjRef) -> Result<(Dict, Vec<u8>)> {
        let Some(Entry::InFile { offset, .. }) = self.xref.get(&r.num).copied() else {
            return malformed(format!("object {} is not a stream in the file", r.num));
        };
        let (_, dict, raw) =
            self.stream_at(usize::try_from(offset).unwrap_or(usize::MAX), Some(r.num))?;
        let data = self.decode_stream(&dict, raw)?;
        Ok((dict, data))
    }

    /// Follows references until a direct object.
    pub fn resolve(&self, o: &Object) -> Result<Object> {
        let mut cur = o.clone();
        for _ in 0..MAX_REF_CHAIN {
            match cur {
                Object::Ref(r) => cur = self.get(r)?,
                other => return Ok(other),
            }
        }
        malformed("reference chain too long")
    }

    /// `resolve`, requiring a dictionary.
    pub(crate) fn resolve_dict(&self, o: &Object, what: &str) -> Result<Dict> {
        match self.resolve(o)? {
            Object::Dict(d) => Ok(d),
            _ => malformed(format!("{what} is not a dictionary")),
        }
    }

    /// The catalog's reference.
    pub(crate) fn root_ref(&self) -> ObjRef {
        self.trailer
            .get(b"Root")
            .and_then(Object::as_ref)
            .expect("checked in parse")
    }

    /// The document catalog.
    pub fn catalog(&self) -> Result<Dict> {
        self.resolve_dict(&Object::Ref(self.root_ref()), "the catalog (/Root)")
    }

    /// The first page's reference and dictionary.
    pub fn first_page(&self) -> Result<(ObjRef, Dict)> {
        let cat = self.catalog()?;
        let mut node = match cat.get(b"Pages") {
            Some(Object::Ref(r)) => *r,
            _ => return malformed("the catalog has no /Pages reference"),
        };
        let mut seen = HashSet::new();
        for _ in 0..MAX_TREE_DEPTH {
            if !seen.insert(node) {
                return malformed("loop in the page tree");
            }
            let d = self.resolve_dict(&Object::Ref(node), "a page tree node")?;
            let kids = d.get(b"Kids").map(|k| self.resolve(k)).transpose()?;
            match (d.name(b"Type"), kids) {
                (Some(b"Pages"), Some(Object::Array(kids))) | (None, Some(Object::Array(kids))) => {
                    // The first kid that is a reference; an empty subtree has no first page.
                    match kids.iter().find_map(Object::as_ref) {
                        Some(k) => node = k,
                        None => {
                            return Err(PdfError::Unsupported("the document has no page".into()));
                        }
                    }
                }
                (Some(b"Pages"), _) => {
                    return Err(PdfError::Unsupported("the document has no page".into()));
                }
                _ => return Ok((node, d)),
            }
        }
        malformed("the page tree is deeper than the limit")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(objs: &[&str], trailer_extra: &str) -> Vec<u8> {
        let mut out = b"%PDF-1.7\n".to_vec();
        let mut offs = Vec::new();
        for (i, o) in objs.iter().enumerate() {
            offs.push(out.len());
            out.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
        }
        let x = out.len();
        out.extend_from_slice(
            format!("xref\n0 {}\n0000000000 65535 f\r\n", objs.len() + 1).as_bytes(),
        );
        for o in offs {
            out.extend_from_slice(format!("{o:010} 00000 n\r\n").as_bytes());
        }
        out.extend_from_slice(
            format!(
                "trailer\n<</Size {}/Root 1 0 R{trailer_extra}>>\nstartxref\n{x}\n%%EOF\n",
                objs.len() + 1
            )
            .as_bytes(),
        );
        out
    }

    const MIN: [&str; 3] = [
        "<</Type/Catalog/Pages 2 0 R>>",
        "<</Type/Pages/Kids[3 0 R]/Count 1>>",
        "<</Type/Page/Parent 2 0 R/MediaBox[0 0 10 10]>>",
    ];

    #[test]
    fn minimal_table_file() {
        let f = build(&MIN, "");
        let d = Document::parse(&f).unwrap();
        assert_eq!(d.xref_kind(), XrefKind::Table);
        assert_eq!(
            d.first_page().unwrap().0,
            ObjRef {
                num: 3,
                generation: 0
            }
        );
        assert_eq!(d.revisions(), vec![f.len() as u64]);
    }

    #[test]
    fn encrypted_is_refused() {
        let f = build(&MIN, "/Encrypt<</Filter/Standard>>");
        assert_eq!(Document::parse(&f).err(), Some(PdfError::Encrypted));
    }

    #[test]
    fn startxref_off_by_whitespace_is_tolerated() {
        let f = build(&MIN, "");
        let s = String::from_utf8_lossy(&f).into_owned();
        let x: usize = s
            .rsplit("startxref\n")
            .next()
            .unwrap()
            .trim_end_matches("\n%%EOF\n")
            .parse()
            .unwrap();
        let g = s.replace(
            &format!("startxref\n{x}\n"),
            &format!("startxref\n{}\n", x - 1),
        );
        assert!(Document::parse(g.as_bytes()).is_ok());
    }

    #[test]
    fn prev_loop_and_bad_offsets_are_errors() {
        let f = build(&MIN, "");
        let s = String::from_utf8_lossy(&f).into_owned();
        let x: usize = s
            .rsplit("startxref\n")
            .next()
            .unwrap()
            .trim_end_matches("\n%%EOF\n")
            .parse()
            .unwrap();
        let looped = s.replace("/Root 1 0 R", &format!("/Root 1 0 R/Prev {x}"));
        assert!(
            matches!(Document::parse(looped.as_bytes()), Err(PdfError::Malformed(m)) if m.contains("loop"))
        );
        let far = s.replace(&format!("startxref\n{x}"), "startxref\n99999999999");
        assert!(matches!(
            Document::parse(far.as_bytes()),
            Err(PdfError::Malformed(_))
        ));
        assert!(Document::parse(b"not a pdf").is_err());
        // startxref pointing at trailing whitespace.
        assert!(Document::parse(b"%PDF-1.4\nstartxref\n28\n%%EOF\n    ").is_err());
        assert!(Document::parse(b"%PDF-1.4\n   \nstartxref\n9\n").is_err());
        assert!(Document::parse(b"%PDF-1.4\nstartxref\n").is_err());
    }

    #[test]
    fn hostile_stream_lengths_and_page_loops() {
        // An xref stream whose /Length is huge, and one that points at itself.
        let f = b"%PDF-1.5\n1 0 obj\n<</Type/XRef/Size 2/W[1 1 1]/Length 999999999999>>stream\nxx\nendstream\nendobj\nstartxref\n9\n%%EOF\n";
        assert!(matches!(Document::parse(f), Err(PdfError::Malformed(_))));
        let f = b"%PDF-1.5\n1 0 obj\n<</Type/XRef/Size 2/W[1 1 1]/Length 1 0 R>>stream\nxx\nendstream\nendobj\nstartxref\n9\n%%EOF\n";
        assert!(Document::parse(f).is_err());
        let looped = build(
            &[
                "<</Type/Catalog/Pages 2 0 R>>",
                "<</Type/Pages/Kids[2 0 R]/Count 1>>",
            ],
            "",
        );
        let d = Document::parse(&looped).unwrap();
        assert!(matches!(d.first_page(), Err(PdfError::Malformed(_))));
        let chain = build(&["<</Type/Catalog/Pages 2 0 R>>", "2 0 R"], "");
        let d = Document::parse(&chain).unwrap();
        assert!(d.first_page().is_err());
    }
}
