//! Prints what `sigil_pdf` reads from a PDF: xref kind, revisions, signatures, DSS sizes.
//! Usage: `cargo run -p sigil-pdf --example inspect -- FILE.pdf`

fn main() {
    let path = std::env::args().nth(1).expect("usage: inspect FILE.pdf");
    let bytes = std::fs::read(&path).expect("cannot read the file");
    let doc = match sigil_pdf::Document::parse(&bytes) {
        Ok(d) => d,
        Err(e) => {
            println!("refused: {e}");
            std::process::exit(1);
        }
    };
    println!("xref kind: {:?}", doc.xref_kind());
    println!(
        "revisions end at: {:?} (file is {} bytes)",
        doc.revisions(),
        bytes.len()
    );
    match doc.signatures() {
        Ok(sigs) => {
            for s in sigs {
                println!(
                    "field {:?}: {:?} {:?}/{:?} byte_range {:?} ok={} revision_end={:?} whole_file={} revisions_after={} contents={} bytes",
                    s.field_name,
                    s.kind,
                    s.filter,
                    s.sub_filter,
                    s.byte_range,
                    s.byte_range_ok,
                    s.revision_end,
                    s.covers_whole_file,
                    s.revisions_after,
                    s.contents.len()
                );
            }
        }
        Err(e) => println!("signatures: {e}"),
    }
    match doc.dss() {
        Ok(d) => println!(
            "DSS: {} certs, {} OCSPs, {} CRLs",
            d.certs.len(),
            d.ocsps.len(),
            d.crls.len()
        ),
        Err(e) => println!("DSS: {e}"),
    }
}
