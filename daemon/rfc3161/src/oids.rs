//! Object identifiers of RFC 3161, named after their RFC. The CMS, X.509 and algorithm OIDs a token also
//! uses are sigil-cms's, re-exported here so that [`crate::oid`] lists every OID this crate reads or writes.

use der::asn1::ObjectIdentifier;

pub use sigil_cms::oids::*;

/// `id-ct-TSTInfo` (RFC 3161): the eContentType of a time-stamp token.
pub const ID_CT_TST_INFO: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");

/// `id-kp-timeStamping` (RFC 5280 §4.2.1.12).
pub const ID_KP_TIME_STAMPING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");
