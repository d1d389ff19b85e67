//! PDF objects: the lexer, the bounded recursive parser and the serializer.

use crate::error::{Result, malformed};
use crate::limits::MAX_DEPTH;

/// An indirect reference `num gen R`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjRef {
    /// Object number.
    pub num: u32,
    /// Generation number.
    pub generation: u16,
}

/// A direct PDF object. Streams are not objects here: [`Document`](crate::Document) keeps their
/// dictionary and the location of their data in the file, decoded only on demand.
#[derive(Debug, Clone, PartialEq)]
pub enum Object {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A real, kept as written so that rewriting an object does not reformat it.
    Real(Vec<u8>),
    /// A name, without the slash, `#xx` escapes decoded.
    Name(Vec<u8>),
    /// A literal string `( )`, escapes decoded.
    Str(Vec<u8>),
    /// A hexadecimal string `< >`, decoded.
    HexStr(Vec<u8>),
    /// An array.
    Array(Vec<Object>),
    /// A dictionary.
    Dict(Dict),
    /// An indirect reference.
    Ref(ObjRef),
}

/// A dictionary with its keys in file order (rewritten objects keep their layout).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Dict(pub Vec<(Vec<u8>, Object)>);

impl Dict {
    /// The value for `key` (without slash), if present and not `null`.
    pub fn get(&self, key: &[u8]) -> Option<&Object> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
            .filter(|v| !matches!(v, Object::Null))
    }
    /// Sets `key` to `value`, replacing an existing entry in place (and dropping duplicates of
    /// the key, which a damaged file may have: what we write must be unambiguous).
    pub fn set(&mut self, key: &[u8], value: Object) {
        match self.0.iter().position(|(k, _)| k == key) {
            Some(i) => {
                self.0[i].1 = value;
                let mut seen = false;
                self.0.retain(|(k, _)| {
                    if k != key {
                        return true;
                    }
                    let keep = !seen;
                    seen = true;
                    keep
                });
            }
            None => self.0.push((key.to_vec(), value)),
        }
    }
    /// Removes `key`.
    pub fn remove(&mut self, key: &[u8]) {
        self.0.retain(|(k, _)| k != key);
    }
    /// The name value of `key`.
    pub fn name(&self, key: &[u8]) -> Option<&[u8]> {
        match self.get(key) {
            Some(Object::Name(n)) => Some(n),
            _ => None,
        }
    }
    /// The integer value of `key`.
    pub fn int(&self, key: &[u8]) -> Option<i64> {
        match self.get(key) {
            Some(Object::Int(i)) => Some(*i),
            _ => None,
        }
    }
}

impl Object {
    /// The dictionary, if this is one.
    pub fn as_dict(&self) -> Option<&Dict> {
        match self {
            Object::Dict(d) => Some(d),
            _ => None,
        }
    }
    /// The reference, if this is one.
    pub fn as_ref(&self) -> Option<ObjRef> {
        match self {
            Object::Ref(r) => Some(*r),
            _ => None,
        }
    }
    /// The bytes of a literal or hex string.
    pub fn as_str(&self) -> Option<&[u8]> {
        match self {
            Object::Str(s) | Object::HexStr(s) => Some(s),
            _ => None,
        }
    }
}

pub(crate) fn is_ws(b: u8) -> bool {
    matches!(b, 0 | 9 | 10 | 12 | 13 | 32)
}
pub(crate) fn is_delim(b: u8) -> bool {
    matches!(
        b,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%'
    )
}
fn is_regular(b: u8) -> bool {
    !is_ws(b) && !is_delim(b)
}
fn hexval(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// A cursor over the file (or a decoded object stream).
#[derive(Clone)]
pub(crate) struct Lexer<'a> {
    pub data: &'a [u8],
    pub pos: usize,
}

/// One token.
#[derive(Debug, PartialEq)]
pub(crate) enum Token<'a> {
    Int(i64),
    Real(&'a [u8]),
    Name(Vec<u8>),
    Str(Vec<u8>),
    HexStr(Vec<u8>),
    ArrayOpen,
    ArrayClose,
    DictOpen,
    DictClose,
    Keyword(&'a [u8]),
}

impl<'a> Lexer<'a> {
    pub fn new(data: &'a [u8], pos: usize) -> Self {
        Lexer { data, pos }
    }

    pub fn skip_ws(&mut self) {
        while self.pos < self.data.len() {
            let b = self.data[self.pos];
            if is_ws(b) {
                self.pos += 1;
            } else if b == b'%' {
                while self.pos < self.data.len() && !matches!(self.data[self.pos], b'\r' | b'\n') {
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
    }

    /// Next token, or `None` at the end of the data.
    pub fn next_token(&mut self) -> Result<Option<Token<'a>>> {
        self.skip_ws();
        let d = self.data;
        let Some(&b) = d.get(self.pos) else {
            return Ok(None);
        };
        let start = self.pos;
        match b {
            b'[' => {
                self.pos += 1;
                Ok(Some(Token::ArrayOpen))
            }
            b']' => {
                self.pos += 1;
                Ok(Some(Token::ArrayClose))
            }
            b'<' if d.get(start + 1) == Some(&b'<') => {
                self.pos += 2;
                Ok(Some(Token::DictOpen))
            }
            b'>' if d.get(start + 1) == Some(&b'>') => {
                self.pos += 2;
                Ok(Some(Token::DictClose))
            }
            b'<' => self.hex_string().map(|s| Some(Token::HexStr(s))),
            b'(' => self.literal_string().map(|s| Some(Token::Str(s))),
            b'/' => {
                self.pos += 1;
                let mut name = Vec::new();
                while let Some(&c) = d.get(self.pos) {
                    if !is_regular(c) {
                        break;
                    }
                    if c == b'#'
                        && let (Some(h), Some(l)) = (
                            d.get(self.pos + 1).and_then(|&x| hexval(x)),
                            d.get(self.pos + 2).and_then(|&x| hexval(x)),
                        )
                    {
                        name.push(h << 4 | l);
                        self.pos += 3;
                        continue;
                    }
                    name.push(c);
                    self.pos += 1;
                }
                Ok(Some(Token::Name(name)))
            }
            b')' | b'>' | b'{' | b'}' => {
                malformed(format!("unexpected '{}' at offset {start}", b as char))
            }
            _ => {
                while self.pos < d.len() && is_regular(d[self.pos]) {
                    self.pos += 1;
                }
                let word = &d[start..self.pos];
                Ok(Some(classify(word)))
            }
        }
    }

    fn hex_string(&mut self) -> Result<Vec<u8>> {
        let start = self.pos;
        self.pos += 1;
        let mut out = Vec::new();
        let mut hi: Option<u8> = None;
        loop {
            let Some(&c) = self.data.get(self.pos) else {
                return malformed(format!("unterminated hex string at offset {start}"));
            };
            self.pos += 1;
            if c == b'>' {
                break;
            }
            if is_ws(c) {
                continue;
            }
            let Some(v) = hexval(c) else {
                return malformed(format!("bad hex digit in string at offset {start}"));
            };
            match hi.take() {
                None => hi = Some(v),
                Some(h) => out.push(h << 4 | v),
            }
        }
        if let Some(h) = hi {
            out.push(h << 4);
        }
        Ok(out)
    }

    fn literal_string(&mut self) -> Result<Vec<u8>> {
        let start = self.pos;
        self.pos += 1;
        let d = self.data;
        let mut out = Vec::new();
        let mut depth = 1usize;
        loop {
            let Some(&c) = d.get(self.pos) else {
                return malformed(format!("unterminated string at offset {start}"));
            };
            self.pos += 1;
            match c {
                b'(' => {
                    depth += 1;
                    out.push(c);
                }
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                    out.push(c);
                }
                b'\r' => {
                    // An unescaped end of line of any kind reads as \n.
                    if d.get(self.pos) == Some(&b'\n') {
                        self.pos += 1;
                    }
                    out.push(b'\n');
                }
                b'\\' => {
                    let Some(&e) = d.get(self.pos) else { continue };
                    self.pos += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'\r' => {
                            if d.get(self.pos) == Some(&b'\n') {
                                self.pos += 1;
                            }
                        }
                        b'\n' => {}
                        b'0'..=b'7' => {
                            let mut v: u32 = (e - b'0') as u32;
                            for _ in 0..2 {
                                match d.get(self.pos) {
                                    Some(&o @ b'0'..=b'7') => {
                                        v = v * 8 + (o - b'0') as u32;
                                        self.pos += 1;
                                    }
                                    _ => break,
                                }
                            }
                            out.push(v as u8);
                        }
                        // \( \) \\ and any other escaped char stand for themselves.
                        other => out.push(other),
                    }
                }
                _ => out.push(c),
            }
        }
        Ok(out)
    }

    /// Reads an unsigned integer token, or fails with `what` in the reason.
    pub fn expect_uint(&mut self, what: &str) -> Result<u64> {
        let at = self.pos;
        match self.next_token()? {
            Some(Token::Int(i)) if i >= 0 => Ok(i as u64),
            _ => malformed(format!("expected {what} at offset {at}")),
        }
    }

    /// Reads the keyword `kw` or fails.
    pub fn expect_keyword(&mut self, kw: &[u8]) -> Result<()> {
        let at = self.pos;
        match self.next_token()? {
            Some(Token::Keyword(k)) if k == kw => Ok(()),
            _ => malformed(format!(
                "expected '{}' at offset {at}",
                String::from_utf8_lossy(kw)
            )),
        }
    }

    /// Parses one object. `depth` counts enclosing arrays and dictionaries.
    pub fn parse_object(&mut self, depth: usize) -> Result<Object> {
        let at = self.pos;
        let Some(tok) = self.next_token()? else {
            return malformed(format!("unexpected end of data at offset {at}"));
        };
        self.object_from(tok, depth, at)
    }

    fn object_from(&mut self, tok: Token<'a>, depth: usize, at: usize) -> Result<Object> {
        if depth > MAX_DEPTH {
            return malformed(format!(
                "objects nested deeper than {MAX_DEPTH} at offset {at}"
            ));
        }
        Ok(match tok {
            Token::Int(i) => {
                // `num gen R` lookahead.
                let save = self.pos;
                if i >= 0
                    && let Ok(Some(Token::Int(g))) = self.next_token()
                    && (0..=65535).contains(&g)
                    && let Ok(Some(Token::Keyword(b"R"))) = self.next_token()
                    && i <= u32::MAX as i64
                {
                    return Ok(Object::Ref(ObjRef {
                        num: i as u32,
                        generation: g as u16,
                    }));
                }
                self.pos = save;
                Object::Int(i)
            }
            Token::Real(r) => Object::Real(r.to_vec()),
            Token::Name(n) => Object::Name(n),
            Token::Str(s) => Object::Str(s),
            Token::HexStr(s) => Object::HexStr(s),
            Token::ArrayOpen => {
                let mut items = Vec::new();
                loop {
                    let at = self.pos;
                    match self.next_token()? {
                        None => return malformed(format!("unterminated array at offset {at}")),
                        Some(Token::ArrayClose) => break,
                        Some(t) => items.push(self.object_from(t, depth + 1, at)?),
                    }
                }
                Object::Array(items)
            }
            Token::DictOpen => {
                let mut d = Dict::default();
                loop {
                    let at = self.pos;
                    match self.next_token()? {
                        None => {
                            return malformed(format!("unterminated dictionary at offset {at}"));
                        }
                        Some(Token::DictClose) => break,
                        Some(Token::Name(k)) => {
                            let vat = self.pos;
                            let Some(t) = self.next_token()? else {
                                return malformed(format!(
                                    "unterminated dictionary at offset {vat}"
                                ));
                            };
                            if t == Token::DictClose {
                                // `/Key >>`: a missing value reads as null (common damage, harmless).
                                d.0.push((k, Object::Null));
                                break;
                            }
                            let v = self.object_from(t, depth + 1, vat)?;
                            d.0.push((k, v));
                        }
                        Some(_) => {
                            return malformed(format!(
                                "dictionary key is not a name at offset {at}"
                            ));
                        }
                    }
                }
                Object::Dict(d)
            }
            Token::Keyword(b"true") => Object::Bool(true),
            Token::Keyword(b"false") => Object::Bool(false),
            Token::Keyword(b"null") => Object::Null,
            Token::Keyword(k) => {
                return malformed(format!(
                    "unexpected keyword '{}' at offset {at}",
                    String::from_utf8_lossy(k)
                ));
            }
            Token::ArrayClose | Token::DictClose => {
                return malformed(format!("unexpected closing bracket at offset {at}"));
            }
        })
    }
}

fn classify(word: &[u8]) -> Token<'_> {
    let digits = word.iter().filter(|b| b.is_ascii_digit()).count();
    let body = match word.first() {
        Some(b'+' | b'-') => &word[1..],
        _ => word,
    };
    let dots = body.iter().filter(|&&b| b == b'.').count();
    let numeric = digits > 0 && body.iter().all(|&b| b.is_ascii_digit() || b == b'.') && dots <= 1;
    if !numeric {
        return Token::Keyword(word);
    }
    if dots == 0 {
        // Integers that overflow i64 are kept as reals (they are never offsets or numbers we use).
        if let Ok(s) = std::str::from_utf8(word)
            && let Ok(i) = s.parse::<i64>()
        {
            return Token::Int(i);
        }
    }
    Token::Real(word)
}

// ---------------------------------------------------------------- serializer

/// Appends the PDF syntax of `obj` to `out`.
pub(crate) fn write_object(out: &mut Vec<u8>, obj: &Object) {
    match obj {
        Object::Null => out.extend_from_slice(b"null"),
        Object::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Object::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Object::Real(r) => out.extend_from_slice(r),
        Object::Name(n) => write_name(out, n),
        Object::Str(s) => write_literal(out, s),
        Object::HexStr(s) => write_hex(out, s),
        Object::Array(items) => {
            out.push(b'[');
            for (i, it) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                write_object(out, it);
            }
            out.push(b']');
        }
        Object::Dict(d) => write_dict(out, d),
        Object::Ref(r) => out.extend_from_slice(format!("{} {} R", r.num, r.generation).as_bytes()),
    }
}

pub(crate) fn write_dict(out: &mut Vec<u8>, d: &Dict) {
    out.extend_from_slice(b"<<");
    for (k, v) in &d.0 {
        if matches!(v, Object::Null) {
            continue;
        }
        write_name(out, k);
        out.push(b' ');
        write_object(out, v);
    }
    out.extend_from_slice(b">>");
}

/// Writes `/name`, escaping with `#xx` every byte that is not a regular printable character.
pub(crate) fn write_name(out: &mut Vec<u8>, n: &[u8]) {
    out.push(b'/');
    for &b in n {
        if b == b'#' || !(0x21..=0x7e).contains(&b) || is_delim(b) {
            out.extend_from_slice(format!("#{b:02X}").as_bytes());
        } else {
            out.push(b);
        }
    }
}

/// Writes a literal string: `\`, `(` and `)` escaped, non-printable bytes as `\ddd`.
pub(crate) fn write_literal(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'(');
    for &b in s {
        match b {
            b'(' | b')' | b'\\' => {
                out.push(b'\\');
                out.push(b);
            }
            0x20..=0x7e => out.push(b),
            _ => out.extend_from_slice(format!("\\{b:03o}").as_bytes()),
        }
    }
    out.push(b')');
}

/// Writes `<hex>`.
pub(crate) fn write_hex(out: &mut Vec<u8>, s: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push(b'<');
    for &b in s {
        out.push(HEX[(b >> 4) as usize]);
        out.push(HEX[(b & 15) as usize]);
    }
    out.push(b'>');
}

/// A PDF text string for `s`: PDFDocEncoding-compatible ASCII as is, anything else UTF-16BE with a BOM.
pub(crate) fn text_string(s: &str) -> Object {
    if s.bytes()
        .all(|b| (0x20..0x7f).contains(&b) || b == b'\n' || b == b'\t')
    {
        Object::Str(s.as_bytes().to_vec())
    } else {
        let mut v = vec![0xFE, 0xFF];
        for u in s.encode_utf16() {
            v.extend_from_slice(&u.to_be_bytes());
        }
        Object::HexStr(v)
    }
}

/// Decodes a PDF text string (UTF-16BE with BOM, UTF-8 with BOM, else PDFDocEncoding read as Latin-1).
pub(crate) fn decode_text(b: &[u8]) -> String {
    if let Some(rest) = b.strip_prefix(&[0xFE, 0xFF]) {
        let units: Vec<u16> = rest
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect();
        return String::from_utf16_lossy(&units);
    }
    if let Some(rest) = b.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return String::from_utf8_lossy(rest).into_owned();
    }
    b.iter().map(|&c| c as char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &[u8]) -> Result<Object> {
        Lexer::new(s, 0).parse_object(0)
    }

    #[test]
    fn literal_string_escapes() {
        assert_eq!(
            parse(b"(a\\(b\\)c)").unwrap(),
            Object::Str(b"a(b)c".to_vec())
        );
        assert_eq!(
            parse(b"(nested (parens) ok)").unwrap(),
            Object::Str(b"nested (parens) ok".to_vec())
        );
        assert_eq!(
            parse(b"(\\101\\0612\\7)").unwrap(),
            Object::Str(b"A12\x07".to_vec())
        );
        assert_eq!(
            parse(b"(line\\\ncont)").unwrap(),
            Object::Str(b"linecont".to_vec())
        );
        assert_eq!(
            parse(b"(cr\r\nlf)").unwrap(),
            Object::Str(b"cr\nlf".to_vec())
        );
        assert_eq!(
            parse(b"(\\n\\r\\t\\b\\f\\\\\\q)").unwrap(),
            Object::Str(b"\n\r\t\x08\x0c\\q".to_vec())
        );
        assert!(parse(b"(unterminated").is_err());
    }

    #[test]
    fn string_round_trip() {
        let nasty: Vec<u8> = (0u8..=255).chain(b"(()\\)(".iter().copied()).collect();
        let mut out = Vec::new();
        write_literal(&mut out, &nasty);
        assert_eq!(parse(&out).unwrap(), Object::Str(nasty.clone()));
        let mut out = Vec::new();
        write_hex(&mut out, &nasty);
        assert_eq!(parse(&out).unwrap(), Object::HexStr(nasty));
    }

    #[test]
    fn text_strings() {
        assert_eq!(
            text_string("Paris (FR)"),
            Object::Str(b"Paris (FR)".to_vec())
        );
        let o = text_string("Zürich");
        assert_eq!(decode_text(o.as_str().unwrap()), "Zürich");
        assert_eq!(decode_text(b"caf\xe9"), "café");
    }

    #[test]
    fn hex_strings_and_names() {
        assert_eq!(
            parse(b"<48 65 6C6c 6>").unwrap(),
            Object::HexStr(b"Hell`".to_vec())
        );
        assert!(parse(b"<4G>").is_err());
        assert_eq!(parse(b"/A#20B").unwrap(), Object::Name(b"A B".to_vec()));
        let mut out = Vec::new();
        write_name(&mut out, b"A B/#");
        assert_eq!(out, b"/A#20B#2F#23");
        assert_eq!(parse(&out).unwrap(), Object::Name(b"A B/#".to_vec()));
    }

    #[test]
    fn numbers_refs_and_containers() {
        assert_eq!(parse(b"-12").unwrap(), Object::Int(-12));
        assert_eq!(parse(b"+.5").unwrap(), Object::Real(b"+.5".to_vec()));
        assert_eq!(
            parse(b"12 0 R").unwrap(),
            Object::Ref(ObjRef {
                num: 12,
                generation: 0
            })
        );
        let o = parse(b"[1 2 R 3 4 5 R/N(s)<<>>]").unwrap();
        assert_eq!(
            o,
            Object::Array(vec![
                Object::Ref(ObjRef {
                    num: 1,
                    generation: 2
                }),
                Object::Int(3),
                Object::Ref(ObjRef {
                    num: 4,
                    generation: 5
                }),
                Object::Name(b"N".to_vec()),
                Object::Str(b"s".to_vec()),
                Object::Dict(Dict::default()),
            ])
        );
        let d = parse(b"<</A 1 %comment\n/B[true false null]/C>>").unwrap();
        let d = d.as_dict().unwrap();
        assert_eq!(d.int(b"A"), Some(1));
        assert!(d.get(b"C").is_none());
        assert!(parse(b"<</A 1 2>>").is_err());
        let mut dup = parse(b"<</K 1/J 2/K 3>>")
            .unwrap()
            .as_dict()
            .unwrap()
            .clone();
        assert_eq!(dup.int(b"K"), Some(3), "the last duplicate wins on read");
        dup.set(b"K", Object::Int(4));
        assert_eq!(dup.0.len(), 2);
        assert_eq!(dup.int(b"K"), Some(4));
        assert!(parse(b"[1 2").is_err());
        assert!(parse(b"]").is_err());
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let mut s = vec![b'['; 100_000];
        s.extend(vec![b']'; 100_000]);
        assert!(matches!(parse(&s), Err(crate::PdfError::Malformed(_))));
        let s = b"<</A".repeat(50_000);
        assert!(parse(&s).is_err());
    }
}
