//! End-to-end: placeholders written by this crate, CMS made by `openssl cms`, the sealed files
//! checked by qpdf, pdfsig and pyHanko.

mod common;

use common::*;
use sigil_pdf::{Document, SignatureKind, SignatureSpec, pdf_date, prepare_signature};

/// A small one-page PDF with a classic xref table (made here, so the test needs no corpus).
pub fn simple_pdf() -> Vec<u8> {
    let objs = [
        "<</Type/Catalog/Pages 2 0 R>>",
        "<</Type/Pages/Kids[3 0 R]/Count 1>>",
        "<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]/Contents 4 0 R/Resources<<>>>>",
        "<</Length 21>>\nstream\nBT /F1 12 Tf ET 0 0 m\nendstream",
    ];
    let mut out = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offs = Vec::new();
    for (i, o) in objs.iter().enumerate() {
        offs.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
    }
    let x = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f\r\n", objs.len() + 1).as_bytes());
    for o in offs {
        out.extend_from_slice(format!("{o:010} 00000 n\r\n").as_bytes());
    }
    out.extend_from_slice(format!("trailer\n<</Size {}/Root 1 0 R>>\nstartxref\n{x}\n%%EOF\n", objs.len() + 1).as_bytes());
    out
}

fn spec() -> SignatureSpec {
    let mut s = SignatureSpec::new(SignatureKind::Signature, 8192);
    s.signing_time = Some(pdf_date(1_780_000_000));
    s.reason = Some("Approved (final) \\ ok".into());
    s.location = Some("Zürich".into());
    s.contact_info = Some("ops@example.org".into());
    s.name = Some("Sigil Test".into());
    s
}

#[test]
fn sign_twice_and_validate_with_three_oracles() {
    let pki = Pki::new();
    let work = tempfile::tempdir().unwrap();
    let original = simple_pdf();
    let doc = Document::parse(&original).unwrap();
    let p = prepare_signature(&doc, &spec()).unwrap();
    assert_eq!(p.field_name(), "Signature1");
    let der = pki.sign(&p, work.path());
    let once = p.embed(&der).unwrap();
    assert!(once.starts_with(&original), "the original must be a byte prefix");
    let path1 = work.path().join("once.pdf");
    std::fs::write(&path1, &once).unwrap();

    let doc = Document::parse(&once).unwrap();
    let sigs = doc.signatures().unwrap();
    assert_eq!(sigs.len(), 1);
    assert!(sigs[0].byte_range_ok && sigs[0].covers_whole_file);
    assert_eq!(sigs[0].contents, der);
    assert_eq!(sigs[0].location.as_deref(), Some("Zürich"));
    assert_eq!(sigs[0].reason.as_deref(), Some("Approved (final) \\ ok"));

    let p = prepare_signature(&doc, &spec()).unwrap();
    assert_eq!(p.field_name(), "Signature2");
    let der2 = pki.sign(&p, work.path());
    let twice = p.embed(&der2).unwrap();
    assert!(twice.starts_with(&once));
    let path2 = work.path().join("twice.pdf");
    std::fs::write(&path2, &twice).unwrap();

    let doc = Document::parse(&twice).unwrap();
    let sigs = doc.signatures().unwrap();
    assert_eq!(sigs.len(), 2);
    assert_eq!((sigs[0].revisions_after, sigs[1].revisions_after), (1, 0));
    assert!(!sigs[0].covers_whole_file && sigs[1].covers_whole_file);
    assert!(sigs.iter().all(|s| s.byte_range_ok));

    for path in [&path1, &path2] {
        assert_eq!(qpdf_check(path), 0, "qpdf --check on {}", path.display());
        let out = pdfsig(path);
        let v = pdfsig_validations(&out);
        assert!(!v.is_empty() && v.iter().all(|l| l == "Signature is Valid."), "pdfsig:\n{out}");
        let (ok, out) = pyhanko_validate(path, &pki.root(), true);
        assert!(ok, "pyhanko:\n{out}");
        println!("{out}");
    }
}
