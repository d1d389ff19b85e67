//! Stand-in time-stamping authorities for the tsa-http plugin, and the `openssl` oracle the timestamping tests
//! share. A good stand-in is a loopback HTTP server wrapping `openssl ts -reply` (code nobody here wrote, so
//! its tokens are an independent reference); the bad ones fail in exactly one way each: a dead port, an answer
//! slower than the attempt deadline, HTTP 503, and 200 with a body that is no TimeStampResp.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

// ---- openssl -------------------------------------------------------------------------------------------------

/// Runs `openssl args` in `dir`.
#[track_caller]
pub fn openssl(dir: &Path, args: &[&str]) -> Output {
    Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run openssl ({e}): install it with `apt-get install -y openssl`")
        })
}

/// Runs `openssl args` in `dir`, asserts it succeeded, and returns stdout and stderr together.
#[track_caller]
pub fn openssl_ok(dir: &Path, args: &[&str]) -> String {
    let output = openssl(dir, args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "openssl {args:?} failed:\n{text}");
    text
}

/// Runs `openssl args` in `dir` and asserts it failed (a negative oracle check, so a passing verification is
/// known not to be vacuous).
#[track_caller]
pub fn openssl_fails(dir: &Path, args: &[&str]) {
    let output = openssl(dir, args);
    assert!(
        !output.status.success(),
        "openssl {args:?} should have failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A TSA run by `openssl ts -reply`: an ECDSA P-256 root CA and a TSA certificate it issued (critical
/// timeStamping EKU), a serial file and a `[tsa]` config stamping under `policy`.
pub struct OpensslTsa {
    dir: tempfile::TempDir,
    /// The TSA policy OID its tokens carry (`default_policy`).
    pub policy: String,
    /// Serialises `openssl ts -reply` runs (they share the serial file) and numbers their files.
    runs: Mutex<u64>,
}

impl OpensslTsa {
    /// Creates the keys, certificates and config in a new temp dir.
    pub fn new(common_name: &str, policy: &str) -> Arc<OpensslTsa> {
        let dir = tempfile::Builder::new()
            .prefix("openssl-tsa-")
            .tempdir()
            .expect("temp dir");
        let path = dir.path();
        let root_subject = format!("/CN={common_name} Root CA");
        let tsa_subject = format!("/CN={common_name}");
        openssl_ok(
            path,
            &[
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
                "root.key",
            ],
        );
        openssl_ok(
            path,
            &[
                "req",
                "-new",
                "-x509",
                "-key",
                "root.key",
                "-out",
                "root.pem",
                "-days",
                "30",
                "-subj",
                &root_subject,
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
        openssl_ok(
            path,
            &[
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
                "tsa.key",
            ],
        );
        openssl_ok(
            path,
            &[
                "req",
                "-new",
                "-key",
                "tsa.key",
                "-out",
                "tsa.csr",
                "-subj",
                &tsa_subject,
            ],
        );
        std::fs::write(
            path.join("ext.cnf"),
            "[tsa_ext]\nbasicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature\n\
             extendedKeyUsage = critical,timeStamping\nsubjectKeyIdentifier = hash\n\
             authorityKeyIdentifier = keyid\n",
        )
        .expect("writing ext.cnf");
        openssl_ok(
            path,
            &[
                "x509",
                "-req",
                "-in",
                "tsa.csr",
                "-CA",
                "root.pem",
                "-CAkey",
                "root.key",
                "-set_serial",
                "2",
                "-days",
                "30",
                "-out",
                "tsa.pem",
                "-extfile",
                "ext.cnf",
                "-extensions",
                "tsa_ext",
            ],
        );
        std::fs::write(path.join("serial"), "01\n").expect("writing the serial file");
        std::fs::write(
            path.join("ts.cnf"),
            format!(
                "[ tsa ]\ndefault_tsa = tsa_config\n[ tsa_config ]\nserial = {dir}/serial\n\
                 crypto_device = builtin\ncerts = {dir}/root.pem\nsigner_digest = sha256\n\
                 default_policy = {policy}\nother_policies = 1.3.6.1.4.1.32473.99\n\
                 digests = sha256, sha384, sha512\naccuracy = secs:1\nordering = no\ntsa_name = yes\n\
                 ess_cert_id_chain = no\ness_cert_id_alg = sha256\n",
                dir = path.display()
            ),
        )
        .expect("writing ts.cnf");
        Arc::new(OpensslTsa {
            dir,
            policy: policy.to_string(),
            runs: Mutex::new(0),
        })
    }

    /// Its directory (keys, certificates, config).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The root CA certificate (PEM file).
    pub fn root_pem(&self) -> PathBuf {
        self.dir.path().join("root.pem")
    }

    /// The `[[tsa_providers]]` line that makes its root this provider's trust anchor.
    pub fn anchor(&self) -> String {
        format!("trust_roots_file = \"{}\"", self.root_pem().display())
    }

    /// From now on its tokens embed only the TSA's own certificate (no `certs` file), as many TSAs' do.
    pub fn embed_only_its_own_certificate(&self) {
        let config = self.dir.path().join("ts.cnf");
        let text = std::fs::read_to_string(&config).expect("reading ts.cnf");
        let kept: String = text
            .lines()
            .filter(|line| !line.starts_with("certs = "))
            .map(|line| format!("{line}\n"))
            .collect();
        assert_ne!(kept.len(), text.len(), "ts.cnf names no certs file");
        std::fs::write(&config, kept).expect("writing ts.cnf");
    }

    /// The TSA certificate (PEM file).
    pub fn tsa_pem(&self) -> PathBuf {
        self.dir.path().join("tsa.pem")
    }

    /// Answers a DER TimeStampReq with `openssl ts -reply` (a DER TimeStampResp, granted or refused by openssl).
    pub fn reply(&self, query: &[u8]) -> Result<Vec<u8>, String> {
        let mut runs = self.runs.lock().unwrap_or_else(|p| p.into_inner());
        *runs += 1;
        let query_file = self.dir.path().join(format!("q{runs}.tsq"));
        let reply_file = self.dir.path().join(format!("r{runs}.tsr"));
        std::fs::write(&query_file, query).map_err(|e| e.to_string())?;
        let output = Command::new("openssl")
            .args(["ts", "-reply", "-config", "ts.cnf", "-queryfile"])
            .arg(&query_file)
            .args(["-inkey", "tsa.key", "-signer", "tsa.pem", "-out"])
            .arg(&reply_file)
            .current_dir(self.dir.path())
            .output()
            .map_err(|e| format!("running openssl: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "openssl ts -reply failed: {}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        std::fs::read(&reply_file).map_err(|e| e.to_string())
    }
}

// ---- HTTP stand-ins ------------------------------------------------------------------------------------------

/// How a stand-in answers a POST.
#[derive(Clone)]
pub enum Behaviour {
    /// 200 `application/timestamp-reply` with `openssl ts -reply`'s answer.
    Tsa(Arc<OpensslTsa>),
    /// Waits this long before answering at all (past the daemon's attempt deadline).
    Slow(Duration),
    /// Answers with this HTTP status and an empty body.
    Status(u16),
    /// 200 `application/timestamp-reply` whose body is plain text.
    Garbage,
}

/// A loopback HTTP server answering every request per its [`Behaviour`]; stops accepting when dropped.
pub struct StandIn {
    address: SocketAddr,
    hits: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl StandIn {
    /// Starts a stand-in on a free loopback port.
    pub fn start(behaviour: Behaviour) -> StandIn {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding a stand-in TSA");
        let address = listener.local_addr().expect("local address");
        let hits = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (thread_hits, thread_stop) = (hits.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if thread_stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (behaviour, hits) = (behaviour.clone(), thread_hits.clone());
                std::thread::spawn(move || serve(stream, &behaviour, &hits));
            }
        });
        StandIn {
            address,
            hits,
            stop,
        }
    }

    /// The URL to configure as the provider's `url`.
    pub fn url(&self) -> String {
        format!("http://{}/tsr", self.address)
    }

    /// How many requests it has received.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.address);
    }
}

/// A URL on which nothing listens: a port that was free a moment ago.
pub fn dead_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a probe listener");
    let address = listener.local_addr().expect("local address");
    drop(listener);
    format!("http://{address}/tsr")
}

/// Reads one HTTP/1.1 request's body (Content-Length or chunked).
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    if line.trim().is_empty() {
        return None;
    }
    let (mut length, mut chunked) = (0usize, false);
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
            if name == "content-length" {
                length = value.parse().ok()?;
            } else if name == "transfer-encoding" && value.eq_ignore_ascii_case("chunked") {
                chunked = true;
            }
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            line.clear();
            reader.read_line(&mut line).ok()?;
            let size = usize::from_str_radix(line.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else {
        body.resize(length, 0);
        reader.read_exact(&mut body).ok()?;
    }
    Some(body)
}

fn serve(stream: TcpStream, behaviour: &Behaviour, hits: &AtomicUsize) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let Ok(write_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let Some(body) = read_request(&mut reader) else {
        return;
    };
    hits.fetch_add(1, Ordering::SeqCst);
    let (status, content_type, payload): (u16, &str, Vec<u8>) = match behaviour {
        Behaviour::Tsa(tsa) => match tsa.reply(&body) {
            Ok(der) => (200, "application/timestamp-reply", der),
            Err(error) => (500, "text/plain", error.into_bytes()),
        },
        Behaviour::Slow(delay) => {
            std::thread::sleep(*delay);
            (503, "text/plain", b"too late".to_vec())
        }
        Behaviour::Status(code) => (*code, "text/plain", Vec::new()),
        Behaviour::Garbage => (
            200,
            "application/timestamp-reply",
            b"<html>this is not a TimeStampResp</html>".to_vec(),
        ),
    };
    let reason = match status {
        200 => "OK",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let mut out = write_half;
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        payload.len()
    );
    let _ = out.write_all(head.as_bytes());
    let _ = out.write_all(&payload);
    let _ = out.flush();
}
