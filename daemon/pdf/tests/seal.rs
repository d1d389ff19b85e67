//! End-to-end: placeholders written by this crate, CMS made by `openssl cms`, the sealed files
//! checked by qpdf, pdfsig and pyHanko.

mod common;

use common::*;
use sigil_pdf::{
    Document, Dss, PdfError, SignatureKind, SignatureSpec, add_dss, pdf_date, prepare_signature,
};

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
    out.extend_from_slice(
        format!(
            "trailer\n<</Size {}/Root 1 0 R>>\nstartxref\n{x}\n%%EOF\n",
            objs.len() + 1
        )
        .as_bytes(),
    );
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
    assert!(
        once.starts_with(&original),
        "the original must be a byte prefix"
    );
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
        check_all(path, &pki.root(), &[]);
    }
}

/// qpdf, pdfsig and pyHanko on `path`. pdfsig cannot verify document timestamps (it reports
/// "Signature has not yet been verified." for ETSI.RFC3161), so they are listed in `dts` by index.
fn check_all(path: &std::path::Path, root: &std::path::Path, dts: &[usize]) -> String {
    assert_eq!(qpdf_check(path), 0, "qpdf --check on {}", path.display());
    let out = pdfsig(path);
    let v = pdfsig_validations(&out);
    assert!(!v.is_empty(), "pdfsig:\n{out}");
    for (i, l) in v.iter().enumerate() {
        let want = if dts.contains(&i) {
            "Signature has not yet been verified."
        } else {
            "Signature is Valid."
        };
        assert_eq!(l, want, "pdfsig signature #{}:\n{out}", i + 1);
    }
    let (ok, out) = pyhanko_validate(path, root, true);
    assert!(ok, "pyhanko:\n{out}");
    out
}

/// B-LTA shape: signature, then DSS, then a document timestamp, each an incremental update.
#[test]
fn signature_dss_and_document_timestamp() {
    let pki = Pki::new();
    let work = tempfile::tempdir().unwrap();
    let original = simple_pdf();
    let doc = Document::parse(&original).unwrap();
    let p = prepare_signature(&doc, &spec()).unwrap();
    let der = pki.sign(&p, work.path());
    let signed = p.embed(&der).unwrap();

    let doc = Document::parse(&signed).unwrap();
    assert_eq!(doc.dss().unwrap(), Dss::default());
    let dss = Dss {
        certs: vec![pki.cert_der("root"), pki.cert_der("leaf")],
        ocsps: vec![],
        crls: vec![],
    };
    let with_dss = add_dss(&doc, &dss).unwrap();
    assert!(with_dss.starts_with(&signed));
    let doc = Document::parse(&with_dss).unwrap();
    assert_eq!(doc.dss().unwrap(), dss);
    // Extending keeps what was there.
    let more = Dss {
        certs: vec![pki.cert_der("tsa")],
        ..Dss::default()
    };
    let with_dss2 = add_dss(&doc, &more).unwrap();
    let doc = Document::parse(&with_dss2).unwrap();
    assert_eq!(doc.dss().unwrap().certs.len(), 3);

    let p =
        prepare_signature(&doc, &SignatureSpec::new(SignatureKind::DocTimeStamp, 8192)).unwrap();
    let token = pki.timestamp(&p, work.path());
    let sealed = p.embed(&token).unwrap();
    let path = work.path().join("blta.pdf");
    std::fs::write(&path, &sealed).unwrap();

    let doc = Document::parse(&sealed).unwrap();
    assert_eq!(doc.revisions().len(), 5);
    let sigs = doc.signatures().unwrap();
    assert_eq!(sigs.len(), 2);
    assert_eq!(sigs[0].kind, SignatureKind::Signature);
    assert_eq!(sigs[0].revisions_after, 3);
    assert_eq!(sigs[1].kind, SignatureKind::DocTimeStamp);
    assert_eq!(sigs[1].sub_filter.as_deref(), Some("ETSI.RFC3161"));
    assert_eq!(sigs[1].contents, token);
    assert!(sigs.iter().all(|s| s.byte_range_ok));
    let out = check_all(&path, &pki.root(), &[1]);
    assert!(
        out.contains("Field 1: Signature1") && out.contains("judged VALID"),
        "{out}"
    );
    let ts = pyhanko_timestamps(&path, &pki.root());
    assert_eq!(
        ts.trim(),
        "Signature2 intact=True valid=True trusted=True",
        "pyHanko on the document timestamp"
    );
}

#[test]
fn placeholder_errors_and_field_names() {
    let original = simple_pdf();
    let doc = Document::parse(&original).unwrap();
    let mut s = SignatureSpec::new(SignatureKind::Signature, 16);
    s.field_name = Some("Approval".into());
    let p = prepare_signature(&doc, &s).unwrap();
    assert_eq!(p.capacity(), 16);
    let [a, b, c, d] = p.byte_range();
    assert_eq!((a, c + d), (0, p.bytes().len() as u64));
    assert_eq!(
        &p.bytes()[b as usize..c as usize],
        format!("<{}>", "0".repeat(32)).as_bytes()
    );
    assert_eq!(
        p.signed_ranges().map(<[u8]>::len).sum::<usize>() as u64,
        b + d
    );
    assert_eq!(
        p.clone().embed(&[0x30; 17]).err(),
        Some(PdfError::ContentsTooSmall {
            needed: 17,
            capacity: 16
        })
    );
    let filled = p.embed(&[0x30, 0x01, 0x05]).unwrap();
    let doc = Document::parse(&filled).unwrap();
    let sig = &doc.signatures().unwrap()[0];
    assert_eq!(
        (sig.field_name.as_str(), sig.contents.as_slice()),
        ("Approval", &[0x30, 0x01, 0x05][..])
    );
    assert!(matches!(
        prepare_signature(&doc, &s),
        Err(PdfError::InvalidSpec(_))
    ));
    s.field_name = Some("a.b".into());
    assert!(matches!(
        prepare_signature(&doc, &s),
        Err(PdfError::InvalidSpec(_))
    ));
    s.field_name = None;
    s.contents_capacity = 0;
    assert!(matches!(
        prepare_signature(&doc, &s),
        Err(PdfError::InvalidSpec(_))
    ));
}

/// AcroForm, /Fields and the page's /Annots all indirect, an existing text field, /Info and /ID:
/// the update rewrites the AcroForm and the two array objects, never the page or the catalog.
#[test]
fn indirect_form_arrays_are_rewritten_in_place() {
    let objs = [
        "<</Type/Catalog/Pages 2 0 R/AcroForm 5 0 R>>",
        "<</Type/Pages/Kids[3 0 R]/Count 1>>",
        "<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]/Annots 7 0 R/Resources<<>>>>",
        "<</Title(Indirect \\(form\\))/Producer(sigil test)>>",
        "<</Fields 6 0 R/DA(/Helv 0 Tf 0 g)>>",
        "[8 0 R]",
        "[8 0 R]",
        "<</FT/Tx/T(Name)/V(x)/Type/Annot/Subtype/Widget/Rect[10 10 100 30]/P 3 0 R/F 4>>",
    ];
    let mut original = b"%PDF-1.6\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offs = Vec::new();
    for (i, o) in objs.iter().enumerate() {
        offs.push(original.len());
        original.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
    }
    let x = original.len();
    original.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f\r\n", objs.len() + 1).as_bytes(),
    );
    for o in offs {
        original.extend_from_slice(format!("{o:010} 00000 n\r\n").as_bytes());
    }
    original.extend_from_slice(
        format!(
            "trailer\n<</Size {}/Root 1 0 R/Info 4 0 R/ID[<00112233445566778899AABBCCDDEEFF><00112233445566778899AABBCCDDEEFF>]>>\nstartxref\n{x}\n%%EOF\n",
            objs.len() + 1
        )
        .as_bytes(),
    );
    let pki = Pki::new();
    let work = tempfile::tempdir().unwrap();
    let doc = Document::parse(&original).unwrap();
    let p = prepare_signature(&doc, &spec()).unwrap();
    let der = pki.sign(&p, work.path());
    let sealed = p.embed(&der).unwrap();
    let update = String::from_utf8_lossy(&sealed[original.len()..]).into_owned();
    for rewritten in ["\n5 0 obj", "\n6 0 obj", "\n7 0 obj"] {
        assert!(
            update.contains(rewritten),
            "{rewritten} not rewritten:\n{update}"
        );
    }
    for kept in ["\n1 0 obj", "\n3 0 obj"] {
        assert!(!update.contains(kept), "{kept} rewritten needlessly");
    }
    assert!(
        update.contains("/Info 4 0 R")
            && update.contains("/ID [<00112233445566778899AABBCCDDEEFF> <"),
        "{update}"
    );
    let path = work.path().join("indirect.pdf");
    std::fs::write(&path, &sealed).unwrap();
    check_all(&path, &pki.root(), &[]);
    let doc = Document::parse(&sealed).unwrap();
    assert_eq!(doc.signatures().unwrap()[0].field_name, "Signature1");
}

/// Two signatures on a file whose xref is a Flate xref stream with predictors and whose pages
/// live in an object stream: each update is an xref stream, and all three oracles agree.
#[test]
fn sign_twice_on_an_xref_stream_file() {
    let pki = Pki::new();
    let work = tempfile::tempdir().unwrap();
    let mut file = xref_stream_pdf();
    for round in 1..=2 {
        let doc = Document::parse(&file).unwrap();
        assert_eq!(doc.xref_kind(), sigil_pdf::XrefKind::Stream);
        let p = prepare_signature(&doc, &spec()).unwrap();
        let der = pki.sign(&p, work.path());
        let next = p.embed(&der).unwrap();
        assert!(next.starts_with(&file));
        file = next;
        let path = work.path().join(format!("xs{round}.pdf"));
        std::fs::write(&path, &file).unwrap();
        check_all(&path, &pki.root(), &[]);
    }
    let doc = Document::parse(&file).unwrap();
    assert_eq!(doc.xref_kind(), sigil_pdf::XrefKind::Stream);
    assert_eq!(doc.signatures().unwrap().len(), 2);
}
