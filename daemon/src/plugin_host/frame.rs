//! The frames between `sigild` and a `sigild plugin-host` child (`isolation = "process"`): length-prefixed
//! binary records on the child's stdin (requests) and stdout (responses). Plugin messages cross as the bytes the
//! plugin reads and writes; nothing is re-encoded on the way. All integers are little-endian.
//!
//! ```text
//! request:  "SGq1" | id u64 | op u8 | name_len u16 | body_len u32 | name | body
//! response: "SGr1" | id u64 | status u32 | body_len u32 | body
//! ```
//!
//! `op` is [`Op`]. The first request is always `Init` (id 0; name: the instance name, body: the plugin's JSON
//! config), answered by a [`Hello`] (status 0) or by the error of `create` (a plugin status and the plugin's
//! error message bytes, as [`sigil_plugin_api::PluginError::from_wire`] reads them). A `Call` carries the op name
//! and request message and is answered with the response message (status 0) or an error (status and error
//! message bytes). A `Health` answers status 0 with an optional detail ([`encode_detail`]). Responses may come
//! in any order; the id matches them. Anything else on the response stream (a wrong magic, an oversized frame,
//! an id nobody waits for) is a protocol error: the parent kills the child.

use std::io::{self, Read, Write};

use sigil_plugin_api::PluginKind;

/// Magic of a request frame.
pub const REQUEST_MAGIC: [u8; 4] = *b"SGq1";
/// Magic of a response frame.
pub const RESPONSE_MAGIC: [u8; 4] = *b"SGr1";
/// Largest body either side accepts (a frame claiming more is a protocol error).
pub const MAX_BODY: usize = 64 * 1024 * 1024;

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Create the instance from the config in the body.
    Init = 0,
    /// Run the named op with the body as request message.
    Call = 1,
    /// Run the health hook.
    Health = 2,
}

impl Op {
    fn from_raw(raw: u8) -> Option<Op> {
        match raw {
            0 => Some(Op::Init),
            1 => Some(Op::Call),
            2 => Some(Op::Health),
            _ => None,
        }
    }
}

/// A decoded request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Matches the response.
    pub id: u64,
    /// What to do.
    pub op: Op,
    /// Op name (`Call`) or instance name (`Init`).
    pub name: String,
    /// Request message or config.
    pub body: Vec<u8>,
}

/// A decoded response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The request's id.
    pub id: u64,
    /// 0: success; else the plugin status of an error.
    pub status: u32,
    /// Response message, or the error message bytes.
    pub body: Vec<u8>,
}

fn protocol(reason: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, reason.into())
}

/// Appends one request frame to `out`.
pub fn encode_request(out: &mut Vec<u8>, id: u64, op: Op, name: &str, body: &[u8]) {
    out.reserve(19 + name.len() + body.len());
    out.extend_from_slice(&REQUEST_MAGIC);
    out.extend_from_slice(&id.to_le_bytes());
    out.push(op as u8);
    out.extend_from_slice(&(name.len().min(usize::from(u16::MAX)) as u16).to_le_bytes());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&name.as_bytes()[..name.len().min(usize::from(u16::MAX))]);
    out.extend_from_slice(body);
}

/// Appends one response frame to `out`.
pub fn encode_response(out: &mut Vec<u8>, id: u64, status: u32, body: &[u8]) {
    out.reserve(20 + body.len());
    out.extend_from_slice(&RESPONSE_MAGIC);
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&status.to_le_bytes());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(body);
}

/// Fills `buf`; `Ok(false)` on a clean end of stream before the first byte.
fn read_exact_or_eof(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) if filled == 0 => return Ok(false),
            Ok(0) => return Err(protocol("the stream ended inside a frame")),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

fn read_body(reader: &mut impl Read, len: usize) -> io::Result<Vec<u8>> {
    if len > MAX_BODY {
        return Err(protocol(format!(
            "a frame claims {len} bytes, more than the {MAX_BODY} allowed"
        )));
    }
    let mut body = vec![0; len];
    if !read_exact_or_eof(reader, &mut body)? && len > 0 {
        return Err(protocol("the stream ended inside a frame"));
    }
    Ok(body)
}

fn check_magic(found: &[u8], expected: [u8; 4]) -> io::Result<()> {
    if found == expected {
        Ok(())
    } else {
        Err(protocol(format!(
            "bad frame magic {:?} (expected {:?}): something other than the runner wrote to the stream",
            String::from_utf8_lossy(found),
            String::from_utf8_lossy(&expected)
        )))
    }
}

/// Reads one request; `None` at a clean end of stream.
pub fn read_request(reader: &mut impl Read) -> io::Result<Option<Request>> {
    let mut head = [0u8; 19];
    if !read_exact_or_eof(reader, &mut head)? {
        return Ok(None);
    }
    check_magic(&head[..4], REQUEST_MAGIC)?;
    let id = u64::from_le_bytes(head[4..12].try_into().unwrap_or_default());
    let op = Op::from_raw(head[12]).ok_or_else(|| protocol(format!("unknown op {}", head[12])))?;
    let name_len = usize::from(u16::from_le_bytes([head[13], head[14]]));
    let body_len = u32::from_le_bytes(head[15..19].try_into().unwrap_or_default()) as usize;
    let name = String::from_utf8(read_body(reader, name_len)?)
        .map_err(|_| protocol("an op name is not UTF-8"))?;
    let body = read_body(reader, body_len)?;
    Ok(Some(Request { id, op, name, body }))
}

/// Reads one response; `None` at a clean end of stream.
pub fn read_response(reader: &mut impl Read) -> io::Result<Option<Response>> {
    let mut head = [0u8; 20];
    if !read_exact_or_eof(reader, &mut head)? {
        return Ok(None);
    }
    check_magic(&head[..4], RESPONSE_MAGIC)?;
    let id = u64::from_le_bytes(head[4..12].try_into().unwrap_or_default());
    let status = u32::from_le_bytes(head[12..16].try_into().unwrap_or_default());
    let body_len = u32::from_le_bytes(head[16..20].try_into().unwrap_or_default()) as usize;
    let body = read_body(reader, body_len)?;
    Ok(Some(Response { id, status, body }))
}

/// Writes frames from `queue` to `out`, flushing only when the queue is empty: everything that queued while
/// the previous write ran goes out in one write. Returns when every sender is gone or the stream breaks.
pub fn pump(queue: std::sync::mpsc::Receiver<Vec<u8>>, out: impl Write) -> io::Result<()> {
    let mut out = io::BufWriter::with_capacity(64 * 1024, out);
    while let Ok(first) = queue.recv() {
        out.write_all(&first)?;
        while let Ok(next) = queue.try_recv() {
            out.write_all(&next)?;
        }
        out.flush()?;
    }
    out.flush()
}

/// What the child reports once the instance exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// Plugin kind.
    pub kind: PluginKind,
    /// Plugin name from the descriptor.
    pub name: String,
    /// Plugin version.
    pub version: String,
    /// ABI minor.
    pub abi_minor: u32,
    /// The descriptor's `max_concurrency` (0: none).
    pub max_concurrency: u32,
    /// Detail of the first health check.
    pub health_detail: Option<String>,
}

fn put_str(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(&(text.len() as u32).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
}

/// An optional health detail as bytes: a flag byte, then the UTF-8 text.
pub fn encode_detail(detail: Option<&str>) -> Vec<u8> {
    match detail {
        None => vec![0],
        Some(text) => {
            let mut out = vec![1];
            out.extend_from_slice(text.as_bytes());
            out
        }
    }
}

/// Reads [`encode_detail`]'s bytes.
pub fn decode_detail(bytes: &[u8]) -> io::Result<Option<String>> {
    match bytes.split_first() {
        Some((0, _)) => Ok(None),
        Some((1, text)) => Ok(Some(String::from_utf8_lossy(text).into_owned())),
        _ => Err(protocol("malformed health detail")),
    }
}

impl Hello {
    /// The hello's body.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&self.kind.as_raw().to_le_bytes());
        out.extend_from_slice(&self.abi_minor.to_le_bytes());
        out.extend_from_slice(&self.max_concurrency.to_le_bytes());
        put_str(&mut out, &self.name);
        put_str(&mut out, &self.version);
        out.extend_from_slice(&encode_detail(self.health_detail.as_deref()));
        out
    }

    /// Reads a hello's body.
    pub fn decode(bytes: &[u8]) -> io::Result<Hello> {
        let bad = || protocol("malformed hello");
        let u32_at = |at: usize| -> io::Result<u32> {
            Ok(u32::from_le_bytes(
                bytes
                    .get(at..at + 4)
                    .ok_or_else(bad)?
                    .try_into()
                    .map_err(|_| bad())?,
            ))
        };
        let kind = PluginKind::from_raw(u32_at(0)?).ok_or_else(bad)?;
        let abi_minor = u32_at(4)?;
        let max_concurrency = u32_at(8)?;
        let mut at = 12;
        let mut string = || -> io::Result<String> {
            let len = u32_at(at)? as usize;
            let text = bytes.get(at + 4..at + 4 + len).ok_or_else(bad)?;
            at += 4 + len;
            String::from_utf8(text.to_vec()).map_err(|_| bad())
        };
        let name = string()?;
        let version = string()?;
        let health_detail = decode_detail(bytes.get(at..).ok_or_else(bad)?)?;
        Ok(Hello {
            kind,
            name,
            version,
            abi_minor,
            max_concurrency,
            health_detail,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_responses_round_trip() {
        let mut bytes = Vec::new();
        encode_request(&mut bytes, 7, Op::Call, "timestamp", b"{\"a\":1}");
        encode_request(&mut bytes, 8, Op::Health, "", b"");
        let mut reader = bytes.as_slice();
        let first = read_request(&mut reader).unwrap().unwrap();
        assert_eq!(
            (first.id, first.op, first.name.as_str()),
            (7, Op::Call, "timestamp")
        );
        assert_eq!(first.body, b"{\"a\":1}");
        assert_eq!(read_request(&mut reader).unwrap().unwrap().op, Op::Health);
        assert!(read_request(&mut reader).unwrap().is_none());

        let mut bytes = Vec::new();
        encode_response(&mut bytes, 9, 4, b"oops");
        let response = read_response(&mut bytes.as_slice()).unwrap().unwrap();
        assert_eq!(
            response,
            Response {
                id: 9,
                status: 4,
                body: b"oops".to_vec()
            }
        );
    }

    #[test]
    fn garbage_truncation_and_oversize_are_protocol_errors() {
        let error = read_response(&mut b"hello from printf\n....".as_slice()).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert!(error.to_string().contains("bad frame magic"), "{error}");
        let mut bytes = Vec::new();
        encode_response(&mut bytes, 1, 0, b"0123456789");
        let error = read_response(&mut &bytes[..bytes.len() - 3]).unwrap_err();
        assert!(error.to_string().contains("ended inside"), "{error}");
        let mut huge = Vec::new();
        huge.extend_from_slice(&RESPONSE_MAGIC);
        huge.extend_from_slice(&[0; 12]);
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(
            read_response(&mut huge.as_slice())
                .unwrap_err()
                .to_string()
                .contains("more than")
        );
    }

    #[test]
    fn hello_round_trips() {
        let hello = Hello {
            kind: PluginKind::KmsSigner,
            name: "kms-soft".into(),
            version: "1.2.3".into(),
            abi_minor: 0,
            max_concurrency: 4,
            health_detail: Some("3 keys".into()),
        };
        assert_eq!(Hello::decode(&hello.encode()).unwrap(), hello);
        let none = Hello {
            health_detail: None,
            ..hello
        };
        assert_eq!(Hello::decode(&none.encode()).unwrap(), none);
    }
}
