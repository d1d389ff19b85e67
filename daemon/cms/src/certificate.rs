//! Certificates as the verifiers hold them: [`CertEntry`] keeps a decoded certificate with the exact bytes it
//! arrived as (what issuer signatures and ESSCertID hashes are computed on), [`CertificateSummary`] renders one
//! for APIs, and the name helpers compare and print X.509 names the way chain building needs.

use der::{Decode, Encode};
use x509_cert::{Certificate, ext::pkix::name::GeneralName, name::Name};

use crate::{
    BigInteger,
    asn1::RawCertificate,
    ber::decode_liberal,
    time::{rfc3339, unix_seconds},
};

/// Why bytes are not the DER structure expected (a certificate, a PEM bundle).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed {what}: {source}")]
pub struct MalformedError {
    /// The structure that failed (`Certificate`, `PEM certificate bundle`).
    pub what: &'static str,
    /// The decoder's error.
    pub source: der::Error,
}

/// What a certificate says about itself, rendered for the API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateSummary {
    /// Subject, RFC 4514.
    pub subject: String,
    /// Issuer, RFC 4514.
    pub issuer: String,
    /// Serial number, lowercase hex of the magnitude.
    pub serial_hex: String,
    /// notBefore, RFC 3339.
    pub not_before: String,
    /// notAfter, RFC 3339.
    pub not_after: String,
    /// notBefore, Unix seconds.
    pub not_before_unix: i64,
    /// notAfter, Unix seconds.
    pub not_after_unix: i64,
}

impl CertificateSummary {
    /// Summarises a certificate.
    #[must_use]
    pub fn of(certificate: &Certificate) -> Self {
        let tbs = certificate.tbs_certificate();
        let validity = tbs.validity();
        let not_before_unix = unix_seconds(&validity.not_before);
        let not_after_unix = unix_seconds(&validity.not_after);
        Self {
            subject: tbs.subject().to_string(),
            issuer: tbs.issuer().to_string(),
            serial_hex: BigInteger::from_twos_complement(tbs.serial_number().as_bytes()).to_hex(),
            not_before: rfc3339(not_before_unix),
            not_after: rfc3339(not_after_unix),
            not_before_unix,
            not_after_unix,
        }
    }
}

/// A certificate together with the exact bytes it arrived as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertEntry {
    /// The decoded certificate.
    pub certificate: Certificate,
    /// Its bytes as received (DER; for a BER certificate, the bytes as sent, which then no longer match any
    /// signature over them).
    pub der: Vec<u8>,
}

/// Summaries already rendered, by certificate DER: rendering names is costly and a TSA sends the same
/// certificates with every token.
static SUMMARIES: std::sync::LazyLock<
    std::sync::Mutex<std::collections::HashMap<Vec<u8>, CertificateSummary>>,
> = std::sync::LazyLock::new(Default::default);

/// Summaries remembered at most; beyond that the memo starts over.
const SUMMARY_MEMO_LIMIT: usize = 1024;

impl CertEntry {
    /// The certificate's summary, remembered by DER (a process-wide memo of bounded size).
    #[must_use]
    pub fn summary(&self) -> CertificateSummary {
        if let Some(summary) = SUMMARIES
            .lock()
            .ok()
            .and_then(|memo| memo.get(&self.der).cloned())
        {
            return summary;
        }
        let summary = CertificateSummary::of(&self.certificate);
        if let Ok(mut memo) = SUMMARIES.lock() {
            if memo.len() >= SUMMARY_MEMO_LIMIT {
                memo.clear();
            }
            memo.insert(self.der.clone(), summary.clone());
        }
        summary
    }

    /// Reads a certificate (DER, or BER rewritten to DER for decoding), keeping the bytes given.
    ///
    /// # Errors
    /// The decoder's error when the bytes are not a certificate.
    pub fn from_der(der: &[u8]) -> der::Result<Self> {
        let (certificate, _) = decode_liberal::<Certificate>(der)?;
        Ok(Self {
            certificate,
            der: der.to_vec(),
        })
    }

    /// Wraps a decoded certificate with its DER encoding.
    ///
    /// # Errors
    /// The encoder's error when the certificate does not re-encode.
    pub fn from_certificate(certificate: &Certificate) -> der::Result<Self> {
        Ok(Self {
            der: certificate.to_der()?,
            certificate: certificate.clone(),
        })
    }

    /// The TBSCertificate bytes as received, with the outer signature algorithm and value.
    ///
    /// # Errors
    /// The decoder's error when the bytes do not split (they decoded as a certificate, so only for BER).
    pub fn raw(&self) -> der::Result<RawCertificate> {
        RawCertificate::from_der(&self.der)
    }
}

/// Name equality by DER (both sides decoded by x509-cert, which sorts multi-valued RDNs alike).
#[must_use]
pub fn names_equal(a: &Name, b: &Name) -> bool {
    matches!((a.to_der(), b.to_der()), (Ok(x), Ok(y)) if x == y)
}

/// Renders a GeneralName the way OpenSSL prints one, directoryName as RFC 4514.
#[must_use]
pub fn render_general_name(name: &GeneralName) -> String {
    match name {
        GeneralName::DirectoryName(name) => name.to_string(),
        GeneralName::DnsName(dns) => format!("DNS:{}", dns.as_str()),
        GeneralName::Rfc822Name(mail) => format!("email:{}", mail.as_str()),
        GeneralName::UniformResourceIdentifier(uri) => format!("URI:{}", uri.as_str()),
        GeneralName::IpAddress(ip) => match ip.as_bytes().len() {
            4 | 16 => {
                let bytes = ip.as_bytes();
                let address: std::net::IpAddr = if bytes.len() == 4 {
                    std::net::Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]).into()
                } else {
                    let mut octets = [0u8; 16];
                    octets.copy_from_slice(bytes);
                    std::net::Ipv6Addr::from(octets).into()
                };
                format!("IP:{address}")
            }
            _ => format!("IP:{}", crate::hex(ip.as_bytes())),
        },
        GeneralName::RegisteredId(oid) => format!("RID:{oid}"),
        GeneralName::OtherName(other) => format!("othername:{}", other.type_id),
        GeneralName::EdiPartyName(_) => "EdiPartyName".to_owned(),
    }
}
