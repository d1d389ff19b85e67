//! Test scaffolding: a loopback HTTP server, a real OpenSSL time-stamping authority in a temp dir, and a
//! `dlopen` loader for plugin libraries. Nothing here reaches beyond 127.0.0.1.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use sigil_plugin_api::serde_json::Value;
use sigil_plugin_api::{HostInstance, TsaBackend};
use sigil_tsa_http::TsaHttp;

/// One request as the loopback server received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// `POST /path HTTP/1.1`.
    pub request_line: String,
    /// Header names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// A loopback HTTP/1.1 server on an ephemeral port; one thread per connection, one request per connection.
pub struct Server {
    pub addr: SocketAddr,
    pub requests: Arc<Mutex<Vec<Recorded>>>,
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

type Handler = dyn Fn(&Recorded, &mut TcpStream) + Send + Sync;

/// Starts a server whose `handler` writes the whole answer for each request. Its threads end with the test
/// process; each one serves a single connection.
pub fn serve(handler: impl Fn(&Recorded, &mut TcpStream) + Send + Sync + 'static) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let handler: Arc<Handler> = Arc::new(handler);
    let recorded = Arc::clone(&requests);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let handler = Arc::clone(&handler);
            let recorded = Arc::clone(&recorded);
            std::thread::spawn(move || {
                stream
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                let Some(request) = read_request(&mut stream) else {
                    return;
                };
                recorded.lock().unwrap().push(request.clone());
                handler(&request, &mut stream);
            });
        }
    });
    Server { addr, requests }
}

/// Reads one request with a Content-Length body (all this plugin sends).
pub fn read_request(stream: &mut TcpStream) -> Option<Recorded> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
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
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let length: usize = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .map_or(0, |(_, value)| value.parse().unwrap());
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Recorded {
        request_line: request_line.trim_end().to_owned(),
        headers,
        body,
    })
}

/// Writes a complete answer and closes the connection.
pub fn respond(stream: &mut TcpStream, status: &str, content_type: &str, body: &[u8]) {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    // The client may have given up already (timeout tests); that is not this thread's failure.
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
    let _ = stream.flush();
}

/// Holds a stand-in server's answer until the test releases it, and records whether the answer was written:
/// a call that returns while the answer is still held can only have been cut off by its own deadline.
pub struct Gate {
    released: Mutex<bool>,
    changed: Condvar,
    answered: AtomicBool,
}

impl Gate {
    /// Fail-safe only: if the plugin never gives up, the held answer goes out after this and the test fails
    /// on the answer it gets, instead of hanging. No assertion depends on it.
    const HOLD_LIMIT: Duration = Duration::from_secs(120);

    pub fn new() -> Arc<Gate> {
        Arc::new(Gate {
            released: Mutex::new(false),
            changed: Condvar::new(),
            answered: AtomicBool::new(false),
        })
    }

    /// Waits for [`Gate::release`] (or the fail-safe), marks the answer as written, then runs `answer`.
    pub fn pass(&self, answer: impl FnOnce()) {
        let released = self.released.lock().unwrap();
        drop(
            self.changed
                .wait_timeout_while(released, Self::HOLD_LIMIT, |released| !*released)
                .unwrap(),
        );
        self.answered.store(true, Ordering::SeqCst);
        answer();
    }

    pub fn release(&self) {
        *self.released.lock().unwrap() = true;
        self.changed.notify_all();
    }

    /// Whether a held answer has been written.
    pub fn answered(&self) -> bool {
        self.answered.load(Ordering::SeqCst)
    }
}

/// A port on which nothing listens: bound, then released.
pub fn dead_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    addr
}

/// Creates the plugin in-process, as the rlib.
pub fn plugin(config: Value) -> TsaHttp {
    TsaHttp::create(config).unwrap()
}

/// Runs a command and returns its stdout, failing the test with its stderr on error.
pub fn run(command: &mut Command) -> Vec<u8> {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("{command:?}: {error}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// A real RFC 3161 TSA: OpenSSL's `ts -reply` with a fresh EC P-256 key and a self-signed certificate whose
/// critical extended key usage is timeStamping, all in a temp dir.
pub struct OpensslTsa {
    pub dir: tempfile::TempDir,
    /// `openssl ts -reply` increments a serial file without locking: one reply at a time.
    reply_lock: Mutex<()>,
}

pub const TEST_POLICY: &str = "1.3.6.1.4.1.99999.1";

impl OpensslTsa {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path();
        run(Command::new("openssl")
            .current_dir(path)
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
            ])
            .args([
                "-nodes", "-keyout", "key.pem", "-out", "tsa.pem", "-days", "2",
            ])
            .args(["-subj", "/CN=Sigil test TSA"])
            .args(["-addext", "extendedKeyUsage=critical,timeStamping"]));
        std::fs::write(path.join("serial"), "01\n").unwrap();
        let config = format!(
            "[ tsa ]\n\
             default_tsa = sigil_test_tsa\n\
             [ sigil_test_tsa ]\n\
             serial = {dir}/serial\n\
             crypto_device = builtin\n\
             signer_cert = {dir}/tsa.pem\n\
             signer_key = {dir}/key.pem\n\
             signer_digest = sha256\n\
             default_policy = {TEST_POLICY}\n\
             other_policies = 1.3.6.1.4.1.99999.2\n\
             digests = sha256, sha384, sha512\n\
             accuracy = secs:1\n\
             ordering = yes\n\
             tsa_name = yes\n\
             ess_cert_id_chain = no\n\
             ess_cert_id_alg = sha256\n",
            dir = path.display()
        );
        std::fs::write(path.join("ts.cnf"), config).unwrap();
        OpensslTsa {
            dir,
            reply_lock: Mutex::new(()),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Builds a SHA-256 query for `data` asking for the TSA certificate in the token; returns its path and DER.
    pub fn query(&self, name: &str, data: &[u8]) -> (PathBuf, Vec<u8>) {
        let data_path = self.path(&format!("{name}.data"));
        let query_path = self.path(&format!("{name}.tsq"));
        std::fs::write(&data_path, data).unwrap();
        run(Command::new("openssl")
            .args(["ts", "-query", "-sha256", "-cert", "-data"])
            .arg(&data_path)
            .arg("-out")
            .arg(&query_path));
        let der = std::fs::read(&query_path).unwrap();
        (query_path, der)
    }

    /// Answers a DER query the way a TSA server would.
    pub fn reply(&self, query_der: &[u8]) -> Vec<u8> {
        let _one_at_a_time = self.reply_lock.lock().unwrap();
        let query = self.path("incoming.tsq");
        let reply = self.path("outgoing.tsr");
        std::fs::write(&query, query_der).unwrap();
        run(Command::new("openssl")
            .args(["ts", "-reply", "-queryfile"])
            .arg(&query)
            .arg("-inkey")
            .arg(self.path("key.pem"))
            .arg("-signer")
            .arg(self.path("tsa.pem"))
            .arg("-config")
            .arg(self.path("ts.cnf"))
            .arg("-out")
            .arg(&reply));
        std::fs::read(&reply).unwrap()
    }

    /// The independent oracle: `openssl ts -verify` against the query and the TSA certificate.
    pub fn verify(&self, query_path: &Path, reply_der: &[u8], name: &str) -> Result<(), String> {
        let reply_path = self.path(&format!("{name}.tsr"));
        std::fs::write(&reply_path, reply_der).unwrap();
        let output = Command::new("openssl")
            .args(["ts", "-verify", "-queryfile"])
            .arg(query_path)
            .arg("-in")
            .arg(&reply_path)
            .arg("-CAfile")
            .arg(self.path("tsa.pem"))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        if output.status.success() && stdout.contains("Verification: OK") {
            Ok(())
        } else {
            Err(format!(
                "{stdout}{}",
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    }

    /// Serves this TSA over loopback HTTP, as RFC 3161 §3.4 describes.
    pub fn serve(self: &Arc<Self>) -> Server {
        let tsa = Arc::clone(self);
        serve(move |request, stream| {
            let reply = tsa.reply(&request.body);
            respond(stream, "200 OK", "application/timestamp-reply", &reply);
        })
    }
}

/// The C compiler, or `None` when there is none (the C fixture tests then say so and pass).
pub fn c_compiler() -> Option<String> {
    let compiler = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let found = Command::new(&compiler).arg("--version").output().is_ok();
    if !found {
        eprintln!("no C compiler ({compiler}); skipping a C fixture test");
    }
    found.then_some(compiler)
}

/// The workspace root (this crate lives in `plugins/tsa-http`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .unwrap()
        .to_owned()
}

/// Typed access to a plugin loaded from a shared object, as sigild does it.
pub mod dl {
    use core::ffi::{c_char, c_int, c_void};
    use std::ffi::{CStr, CString};
    use std::path::Path;

    use sigil_plugin_api::{
        DescriptorError, SIGIL_PLUGIN_ENTRY_SYMBOL, SigilPluginEntryFn, ValidatedDescriptor,
        validate_descriptor,
    };

    const RTLD_NOW: c_int = 2;
    const RTLD_LOCAL: c_int = 0;

    unsafe extern "C" {
        // In glibc's libc.so.6 since 2.34, which the Rust standard library already links.
        fn dlopen(filename: *const c_char, flags: c_int) -> *mut c_void;
        fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
        fn dlerror() -> *const c_char;
    }

    /// Opens a library (never closed, as in sigild) and returns its entry function, or `None` when it
    /// exports none.
    pub fn entry(path: &Path) -> Option<SigilPluginEntryFn> {
        let path = CString::new(path.to_str().unwrap()).unwrap();
        let symbol = CString::new(SIGIL_PLUGIN_ENTRY_SYMBOL).unwrap();
        // SAFETY: valid NUL-terminated strings; the handle is deliberately leaked (never dlclose).
        let handle = unsafe { dlopen(path.as_ptr(), RTLD_NOW | RTLD_LOCAL) };
        if handle.is_null() {
            // SAFETY: dlerror returns a NUL-terminated message after a failed dlopen.
            panic!("dlopen: {:?}", unsafe { CStr::from_ptr(dlerror()) });
        }
        // SAFETY: as above.
        let entry = unsafe { dlsym(handle, symbol.as_ptr()) };
        if entry.is_null() {
            return None;
        }
        // SAFETY: the symbol is the plugin's entry function, of type SigilPluginEntryFn by the ABI.
        Some(unsafe { std::mem::transmute::<*mut c_void, SigilPluginEntryFn>(entry) })
    }

    /// Loads a plugin and validates its descriptor.
    pub fn load(path: &Path) -> Result<ValidatedDescriptor, DescriptorError> {
        let entry = entry(path).expect("the library exports sigil_plugin_entry_v1");
        // SAFETY: the descriptor comes from the entry symbol of a library that stays loaded.
        unsafe { validate_descriptor(entry()) }
    }
}

/// Stamps `query_der` through a loaded plugin instance.
pub fn stamp_via_host(instance: &HostInstance, query_der: &[u8]) -> Vec<u8> {
    let response: sigil_plugin_api::TimestampResponse = instance
        .call_message(
            "timestamp",
            &sigil_plugin_api::TimestampRequest {
                request_der: query_der.into(),
                timeout_ms: Some(10_000),
            },
        )
        .unwrap();
    response.response_der.0
}
