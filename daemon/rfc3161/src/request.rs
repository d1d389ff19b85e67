//! Time-stamp requests (RFC 3161 §2.4.1): [`TimestampRequest`] builds one to send to a TSA, and
//! [`ParsedRequest::from_der`] reads one received by the local TSA, refusing malformed requests with an
//! error that names the PKIFailureInfo to answer with.

use der::{
    Encode,
    asn1::{Int, ObjectIdentifier, OctetString},
};

use crate::{
    BigInteger, FailureInfo, HashAlgorithm,
    asn1::{MessageImprint, TimeStampReq},
    verify::Expectations,
};
use sigil_cms::ber::decode_liberal;

/// Nonces longer than this are refused: 64 bytes is far beyond any real nonce and bounds the echo.
const MAX_NONCE_BYTES: usize = 64;

/// Bytes of randomness in the nonces this crate generates (RFC 3161 asks for a large random number).
const NONCE_BYTES: usize = 16;

/// Why a request could not be built or was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// No bytes at all.
    #[error("empty time-stamp request")]
    Empty,
    /// Not a DER (or BER) `TimeStampReq`.
    #[error("malformed TimeStampReq: {0}")]
    Malformed(der::Error),
    /// `version` is not 1.
    #[error("unsupported TimeStampReq version {0} (only v1 exists)")]
    UnsupportedVersion(String),
    /// The imprint's hash algorithm is not SHA-256, SHA-384 or SHA-512 (or carries parameters).
    #[error("unsupported message imprint hash algorithm {0}")]
    UnsupportedHashAlgorithm(ObjectIdentifier),
    /// The digest length does not match the hash algorithm.
    #[error("{algorithm} digest must be {expected} bytes, got {actual}")]
    DigestLength {
        /// The hash algorithm named in the imprint.
        algorithm: HashAlgorithm,
        /// Its output length.
        expected: usize,
        /// The length received.
        actual: usize,
    },
    /// A nonce longer than 64 bytes, or negative.
    #[error("nonce must be a positive integer of at most {MAX_NONCE_BYTES} bytes")]
    InvalidNonce,
    /// The request carries extensions; this TSA supports none.
    #[error("unsupported request extension {0}")]
    UnsupportedExtension(ObjectIdentifier),
    /// The random source failed while making a nonce.
    #[error("random source failed: {0}")]
    Random(String),
}

impl RequestError {
    /// The PKIFailureInfo bit a TSA answers this error with.
    #[must_use]
    pub fn failure_info(&self) -> FailureInfo {
        match self {
            Self::Empty | Self::Malformed(_) | Self::DigestLength { .. } | Self::InvalidNonce => {
                FailureInfo::BadDataFormat
            }
            Self::UnsupportedVersion(_) => FailureInfo::BadRequest,
            Self::UnsupportedHashAlgorithm(_) => FailureInfo::BadAlg,
            Self::UnsupportedExtension(_) => FailureInfo::UnacceptedExtension,
            Self::Random(_) => FailureInfo::SystemFailure,
        }
    }
}

/// A request built to be sent to a TSA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimestampRequest {
    /// The DER `TimeStampReq` to send (`application/timestamp-query`).
    pub der: Vec<u8>,
    /// The random nonce in the request; the response must echo it.
    pub nonce: BigInteger,
    /// The imprint's hash algorithm.
    pub hash_algorithm: HashAlgorithm,
    /// The imprint digest.
    pub digest: Vec<u8>,
    /// The requested policy, if any.
    pub policy: Option<ObjectIdentifier>,
    /// Whether the TSA was asked to include its certificate.
    pub cert_req: bool,
}

impl TimestampRequest {
    /// Builds a v1 request for `digest` (SHA-256, SHA-384 or SHA-512) with a fresh 128-bit nonce.
    ///
    /// # Errors
    /// [`RequestError::UnsupportedHashAlgorithm`] for SHA-1, [`RequestError::DigestLength`] when the digest
    /// does not fit the algorithm, [`RequestError::Random`] if the random source fails.
    pub fn new(
        hash_alg: HashAlgorithm,
        digest: &[u8],
        policy: Option<ObjectIdentifier>,
        cert_req: bool,
    ) -> Result<Self, RequestError> {
        let nonce = BigInteger::random_positive(NONCE_BYTES)
            .map_err(|error| RequestError::Random(error.to_string()))?;
        Self::with_nonce(hash_alg, digest, policy, cert_req, nonce)
    }

    /// As [`TimestampRequest::new`] with a caller-chosen nonce (tests, or a caller with its own RNG).
    ///
    /// # Errors
    /// As [`TimestampRequest::new`], and [`RequestError::InvalidNonce`] for a negative or oversized nonce.
    pub fn with_nonce(
        hash_alg: HashAlgorithm,
        digest: &[u8],
        policy: Option<ObjectIdentifier>,
        cert_req: bool,
        nonce: BigInteger,
    ) -> Result<Self, RequestError> {
        check_imprint(hash_alg, digest)?;
        if nonce.is_negative() || nonce.encoded_len() > MAX_NONCE_BYTES {
            return Err(RequestError::InvalidNonce);
        }
        let request = TimeStampReq {
            version: Int::new(&[1]).map_err(RequestError::Malformed)?,
            message_imprint: MessageImprint {
                hash_algorithm: hash_alg.algorithm_identifier(),
                hashed_message: OctetString::new(digest).map_err(RequestError::Malformed)?,
            },
            req_policy: policy,
            nonce: Some(nonce.to_int()),
            cert_req,
            extensions: None,
        };
        let der = request.to_der().map_err(RequestError::Malformed)?;
        Ok(Self {
            der,
            nonce,
            hash_algorithm: hash_alg,
            digest: digest.to_vec(),
            policy,
            cert_req,
        })
    }

    /// What the response to this request must satisfy: same imprint, same nonce, and the requested
    /// policy when one was requested.
    #[must_use]
    pub fn expectations(&self) -> Expectations {
        Expectations {
            hash_alg: self.hash_algorithm,
            digest: self.digest.clone(),
            nonce: Some(self.nonce.clone()),
            acceptable_policies: self.policy.map(|policy| vec![policy]),
            signer_certificate_required: self.cert_req,
        }
    }
}

fn check_imprint(hash_alg: HashAlgorithm, digest: &[u8]) -> Result<(), RequestError> {
    if hash_alg == HashAlgorithm::Sha1 {
        return Err(RequestError::UnsupportedHashAlgorithm(hash_alg.oid()));
    }
    if digest.len() != hash_alg.output_len() {
        return Err(RequestError::DigestLength {
            algorithm: hash_alg,
            expected: hash_alg.output_len(),
            actual: digest.len(),
        });
    }
    Ok(())
}

/// A request received by the local TSA, checked and ready for [`crate::issue_token`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedRequest {
    /// The imprint's hash algorithm (SHA-256, SHA-384 or SHA-512).
    pub hash_algorithm: HashAlgorithm,
    /// The imprint digest, of the algorithm's length.
    pub digest: Vec<u8>,
    /// The policy the client asked for.
    pub policy: Option<ObjectIdentifier>,
    /// The client's nonce, to be echoed.
    pub nonce: Option<BigInteger>,
    /// Whether the client asked for the TSA certificate in the token.
    pub cert_req: bool,
}

impl ParsedRequest {
    /// Reads and checks a DER `TimeStampReq` (BER is tolerated the same way as for responses).
    ///
    /// # Errors
    /// One [`RequestError`] per refusal; [`RequestError::failure_info`] gives the reply's failInfo.
    pub fn from_der(der: &[u8]) -> Result<Self, RequestError> {
        if der.is_empty() {
            return Err(RequestError::Empty);
        }
        let (request, _) = decode_liberal::<TimeStampReq>(der).map_err(RequestError::Malformed)?;
        let version = BigInteger::from_int(&request.version);
        if version != BigInteger::from(1u64) {
            return Err(RequestError::UnsupportedVersion(version.to_decimal()));
        }
        let imprint = &request.message_imprint;
        let hash_algorithm = HashAlgorithm::from_algorithm_identifier(&imprint.hash_algorithm)
            .filter(|alg| *alg != HashAlgorithm::Sha1)
            .ok_or(RequestError::UnsupportedHashAlgorithm(
                imprint.hash_algorithm.oid,
            ))?;
        let digest = imprint.hashed_message.as_bytes().to_vec();
        check_imprint(hash_algorithm, &digest)?;
        let nonce = request.nonce.as_ref().map(BigInteger::from_int);
        if nonce
            .as_ref()
            .is_some_and(|n| n.is_negative() || n.encoded_len() > MAX_NONCE_BYTES)
        {
            return Err(RequestError::InvalidNonce);
        }
        if let Some(extension) = request.extensions.as_ref().and_then(|list| list.first()) {
            return Err(RequestError::UnsupportedExtension(extension.extn_id));
        }
        Ok(Self {
            hash_algorithm,
            digest,
            policy: request.req_policy,
            nonce,
            cert_req: request.cert_req,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(len: usize) -> Vec<u8> {
        (0..len).map(|i| i as u8).collect()
    }

    #[test]
    fn builds_and_reparses() {
        for alg in [
            HashAlgorithm::Sha256,
            HashAlgorithm::Sha384,
            HashAlgorithm::Sha512,
        ] {
            let policy = Some(ObjectIdentifier::new_unwrap("1.2.3.4.1"));
            let built =
                TimestampRequest::new(alg, &digest(alg.output_len()), policy, true).unwrap();
            let parsed = ParsedRequest::from_der(&built.der).unwrap();
            assert_eq!(parsed.hash_algorithm, alg);
            assert_eq!(parsed.digest, built.digest);
            assert_eq!(parsed.policy, policy);
            assert_eq!(parsed.nonce.as_ref(), Some(&built.nonce));
            assert!(parsed.cert_req);
            assert!(built.nonce.encoded_len() >= 8, "nonce of at least 64 bits");
        }
        let other = TimestampRequest::new(HashAlgorithm::Sha256, &digest(32), None, false).unwrap();
        let parsed = ParsedRequest::from_der(&other.der).unwrap();
        assert!(!parsed.cert_req);
        assert_eq!(parsed.policy, None);
    }

    #[test]
    fn builder_refuses_bad_imprints() {
        assert_eq!(
            TimestampRequest::new(HashAlgorithm::Sha256, &digest(31), None, true).unwrap_err(),
            RequestError::DigestLength {
                algorithm: HashAlgorithm::Sha256,
                expected: 32,
                actual: 31
            }
        );
        assert!(matches!(
            TimestampRequest::new(HashAlgorithm::Sha1, &digest(20), None, true),
            Err(RequestError::UnsupportedHashAlgorithm(_))
        ));
    }

    /// A request with a hand-set field, re-encoded.
    fn tweaked(change: impl FnOnce(&mut TimeStampReq)) -> Vec<u8> {
        let built = TimestampRequest::new(HashAlgorithm::Sha256, &digest(32), None, true).unwrap();
        let mut request: TimeStampReq = der::Decode::from_der(&built.der).unwrap();
        change(&mut request);
        request.to_der().unwrap()
    }

    #[test]
    fn parser_refuses_malformed_requests() {
        let sha1 = HashAlgorithm::Sha1.algorithm_identifier();
        let table: Vec<(&str, Vec<u8>, FailureInfo)> = vec![
            ("empty", vec![], FailureInfo::BadDataFormat),
            (
                "random bytes",
                vec![0x13, 0x37, 0xde, 0xad],
                FailureInfo::BadDataFormat,
            ),
            (
                "truncated",
                tweaked(|_| {})[..20].to_vec(),
                FailureInfo::BadDataFormat,
            ),
            (
                "wrong shape",
                vec![0x30, 0x03, 0x02, 0x01, 0x01],
                FailureInfo::BadDataFormat,
            ),
            (
                "version 2",
                tweaked(|r| r.version = Int::new(&[2]).unwrap()),
                FailureInfo::BadRequest,
            ),
            (
                "sha-1",
                tweaked(|r| r.message_imprint.hash_algorithm = sha1),
                FailureInfo::BadAlg,
            ),
            (
                "short digest",
                tweaked(|r| {
                    r.message_imprint.hashed_message = OctetString::new([0u8; 31]).unwrap()
                }),
                FailureInfo::BadDataFormat,
            ),
            (
                "negative nonce",
                tweaked(|r| r.nonce = Some(Int::new(&[0x80]).unwrap())),
                FailureInfo::BadDataFormat,
            ),
            (
                "extension",
                tweaked(|r| {
                    r.extensions = Some(vec![x509_cert::ext::Extension {
                        extn_id: ObjectIdentifier::new_unwrap("1.2.3.4"),
                        critical: false,
                        extn_value: OctetString::new([0x05, 0x00]).unwrap(),
                    }]);
                }),
                FailureInfo::UnacceptedExtension,
            ),
        ];
        for (name, input, failure) in table {
            let error = ParsedRequest::from_der(&input).unwrap_err();
            assert_eq!(error.failure_info(), failure, "{name}: {error}");
        }
    }

    #[test]
    fn explicit_default_cert_req_false_is_accepted() {
        // DER omits a DEFAULT value, but some clients encode certReq FALSE explicitly.
        let built = TimestampRequest::new(HashAlgorithm::Sha256, &digest(32), None, false).unwrap();
        let mut der = built.der.clone();
        der.extend_from_slice(&[0x01, 0x01, 0x00]);
        der[1] += 3;
        let parsed = ParsedRequest::from_der(&der).unwrap();
        assert!(!parsed.cert_req);
    }
}
