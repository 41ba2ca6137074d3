//! Address ranges in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`, or one
//! address alone), for `--haproxy-trusted-networks`: the peers whose PROXY
//! protocol header is believed.

use std::fmt;
use std::net::IpAddr;

use crate::wire::number::parse_decimal;

/// One address range: `network` with the first `prefix` bits significant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

/// Why a range does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CidrError {
    BadAddress(String),
    BadPrefix { range: String, max: u8 },
}

impl fmt::Display for CidrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CidrError::BadAddress(range) => write!(f, "'{range}' does not start with an IPv4 or IPv6 address"),
            CidrError::BadPrefix { range, max } => write!(f, "'{range}': the prefix length must be 0 to {max}"),
        }
    }
}

impl std::error::Error for CidrError {}

impl Cidr {
    /// Parses `ADDRESS[/PREFIX]`; an address alone is a range of one. Host
    /// bits set below the prefix are ignored, as Dovecot does.
    ///
    /// # Errors
    /// Not an address, or a prefix longer than the address.
    pub fn parse(range: &str) -> Result<Self, CidrError> {
        let (address, prefix) = match range.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (range, None),
        };
        let network: IpAddr = address.parse().map_err(|_| CidrError::BadAddress(range.to_owned()))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(text) => parse_decimal(text)
                .and_then(|bits| u8::try_from(bits).ok())
                .filter(|&bits| bits <= max)
                .ok_or_else(|| CidrError::BadPrefix { range: range.to_owned(), max })?,
        };
        Ok(Self { network, prefix })
    }

    /// True if `address` is in the range. An IPv4 client on a dual-stack
    /// socket (`::ffff:a.b.c.d`) matches IPv4 ranges.
    pub fn contains(&self, address: IpAddr) -> bool {
        match (self.network, address.to_canonical()) {
            (IpAddr::V4(network), IpAddr::V4(address)) => {
                masked(u128::from(u32::from(network)), self.prefix, 32)
                    == masked(u128::from(u32::from(address)), self.prefix, 32)
            }
            (IpAddr::V6(network), IpAddr::V6(address)) => {
                masked(u128::from(network), self.prefix, 128) == masked(u128::from(address), self.prefix, 128)
            }
            _ => false,
        }
    }
}

/// `value`, `width` bits wide, with all but its first `prefix` bits cleared.
fn masked(value: u128, prefix: u8, width: u32) -> u128 {
    let host_bits = width - u32::from(prefix);
    value.checked_shr(host_bits).unwrap_or(0)
}

/// Parses a comma-separated list of ranges (spaces around each allowed).
///
/// # Errors
/// The first range that does not parse.
pub fn parse_list(list: &str) -> Result<Vec<Cidr>, CidrError> {
    list.split(',').map(str::trim).filter(|range| !range.is_empty()).map(Cidr::parse).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn ipv4_ranges() {
        let range = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(range.contains(ip("10.1.0.0")));
        assert!(range.contains(ip("10.1.255.255")));
        assert!(range.contains(ip("::ffff:10.1.2.3")), "IPv4-mapped");
        assert!(!range.contains(ip("10.2.0.0")));
        assert!(!range.contains(ip("::a01:0")), "not an IPv6 address");
        let host = Cidr::parse("127.0.0.1").unwrap();
        assert!(host.contains(ip("127.0.0.1")) && !host.contains(ip("127.0.0.2")));
        let all = Cidr::parse("0.0.0.0/0").unwrap();
        assert!(all.contains(ip("192.0.2.1")) && !all.contains(ip("::1")));
        assert!(Cidr::parse("10.1.2.3/8").unwrap().contains(ip("10.200.0.1")), "host bits ignored");
    }

    #[test]
    fn ipv6_ranges() {
        let range = Cidr::parse("2001:db8::/32").unwrap();
        assert!(range.contains(ip("2001:db8:ffff::1")));
        assert!(!range.contains(ip("2001:db9::1")));
        assert!(!range.contains(ip("32.1.13.184")));
        assert!(Cidr::parse("::1/128").unwrap().contains(ip("::1")));
        assert!(Cidr::parse("::/0").unwrap().contains(ip("fe80::1")));
        assert!(Cidr::parse("2001:db8::1/127").unwrap().contains(ip("2001:db8::")));
    }

    #[test]
    fn bad_ranges_say_why() {
        assert_eq!(Cidr::parse("10.0.0.0/33"), Err(CidrError::BadPrefix { range: "10.0.0.0/33".into(), max: 32 }));
        assert_eq!(Cidr::parse("::/129"), Err(CidrError::BadPrefix { range: "::/129".into(), max: 128 }));
        for bad in ["", "10.0.0", "host/8", "10.0.0.0/", "10.0.0.0/+8", "10.0.0.0/8/8", " 10.0.0.0"] {
            assert!(Cidr::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn lists() {
        let list = parse_list("127.0.0.1, 10.0.0.0/8,::1").unwrap();
        assert_eq!(list.len(), 3);
        assert!(parse_list("10.0.0.0/8,bad").is_err());
        assert_eq!(parse_list("").unwrap(), vec![]);
    }
}
