//! Which IP addresses an outbound request that a client can steer may connect to: the server-side request
//! forgery (SSRF) guard.
//!
//! A webhook URL comes from a device or a tenant, not from the operator, so without a guard it can make sigild
//! post to its own loopback services, to the private network behind it, or to a cloud metadata endpoint
//! that hands out credentials. The policy is applied to **resolved addresses** (a host name proves nothing
//! about where it points, and may point elsewhere on the next lookup), and the caller must connect only to
//! an address it checked: resolve once, check every address, connect to a checked one.
//!
//! Refused unless an allowlist entry covers them (see [`AddressPolicy::check`]):
//!
//! | range | IPv4 | IPv6 |
//! | --- | --- | --- |
//! | unspecified, "this network" | `0.0.0.0/8` | `::/128` |
//! | loopback | `127.0.0.0/8` | `::1/128` |
//! | private | `10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16` (RFC 1918) | `fc00::/7` (ULA, RFC 4193), `fec0::/10` (site-local, deprecated), `64:ff9b:1::/48` (local-use NAT64) |
//! | shared address space (CGNAT) | `100.64.0.0/10` (RFC 6598) | |
//! | link-local | `169.254.0.0/16` | `fe80::/10` |
//! | multicast | `224.0.0.0/4` | `ff00::/8` |
//! | broadcast | `255.255.255.255` | |
//! | documentation | `192.0.2.0/24`, `198.51.100.0/24`, `203.0.113.0/24` | `2001:db8::/32`, `3fff::/20` |
//! | benchmarking | `198.18.0.0/15` | `2001:2::/48` |
//! | reserved, special-purpose | `192.0.0.0/24`, `192.88.99.0/24`, `240.0.0.0/4` | everything outside `2000::/3`, `2001::/23` (incl. Teredo), `100::/64` |
//! | cloud metadata | `169.254.169.254`, `169.254.170.2`, `169.254.170.23`, `100.100.100.200` | `fd00:ec2::254`, `fd00:ec2::23` |
//!
//! IPv6 forms that carry an IPv4 address are judged by the address they carry, because that is where the
//! packets end up: IPv4-mapped `::ffff:a.b.c.d` (what a dual-stack socket turns an IPv4 peer into),
//! IPv4-translated `::ffff:0:a.b.c.d`, NAT64 `64:ff9b::a.b.c.d` (the well-known prefix, RFC 6052), 6to4
//! `2002:aabb:ccdd::/48`, and the deprecated IPv4-compatible `::a.b.c.d` (refused even when it carries a
//! public address: nothing routes it).
//!
//! An allowlist of networks (CIDRs) lets an operator reach private targets on purpose, e.g. a receiver on
//! the LAN or a test stand-in on loopback. An entry admits an address when it contains the address or the
//! IPv4 address the address carries. Cloud metadata addresses are admitted only by an entry naming exactly
//! that address (`/32` or `/128`), so that allowing `169.254.0.0/16` or `0.0.0.0/0` does not hand out
//! instance credentials by accident.
//!
//! **Shared and std-only on purpose:** the push-webhook plugin and the daemon both use this crate (the daemon
//! for its trusted-proxy ranges and its webhook outbox), so by default it depends on nothing but `std` and stays
//! cheap to build. Keep it that way. The optional `ureq` feature adds [`guard`], the resolver that makes a ureq
//! client connect only to addresses this policy admitted; both HTTP clients that post to steerable URLs use it.

#[cfg(feature = "ureq")]
pub mod guard;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// A range of addresses that is not a public destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    /// `0.0.0.0/8`, `::`. Connecting to `0.0.0.0` reaches the local host on Linux.
    Unspecified,
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// RFC 1918, site-local IPv6, local-use NAT64.
    Private,
    /// RFC 4193 unique local addresses, `fc00::/7`.
    UniqueLocal,
    /// `100.64.0.0/10`, carrier-grade NAT (RFC 6598).
    SharedAddressSpace,
    /// `169.254.0.0/16`, `fe80::/10`.
    LinkLocal,
    /// `224.0.0.0/4`, `ff00::/8`.
    Multicast,
    /// `255.255.255.255`.
    Broadcast,
    /// RFC 5737, RFC 3849, RFC 9637.
    Documentation,
    /// RFC 2544, RFC 5180.
    Benchmarking,
    /// An instance metadata service of a cloud provider.
    CloudMetadata,
    /// IETF protocol assignments, reserved and unassigned space.
    Reserved,
}

impl Range {
    /// How a message names the range, with its article.
    pub fn describe(self) -> &'static str {
        match self {
            Range::Unspecified => "the unspecified address (this host)",
            Range::Loopback => "a loopback address",
            Range::Private => "a private network address",
            Range::UniqueLocal => "a unique local (private) IPv6 address",
            Range::SharedAddressSpace => "a carrier-grade NAT (shared) address",
            Range::LinkLocal => "a link-local address",
            Range::Multicast => "a multicast address",
            Range::Broadcast => "the broadcast address",
            Range::Documentation => "a documentation address",
            Range::Benchmarking => "a benchmarking address",
            Range::CloudMetadata => "a cloud metadata service address",
            Range::Reserved => "a reserved or special-purpose address",
        }
    }
}

/// The verdict on an address outside public unicast space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Special {
    /// The range that makes it special.
    pub range: Range,
    /// The IPv4 address an IPv6 address carries, when that is what decided the range.
    pub embedded: Option<Ipv4Addr>,
}

/// Why [`AddressPolicy::check`] refused an address. Its `Display` is a complete sentence fragment for an
/// error message: `::ffff:127.0.0.1 carries 127.0.0.1, a loopback address`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// The refused address.
    pub address: IpAddr,
    /// Why.
    pub special: Special,
}

impl Refused {
    /// The predicate of the sentence: `is a loopback address`, `carries 10.0.0.1, a private network address`.
    pub fn reason(&self) -> String {
        match self.special.embedded {
            Some(v4) => format!("carries {v4}, {}", self.special.range.describe()),
            None => format!("is {}", self.special.range.describe()),
        }
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.address, self.reason())
    }
}

impl std::error::Error for Refused {}

/// Metadata services, refused even where an allowlist range covers them (see the module doc).
const METADATA_V4: [Ipv4Addr; 4] = [
    Ipv4Addr::new(169, 254, 169, 254), // AWS, GCP, Azure, OCI, DigitalOcean, OpenStack, ...
    Ipv4Addr::new(169, 254, 170, 2),   // AWS ECS task credentials
    Ipv4Addr::new(169, 254, 170, 23),  // AWS EKS pod identity
    Ipv4Addr::new(100, 100, 100, 200), // Alibaba Cloud
];
const METADATA_V6: [Ipv6Addr; 2] = [
    Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254), // AWS IMDS over IPv6
    Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x23),  // AWS EKS pod identity over IPv6
];

fn in_v4(ip: Ipv4Addr, network: [u8; 4], prefix: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(network)) & mask
}

fn in_v6(ip: Ipv6Addr, network: Ipv6Addr, prefix: u32) -> bool {
    let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
    u128::from(ip) & mask == u128::from(network) & mask
}

/// The range of a special IPv4 address; `None` for public unicast.
fn v4_range(ip: Ipv4Addr) -> Option<Range> {
    if METADATA_V4.contains(&ip) {
        return Some(Range::CloudMetadata);
    }
    if ip == Ipv4Addr::BROADCAST {
        return Some(Range::Broadcast);
    }
    const TABLE: &[([u8; 4], u32, Range)] = &[
        ([0, 0, 0, 0], 8, Range::Unspecified),
        ([10, 0, 0, 0], 8, Range::Private),
        ([100, 64, 0, 0], 10, Range::SharedAddressSpace),
        ([127, 0, 0, 0], 8, Range::Loopback),
        ([169, 254, 0, 0], 16, Range::LinkLocal),
        ([172, 16, 0, 0], 12, Range::Private),
        ([192, 0, 0, 0], 24, Range::Reserved),
        ([192, 0, 2, 0], 24, Range::Documentation),
        ([192, 88, 99, 0], 24, Range::Reserved),
        ([192, 168, 0, 0], 16, Range::Private),
        ([198, 18, 0, 0], 15, Range::Benchmarking),
        ([198, 51, 100, 0], 24, Range::Documentation),
        ([203, 0, 113, 0], 24, Range::Documentation),
        ([224, 0, 0, 0], 4, Range::Multicast),
        ([240, 0, 0, 0], 4, Range::Reserved),
    ];
    TABLE
        .iter()
        .find(|(network, prefix, _)| in_v4(ip, *network, *prefix))
        .map(|(_, _, range)| *range)
}

/// The IPv4 address an IPv6 address carries in one of the forms the module doc lists, and whether the form
/// is the deprecated IPv4-compatible one.
fn carried_v4(ip: Ipv6Addr) -> Option<(Ipv4Addr, bool)> {
    let bits = u128::from(ip);
    let low = Ipv4Addr::from((bits & 0xffff_ffff) as u32);
    let mapped = Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0);
    let translated = Ipv6Addr::new(0, 0, 0, 0, 0xffff, 0, 0, 0);
    let nat64 = Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0);
    if in_v6(ip, mapped, 96) || in_v6(ip, translated, 96) || in_v6(ip, nat64, 96) {
        return Some((low, false));
    }
    if in_v6(ip, Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16) {
        return Some((Ipv4Addr::from(((bits >> 80) & 0xffff_ffff) as u32), false));
    }
    // `::` and `::1` are in this /96 too, but they are the unspecified and loopback addresses.
    if in_v6(ip, Ipv6Addr::UNSPECIFIED, 96) && bits > 1 {
        return Some((low, true));
    }
    None
}

/// The range of a special IPv6 address; `None` for public unicast.
fn v6_special(ip: Ipv6Addr) -> Option<Special> {
    let plain = |range| {
        Some(Special {
            range,
            embedded: None,
        })
    };
    if ip == Ipv6Addr::UNSPECIFIED {
        return plain(Range::Unspecified);
    }
    if ip == Ipv6Addr::LOCALHOST {
        return plain(Range::Loopback);
    }
    if METADATA_V6.contains(&ip) {
        return plain(Range::CloudMetadata);
    }
    if let Some((v4, compatible)) = carried_v4(ip) {
        return match (v4_range(v4), compatible) {
            (Some(range), _) => Some(Special {
                range,
                embedded: Some(v4),
            }),
            (None, true) => plain(Range::Reserved),
            (None, false) => None,
        };
    }
    let net = |a: u16, b: u16| Ipv6Addr::new(a, b, 0, 0, 0, 0, 0, 0);
    const LOCAL_NAT64: Ipv6Addr = Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0);
    let table: [(Ipv6Addr, u32, Range); 10] = [
        (LOCAL_NAT64, 48, Range::Private),
        (net(0x100, 0), 64, Range::Reserved),
        (net(0xfc00, 0), 7, Range::UniqueLocal),
        (net(0xfe80, 0), 10, Range::LinkLocal),
        (net(0xfec0, 0), 10, Range::Private),
        (net(0xff00, 0), 8, Range::Multicast),
        (net(0x2001, 0xdb8), 32, Range::Documentation),
        (net(0x3fff, 0), 20, Range::Documentation),
        (net(0x2001, 2), 48, Range::Benchmarking),
        (net(0x2001, 0), 23, Range::Reserved),
    ];
    if let Some((_, _, range)) = table
        .iter()
        .find(|(network, prefix, _)| in_v6(ip, *network, *prefix))
    {
        return plain(*range);
    }
    // Global unicast is 2000::/3; the rest of the space is reserved or unassigned.
    if !in_v6(ip, net(0x2000, 0), 3) {
        return plain(Range::Reserved);
    }
    None
}

/// Whether `ip` is outside public unicast space, and why. `None`: a public destination.
pub fn special(ip: IpAddr) -> Option<Special> {
    match ip {
        IpAddr::V4(v4) => v4_range(v4).map(|range| Special {
            range,
            embedded: None,
        }),
        IpAddr::V6(v6) => v6_special(v6),
    }
}

/// A network in CIDR notation: `10.0.0.0/8`, `fd00::/8`; a bare address is a single host (`/32`, `/128`).
/// `Debug` and `Display` both print that notation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// The network address.
    pub fn network(&self) -> IpAddr {
        self.network
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether the network is a single address.
    pub fn is_host(&self) -> bool {
        match self.network {
            IpAddr::V4(_) => self.prefix == 32,
            IpAddr::V6(_) => self.prefix == 128,
        }
    }

    /// Whether `ip` is in the network. Families do not mix: `::ffff:10.0.0.1` is not in `10.0.0.0/8` by this
    /// test (the policy looks at carried IPv4 addresses itself).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(network), IpAddr::V4(ip)) => {
                in_v4(ip, network.octets(), u32::from(self.prefix))
            }
            (IpAddr::V6(network), IpAddr::V6(ip)) => in_v6(ip, network, u32::from(self.prefix)),
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = String;

    /// Strict: the address in Rust's standard notation (no `127.1`, no brackets), and no host bits set
    /// (`10.0.0.1/8` is refused rather than guessed to mean `10.0.0.0/8`).
    fn from_str(text: &str) -> Result<Cidr, String> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = address
            .parse()
            .map_err(|_| format!("{text:?} is not an IP address or network (CIDR)"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            // `u8::from_str` would accept a leading `+`; a prefix length is digits only.
            Some(prefix) => Some(prefix)
                .filter(|prefix| !prefix.is_empty() && prefix.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|prefix| prefix.parse::<u8>().ok())
                .filter(|prefix| *prefix <= max)
                .ok_or_else(|| format!("{text:?}: the prefix length must be 0 to {max}"))?,
        };
        let cidr = Cidr { network, prefix };
        let aligned = match network {
            IpAddr::V4(v4) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
                u32::from(v4) & !mask == 0
            }
            IpAddr::V6(v6) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
                u128::from(v6) & !mask == 0
            }
        };
        if !aligned {
            return Err(format!(
                "{text:?} has host bits set after the prefix; write the network address"
            ));
        }
        Ok(cidr)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl fmt::Debug for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The policy: public unicast addresses pass, special ones only when an allowlist entry admits them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    allowed: Vec<Cidr>,
}

impl AddressPolicy {
    /// Public destinations only.
    pub fn public_only() -> AddressPolicy {
        AddressPolicy::default()
    }

    /// Public destinations, and special ones inside `allowed`.
    pub fn with_allowed(allowed: Vec<Cidr>) -> AddressPolicy {
        AddressPolicy { allowed }
    }

    /// The allowlist.
    pub fn allowed(&self) -> &[Cidr] {
        &self.allowed
    }

    /// Whether a connection to `ip` may be made.
    pub fn check(&self, ip: IpAddr) -> Result<(), Refused> {
        let Some(special) = special(ip) else {
            return Ok(());
        };
        let admits = |entry: &Cidr| {
            let hit = entry.contains(ip)
                || special
                    .embedded
                    .is_some_and(|v4| entry.contains(IpAddr::V4(v4)));
            hit && (special.range != Range::CloudMetadata || entry.is_host())
        };
        if self.allowed.iter().any(admits) {
            Ok(())
        } else {
            Err(Refused {
                address: ip,
                special,
            })
        }
    }
}

/// Reads a host the way the C resolver (`inet_aton`, which `getaddrinfo` uses) reads a numeric IPv4 host:
/// one to four parts separated by dots, each decimal, octal (leading `0`) or hex (`0x`), the last part
/// filling the remaining bytes. So `2130706433`, `127.1`, `0x7f.1` and `0177.0.0.1` are all `127.0.0.1`.
/// URL parsers that keep such a host as a name (as `http::Uri` does) hand it to that resolver, so a check
/// before resolution must read it the same way. `None`: not a numeric host (a name, or an IPv6 literal).
pub fn legacy_ipv4(host: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = host.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut values = Vec::with_capacity(parts.len());
    for part in &parts {
        let (digits, radix) =
            if let Some(hex) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
                (hex, 16)
            } else if part.len() > 1 && part.starts_with('0') {
                (&part[1..], 8)
            } else {
                (*part, 10)
            };
        // `0x` alone is 0 to inet_aton; an empty part (`1..2`) is not a number.
        let value = if digits.is_empty() && radix == 16 {
            0
        } else if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
            return None;
        } else {
            u32::from_str_radix(digits, radix).ok()?
        };
        values.push(value);
    }
    let (last, leading) = values.split_last()?;
    if leading.iter().any(|value| *value > 0xff) {
        return None;
    }
    let room = 32 - 8 * leading.len() as u32;
    if room < 32 && *last >> room != 0 {
        return None;
    }
    let high = leading
        .iter()
        .enumerate()
        .fold(0u32, |acc, (index, value)| acc | value << (24 - 8 * index));
    Some(Ipv4Addr::from(high | last))
}

/// A host as a URL carries it (`[::1]`, `127.0.0.1`, `2130706433`), when it is an address rather than a
/// name: IPv6 in brackets, IPv4 in any form [`legacy_ipv4`] reads.
pub fn host_address(host: &str) -> Option<IpAddr> {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    legacy_ipv4(host).map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    /// Every rule of the module doc, with the addresses just inside and just outside its edges.
    #[test]
    fn address_table() {
        use Range::*;
        let cases: &[(&str, Option<Range>)] = &[
            // Public.
            ("1.1.1.1", None),
            ("8.8.8.8", None),
            ("93.184.215.14", None),
            ("2606:4700:4700::1111", None),
            ("2a00:1450:4001:80e::200e", None),
            // Unspecified, "this network".
            ("0.0.0.0", Some(Unspecified)),
            ("0.255.255.255", Some(Unspecified)),
            ("1.0.0.0", None),
            ("::", Some(Unspecified)),
            // Loopback.
            ("127.0.0.1", Some(Loopback)),
            ("127.255.255.254", Some(Loopback)),
            ("126.255.255.255", None),
            ("128.0.0.0", None),
            ("::1", Some(Loopback)),
            // RFC 1918.
            ("10.0.0.0", Some(Private)),
            ("10.255.255.255", Some(Private)),
            ("11.0.0.0", None),
            ("9.255.255.255", None),
            ("172.16.0.1", Some(Private)),
            ("172.31.255.255", Some(Private)),
            ("172.15.255.255", None),
            ("172.32.0.0", None),
            ("192.168.1.1", Some(Private)),
            ("192.169.0.0", None),
            // RFC 4193, site-local, local-use NAT64.
            ("fc00::1", Some(UniqueLocal)),
            ("fd12:3456::1", Some(UniqueLocal)),
            ("fbff:ffff::1", Some(Reserved)),
            ("fec0::1", Some(Private)),
            ("64:ff9b:1::a00:1", Some(Private)),
            // CGNAT.
            ("100.64.0.0", Some(SharedAddressSpace)),
            ("100.127.255.255", Some(SharedAddressSpace)),
            ("100.63.255.255", None),
            ("100.128.0.0", None),
            // Link-local.
            ("169.254.0.1", Some(LinkLocal)),
            ("169.254.255.255", Some(LinkLocal)),
            ("169.253.255.255", None),
            ("fe80::1", Some(LinkLocal)),
            ("febf:ffff::1", Some(LinkLocal)),
            // Multicast and broadcast.
            ("224.0.0.1", Some(Multicast)),
            ("239.255.255.255", Some(Multicast)),
            ("ff02::1", Some(Multicast)),
            ("ff0e::1", Some(Multicast)),
            ("255.255.255.255", Some(Broadcast)),
            ("240.0.0.1", Some(Reserved)),
            ("255.255.255.254", Some(Reserved)),
            ("223.255.255.255", None),
            // Documentation and benchmarking.
            ("192.0.2.1", Some(Documentation)),
            ("198.51.100.7", Some(Documentation)),
            ("203.0.113.255", Some(Documentation)),
            ("203.0.114.0", None),
            ("2001:db8::1", Some(Documentation)),
            ("3fff:fff::1", Some(Documentation)),
            ("198.18.0.1", Some(Benchmarking)),
            ("198.19.255.255", Some(Benchmarking)),
            ("198.20.0.0", None),
            ("2001:2::1", Some(Benchmarking)),
            // IETF protocol assignments, 6to4 relay, other reserved IPv6.
            ("192.0.0.8", Some(Reserved)),
            ("192.88.99.1", Some(Reserved)),
            ("2001::1", Some(Reserved)), // Teredo
            ("2001:1ff::1", Some(Reserved)),
            ("2001:200::1", None),
            ("100::1", Some(Reserved)),
            ("5f00::1", Some(Reserved)),
            ("4000::1", Some(Reserved)),
            ("1fff::1", Some(Reserved)),
            // Cloud metadata.
            ("169.254.169.254", Some(CloudMetadata)),
            ("169.254.170.2", Some(CloudMetadata)),
            ("100.100.100.200", Some(CloudMetadata)),
            ("fd00:ec2::254", Some(CloudMetadata)),
            ("fd00:ec2::23", Some(CloudMetadata)),
            // IPv4 carried in IPv6: judged by the IPv4 address.
            ("::ffff:127.0.0.1", Some(Loopback)),
            ("::ffff:7f00:1", Some(Loopback)),
            ("::ffff:10.1.2.3", Some(Private)),
            ("::ffff:169.254.169.254", Some(CloudMetadata)),
            ("::ffff:0.0.0.0", Some(Unspecified)),
            ("::ffff:8.8.8.8", None),
            ("::ffff:0:127.0.0.1", Some(Loopback)),
            ("::127.0.0.1", Some(Loopback)),
            ("::10.0.0.1", Some(Private)),
            ("::8.8.8.8", Some(Reserved)),
            ("::2", Some(Unspecified)), // IPv4-compatible 0.0.0.2
            ("64:ff9b::127.0.0.1", Some(Loopback)),
            ("64:ff9b::a9fe:a9fe", Some(CloudMetadata)),
            ("64:ff9b::192.168.0.1", Some(Private)),
            ("64:ff9b::8.8.8.8", None),
            ("2002:7f00:1::1", Some(Loopback)),
            ("2002:a00:1::", Some(Private)),
            ("2002:808:808::1", None),
        ];
        for (address, expected) in cases {
            let got = special(ip(address)).map(|special| special.range);
            assert_eq!(got, *expected, "{address}");
            assert_eq!(
                AddressPolicy::public_only().check(ip(address)).is_ok(),
                expected.is_none(),
                "{address}"
            );
        }
    }

    #[test]
    fn refusals_name_the_address_and_the_range() {
        let policy = AddressPolicy::public_only();
        assert_eq!(
            policy.check(ip("127.0.0.1")).unwrap_err().to_string(),
            "127.0.0.1 is a loopback address"
        );
        assert_eq!(
            policy.check(ip("::ffff:10.0.0.1")).unwrap_err().to_string(),
            "::ffff:10.0.0.1 carries 10.0.0.1, a private network address"
        );
        assert_eq!(
            policy
                .check(ip("64:ff9b::a9fe:a9fe"))
                .unwrap_err()
                .to_string(),
            "64:ff9b::a9fe:a9fe carries 169.254.169.254, a cloud metadata service address"
        );
    }

    #[test]
    fn the_allowlist_admits_what_it_contains_and_no_more() {
        let policy = AddressPolicy::with_allowed(vec![
            "127.0.0.1/32".parse().unwrap(),
            "10.0.0.0/8".parse().unwrap(),
            "fd00:1234::/32".parse().unwrap(),
        ]);
        for allowed in [
            "127.0.0.1",
            "10.0.0.1",
            "10.255.0.9",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "64:ff9b::10.0.0.1",
            "fd00:1234::5",
            "8.8.8.8",
        ] {
            assert!(policy.check(ip(allowed)).is_ok(), "{allowed}");
        }
        for refused in [
            "127.0.0.2",
            "0.0.0.0",
            "::1",
            "::",
            "192.168.0.1",
            "fd00:1235::1",
            "169.254.169.254",
        ] {
            assert!(policy.check(ip(refused)).is_err(), "{refused}");
        }
    }

    #[test]
    fn metadata_needs_an_entry_naming_it_exactly() {
        let broad = AddressPolicy::with_allowed(vec![
            "0.0.0.0/0".parse().unwrap(),
            "::/0".parse().unwrap(),
        ]);
        for metadata in [
            "169.254.169.254",
            "100.100.100.200",
            "fd00:ec2::254",
            "::ffff:169.254.169.254",
        ] {
            assert_eq!(
                broad.check(ip(metadata)).unwrap_err().special.range,
                Range::CloudMetadata,
                "{metadata}"
            );
        }
        assert!(broad.check(ip("169.254.1.1")).is_ok());
        let exact = AddressPolicy::with_allowed(vec!["169.254.169.254/32".parse().unwrap()]);
        assert!(exact.check(ip("169.254.169.254")).is_ok());
        assert!(exact.check(ip("::ffff:169.254.169.254")).is_ok());
        assert!(exact.check(ip("100.100.100.200")).is_err());
    }

    #[test]
    fn cidr_parsing_is_strict() {
        for (text, shown) in [
            ("10.0.0.0/8", "10.0.0.0/8"),
            ("127.0.0.1", "127.0.0.1/32"),
            ("127.0.0.1/32", "127.0.0.1/32"),
            ("0.0.0.0/0", "0.0.0.0/0"),
            ("fd00::/8", "fd00::/8"),
            ("::1", "::1/128"),
        ] {
            assert_eq!(text.parse::<Cidr>().unwrap().to_string(), shown, "{text}");
        }
        for bad in [
            "10.0.0.1/8",
            "10.0.0.0/33",
            "10.0.0.0/+8",
            "10.0.0.0/",
            "127.1",
            "2130706433",
            "[::1]",
            "::1/129",
            "fd00::1/8",
            "localhost",
            "",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    /// The numeric host forms of `inet_aton`, which the C resolver applies to whatever a URL parser left as a
    /// name.
    #[test]
    fn legacy_ipv4_reads_what_the_c_resolver_reads() {
        let cases: &[(&str, Option<&str>)] = &[
            ("127.0.0.1", Some("127.0.0.1")),
            ("2130706433", Some("127.0.0.1")),
            ("127.1", Some("127.0.0.1")),
            ("127.0.1", Some("127.0.0.1")),
            ("0x7f.1", Some("127.0.0.1")),
            ("0X7F000001", Some("127.0.0.1")),
            ("0177.0.0.1", Some("127.0.0.1")),
            ("017700000001", Some("127.0.0.1")),
            ("0", Some("0.0.0.0")),
            ("0x", Some("0.0.0.0")),
            ("169.254.43518", Some("169.254.169.254")),
            ("4294967295", Some("255.255.255.255")),
            ("4294967296", None),
            ("256.0.0.1", None),
            ("1.2.3.4.5", None),
            ("1..2", None),
            ("08.0.0.1", None),
            ("0xg", None),
            ("example.com", None),
            ("1e3", None),
            ("", None),
            ("-1", None),
            ("+1", None),
        ];
        for (host, expected) in cases {
            assert_eq!(
                legacy_ipv4(host),
                expected.map(|text| text.parse().unwrap()),
                "{host}"
            );
        }
        assert_eq!(host_address("[::1]"), Some(ip("::1")));
        assert_eq!(
            host_address("[::ffff:127.0.0.1]"),
            Some(ip("::ffff:127.0.0.1"))
        );
        assert_eq!(host_address("::1"), None);
        assert_eq!(host_address("hooks.example"), None);
    }
}
