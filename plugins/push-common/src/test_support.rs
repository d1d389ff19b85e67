//! A loopback HTTP stand-in for the push channels' tests (feature `test-support`): a receiver on
//! `127.0.0.1:0` that reads each request, records what the test makes of it, and answers every request with
//! one fixed [`Answer`], at once or once the test releases it. Nothing leaves 127.0.0.1.
//!
//! Each test turns a [`Request`] into its own record (checking a signature, decrypting a body) with the
//! closure it starts the stand-in with, so the checks stay written from the protocol, in the test.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use sigil_plugin_api::serde_json::{self, Value};

/// One request as the stand-in read it.
#[derive(Debug, Clone)]
pub struct Request {
    /// `POST`, ...
    pub method: String,
    /// The request target, query included.
    pub path: String,
    /// The headers in order, names lowercased, values trimmed.
    pub headers: Vec<(String, String)>,
    /// The body, `Content-Length` bytes of it.
    pub body: Vec<u8>,
}

impl Request {
    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The body as JSON, `null` when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// What the stand-in answers every request with.
#[derive(Debug, Clone, Copy)]
pub struct Answer {
    /// The status line's status, e.g. `"201 Created"`.
    pub status: &'static str,
    /// Header lines before `Content-Length`, each ending in `\r\n`; `""` for none.
    pub headers: &'static str,
    /// The body.
    pub body: &'static str,
}

/// Holds the stand-in's answers until the test releases them, and records whether one was written.
struct Gate {
    released: Mutex<bool>,
    changed: Condvar,
    answered: AtomicBool,
}

impl Gate {
    /// Fail-safe only: if the plugin never gives up, the held answer goes out after this and the test fails
    /// on the answer it gets, instead of hanging. No assertion depends on it.
    const HOLD_LIMIT: Duration = Duration::from_secs(120);

    fn new(released: bool) -> Arc<Gate> {
        Arc::new(Gate {
            released: Mutex::new(released),
            changed: Condvar::new(),
            answered: AtomicBool::new(false),
        })
    }

    /// Waits for [`Gate::release`] (or the fail-safe), then marks the answer as written.
    fn pass(&self) {
        let released = self.released.lock().unwrap();
        drop(
            self.changed
                .wait_timeout_while(released, Self::HOLD_LIMIT, |released| !*released)
                .unwrap(),
        );
        self.answered.store(true, Ordering::SeqCst);
    }

    fn release(&self) {
        *self.released.lock().unwrap() = true;
        self.changed.notify_all();
    }
}

/// A receiver on an ephemeral loopback port that records `T`s made from its requests.
pub struct StandIn<T> {
    addr: SocketAddr,
    recorded: Arc<Mutex<Vec<T>>>,
    gate: Arc<Gate>,
}

impl<T: Clone + Send + 'static> StandIn<T> {
    /// Answers each request with `answer` as soon as it has recorded `record(request)`.
    pub fn start(answer: Answer, record: impl Fn(Request) -> T + Send + Sync + 'static) -> Self {
        StandIn::spawn(answer, Gate::new(true), record)
    }

    /// Records each request at once, then holds its answer until [`StandIn::release`].
    pub fn start_held(
        answer: Answer,
        record: impl Fn(Request) -> T + Send + Sync + 'static,
    ) -> Self {
        StandIn::spawn(answer, Gate::new(false), record)
    }

    fn spawn(
        answer: Answer,
        gate: Arc<Gate>,
        record: impl Fn(Request) -> T + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let recorded = Arc::new(Mutex::new(Vec::new()));
        let into = Arc::clone(&recorded);
        let held = Arc::clone(&gate);
        let record = Arc::new(record);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let into = Arc::clone(&into);
                let gate = Arc::clone(&held);
                let record = Arc::clone(&record);
                std::thread::spawn(move || {
                    if let Some(request) = read_request(&stream) {
                        into.lock().unwrap().push(record(request));
                        gate.pass();
                        write_answer(stream, answer);
                    }
                });
            }
        });
        StandIn {
            addr,
            recorded,
            gate,
        }
    }

    /// The loopback address and port it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// What it has recorded so far, in arrival order.
    pub fn recorded(&self) -> Vec<T> {
        self.recorded.lock().unwrap().clone()
    }

    /// Whether it has written an answer.
    pub fn answered(&self) -> bool {
        self.gate.answered.load(Ordering::SeqCst)
    }

    /// Lets held answers go out.
    pub fn release(&self) {
        self.gate.release();
    }
}

/// Reads one request; `None` when the client went away before the headers ended.
fn read_request(stream: &TcpStream) -> Option<Request> {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    reader.read_line(&mut request_line).ok()?;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').unwrap();
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let mut parts = request_line.split(' ');
    let mut request = Request {
        method: parts.next().unwrap_or_default().to_owned(),
        path: parts.next().unwrap_or_default().to_owned(),
        headers,
        body: Vec::new(),
    };
    let length = request
        .header("content-length")
        .map_or(0, |value| value.parse().unwrap());
    request.body = vec![0; length];
    reader.read_exact(&mut request.body).unwrap();
    Some(request)
}

fn write_answer(mut stream: TcpStream, answer: Answer) {
    let Answer {
        status,
        headers,
        body,
    } = answer;
    let _ = stream.write_all(
        format!(
            "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
}
