//! A streaming `multipart/form-data` reader (RFC 7578, RFC 2046 §5.1) for the seal uploads. A part's data is
//! handed on as slices of the request body's own frames, never copied into a buffer of the reader's: what is held
//! at a time is one frame (hyper's read buffer bounds it), a part's header block (at most
//! [`MAX_PART_HEADERS`] bytes) and a partial delimiter. axum's `Multipart` (multer) copies every frame into one
//! growing buffer and reads all the socket has before handing any on, so a fast client's upload could sit in
//! memory whole, and every byte of it was copied once more (6.6 % of the daemon's samples sealing 1 MiB files).
//!
//! Bounds: the preamble before the first boundary is at most [`MAX_PART_HEADERS`] bytes; the epilogue after the
//! closing boundary is never read. What a part may hold is the caller's rule (the seal handlers count bytes).

use std::pin::Pin;

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use bytes::{Buf as _, Bytes, BytesMut};
use futures::{Stream, StreamExt as _};
use serde_json::json;

use crate::error::{ApiError, ErrorKind};

/// Largest header block of one part, and largest preamble.
pub const MAX_PART_HEADERS: usize = 8 * 1024;

/// Longest boundary RFC 2046 allows.
const MAX_BOUNDARY: usize = 70;

type Frames = Pin<Box<dyn Stream<Item = Result<Bytes, String>> + Send>>;

/// Why a body is not a well-formed form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FormError(String);

/// Where the reader is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first boundary (the preamble is skipped).
    Preamble,
    /// Inside a part's data.
    Data,
    /// Just past a boundary: a part's headers or the closing `--` follow.
    Boundary,
    /// Past the closing boundary.
    Done,
}

/// One part's headers: its form field name and, for a file, the file name the client gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// `Content-Disposition: form-data; name="…"` (empty when absent).
    pub name: String,
    /// `filename="…"`, when given.
    pub file_name: Option<String>,
}

/// A form being read: [`Form::next_part`] moves to the next part, [`Form::chunk`] reads the current part's data.
pub struct Form {
    frames: Frames,
    /// `CRLF--boundary`: what ends a part's data.
    /// Finds the delimiter; built once, its needle is the delimiter.
    finder: memchr::memmem::Finder<'static>,
    /// Bytes received and not yet handed on: the rest of a frame, or a short piece carried over.
    head: Bytes,
    state: State,
}

impl Form {
    /// A reader of `frames` for `boundary` (already checked by [`boundary_of`]).
    fn new(frames: Frames, boundary: &str) -> Self {
        let mut delimiter = b"\r\n--".to_vec();
        delimiter.extend_from_slice(boundary.as_bytes());
        let finder = memchr::memmem::Finder::new(&delimiter).into_owned();
        Self {
            frames,
            finder,
            // The first boundary may open the body without the CRLF that precedes every other one.
            head: Bytes::from_static(b"\r\n"),
            state: State::Preamble,
        }
    }

    /// The next frame, or an error if the body ends here.
    async fn frame(&mut self, while_reading: &str) -> Result<Bytes, FormError> {
        loop {
            match self.frames.next().await {
                Some(Ok(frame)) if frame.is_empty() => continue,
                Some(Ok(frame)) => return Ok(frame),
                Some(Err(error)) => return Err(FormError(format!("reading the body: {error}"))),
                None => {
                    return Err(FormError(format!(
                        "the body ended {while_reading}, before the closing boundary"
                    )));
                }
            }
        }
    }

    /// The next piece of the current part's data (a slice of a received frame), or `None` at its end.
    ///
    /// # Errors
    /// The body ends or fails before the part's closing delimiter.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, FormError> {
        if !matches!(self.state, State::Data | State::Preamble) {
            return Ok(None);
        }
        loop {
            let place = if self.state == State::Preamble {
                "before the first boundary"
            } else {
                "inside a part"
            };
            if self.head.is_empty() {
                self.head = self.frame(place).await?;
            }
            let delimiter = self.finder.needle();
            if let Some(at) = self.finder.find(&self.head) {
                let data = self.head.split_to(at);
                self.head.advance(delimiter.len());
                self.state = State::Boundary;
                return Ok((!data.is_empty()).then_some(data));
            }
            // No whole delimiter: one may begin in the last bytes. The delimiter's only CR is its first byte
            // (a boundary holds none), so only the last CR of the tail can start one.
            let keep = partial_delimiter(&self.head, delimiter);
            if keep < self.head.len() {
                let data = self.head.split_to(self.head.len() - keep);
                return Ok(Some(data));
            }
            // All of `head` may be the delimiter's start: the next frame decides.
            let frame = self.frame(place).await?;
            let delimiter = self.finder.needle();
            let need = delimiter.len() - self.head.len();
            if frame.len() >= need {
                if frame[..need] == delimiter[self.head.len()..] {
                    self.head = frame.slice(need..);
                    self.state = State::Boundary;
                    return Ok(None);
                }
                // It was data after all.
                let data = std::mem::replace(&mut self.head, frame);
                return Ok(Some(data));
            }
            // A frame shorter than the rest of the delimiter: join the two small pieces and look again.
            let mut joined = BytesMut::with_capacity(self.head.len() + frame.len());
            joined.extend_from_slice(&self.head);
            joined.extend_from_slice(&frame);
            self.head = joined.freeze();
        }
    }

    /// Moves to the next part, skipping what is left of the current one; `None` past the closing boundary.
    ///
    /// # Errors
    /// A malformed body: a preamble over [`MAX_PART_HEADERS`], a header block over it or without
    /// `Content-Disposition: form-data`, or a body that ends before the closing boundary.
    pub async fn next_part(&mut self) -> Result<Option<Part>, FormError> {
        let mut preamble = 0usize;
        while matches!(self.state, State::Data | State::Preamble) {
            let preamble_now = self.state == State::Preamble;
            if let Some(skipped) = self.chunk().await?
                && preamble_now
            {
                preamble += skipped.len();
                if preamble > MAX_PART_HEADERS + 2 {
                    return Err(FormError(format!(
                        "no boundary in the first {MAX_PART_HEADERS} bytes"
                    )));
                }
            }
        }
        if self.state == State::Done {
            return Ok(None);
        }
        // Past a boundary: `--` closes the form; else transport padding, CRLF, then the header block up to an
        // empty line (which the same CRLF may begin when the part has no headers).
        let mut block = Vec::new();
        loop {
            if self.head.is_empty() {
                self.head = self.frame("after a boundary").await?;
            }
            let before = block.len();
            let take = self.head.len().min(MAX_PART_HEADERS + 2 - before);
            block.extend_from_slice(&self.head[..take]);
            if block.starts_with(b"--") {
                self.state = State::Done;
                return Ok(None);
            }
            // Only where the new bytes can complete an empty line: a block sent a byte at a time is scanned once.
            let from = before.saturating_sub(3);
            if let Some(at) = memchr::memmem::find(&block[from..], b"\r\n\r\n") {
                let end = from + at + 4;
                self.head.advance(end - before);
                block.truncate(end);
                break;
            }
            self.head.advance(take);
            if block.len() >= MAX_PART_HEADERS + 2 {
                return Err(FormError(format!(
                    "a part's headers are larger than {MAX_PART_HEADERS} bytes"
                )));
            }
        }
        let Some(line_end) = memchr::memmem::find(&block, b"\r\n") else {
            unreachable!("the block ends with an empty line");
        };
        if !block[..line_end].iter().all(|b| *b == b' ' || *b == b'\t') {
            return Err(FormError("a boundary is followed by other text".into()));
        }
        let part = parse_part_headers(&block[line_end + 2..])?;
        self.state = State::Data;
        Ok(Some(part))
    }
}

/// How many last bytes of `data` are a proper beginning of `delimiter` (which starts with its only CR).
fn partial_delimiter(data: &[u8], delimiter: &[u8]) -> usize {
    let window = data.len().min(delimiter.len() - 1);
    let tail = &data[data.len() - window..];
    match memchr::memrchr(b'\r', tail) {
        Some(at) if delimiter.starts_with(&tail[at..]) => window - at,
        _ => 0,
    }
}

/// The name and file name of a part from its header block (lines ending in CRLF, then an empty line).
fn parse_part_headers(block: &[u8]) -> Result<Part, FormError> {
    let mut headers = [httparse::EMPTY_HEADER; 16];
    let parsed = httparse::parse_headers(block, &mut headers)
        .map_err(|error| FormError(format!("a part's headers do not parse: {error}")))?;
    // httparse also ends a header section at a bare LF line: whatever it did not read (up to our CRLF CRLF) would
    // be dropped unseen, so a block it does not read to the end is refused.
    let httparse::Status::Complete((read, headers)) = parsed else {
        return Err(FormError("a part's headers are incomplete".into()));
    };
    if read != block.len() {
        return Err(FormError("a part's header lines must end with CRLF".into()));
    }
    let disposition = headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-disposition"))
        .ok_or_else(|| FormError("a part has no Content-Disposition header".into()))?;
    let value = std::str::from_utf8(disposition.value)
        .map_err(|_| FormError("a part's Content-Disposition is not UTF-8".into()))?;
    let mut params = split_params(value);
    let kind = params.next().unwrap_or_default();
    if !kind.trim().eq_ignore_ascii_case("form-data") {
        return Err(FormError(format!(
            "a part's Content-Disposition is `{}`, not form-data",
            kind.trim()
        )));
    }
    let (mut name, mut file_name) = (None, None);
    for param in params {
        let Some((key, raw)) = param.split_once('=') else {
            continue;
        };
        let value = unquote(raw.trim());
        match key.trim().to_ascii_lowercase().as_str() {
            "name" if name.is_none() => name = Some(value),
            "filename" if file_name.is_none() => file_name = Some(value),
            _ => {}
        }
    }
    Ok(Part {
        name: name.unwrap_or_default(),
        file_name,
    })
}

/// `value` split at the semicolons outside quoted strings.
fn split_params(value: &str) -> impl Iterator<Item = &str> {
    let mut pieces = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    let mut chars = value.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted && matches!(chars.peek(), Some((_, '"' | '\\'))) => escaped = true,
            '"' => quoted = !quoted,
            ';' if !quoted => {
                pieces.push(&value[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    pieces.push(&value[start..]);
    pieces.into_iter()
}

/// A parameter value: a quoted string or a token as it is. In a quoted string only `\"` and `\\` are escapes
/// (as curl and urllib3 write them); any other backslash is the character itself, as browsers send a
/// backslash of a file name.
fn unquote(value: &str) -> String {
    let Some(inner) = value
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
    else {
        return value.to_string();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match chars.peek() {
            Some('"' | '\\') if c == '\\' => out.extend(chars.next()),
            _ => out.push(c),
        }
    }
    out
}

/// The boundary of a `multipart/form-data` content type, checked against RFC 2046's `bchars` (1–70 of them,
/// not ending in a space).
///
/// # Errors
/// Another media type, no boundary, or a boundary outside the grammar.
pub fn boundary_of(content_type: &str) -> Result<String, FormError> {
    let mut params = split_params(content_type);
    let essence = params.next().unwrap_or_default().trim();
    if !essence.eq_ignore_ascii_case("multipart/form-data") {
        return Err(FormError(format!(
            "the Content-Type is `{essence}`, not multipart/form-data"
        )));
    }
    let boundary = params
        .filter_map(|p| p.split_once('='))
        .find(|(key, _)| key.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, value)| unquote(value.trim()))
        .ok_or_else(|| FormError("the Content-Type names no boundary".into()))?;
    let bchar = |c: char| c.is_ascii_alphanumeric() || "'()+_,-./:=? ".contains(c);
    if boundary.is_empty()
        || boundary.len() > MAX_BOUNDARY
        || boundary.ends_with(' ')
        || !boundary.chars().all(bchar)
    {
        return Err(FormError(
            "the boundary must be 1 to 70 characters of RFC 2046's set, not ending in a space"
                .into(),
        ));
    }
    Ok(boundary)
}

impl<S: Send + Sync> FromRequest<S> for Form {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let boundary = boundary_of(&content_type).map_err(|error| {
            ApiError::new(
                ErrorKind::UnsupportedMediaType,
                format!("expected a multipart/form-data body: {error}"),
            )
            .with_details(json!({ "field": "Content-Type" }))
        })?;
        let frames = Body::into_data_stream(request.into_body())
            .map(|frame| frame.map_err(|error| error.to_string()));
        Ok(Form::new(Box::pin(frames), &boundary))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUNDARY: &str = "X-b0und'ary";

    fn body() -> Vec<u8> {
        let mut body = b"preamble text\r\n".to_vec();
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"certificateId\"\r\n\r\nplatform\r\n\
                 --{BOUNDARY}  \r\ncontent-disposition: form-data; name=\"file\"; filename=\"a \\\"b\\\"; c.bin\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        // Data full of near-delimiters: CRs, CRLF--, and the boundary without its CRLF.
        for i in 0..40u8 {
            body.extend_from_slice(&[i, b'\r', b'\n', b'-', b'-', b'X', b'\r']);
            body.extend_from_slice(format!("--{BOUNDARY}").as_bytes());
            body.extend_from_slice(b"\r\n-");
        }
        body.extend_from_slice(
            format!(
                "\r\n--{BOUNDARY}\r\nContent-Disposition: form-data\r\n\r\n\r\n--{BOUNDARY}--\r\nepilogue"
            )
            .as_bytes(),
        );
        body
    }

    fn file_data() -> Vec<u8> {
        let mut data = Vec::new();
        for i in 0..40u8 {
            data.extend_from_slice(&[i, b'\r', b'\n', b'-', b'-', b'X', b'\r']);
            data.extend_from_slice(format!("--{BOUNDARY}").as_bytes());
            data.extend_from_slice(b"\r\n-");
        }
        data
    }

    fn form_of(frames: Vec<Bytes>) -> Form {
        let stream = futures::stream::iter(frames.into_iter().map(Ok));
        Form::new(Box::pin(stream), BOUNDARY)
    }

    /// Every part of the form with its whole data.
    async fn read_all(form: &mut Form) -> Result<Vec<(Part, Vec<u8>)>, FormError> {
        let mut parts = Vec::new();
        while let Some(part) = form.next_part().await? {
            let mut data = Vec::new();
            while let Some(chunk) = form.chunk().await? {
                assert!(!chunk.is_empty());
                data.extend_from_slice(&chunk);
            }
            parts.push((part, data));
        }
        Ok(parts)
    }

    fn expected() -> Vec<(Part, Vec<u8>)> {
        vec![
            (
                Part {
                    name: "certificateId".into(),
                    file_name: None,
                },
                b"platform".to_vec(),
            ),
            (
                Part {
                    name: "file".into(),
                    file_name: Some("a \"b\"; c.bin".into()),
                },
                file_data(),
            ),
            (
                Part {
                    name: String::new(),
                    file_name: None,
                },
                Vec::new(),
            ),
        ]
    }

    fn run<T>(future: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }

    #[test]
    fn a_form_split_into_frames_anywhere_reads_the_same() {
        let body = Bytes::from(body());
        run(async {
            // Whole, in frames of every small size, and cut in two at every position.
            let mut splits: Vec<Vec<Bytes>> = vec![vec![body.clone()]];
            for size in 1..=9 {
                splits.push(body.chunks(size).map(Bytes::copy_from_slice).collect());
            }
            for at in 0..=body.len() {
                splits.push(vec![body.slice(..at), body.slice(at..)]);
            }
            for frames in splits {
                let count = frames.len();
                let mut form = form_of(frames);
                assert_eq!(
                    read_all(&mut form).await.unwrap(),
                    expected(),
                    "{count} frames"
                );
                assert_eq!(form.next_part().await.unwrap(), None);
            }
        });
    }

    /// Forms whose data is drawn from the delimiter's own bytes, cut into frames at random places, read back
    /// exactly (a fixed-seed generator: the same cases every run).
    #[test]
    fn random_data_made_of_delimiter_bytes_in_random_frames_reads_back_exactly() {
        let mut seed = 0x5eed_u64;
        let mut next = move |below: usize| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((seed >> 33) as usize) % below
        };
        let alphabet: Vec<u8> = format!("\r\n-{BOUNDARY}").into_bytes();
        run(async {
            for _ in 0..500 {
                let parts: Vec<Vec<u8>> = (0..1 + next(3))
                    .map(|_| {
                        (0..next(200))
                            .map(|_| alphabet[next(alphabet.len())])
                            .collect()
                    })
                    .collect();
                let mut body = Vec::new();
                for (i, data) in parts.iter().enumerate() {
                    body.extend_from_slice(
                        format!(
                            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"p{i}\"\r\n\r\n"
                        )
                        .as_bytes(),
                    );
                    body.extend_from_slice(data);
                    body.extend_from_slice(b"\r\n");
                }
                body.extend_from_slice(format!("--{BOUNDARY}--").as_bytes());
                let mut frames = Vec::new();
                let mut at = 0;
                while at < body.len() {
                    let size = 1 + next(40);
                    let end = (at + size).min(body.len());
                    frames.push(Bytes::copy_from_slice(&body[at..end]));
                    at = end;
                }
                let read = read_all(&mut form_of(frames)).await;
                // Data that happens to hold the whole delimiter ends its part there (the client should have
                // picked another boundary); every other form reads back exactly.
                let delimiter = format!("\r\n--{BOUNDARY}").into_bytes();
                if parts.iter().any(|d| {
                    memchr::memmem::find(&[d.as_slice(), b"\r\n"].concat(), &delimiter).is_some()
                }) {
                    continue;
                }
                let read = read.unwrap();
                let data: Vec<Vec<u8>> = read.into_iter().map(|(_, data)| data).collect();
                assert_eq!(data, parts);
            }
        });
    }

    #[test]
    fn a_part_left_unread_is_skipped() {
        run(async {
            let mut form = form_of(vec![Bytes::from(body())]);
            assert_eq!(
                form.next_part().await.unwrap().unwrap().name,
                "certificateId"
            );
            assert_eq!(form.next_part().await.unwrap().unwrap().name, "file");
            assert_eq!(form.chunk().await.unwrap().unwrap()[0], 0);
            assert_eq!(form.next_part().await.unwrap().unwrap().name, "");
            assert_eq!(form.next_part().await.unwrap(), None);
        });
    }

    #[test]
    fn malformed_forms_are_refused_with_the_reason() {
        let refused = |body: &str| {
            let body = Bytes::from(body.replace("B", BOUNDARY));
            run(async { read_all(&mut form_of(vec![body])).await.unwrap_err().0 })
        };
        assert!(refused("").contains("ended"));
        assert!(
            refused("--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end")
                .contains("ended inside a part")
        );
        assert!(
            refused("--B\r\nContent-Type: text/plain\r\n\r\nx\r\n--B--")
                .contains("no Content-Disposition")
        );
        assert!(
            refused("--B\r\nContent-Disposition: attachment\r\n\r\nx\r\n--B--")
                .contains("not form-data")
        );
        assert!(refused("--Bjunk\r\n\r\nx\r\n--B--").contains("followed by other text"));
        assert!(
            refused(&format!(
                "--B\r\nX: {}\r\n\r\n",
                "a".repeat(MAX_PART_HEADERS)
            ))
            .contains("larger than")
        );
        assert!(
            refused(&format!("{}\r\n--B--", "p".repeat(MAX_PART_HEADERS + 8)))
                .contains("no boundary in the first")
        );
        assert!(
            refused("--B\r\nContent-Disposition: form-data\r\n").contains("ended after a boundary")
        );
        // A bare LF ending the headers early would hide what follows up to the CRLF CRLF.
        assert!(
            refused("--B\r\nContent-Disposition: form-data; name=\"file\"\n\nHIDDEN\r\n\r\nREAL\r\n--B--")
                .contains("must end with CRLF")
        );
        // A form with no parts at all is well formed.
        run(async {
            let mut form = form_of(vec![Bytes::from(format!("--{BOUNDARY}--"))]);
            assert_eq!(form.next_part().await.unwrap(), None);
        });
    }

    #[test]
    fn the_boundary_comes_from_the_content_type_and_follows_rfc_2046() {
        assert_eq!(
            boundary_of("multipart/form-data; boundary=abc").unwrap(),
            "abc"
        );
        assert_eq!(
            boundary_of("Multipart/Form-Data; charset=utf-8; BOUNDARY=\"a b:c\"").unwrap(),
            "a b:c"
        );
        for bad in [
            "application/json",
            "multipart/form-data",
            "multipart/form-data; boundary=",
            "multipart/form-data; boundary=\"a\r\nb\"",
            "multipart/form-data; boundary=\"ends \"",
            &format!("multipart/form-data; boundary={}", "b".repeat(71)),
        ] {
            assert!(boundary_of(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn backslashes_of_file_names_are_kept_unless_they_escape_a_quote_or_a_backslash() {
        let part = |disposition: &str| {
            parse_part_headers(format!("Content-Disposition: {disposition}\r\n\r\n").as_bytes())
                .unwrap()
        };
        assert_eq!(
            part(r#"form-data; name="file"; filename="C:\dir\a.pdf""#)
                .file_name
                .as_deref(),
            Some(r"C:\dir\a.pdf")
        );
        assert_eq!(
            part(r#"form-data; name="file"; filename="say \"hi\" \\ bye""#)
                .file_name
                .as_deref(),
            Some(r#"say "hi" \ bye"#)
        );
        assert_eq!(part(r#"form-data; Name="file""#).name, "file");
    }

    #[test]
    fn only_a_real_delimiter_start_is_held_back() {
        let delimiter = b"\r\n--ab";
        assert_eq!(partial_delimiter(b"xyz", delimiter), 0);
        assert_eq!(partial_delimiter(b"xyz\r", delimiter), 1);
        assert_eq!(partial_delimiter(b"xyz\r\n--a", delimiter), 5);
        assert_eq!(partial_delimiter(b"xyz\r\n-x", delimiter), 0);
        assert_eq!(partial_delimiter(b"\r", delimiter), 1);
    }
}
