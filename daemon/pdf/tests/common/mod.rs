//! Oracles shared by the integration tests: a throwaway PKI made with `openssl`, CMS signing with
//! `openssl cms`, and the independent checkers `qpdf --check`, `pdfsig` and `pyhanko sign validate`.
//! Everything comes from `tests/oracles/setup.sh`; a missing oracle fails the test with a message
//! naming it, it never skips.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sigil_pdf::Prepared;

fn home() -> PathBuf {
    PathBuf::from(std::env::var_os("HOME").expect("HOME is not set"))
}

fn oracles_dir() -> PathBuf {
    std::env::var_os("SIGIL_ORACLES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| home().join(".cache/sigil-oracles"))
}

/// `pyhanko` from the oracle venv.
pub fn pyhanko() -> PathBuf {
    let venv = std::env::var_os("SIGIL_ORACLE_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| oracles_dir().join("venv"));
    let p = venv.join("bin/pyhanko");
    assert!(
        p.exists(),
        "oracle missing: {} does not exist; run tests/oracles/setup.sh",
        p.display()
    );
    p
}

/// A corpus directory (from `var`, else `default` under the oracle dir), asserted to hold PDFs.
pub fn corpus(var: &str, default: &str) -> Vec<PathBuf> {
    let dir = std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| oracles_dir().join(default));
    assert!(
        dir.join(".complete").exists(),
        "corpus missing: {} is not complete (set {var} or run tests/oracles/setup.sh)",
        dir.display()
    );
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("pdf")))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "corpus {} holds no PDF", dir.display());
    v
}

fn tool(name: &str) -> Command {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .unwrap();
    assert!(
        found.status.success(),
        "oracle missing: `{name}` is not on PATH; run tests/oracles/setup.sh"
    );
    Command::new(name)
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn ok(cmd: &mut Command) {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A root CA and a P-256 leaf with digitalSignature + nonRepudiation, in a tempdir.
pub struct Pki {
    pub dir: tempfile::TempDir,
}

impl Pki {
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let ossl = || {
            let mut c = tool("openssl");
            c.current_dir(d);
            c
        };
        ok(ossl().args([
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "root.key",
        ]));
        ok(ossl().args([
            "req",
            "-x509",
            "-new",
            "-key",
            "root.key",
            "-subj",
            "/CN=Sigil PDF Test Root",
            "-days",
            "3650",
            "-out",
            "root.pem",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]));
        ok(ossl().args([
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "leaf.key",
        ]));
        ok(ossl().args([
            "req",
            "-new",
            "-key",
            "leaf.key",
            "-subj",
            "/CN=Sigil PDF Test Signer",
            "-out",
            "leaf.csr",
        ]));
        std::fs::write(
            d.join("leaf.ext"),
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,nonRepudiation\n\
             subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n",
        )
        .unwrap();
        ok(ossl().args([
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "root.pem",
            "-CAkey",
            "root.key",
            "-CAcreateserial",
            "-days",
            "365",
            "-out",
            "leaf.pem",
            "-extfile",
            "leaf.ext",
        ]));
        // A TSA for document timestamps (critical timeStamping EKU) and its `openssl ts` config.
        ok(ossl().args([
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "tsa.key",
        ]));
        ok(ossl().args([
            "req",
            "-new",
            "-key",
            "tsa.key",
            "-subj",
            "/CN=Sigil PDF Test TSA",
            "-out",
            "tsa.csr",
        ]));
        std::fs::write(
            d.join("tsa.ext"),
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=critical,timeStamping\n\
             subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n",
        )
        .unwrap();
        ok(ossl().args([
            "x509",
            "-req",
            "-in",
            "tsa.csr",
            "-CA",
            "root.pem",
            "-CAkey",
            "root.key",
            "-CAcreateserial",
            "-days",
            "365",
            "-out",
            "tsa.pem",
            "-extfile",
            "tsa.ext",
        ]));
        std::fs::write(d.join("tsaserial"), "01\n").unwrap();
        std::fs::write(
            d.join("tsa.cnf"),
            format!(
                "[ tsa ]\ndefault_tsa = t\n[ t ]\nserial = {0}/tsaserial\nsigner_cert = {0}/tsa.pem\n\
                 certs = {0}/root.pem\nsigner_key = {0}/tsa.key\nsigner_digest = sha256\ndefault_policy = 1.2.3.4.1\n\
                 digests = sha256\naccuracy = secs:1\ness_cert_id_alg = sha256\n",
                d.display()
            ),
        )
        .unwrap();
        Pki { dir }
    }

    /// DER of a certificate of this PKI (`root`, `leaf` or `tsa`).
    pub fn cert_der(&self, name: &str) -> Vec<u8> {
        let out = run(tool("openssl")
            .args(["x509", "-outform", "DER", "-in"])
            .arg(self.dir.path().join(format!("{name}.pem"))));
        assert!(out.status.success());
        out.stdout
    }

    /// An RFC 3161 timestamp token (a CMS ContentInfo) over the signed ranges of `p`.
    pub fn timestamp(&self, p: &Prepared, work: &Path) -> Vec<u8> {
        let content = work.join("ts-ranges.bin");
        let mut buf = Vec::new();
        for r in p.signed_ranges() {
            buf.extend_from_slice(r);
        }
        std::fs::write(&content, &buf).unwrap();
        let (q, t) = (work.join("q.tsq"), work.join("token.der"));
        ok(tool("openssl")
            .args(["ts", "-query", "-sha256", "-cert", "-no_nonce", "-data"])
            .arg(&content)
            .arg("-out")
            .arg(&q));
        ok(tool("openssl")
            .args(["ts", "-reply", "-token_out", "-config"])
            .arg(self.dir.path().join("tsa.cnf"))
            .arg("-queryfile")
            .arg(&q)
            .arg("-out")
            .arg(&t));
        std::fs::read(t).unwrap()
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root.pem")
    }

    /// A detached CAdES CMS over the signed ranges of `p` (ESS signing-certificate-v2 included).
    pub fn sign(&self, p: &Prepared, work: &Path) -> Vec<u8> {
        let content = work.join("signed-ranges.bin");
        let mut buf = Vec::new();
        for r in p.signed_ranges() {
            buf.extend_from_slice(r);
        }
        std::fs::write(&content, &buf).unwrap();
        let der = work.join("sig.der");
        let d = self.dir.path();
        ok(tool("openssl")
            .args([
                "cms",
                "-sign",
                "-binary",
                "-cades",
                "-nosmimecap",
                "-md",
                "sha256",
                "-outform",
                "DER",
            ])
            .arg("-in")
            .arg(&content)
            .arg("-signer")
            .arg(d.join("leaf.pem"))
            .arg("-inkey")
            .arg(d.join("leaf.key"))
            .arg("-certfile")
            .arg(d.join("root.pem"))
            .arg("-out")
            .arg(&der));
        std::fs::read(der).unwrap()
    }
}

/// `qpdf --check` exit status (0 ok, 3 warnings, 2 errors).
pub fn qpdf_check(path: &Path) -> i32 {
    run(tool("qpdf").arg("--check").arg(path))
        .status
        .code()
        .unwrap_or(-1)
}

/// `pdfsig` output (it exits 0 even on a digest mismatch, so callers parse this).
pub fn pdfsig(path: &Path) -> String {
    let out = run(tool("pdfsig").arg(path));
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Per-signature verdicts from pdfsig: (signature validation line, in order).
pub fn pdfsig_validations(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| l.trim().strip_prefix("- Signature Validation: "))
        .map(str::to_owned)
        .collect()
}

/// `pyhanko sign validate` with `root` as the only trust anchor: (success, output).
pub fn pyhanko_validate(path: &Path, root: &Path, strict: bool) -> (bool, String) {
    let mut c = Command::new(pyhanko());
    c.args([
        "sign",
        "validate",
        "--no-revocation-check",
        "--pretty-print",
    ]);
    if !strict {
        c.arg("--no-strict-syntax");
    }
    c.arg("--trust").arg(root).arg("--trust-replace").arg(path);
    let out = run(&mut c);
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// pyHanko's verdict on each document timestamp (through its API, see `dts.py`):
/// lines `<field> intact=True valid=True trusted=True`.
pub fn pyhanko_timestamps(path: &Path, root: &Path) -> String {
    let py = pyhanko().with_file_name("python");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/common/dts.py");
    let out = run(Command::new(py).arg(script).arg(path).arg(root));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "pyHanko timestamp validation failed to run:\n{text}"
    );
    text
}

pub fn zlib(b: &[u8]) -> Vec<u8> {
    miniz_oxide::deflate::compress_to_vec_zlib(b, 6)
}

/// A PDF whose pages live in a Flate object stream and whose xref is a Flate xref stream with
/// PNG Up predictors (`/DecodeParms << /Columns 7 /Predictor 12 >>`), as modern writers make them.
pub fn xref_stream_pdf() -> Vec<u8> {
    let mut out = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = [0u64; 7];
    let mut put = |out: &mut Vec<u8>, num: usize, body: &[u8]| {
        offsets[num] = out.len() as u64;
        out.extend_from_slice(format!("{num} 0 obj\n").as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    };
    put(&mut out, 1, b"<</Type/Catalog/Pages 2 0 R>>");
    let content = b"0 0 m 10 10 l S";
    put(
        &mut out,
        4,
        &[
            format!("<</Length {}>>stream\n", content.len()).as_bytes(),
            content,
            b"\nendstream",
        ]
        .concat(),
    );
    // Object stream 5 holds objects 2 and 3.
    let o2 = b"<</Type/Pages/Kids[3 0 R]/Count 1>>".to_vec();
    let o3 = b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 100 100]/Contents 4 0 R>>".to_vec();
    let header = format!("2 0 3 {} ", o2.len() + 1);
    let data = [header.as_bytes(), &o2, b" ", &o3].concat();
    let z = zlib(&data);
    put(
        &mut out,
        5,
        &[
            format!(
                "<</Type/ObjStm/N 2/First {}/Filter/FlateDecode/Length {}>>stream\n",
                header.len(),
                z.len()
            )
            .as_bytes(),
            &z,
            b"\nendstream",
        ]
        .concat(),
    );
    let xref_at = out.len() as u64;
    // Rows: type(1) field2(4) field3(2), objects 0..=6.
    let rows: Vec<[u8; 7]> = (0..7u64)
        .map(|n| {
            let (t, a, b): (u8, u64, u16) = match n {
                0 => (0, 0, 65535),
                2 => (2, 5, 0),
                3 => (2, 5, 1),
                6 => (1, xref_at, 0),
                _ => (1, offsets[n as usize], 0),
            };
            let mut r = [0u8; 7];
            r[0] = t;
            r[1..5].copy_from_slice(&(a as u32).to_be_bytes());
            r[5..7].copy_from_slice(&b.to_be_bytes());
            r
        })
        .collect();
    let mut enc = Vec::new();
    let mut prev = [0u8; 7];
    for r in &rows {
        enc.push(2);
        for i in 0..7 {
            enc.push(r[i].wrapping_sub(prev[i]));
        }
        prev = *r;
    }
    let z = zlib(&enc);
    out.extend_from_slice(
        format!(
            "6 0 obj\n<</Type/XRef/Size 7/W[1 4 2]/Root 1 0 R/ID[<0011><0011>]/Filter/FlateDecode\
             /DecodeParms<</Columns 7/Predictor 12>>/Length {}>>stream\n",
            z.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(&z);
    out.extend_from_slice(format!("\nendstream\nendobj\nstartxref\n{xref_at}\n%%EOF\n").as_bytes());
    out
}
