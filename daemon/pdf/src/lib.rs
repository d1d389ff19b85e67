//! The PDF layer under PAdES (ETSI EN 319 142-1): parse a document lazily, write a signature
//! placeholder (or a document timestamp placeholder, or a DSS) as an incremental update, and read
//! the signatures of a document back for verification. No crypto and no I/O here: the caller
//! hashes [`Prepared::signed_ranges`], builds the CMS elsewhere and hands the DER to
//! [`Prepared::embed`].
//!
//! # What is parsed
//! [`Document::parse`] finds `startxref`, reads the whole xref chain (classic tables, xref
//! streams with FlateDecode and PNG predictors, hybrid files with `/XRefStm`, `/Prev` chains,
//! linearized files) and nothing else. Objects, including objects compressed in object streams
//! (`/Type /ObjStm`), are parsed only when asked for: sealing touches the trailer, the catalog,
//! the AcroForm and its fields, and the page tree down to the first page.
//!
//! # What is refused
//! * [`PdfError::Encrypted`]: the newest trailer has `/Encrypt`.
//! * [`PdfError::Unsupported`]: valid but not handled here (stream filters other than
//!   FlateDecode on the streams we must read, TIFF predictors, a document without pages).
//! * [`PdfError::Malformed`]: damage that matters, with the offset or object it concerns:
//!   xref offsets that point at the wrong object, truncated Flate streams, `/Prev` loops,
//!   a `%PDF-` header without a version, loops in the page or form field tree, streams whose
//!   `/Length` does not reach `endstream`. The only damage tolerated is an xref or object offset
//!   that lands on whitespace before its target and a dictionary key without a value; offsets are
//!   never guessed by scanning, because an incremental update must point `/Prev` and every reader
//!   at exactly what the original file says (qpdf's xref reconstruction is not ours to repeat).
//! * [`prepare_signature`] also refuses ([`PdfError::Unsupported`]) a document holding an
//!   unfinished signature (a `/V` whose `/Contents` is not a CMS): sealing over it would make
//!   the file unverifiable for every validator; and a signature (not a document timestamp) on
//!   a document certified with DocMDP `/P 1`, where pyHanko rightly judges any change
//!   incompatible with the certification.
//!
//! # What is written
//! [`prepare_signature`] adds a signature dictionary (`/Type /Sig`, `/Filter /Adobe.PPKLite`,
//! `/SubFilter /ETSI.CAdES.detached`, optional `/M /Reason /Location /ContactInfo /Name`; or
//! `/Type /DocTimeStamp` with `/SubFilter /ETSI.RFC3161`) and one merged field + invisible widget
//! (`/FT /Sig`, `/Rect [0 0 0 0]`, `/F 132`, `/P` the first page, a `/T` unique in the form). The
//! field joins `/AcroForm /Fields` (`/SigFlags 3`) and the first page's `/Annots`. An indirect
//! AcroForm, `/Fields` array or `/Annots` array is rewritten as that object alone; an inline or
//! absent AcroForm becomes a new indirect object and the catalog is rewritten to point at it, so
//! later signatures only touch the AcroForm. [`add_dss`] adds or extends `/DSS` (`/Certs`,
//! `/OCSPs`, `/CRLs` as streams of DER; other entries such as `/VRI` are kept).
//!
//! # Bounds
//! Everything a hostile file controls is bounded (see [`limits`]): nesting depth
//! ([`limits::MAX_DEPTH`]), xref sections and `/Prev` loops ([`limits::MAX_XREF_SECTIONS`],
//! loops refused), object numbers, decoded stream sizes per stream and per document, reference
//! chains, and page/field tree depth and size. Nothing recurses on the input except the object
//! parser, which stops at the depth bound.
//!
//! # The xref-kind rule
//! An incremental update ends with a cross-reference section of the same kind as the previous
//! revision's: a table after a table, an xref stream after an xref stream. Mixing them is not
//! forbidden by ISO 32000 but breaks readers: poppler, for one, reports no signatures when a
//! table follows a stream-xref revision. After a hybrid file (a table whose trailer carries
//! `/XRefStm`) a plain table is written: new objects are all uncompressed, so a table describes
//! them fully, pre-1.5 readers follow the table chain, and 1.5 readers still honour the older
//! section's `/XRefStm` when they reach it through `/Prev`. The trailer carries every key of the
//! previous one (minus `/Prev`, `/XRefStm` and an xref stream's own keys), `/Prev` points at the
//! previous section, and `/ID` keeps its first element (it is created when missing).
//! (pyHanko's strict mode refuses every hybrid file, before and after the update alike; its
//! lenient mode, pdfsig and qpdf accept the updated hybrid files.)
//!
//! # Offsets and placeholders
//! New objects are written uncompressed. The signature dictionary's `/ByteRange` is a
//! fixed-width field (numbers padded with spaces) filled once the update's layout is known;
//! `/Contents` is `<` + 2 x capacity zeros + `>`, and [`Prepared::embed`] writes the DER's hex
//! into it without moving a byte. Reading back, [`SignatureInfo::contents`] drops the zero
//! padding using the outer DER length.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod document;
mod error;
mod filter;
pub mod limits;
mod object;
mod signatures;
mod update;

pub use document::{Document, XrefKind};
pub use error::{PdfError, Result};
pub use object::{Dict, ObjRef, Object};
pub use signatures::SignatureInfo;
pub use update::{
    Dss, MAX_CONTENTS_CAPACITY, Prepared, SignatureKind, SignatureSpec, add_dss, pdf_date,
    prepare_signature,
};

#[cfg(test)]
mod tests {
    /// The daemon moves documents and prepared seals across worker threads.
    #[test]
    fn thread_bounds() {
        fn send<T: Send>() {}
        fn send_sync<T: Send + Sync>() {}
        send::<super::Document<'static>>();
        send_sync::<super::Prepared>();
        send_sync::<super::PdfError>();
        send_sync::<super::SignatureInfo>();
    }
}
