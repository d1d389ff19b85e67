//! Hostile and synthetic inputs: xref streams with PNG predictors and object streams built here,
//! hand-made attacks on every bound, and a deterministic mutation fuzz. Every case must end in
//! `Ok` or a `PdfError`, never a panic, a hang or an unbounded allocation.

mod common;

use common::{xref_stream_pdf, zlib};
use sigil_pdf::{Document, PdfError, SignatureKind, SignatureSpec, XrefKind, prepare_signature};

#[test]
fn xref_stream_with_predictors_and_object_streams() {
    let f = xref_stream_pdf();
    let doc = Document::parse(&f).unwrap();
    assert_eq!(doc.xref_kind(), XrefKind::Stream);
    let (page, _) = doc.first_page().unwrap();
    assert_eq!(page.num, 3);
    let p = prepare_signature(&doc, &SignatureSpec::new(SignatureKind::Signature, 64)).unwrap();
    let sealed = p.embed(&[0x30, 0]).unwrap();
    let again = Document::parse(&sealed).unwrap();
    assert_eq!(
        again.xref_kind(),
        XrefKind::Stream,
        "an xref stream follows an xref stream"
    );
    assert_eq!(again.revisions().len(), 2);
    let sigs = again.signatures().unwrap();
    assert_eq!(sigs.len(), 1);
    assert!(sigs[0].byte_range_ok && sigs[0].covers_whole_file);
    // /ID[0] kept, /ID[1] renewed.
    assert!(String::from_utf8_lossy(&sealed[f.len()..]).contains("/ID [<0011> <"));
}

fn classic(objs: &[String], trailer: &str) -> Vec<u8> {
    let mut out = b"%PDF-1.4\n".to_vec();
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
            "trailer\n<</Size {}/Root 1 0 R{trailer}>>\nstartxref\n{x}\n%%EOF\n",
            objs.len() + 1
        )
        .as_bytes(),
    );
    out
}

fn full_run(f: &[u8]) -> Result<(), PdfError> {
    let doc = Document::parse(f)?;
    doc.signatures()?;
    doc.dss()?;
    let p = prepare_signature(&doc, &SignatureSpec::new(SignatureKind::Signature, 32))?;
    let out = p.embed(&[0x30, 0])?;
    Document::parse(&out)?.signatures()?;
    Ok(())
}

#[test]
fn hand_made_attacks_are_errors() {
    let deep = format!(
        "<</Type/Catalog/Pages 2 0 R/X {}1{}>>",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("deep nesting in the catalog", classic(&[deep], "")),
        ("page tree loop", classic(&["<</Type/Catalog/Pages 2 0 R>>".into(), "<</Type/Pages/Kids[2 0 R]>>".into()], "")),
        (
            "field tree loop",
            classic(
                &[
                    "<</Type/Catalog/Pages 2 0 R/AcroForm<</Fields[4 0 R]>>>>".into(),
                    "<</Type/Pages/Kids[3 0 R]>>".into(),
                    "<</Type/Page/Parent 2 0 R>>".into(),
                    "<</T(a)/Kids[4 0 R]>>".into(),
                ],
                "",
            ),
        ),
        (
            "huge /Size",
            classic(
                &["<</Type/Catalog/Pages 2 0 R>>".into(), "<</Type/Pages/Kids[3 0 R]>>".into(), "<</Type/Page>>".into()],
                "/Size 99999999999",
            ),
        ),
        ("/Prev to itself", {
            let f = classic(&["<</Type/Catalog>>".into()], "");
            let x = String::from_utf8_lossy(&f).rsplit("startxref\n").next().unwrap().trim_end_matches("\n%%EOF\n").to_owned();
            classic(&["<</Type/Catalog>>".into()], &format!("/Prev {x}"))
        }),
        (
            "xref stream with huge /Index and zero widths",
            b"%PDF-1.5\n1 0 obj\n<</Type/XRef/Size 8388607/W[0 0 0]/Index[0 8388607]/Length 0>>stream\n\nendstream\nendobj\nstartxref\n9\n%%EOF\n".to_vec(),
        ),
        (
            "xref stream claiming more rows than it has",
            b"%PDF-1.5\n1 0 obj\n<</Type/XRef/Size 8388607/W[1 4 2]/Length 7/Root 1 0 R>>stream\n\x01\x00\x00\x00\x09\x00\x00\nendstream\nendobj\nstartxref\n9\n%%EOF\n".to_vec(),
        ),
        (
            "table subsection claiming a billion entries",
            b"%PDF-1.4\nxref\n0 1000000000\n0000000000 65535 f\r\ntrailer<</Root 1 0 R>>\nstartxref\n9\n%%EOF\n".to_vec(),
        ),
        ("Flate bomb", {
            let z = zlib(&vec![0u8; 80 << 20]);
            let mut f = format!("%PDF-1.5\n1 0 obj\n<</Type/XRef/Size 2/W[1 1 1]/Filter/FlateDecode/Length {}>>stream\n", z.len()).into_bytes();
            f.extend_from_slice(&z);
            f.extend_from_slice(b"\nendstream\nendobj\nstartxref\n9\n%%EOF\n");
            f
        }),
        ("unterminated everything", b"%PDF-1.4\ntrailer<</Root (abc\nstartxref\n9\n%%EOF".to_vec()),
    ];
    for (name, f) in cases {
        let r = full_run(&f);
        assert!(
            matches!(r, Err(PdfError::Malformed(_) | PdfError::Unsupported(_))),
            "{name}: {r:?}"
        );
    }
}

#[test]
fn object_stream_length_cycle_is_an_error() {
    // Object stream 2's /Length is object 3, which lives in object stream 2.
    let body = b"<</Type/ObjStm/N 1/First 4/Length 3 0 R>>stream\n3 0 7\nendstream";
    let mut f = b"%PDF-1.5\n".to_vec();
    let o2 = f.len();
    f.extend_from_slice(b"2 0 obj\n");
    f.extend_from_slice(body);
    f.extend_from_slice(b"\nendobj\n");
    let x = f.len();
    let rows: [[u8; 4]; 4] = [
        [0, 0, 0, 0],
        [2, 0, 2, 0],
        [1, (o2 >> 8) as u8, o2 as u8, 0],
        [2, 0, 2, 0],
    ];
    let data: Vec<u8> = rows.concat();
    f.extend_from_slice(
        format!(
            "4 0 obj\n<</Type/XRef/Size 4/W[1 2 1]/Root 1 0 R/Length {}>>stream\n",
            data.len()
        )
        .as_bytes(),
    );
    f.extend_from_slice(&data);
    f.extend_from_slice(format!("\nendstream\nendobj\nstartxref\n{x}\n%%EOF\n").as_bytes());
    let r = full_run(&f);
    assert!(matches!(r, Err(PdfError::Malformed(_))), "{r:?}");
}

/// xorshift64*, deterministic.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

#[test]
fn mutation_fuzz_never_panics() {
    let seeds = [
        xref_stream_pdf(),
        classic(
            &[
                "<</Type/Catalog/Pages 2 0 R/AcroForm 4 0 R>>".into(),
                "<</Type/Pages/Kids[3 0 R]/Count 1>>".into(),
                "<</Type/Page/Parent 2 0 R/Annots 5 0 R>>".into(),
                "<</Fields[6 0 R]/SigFlags 3>>".into(),
                "[6 0 R]".into(),
                "<</FT/Sig/T(S\\(1\\))/Kids[]/V<</Contents<3000>/ByteRange[0 1 2 3]>>>>".into(),
            ],
            "/ID[<01><02>]/Info 2 0 R",
        ),
    ];
    let iterations: u64 = std::env::var("SIGIL_PDF_FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let mut rng = Rng(0x005E_ED0F_5161);
    let (mut ok, mut err) = (0, 0);
    for i in 0..iterations {
        let mut f = seeds[(i % 2) as usize].clone();
        for _ in 0..1 + rng.next() % 4 {
            if f.is_empty() {
                f.push(b'%');
            }
            let at = (rng.next() % f.len() as u64) as usize;
            match rng.next() % 6 {
                // Truncation, and a startxref aimed anywhere (including trailing whitespace).
                4 => f.truncate(at.max(1)),
                5 => {
                    f.extend_from_slice(b"   \n");
                    let target = rng.next() % f.len() as u64;
                    f.extend_from_slice(format!("startxref\n{target}\n%%EOF\n  ").as_bytes());
                }
                0 => f[at] = rng.next() as u8,
                1 => f[at] = b"0123456789<>[]()/ \nRobj"[(rng.next() % 23) as usize],
                2 => {
                    f.remove(at);
                }
                _ => f.insert(at, b"[<(/0 R"[(rng.next() % 7) as usize]),
            }
        }
        match std::panic::catch_unwind(|| full_run(&f)) {
            Ok(Ok(())) => ok += 1,
            Ok(Err(_)) => err += 1,
            Err(_) => panic!(
                "panic on mutation {i}; input:\n{}",
                String::from_utf8_lossy(&f)
            ),
        }
    }
    println!("fuzz: {iterations} mutations, {ok} sealed, {err} refused");
    assert!(ok > 0 && err > 0);
}
