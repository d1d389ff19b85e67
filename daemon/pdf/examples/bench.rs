//! Per-operation timings of the seal path on a ~1 MiB PDF (built here: 200 pages with
//! incompressible content streams and a classic xref table), or on a file given as argument.
//! Prints microseconds per operation (median of the runs); nothing is asserted.
//! Usage: `cargo run --release -p sigil-pdf --example bench [-- FILE.pdf]`

use std::time::Instant;

use sigil_pdf::{Document, SignatureKind, SignatureSpec, prepare_signature};

fn synthetic(pages: usize, content_len: usize) -> Vec<u8> {
    let mut objs: Vec<Vec<u8>> = vec![
        b"<</Type/Catalog/Pages 2 0 R>>".to_vec(),
        format!(
            "<</Type/Pages/Count {pages}/Kids[{}]>>",
            (0..pages)
                .map(|i| format!("{} 0 R", 3 + 2 * i))
                .collect::<Vec<_>>()
                .join(" ")
        )
        .into_bytes(),
    ];
    let mut x: u32 = 0x1234_5678;
    for i in 0..pages {
        objs.push(
            format!(
                "<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]/Contents {} 0 R>>",
                4 + 2 * i
            )
            .into_bytes(),
        );
        let data: Vec<u8> = (0..content_len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        objs.push(
            [
                format!("<</Length {content_len}>>stream\n").as_bytes(),
                &data,
                b"\nendstream",
            ]
            .concat(),
        );
    }
    let mut out = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offs = Vec::new();
    for (i, o) in objs.iter().enumerate() {
        offs.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(o);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f\r\n", objs.len() + 1).as_bytes());
    for o in offs {
        out.extend_from_slice(format!("{o:010} 00000 n\r\n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<</Size {}/Root 1 0 R>>\nstartxref\n{xref}\n%%EOF\n",
            objs.len() + 1
        )
        .as_bytes(),
    );
    out
}

fn median(mut v: Vec<u128>) -> u128 {
    v.sort_unstable();
    v[v.len() / 2]
}

fn main() {
    let bytes = match std::env::args().nth(1) {
        Some(p) => std::fs::read(p).expect("cannot read the file"),
        None => synthetic(200, 5200),
    };
    let runs = 200;
    let der = vec![0x30u8; 6000];
    let (mut parse, mut prepare, mut embed, mut total) = (vec![], vec![], vec![], vec![]);
    for _ in 0..runs {
        let t0 = Instant::now();
        let doc = Document::parse(&bytes).expect("parse");
        let t1 = Instant::now();
        let p = prepare_signature(&doc, &SignatureSpec::new(SignatureKind::Signature, 8192))
            .expect("prepare");
        let t2 = Instant::now();
        let out = p.embed(&der).expect("embed");
        let t3 = Instant::now();
        std::hint::black_box(out);
        parse.push((t1 - t0).as_micros());
        prepare.push((t2 - t1).as_micros());
        embed.push((t3 - t2).as_micros());
        total.push((t3 - t0).as_micros());
    }
    let t = median(total);
    println!(
        "input: {} bytes, {runs} runs, median microseconds per operation",
        bytes.len()
    );
    println!("parse   {:>6} us", median(parse));
    println!(
        "prepare {:>6} us (includes copying the input into the output)",
        median(prepare)
    );
    println!("embed   {:>6} us", median(embed));
    println!(
        "total   {:>6} us  => {:.0} seals/s on one core (PDF layer only, no hashing or CMS)",
        t,
        1e6 / t.max(1) as f64
    );
}
