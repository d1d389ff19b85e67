//! The URL rules of the envelope: the dApp origin, the callback and the redirect URI (WHATWG parsing,
//! as the wallet and the browser parse them).

use std::net::{Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

use crate::Refusal;

/// Reason codes for one URL-valued field.
pub(crate) struct UrlReasons {
    pub not_https: &'static str,
    pub private: &'static str,
    pub invalid: &'static str,
}

pub(crate) const CALLBACK: UrlReasons = UrlReasons {
    not_https: "callback_not_https",
    private: "callback_private",
    invalid: "callback_invalid",
};

pub(crate) const REDIRECT: UrlReasons = UrlReasons {
    not_https: "redirect_not_https",
    private: "redirect_private",
    invalid: "redirect_invalid",
};

/// Checks a callback or redirect URI: `https://` with a host, or `http://` on `localhost` or
/// `127.0.0.1`; no userinfo; no literal private, loopback, link-local, unique-local or unspecified IP
/// host other than `127.0.0.1`. DNS names are not resolved here.
pub(crate) fn check_return_url(
    text: &str,
    reasons: &UrlReasons,
    field: &str,
) -> Result<(), Refusal> {
    let refuse = |reason: &'static str, message: &str| {
        Err(Refusal::new(
            reason,
            message.to_owned(),
            Some(field.to_owned()),
        ))
    };
    let Ok(url) = Url::parse(text) else {
        return refuse(reasons.invalid, "not an absolute URL");
    };
    if !url.username().is_empty() || url.password().is_some() {
        return refuse(reasons.invalid, "a URL with user information is refused");
    }
    let Some(host) = url.host() else {
        return refuse(reasons.not_https, "the URL has no host");
    };
    let local = is_local_dev_host(&host);
    match url.scheme() {
        "https" => {}
        "http" if local => {}
        _ => {
            return refuse(
                reasons.not_https,
                "must be https://, or http:// on localhost or 127.0.0.1",
            );
        }
    }
    if !local && is_private_host(&host) {
        return refuse(
            reasons.private,
            "a private, loopback or link-local IP address is refused",
        );
    }
    Ok(())
}

/// Checks that a redirect URI goes back to the dApp's own origin (scheme, host and port), `redirect_origin_mismatch`
/// otherwise: the redirect is not covered by the proof, and approvers are shown the origin, so the result must not
/// be sent to a page elsewhere.
pub(crate) fn check_same_origin(redirect: &str, origin: &str) -> Result<(), Refusal> {
    let same = match (Url::parse(redirect), Url::parse(origin)) {
        (Ok(redirect), Ok(origin)) => redirect.origin() == origin.origin(),
        _ => false,
    };
    if same {
        Ok(())
    } else {
        Err(Refusal::new(
            "redirect_origin_mismatch",
            "redirect_uri must be on the dapp.origin".to_owned(),
            Some("redirect_uri".to_owned()),
        ))
    }
}

/// Whether `text` is an `https` URL with a host and no user information.
pub(crate) fn is_plain_https(text: &str) -> bool {
    Url::parse(text).is_ok_and(|url| {
        url.scheme() == "https"
            && url.host().is_some()
            && url.username().is_empty()
            && url.password().is_none()
    })
}

/// Checks a dApp origin: an `https` URL with a host.
pub(crate) fn check_origin(text: &str) -> Result<(), Refusal> {
    match Url::parse(text) {
        Ok(url) if url.scheme() == "https" && url.host().is_some() => Ok(()),
        _ => Err(Refusal::new(
            "origin_not_https",
            "dapp.origin must be an https URL with a host".to_owned(),
            Some("request.dapp.origin".to_owned()),
        )),
    }
}

fn is_local_dev_host(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(name) => *name == "localhost",
        Host::Ipv4(address) => *address == Ipv4Addr::LOCALHOST,
        Host::Ipv6(_) => false,
    }
}

fn is_private_host(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(_) => false,
        Host::Ipv4(address) => is_private_v4(*address),
        Host::Ipv6(address) => is_private_v6(*address),
    }
}

/// Unspecified (0/8), private (10/8, 172.16/12, 192.168/16), shared (100.64/10), loopback (127/8),
/// link-local (169.254/16), broadcast.
fn is_private_v4(address: Ipv4Addr) -> bool {
    let [a, b, ..] = address.octets();
    a == 0
        || a == 10
        || a == 127
        || (a == 100 && (64..128).contains(&b))
        || (a == 169 && b == 254)
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 168)
        || address.is_broadcast()
}

/// Unspecified, loopback, unique-local (fc00::/7), link-local (fe80::/10), and IPv4-mapped or
/// -compatible addresses whose IPv4 address is private.
fn is_private_v6(address: Ipv6Addr) -> bool {
    let first = address.segments()[0];
    if address.is_unspecified() || address.is_loopback() {
        return true;
    }
    if (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80 {
        return true;
    }
    if let Some(v4) = address.to_ipv4() {
        return is_private_v4(v4);
    }
    false
}
