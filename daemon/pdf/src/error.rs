//! The one error type of the crate.

/// Why a PDF was refused or an operation failed.
///
/// The variants map onto distinct client answers: [`PdfError::Encrypted`] and
/// [`PdfError::Unsupported`] name something valid that this crate does not handle,
/// [`PdfError::Malformed`] names damage, the others are caller mistakes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PdfError {
    /// The trailer has an `/Encrypt` entry; encrypted documents are not sealed.
    #[error("the PDF is encrypted")]
    Encrypted,
    /// The file is damaged in a way that matters (the reason says where and how).
    #[error("malformed PDF: {0}")]
    Malformed(String),
    /// The file uses a feature this crate does not implement (the reason names it).
    #[error("unsupported PDF feature: {0}")]
    Unsupported(String),
    /// The DER given to [`crate::Prepared::embed`] does not fit the `/Contents` placeholder.
    #[error("signature needs {needed} bytes but the /Contents placeholder holds {capacity}")]
    ContentsTooSmall {
        /// Length of the DER that was offered.
        needed: usize,
        /// Capacity of the placeholder in bytes of DER.
        capacity: usize,
    },
    /// The [`crate::SignatureSpec`] (or another caller input) is not usable, e.g. a taken field name.
    #[error("invalid request: {0}")]
    InvalidSpec(String),
}

/// Shorthand used throughout the crate.
pub type Result<T> = std::result::Result<T, PdfError>;

pub(crate) fn malformed<T>(reason: impl Into<String>) -> Result<T> {
    Err(PdfError::Malformed(reason.into()))
}
