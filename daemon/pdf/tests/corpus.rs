//! Every PDF of the two third-party corpora (pypdf 7.1.1 and pyhanko 0.38.0 sdists) is either
//! sealed and accepted by qpdf, pdfsig and pyHanko, or refused with a clear reason.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use sigil_pdf::{Document, PdfError, SignatureKind, SignatureSpec, XrefKind, prepare_signature};

/// Files refused for a reason other than encryption, with a fragment of the expected reason.
/// Each is genuinely broken: all but two are pyHanko's own negative test inputs (which its strict
/// mode refuses too), and qpdf has to reconstruct the xref of the two pypdf/pyHanko files whose
/// offsets are wrong (`issue-297`, `minimal-annotless`).
const KNOWN_BROKEN: &[(&str, &str)] = &[
    // Object streams whose header or index is wrong.
    ("broken-objstream1.pdf", "past object stream"),
    (
        "broken-objstream2.pdf",
        "expected an offset in an object stream",
    ),
    (
        "broken-objstream3.pdf",
        "expected an offset in an object stream",
    ),
    ("broken-objstream6.pdf", "bad offset in object stream"),
    // /Prev pointing back at an already read section; /Prev that is not an offset.
    ("circular-xref-chain.pdf", "/Prev loop"),
    (
        "xref-malformed-prev.pdf",
        "/Prev is not a non-negative integer",
    ),
    // A signature dictionary whose /Contents was never filled (pyHanko cannot read the file either).
    ("coverage-anomalies_base.pdf", "unfinished signature"),
    // A /Kids loop in the form tree (pyHanko: "Circular reference in form tree").
    (
        "form-tree-circular-ref-input.pdf",
        "reached twice in the field tree",
    ),
    // The newest xref stream is truncated Flate (pyHanko: "incomplete or truncated stream").
    ("form_acrobatReader.pdf", "Flate stream is truncated"),
    // startxref points into the middle of the table (qpdf reconstructs the xref).
    ("issue-297.pdf", "expected a generation number"),
    // The xref table's offsets point at other objects (qpdf reconstructs the xref).
    ("minimal-annotless.pdf", "but object 6 is there"),
    // "%PDF-X.Y".
    ("minimal-illegal-header.pdf", "header has no version"),
    // startxref wrong by more than whitespace, or not a number: guessing is refused.
    (
        "minimal-startxref-hopeless.pdf",
        "no xref table or xref stream",
    ),
    (
        "minimal-startxref-hopeless3.pdf",
        "expected the startxref offset",
    ),
    ("minimal-startxref-obo2.pdf", "no xref table or xref stream"),
    ("minimal-startxref-obo4.pdf", "expected a generation number"),
    ("minimal-startxref-obo5.pdf", "expected a generation number"),
    ("minimal-startxref-obo6.pdf", "no xref table or xref stream"),
];

/// Valid files refused on purpose, with a fragment of the reason.
const REFUSED_BY_POLICY: &[(&str, &str)] = &[
    // A certification signature with DocMDP /P 1 forbids any change; pyHanko judges a later
    // signature "incompatible with the current document modification policy".
    ("certified-with-indirect-refs-in-dir.pdf", "DocMDP /P 1"),
];

#[derive(Debug)]
enum Outcome {
    Sealed,
    Encrypted,
    Refused(String),
    Failed(String),
}

struct Facts {
    kind: Option<XrefKind>,
    linearized: bool,
    objstm: bool,
    signed_before: usize,
    lenient: bool,
}

fn rank(qpdf: i32) -> i32 {
    match qpdf {
        0 => 0,
        3 => 1,
        _ => 2,
    }
}

/// pyHanko's pretty output split per field: (field name, integrity line, bottom line).
fn pyhanko_fields(out: &str) -> Vec<(String, String, String)> {
    pyhanko_fields_mods(out)
        .into_iter()
        .map(|(n, i, b, _)| (n, i, b))
        .collect()
}

/// As [`pyhanko_fields`], plus the modification-policy verdict line.
fn pyhanko_fields_mods(out: &str) -> Vec<(String, String, String, String)> {
    let mut v: Vec<(String, String, String, String)> = Vec::new();
    for l in out.lines() {
        if let Some(rest) = l.strip_prefix("Field ")
            && let Some((_, name)) = rest.split_once(": ")
            && rest
                .split(':')
                .next()
                .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()))
        {
            v.push((
                name.trim().to_owned(),
                String::new(),
                String::new(),
                String::new(),
            ));
        } else if let Some(last) = v.last_mut() {
            let t = l.trim();
            if t.contains("document modification policy") {
                last.3 = t.to_owned();
            }
            if t.starts_with("The signature is cryptographically")
                || t.starts_with("The signature is judged")
            {
                if t.contains("judged") {
                    last.2 = t.to_owned();
                } else {
                    last.1 = t.to_owned();
                }
            }
        }
    }
    v
}

fn seal_one(path: &Path, pki: &Pki) -> (Outcome, Facts) {
    let original = std::fs::read(path).unwrap();
    let mut facts = Facts {
        kind: None,
        linearized: original[..original.len().min(1024)]
            .windows(11)
            .any(|w| w == b"/Linearized"),
        objstm: original.windows(7).any(|w| w == b"/ObjStm"),
        signed_before: 0,
        lenient: false,
    };
    let refuse = |e: PdfError| match e {
        PdfError::Encrypted => Outcome::Encrypted,
        other => Outcome::Refused(other.to_string()),
    };
    let doc = match Document::parse(&original) {
        Ok(d) => d,
        Err(e) => return (refuse(e), facts),
    };
    facts.kind = Some(doc.xref_kind());
    let before = match doc.signatures() {
        Ok(s) => s,
        Err(e) => return (refuse(e), facts),
    };
    facts.signed_before = before.len();
    let p = match prepare_signature(&doc, &SignatureSpec::new(SignatureKind::Signature, 8192)) {
        Ok(p) => p,
        Err(e) => return (refuse(e), facts),
    };
    let work = tempfile::tempdir().unwrap();
    let field = p.field_name().to_owned();
    let der = pki.sign(&p, work.path());
    let sealed = p.embed(&der).unwrap();
    if !sealed.starts_with(&original) {
        return (Outcome::Failed("original is not a prefix".into()), facts);
    }
    let sealed_path = work.path().join("sealed.pdf");
    std::fs::write(&sealed_path, &sealed).unwrap();
    if let Some(keep) = std::env::var_os("SIGIL_PDF_KEEP") {
        std::fs::write(Path::new(&keep).join(path.file_name().unwrap()), &sealed).unwrap();
    }

    // Our own reader on our output; the new section is of the previous one's kind.
    let sigs = match Document::parse(&sealed).and_then(|d| Ok((d.xref_kind(), d.signatures()?))) {
        Ok((kind, s)) => {
            let want = if doc.xref_kind() == XrefKind::Stream {
                XrefKind::Stream
            } else {
                XrefKind::Table
            };
            if kind != want {
                return (
                    Outcome::Failed(format!(
                        "wrote a {kind:?} section after a {:?}",
                        doc.xref_kind()
                    )),
                    facts,
                );
            }
            s
        }
        Err(e) => {
            return (
                Outcome::Failed(format!("re-parse of the sealed file: {e}")),
                facts,
            );
        }
    };
    match sigs.iter().find(|s| s.field_name == field) {
        Some(s) if s.byte_range_ok && s.covers_whole_file && s.contents == der => {}
        other => {
            return (
                Outcome::Failed(format!("own signature read back wrong: {other:?}")),
                facts,
            );
        }
    }

    let (q0, q1) = (qpdf_check(path), qpdf_check(&sealed_path));
    if rank(q1) > rank(q0) {
        return (
            Outcome::Failed(format!("qpdf --check: original {q0}, sealed {q1}")),
            facts,
        );
    }

    let v0 = if before.is_empty() {
        vec![]
    } else {
        pdfsig_validations(&pdfsig(path))
    };
    let out = pdfsig(&sealed_path);
    let v1 = pdfsig_validations(&out);
    if v1.last().map(String::as_str) != Some("Signature is Valid.") || v1[..v1.len() - 1] != v0[..]
    {
        return (
            Outcome::Failed(format!("pdfsig before {v0:?}, after:\n{out}")),
            facts,
        );
    }

    let strict = doc.xref_kind() != XrefKind::Hybrid;
    facts.lenient = !strict;
    let (all_ok, mut out) = pyhanko_validate(&sealed_path, &pki.root(), strict);
    // pyHanko's strict mode refuses some inputs outright (hybrid files, damage it does not
    // tolerate): the seal is then judged by its lenient mode, as the original would be.
    if !all_ok && strict && out.contains("strict mode") {
        let (_, out0) = pyhanko_validate(path, &pki.root(), true);
        if !out0.contains("strict mode") {
            return (
                Outcome::Failed(format!(
                    "pyHanko strict mode reads the original but not the seal:\n{out}"
                )),
                facts,
            );
        }
        out = pyhanko_validate(&sealed_path, &pki.root(), false).1;
        facts.lenient = true;
    }
    let after = pyhanko_fields(&out);
    match after.iter().find(|f| f.0 == field) {
        Some((_, integ, bottom))
            if integ.contains("cryptographically sound") && bottom.ends_with("judged VALID.") => {}
        _ => {
            return (
                Outcome::Failed(format!("pyhanko on our signature:\n{out}")),
                facts,
            );
        }
    }
    if !before.is_empty() {
        let (_, out0) = pyhanko_validate(path, &pki.root(), strict);
        let f0 = pyhanko_fields(&out0);
        // pyHanko's CLI lists regular signatures only; ours must find the same fields.
        let ours: Vec<&str> = before
            .iter()
            .filter(|s| s.kind == SignatureKind::Signature)
            .map(|s| s.field_name.as_str())
            .collect();
        let theirs: Vec<&str> = f0.iter().map(|f| f.0.as_str()).collect();
        let (mut a, mut b) = (ours.clone(), theirs.clone());
        a.sort_unstable();
        b.sort_unstable();
        if a != b {
            return (
                Outcome::Failed(format!(
                    "signature fields: ours {ours:?}, pyHanko {theirs:?}"
                )),
                facts,
            );
        }
        // Our update must not turn an earlier signature's modification verdict into "incompatible".
        let mods0 = pyhanko_fields_mods(&out0);
        for (name, _, _, m) in pyhanko_fields_mods(&out) {
            let was = mods0
                .iter()
                .find(|f| f.0 == name)
                .map(|f| f.3.as_str())
                .unwrap_or("");
            if m.contains("incompatible") && !was.contains("incompatible") {
                return (
                    Outcome::Failed(format!("earlier signature {name}: {m}\n{out}")),
                    facts,
                );
            }
        }
        for (name, integ, _) in &f0 {
            let now = after.iter().find(|f| &f.0 == name).map(|f| f.1.as_str());
            if now != Some(integ.as_str()) {
                return (
                    Outcome::Failed(format!(
                        "earlier signature {name}: integrity was {integ:?}, now {now:?}\n{out}"
                    )),
                    facts,
                );
            }
        }
    }
    (Outcome::Sealed, facts)
}

fn run_corpus(files: Vec<PathBuf>) -> BTreeMap<String, (Outcome, Facts)> {
    let pki = Pki::new();
    let next = AtomicUsize::new(0);
    let results = Mutex::new(BTreeMap::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(f) = files.get(i) else { break };
                    let name = f.file_name().unwrap().to_string_lossy().into_owned();
                    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        seal_one(f, &pki)
                    }));
                    let r = r.unwrap_or_else(|_| {
                        (
                            Outcome::Failed("panicked".into()),
                            Facts {
                                kind: None,
                                linearized: false,
                                objstm: false,
                                signed_before: 0,
                                lenient: false,
                            },
                        )
                    });
                    results.lock().unwrap().insert(name, r);
                }
            });
        }
    });
    results.into_inner().unwrap()
}

#[test]
fn corpus_is_sealed_or_refused_clearly() {
    let mut files = corpus("SIGIL_PDF_CORPUS", "pdf-corpus");
    files.extend(corpus("SIGIL_PDF_CORPUS_SIGNED", "pdf-corpus-pyhanko"));
    let filter = std::env::var("SIGIL_PDF_CORPUS_FILTER").ok();
    if let Some(f) = &filter {
        files.retain(|p| p.to_string_lossy().contains(f.as_str()));
    }
    let results = run_corpus(files);

    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut cover: BTreeMap<&str, usize> = BTreeMap::new();
    let mut problems = Vec::new();
    for (name, (outcome, facts)) in &results {
        let label = match outcome {
            Outcome::Sealed => "sealed and validated",
            Outcome::Encrypted => "refused: Encrypted",
            Outcome::Refused(_) => "refused: Malformed/Unsupported",
            Outcome::Failed(_) => "FAILED",
        };
        *counts.entry(label).or_default() += 1;
        match outcome {
            Outcome::Sealed => {
                let kind = match facts.kind {
                    Some(XrefKind::Table) => "xref table",
                    Some(XrefKind::Stream) => "xref stream",
                    Some(XrefKind::Hybrid) => "hybrid",
                    None => "?",
                };
                *cover.entry(kind).or_default() += 1;
                if facts.linearized {
                    *cover.entry("linearized").or_default() += 1;
                }
                if facts.objstm {
                    *cover.entry("object streams").or_default() += 1;
                }
                if facts.lenient {
                    *cover.entry("pyHanko lenient mode").or_default() += 1;
                }
                if facts.signed_before > 0 {
                    *cover.entry("already signed").or_default() += 1;
                }
            }
            Outcome::Refused(reason) => {
                println!("refused {name}: {reason}");
                match KNOWN_BROKEN
                    .iter()
                    .chain(REFUSED_BY_POLICY)
                    .find(|(n, _)| n == name)
                {
                    Some((_, frag)) if reason.contains(frag) => {}
                    Some((_, frag)) => problems.push(format!(
                        "{name}: refused with {reason:?}, expected {frag:?}"
                    )),
                    None => {
                        problems.push(format!("{name}: refused but not in KNOWN_BROKEN: {reason}"))
                    }
                }
            }
            Outcome::Failed(why) => problems.push(format!("{name}: {why}")),
            Outcome::Encrypted => println!("refused {name}: encrypted"),
        }
    }
    if filter.is_none() {
        for (n, _) in KNOWN_BROKEN.iter().chain(REFUSED_BY_POLICY) {
            if !matches!(results.get(*n), Some((Outcome::Refused(_), _))) {
                problems.push(format!("{n} is in KNOWN_BROKEN but was not refused"));
            }
        }
    }
    println!("corpus summary ({} files): {counts:?}", results.len());
    println!("sealed files by structure: {cover:?}");
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n\n")
    );
    if filter.is_none() {
        for k in [
            "xref table",
            "xref stream",
            "hybrid",
            "linearized",
            "object streams",
            "already signed",
        ] {
            assert!(
                cover.get(k).copied().unwrap_or(0) > 0,
                "no sealed file covers {k}"
            );
        }
    }
}

/// pyHanko's coverage-anomaly inputs: our reader must flag every bad /ByteRange.
#[test]
fn byte_range_anomalies_are_flagged() {
    let files = corpus("SIGIL_PDF_CORPUS_SIGNED", "pdf-corpus-pyhanko");
    let expect = [
        ("coverage-anomalies_base.pdf", true),
        ("coverage-anomalies_one-byterange.pdf", false),
        ("coverage-anomalies_signature-gap-too-big.pdf", false),
        ("coverage-anomalies_tail-uncovered.pdf", false),
        ("coverage-anomalies_weird-byterange.pdf", false),
    ];
    for (name, ok) in expect {
        let path = files
            .iter()
            .find(|p| p.ends_with(name))
            .unwrap_or_else(|| panic!("{name} missing from the corpus"));
        let bytes = std::fs::read(path).unwrap();
        let sigs = Document::parse(&bytes).unwrap().signatures().unwrap();
        assert_eq!(sigs.len(), 1, "{name}");
        assert_eq!(
            sigs[0].byte_range_ok, ok,
            "{name}: {:?}",
            sigs[0].byte_range
        );
        if ok {
            // The base file's signature covers its first revision, and its /Contents was never filled.
            assert_eq!(
                (sigs[0].revision_end, sigs[0].revisions_after),
                (Some(7195), 1),
                "{name}"
            );
            assert!(sigs[0].contents.is_empty(), "{name}");
        }
    }
}

/// Byte-level mutations of every corpus file (xref streams, object streams, hybrids, signed
/// files): each must parse, seal and read back, or be refused, never panic.
#[test]
fn corpus_mutations_never_panic() {
    let mut files = corpus("SIGIL_PDF_CORPUS", "pdf-corpus");
    files.extend(corpus("SIGIL_PDF_CORPUS_SIGNED", "pdf-corpus-pyhanko"));
    let per_file: u64 = std::env::var("SIGIL_PDF_CORPUS_MUTATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12);
    let mut x: u64 = 0x0123_4567_89AB_CDEF;
    let mut rng = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut runs = 0;
    for path in &files {
        let original = std::fs::read(path).unwrap();
        // Mutate near the structure that matters: the last 4 KiB (xref, trailer) or anywhere.
        for _ in 0..per_file {
            let mut f = original.clone();
            let len = f.len() as u64;
            let at = if rng() % 2 == 0 {
                len - 1 - rng() % len.min(4096)
            } else {
                rng() % len
            } as usize;
            match rng() % 3 {
                0 => f[at] = rng() as u8,
                1 => f[at] = b"0123456789 \n<>[]/R"[(rng() % 18) as usize],
                _ => f.truncate(at.max(1)),
            }
            let r = std::panic::catch_unwind(|| {
                let doc = Document::parse(&f)?;
                doc.signatures()?;
                let p = prepare_signature(&doc, &SignatureSpec::new(SignatureKind::Signature, 16))?;
                Document::parse(&p.embed(&[0x30, 0])?)?
                    .signatures()
                    .map(|_| ())
            });
            assert!(
                r.is_ok(),
                "panic on a mutation of {} at offset {at}",
                path.display()
            );
            runs += 1;
        }
    }
    println!("{runs} corpus mutations, no panic");
}

/// A certified document with DocMDP /P 1 refuses a signature but takes a document timestamp,
/// which pyHanko counts as signature maintenance, compatible with the certification.
#[test]
fn document_timestamp_on_a_p1_certified_document() {
    let files = corpus("SIGIL_PDF_CORPUS_SIGNED", "pdf-corpus-pyhanko");
    let path = files
        .iter()
        .find(|p| p.ends_with("certified-with-indirect-refs-in-dir.pdf"))
        .expect("corpus file");
    let original = std::fs::read(path).unwrap();
    let doc = Document::parse(&original).unwrap();
    let refused = prepare_signature(&doc, &SignatureSpec::new(SignatureKind::Signature, 8192));
    assert!(
        matches!(refused, Err(PdfError::Unsupported(ref m)) if m.contains("DocMDP /P 1")),
        "{refused:?}"
    );
    let pki = Pki::new();
    let work = tempfile::tempdir().unwrap();
    let p =
        prepare_signature(&doc, &SignatureSpec::new(SignatureKind::DocTimeStamp, 8192)).unwrap();
    let token = pki.timestamp(&p, work.path());
    let sealed = p.embed(&token).unwrap();
    let out_path = work.path().join("dts.pdf");
    std::fs::write(&out_path, &sealed).unwrap();
    let (_, out) = pyhanko_validate(&out_path, &pki.root(), true);
    let mods = pyhanko_fields_mods(&out);
    assert_eq!(mods.len(), 1, "{out}");
    assert!(mods[0].1.contains("cryptographically sound"), "{out}");
    assert!(
        mods[0].3.contains("compatible") && !mods[0].3.contains("incompatible"),
        "the timestamp broke the certification:\n{out}"
    );
    println!("certification signature after the timestamp: {}", mods[0].3);
    let ts = pyhanko_timestamps(&out_path, &pki.root());
    assert!(ts.contains("intact=True valid=True trusted=True"), "{ts}");
}
