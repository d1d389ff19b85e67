//! Every bound a hostile file could otherwise push: one place, one number each.

/// Arrays and dictionaries nested deeper than this are refused.
pub const MAX_DEPTH: usize = 64;
/// Xref sections (`/Prev` hops plus the first) read before giving up.
pub const MAX_XREF_SECTIONS: usize = 4096;
/// Highest object number accepted (the PDF 1.7 implementation limit).
pub const MAX_OBJECT_NUMBER: u32 = 8_388_607;
/// Bytes one decoded stream may inflate to (xref streams, object streams, DSS entries).
pub const MAX_DECODED_STREAM: usize = 64 << 20;
/// Bytes all decoded streams of one document may inflate to, together.
pub const MAX_DECODED_TOTAL: usize = 256 << 20;
/// Indirect references followed in a row (`1 0 R` pointing at `2 0 R` ...).
pub const MAX_REF_CHAIN: usize = 32;
/// Depth of the page tree and of the form field tree.
pub const MAX_TREE_DEPTH: usize = 64;
/// Form fields (and page tree nodes) visited in one walk.
pub const MAX_TREE_NODES: usize = 100_000;
/// How far from the end `startxref` is searched for.
pub const STARTXREF_WINDOW: usize = 64 << 10;
/// Object streams whose loading may nest (an object stream's `/Length` kept in another one).
pub const MAX_OBJSTM_NESTING: usize = 4;
