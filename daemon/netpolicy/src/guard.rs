//! Connecting only to checked addresses. The HTTP client's resolver is replaced by [`GuardedResolver`], which
//! resolves the host once, checks **every** address it got against the [`AddressPolicy`], and hands the
//! client's connector those same addresses; the connector dials only what the resolver returned. So there is
//! no second lookup between the check and the connection (DNS rebinding has no window), the URL is left as it
//! is (the `Host` header and the TLS server name stay the host name), and a literal, a name, and a numeric
//! form that only the C resolver understands (`2130706433`) all meet the same check.
//!
//! A host with one refused address is refused as a whole, rather than filtered down to its public addresses:
//! a name that mixes public and private answers is the shape of a rebinding attack, not of a receiver.
//!
//! Only with the `ureq` feature. The push-webhook plugin and the daemon's webhook outbox both build their
//! clients on it, so there is one implementation of "connect only to what was checked". The caller still has to
//! turn off redirects (`max_redirects(0)`) and proxies (`proxy(None)`): a redirect or a proxy would send the
//! request somewhere this resolver never saw.

use std::fmt;

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

use crate::{AddressPolicy, Refused};

/// A resolver that refuses hosts with an address the policy refuses.
#[derive(Debug)]
pub struct GuardedResolver {
    policy: AddressPolicy,
    inner: DefaultResolver,
}

impl GuardedResolver {
    /// A resolver enforcing `policy`.
    pub fn new(policy: AddressPolicy) -> GuardedResolver {
        GuardedResolver {
            policy,
            inner: DefaultResolver::default(),
        }
    }
}

/// The error the resolver returns (inside `ureq::Error::Other`) for a refused host.
#[derive(Debug, Clone)]
pub struct AddressRefused {
    /// The host as the URL names it.
    pub host: String,
    /// The first refused address and why.
    pub refused: Refused,
}

impl fmt::Display for AddressRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if crate::host_address(&self.host) == Some(self.refused.address) {
            write!(f, "{}", self.refused)
        } else {
            write!(
                f,
                "{} resolved to {}, which {}",
                self.host,
                self.refused.address,
                self.refused.reason()
            )
        }
    }
}

impl std::error::Error for AddressRefused {}

impl Resolver for GuardedResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let addrs = self.inner.resolve(uri, config, timeout)?;
        for addr in addrs.iter() {
            if let Err(refused) = self.policy.check(addr.ip()) {
                return Err(ureq::Error::Other(Box::new(AddressRefused {
                    host: uri.host().unwrap_or_default().to_owned(),
                    refused,
                })));
            }
        }
        Ok(addrs)
    }
}

/// The refusal inside a client error, if that is what it is.
pub fn refusal(error: &ureq::Error) -> Option<&AddressRefused> {
    match error {
        ureq::Error::Other(inner) => inner.downcast_ref::<AddressRefused>(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Cidr;

    fn resolve(policy: AddressPolicy, uri: &Uri) -> Result<ResolvedSocketAddrs, ureq::Error> {
        GuardedResolver::new(policy).resolve(uri, &Config::default(), NextTimeout::default())
    }

    /// The tricky encodings of a local address, as the URL parser the client uses actually hands them on, and
    /// what the pre-check reads and the resolver then does with them. Numeric hosts resolve without a DNS
    /// server (the C resolver reads them itself), so this test needs no network.
    #[test]
    fn tricky_hosts_as_the_url_parser_and_the_resolver_see_them() {
        // (URL, host as `http::Uri` gives it, address the pre-check reads from that host)
        let cases: &[(&str, &str, &str)] = &[
            ("http://127.0.0.1/", "127.0.0.1", "127.0.0.1"),
            ("http://0.0.0.0:8080/", "0.0.0.0", "0.0.0.0"),
            ("http://[::]/", "[::]", "::"),
            ("http://[::1]:8080/x", "[::1]", "::1"),
            (
                "http://[::ffff:127.0.0.1]/",
                "[::ffff:127.0.0.1]",
                "::ffff:127.0.0.1",
            ),
            (
                "http://[::ffff:7f00:1]/",
                "[::ffff:7f00:1]",
                "::ffff:127.0.0.1",
            ),
            (
                "http://[64:ff9b::a9fe:a9fe]/",
                "[64:ff9b::a9fe:a9fe]",
                "64:ff9b::169.254.169.254",
            ),
            // The parser keeps these as names; the C resolver reads them as numbers.
            ("http://2130706433/", "2130706433", "127.0.0.1"),
            ("http://127.1/", "127.1", "127.0.0.1"),
            ("http://0x7f.1/", "0x7f.1", "127.0.0.1"),
            ("http://0x7f000001/", "0x7f000001", "127.0.0.1"),
            ("http://0177.0.0.1/", "0177.0.0.1", "127.0.0.1"),
            ("http://0/", "0", "0.0.0.0"),
            (
                "https://169.254.169.254/latest/meta-data/",
                "169.254.169.254",
                "169.254.169.254",
            ),
            (
                "http://[fd00:ec2::254]/",
                "[fd00:ec2::254]",
                "fd00:ec2::254",
            ),
            (
                "http://100.100.100.200/",
                "100.100.100.200",
                "100.100.100.200",
            ),
            ("http://10.0.0.1/", "10.0.0.1", "10.0.0.1"),
            ("http://[fe80::1]/", "[fe80::1]", "fe80::1"),
        ];
        for (url, host, address) in cases {
            let uri: Uri = url.parse().unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(uri.host(), Some(*host), "{url}");
            let address: std::net::IpAddr = address.parse().unwrap();
            assert_eq!(crate::host_address(host), Some(address), "{url}");
            let error = resolve(AddressPolicy::public_only(), &uri).unwrap_err();
            let refused = refusal(&error).unwrap_or_else(|| panic!("{url}: {error}"));
            assert!(
                AddressPolicy::public_only()
                    .check(refused.refused.address)
                    .is_err(),
                "{url}: {refused}"
            );
        }
    }

    /// What the URL parser refuses never reaches the resolver: these are not URLs to it. (It does accept a
    /// port above 65535, which then reads as none, i.e. the scheme's default: harmless here, since the
    /// address is what is checked.)
    #[test]
    fn forms_the_url_parser_refuses() {
        for url in ["http://[::ffff:127.0.0.1/", "http:// 127.0.0.1/"] {
            assert!(url.parse::<Uri>().is_err(), "{url}");
        }
    }

    #[test]
    fn localhost_is_refused_after_resolution_and_named() {
        let uri: Uri = "http://localhost:8080/".parse().unwrap();
        let error = resolve(AddressPolicy::public_only(), &uri).unwrap_err();
        let refused = refusal(&error).expect("a refusal");
        let message = refused.to_string();
        assert!(
            message.starts_with("localhost resolved to ") && message.contains("loopback"),
            "{message}"
        );
    }

    #[test]
    fn an_allowed_network_resolves_to_the_checked_addresses() {
        let uri: Uri = "http://127.0.0.1:8080/".parse().unwrap();
        let allowed = AddressPolicy::with_allowed(vec!["127.0.0.0/8".parse::<Cidr>().unwrap()]);
        let addrs = resolve(allowed, &uri).unwrap();
        assert_eq!(addrs.len(), 1);
        assert_eq!(addrs[0], "127.0.0.1:8080".parse().unwrap());
        let error = resolve(AddressPolicy::public_only(), &uri).unwrap_err();
        assert_eq!(
            refusal(&error).unwrap().to_string(),
            "127.0.0.1 is a loopback address"
        );
    }
}
