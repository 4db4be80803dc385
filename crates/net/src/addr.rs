//! Which addresses an app may reach: every address that the IANA special-purpose address
//! registries (IPv4 and IPv6) do not mark globally reachable is refused, unless the host
//! allows its range by name.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// One refused range: the block, and what it is (shown in the refusal).
struct Row {
    net: IpNet,
    what: &'static str,
}

const fn v4(
    a: u8,
    b: u8,
    c: u8,
    d: u8,
    len: u8,
    what: &'static str,
) -> (Ipv4Addr, u8, &'static str) {
    (Ipv4Addr::new(a, b, c, d), len, what)
}

const fn v6(s: [u16; 8], len: u8, what: &'static str) -> (Ipv6Addr, u8, &'static str) {
    (
        Ipv6Addr::new(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]),
        len,
        what,
    )
}

/// IPv4 blocks refused: the special-purpose registry's rows that are not globally reachable
/// (RFC 6890 and its updates), plus multicast and the limited broadcast address. A block the
/// registry marks globally reachable inside a refused one (192.0.0.9/32, 192.0.0.10/32) stays
/// refused: the rule errs on the side of refusing.
const V4: [(Ipv4Addr, u8, &str); 16] = [
    v4(0, 0, 0, 0, 8, "\"this network\" (RFC 791)"),
    v4(10, 0, 0, 0, 8, "private-use (RFC 1918)"),
    v4(
        100,
        64,
        0,
        0,
        10,
        "shared address space, carrier-grade NAT (RFC 6598)",
    ),
    v4(127, 0, 0, 0, 8, "loopback (RFC 1122)"),
    v4(
        169,
        254,
        0,
        0,
        16,
        "link-local, where cloud metadata services live (RFC 3927)",
    ),
    v4(172, 16, 0, 0, 12, "private-use (RFC 1918)"),
    v4(192, 0, 0, 0, 24, "IETF protocol assignments (RFC 6890)"),
    v4(192, 0, 2, 0, 24, "documentation, TEST-NET-1 (RFC 5737)"),
    v4(192, 88, 99, 0, 24, "6to4 relay anycast (RFC 7526)"),
    v4(192, 168, 0, 0, 16, "private-use (RFC 1918)"),
    v4(198, 18, 0, 0, 15, "benchmarking (RFC 2544)"),
    v4(198, 51, 100, 0, 24, "documentation, TEST-NET-2 (RFC 5737)"),
    v4(203, 0, 113, 0, 24, "documentation, TEST-NET-3 (RFC 5737)"),
    v4(224, 0, 0, 0, 4, "multicast (RFC 5771)"),
    v4(240, 0, 0, 0, 4, "reserved (RFC 1112)"),
    v4(255, 255, 255, 255, 32, "limited broadcast (RFC 919)"),
];

/// IPv6 blocks refused: the special-purpose registry's rows that are not globally reachable,
/// the forms that carry an IPv4 address (mapped, compatible, NAT64, 6to4, Teredo: each would
/// smuggle a refused IPv4 address), and site-local and multicast space. Everything outside
/// 2000::/3, the global unicast space, is refused as well.
const V6: [(Ipv6Addr, u8, &str); 17] = [
    v6(
        [0, 0, 0, 0, 0, 0, 0, 0],
        128,
        "the unspecified address (RFC 4291)",
    ),
    v6([0, 0, 0, 0, 0, 0, 0, 1], 128, "loopback (RFC 4291)"),
    v6([0, 0, 0, 0, 0, 0xffff, 0, 0], 96, "IPv4-mapped (RFC 4291)"),
    v6(
        [0, 0, 0, 0, 0, 0, 0, 0],
        96,
        "IPv4-compatible, deprecated (RFC 4291)",
    ),
    v6(
        [0x64, 0xff9b, 0, 0, 0, 0, 0, 0],
        96,
        "IPv4/IPv6 translation, NAT64 (RFC 6052)",
    ),
    v6(
        [0x64, 0xff9b, 1, 0, 0, 0, 0, 0],
        48,
        "local-use IPv4/IPv6 translation (RFC 8215)",
    ),
    v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64, "discard-only (RFC 6666)"),
    v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 32, "Teredo (RFC 4380)"),
    v6(
        [0x2001, 0, 0, 0, 0, 0, 0, 0],
        23,
        "IETF protocol assignments (RFC 2928)",
    ),
    v6(
        [0x2001, 0xdb8, 0, 0, 0, 0, 0, 0],
        32,
        "documentation (RFC 3849)",
    ),
    v6([0x2002, 0, 0, 0, 0, 0, 0, 0], 16, "6to4 (RFC 3056)"),
    v6(
        [0x3fff, 0, 0, 0, 0, 0, 0, 0],
        20,
        "documentation (RFC 9637)",
    ),
    v6(
        [0x5f00, 0, 0, 0, 0, 0, 0, 0],
        16,
        "segment routing SIDs (RFC 9602)",
    ),
    v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7, "unique local (RFC 4193)"),
    v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10, "link-local (RFC 4291)"),
    v6(
        [0xfec0, 0, 0, 0, 0, 0, 0, 0],
        10,
        "site-local, deprecated (RFC 3879)",
    ),
    v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8, "multicast (RFC 4291)"),
];

fn rows() -> impl Iterator<Item = Row> {
    let v4 = V4.into_iter().filter_map(|(a, len, what)| {
        Ipv4Net::new(a, len).ok().map(|n| Row {
            net: IpNet::V4(n),
            what,
        })
    });
    let v6 = V6.into_iter().filter_map(|(a, len, what)| {
        Ipv6Net::new(a, len).ok().map(|n| Row {
            net: IpNet::V6(n),
            what,
        })
    });
    v4.chain(v6)
}

/// Why `ip` is not globally reachable, or `None` if it is. The most specific row wins, so
/// that a refusal names the narrowest block.
pub(crate) fn special(ip: IpAddr) -> Option<&'static str> {
    // An IPv4-mapped address (`::ffff:8.8.8.8`) is judged as its IPv6 block (refused), never
    // as the IPv4 address inside: `ip` is not canonicalized.
    let hit = rows()
        .filter(|r| r.net.contains(&ip))
        .max_by_key(|r| r.net.prefix_len())
        .map(|r| r.what);
    hit.or(match ip {
        IpAddr::V6(v6) if v6.segments()[0] & 0xe000 != 0x2000 => {
            Some("outside the global unicast space 2000::/3 (RFC 4291)")
        }
        _ => None,
    })
}

/// The addresses the host lets apps reach: the globally reachable ones, plus ranges the host
/// allows by name (a test server on 127.0.0.1, an intranet).
#[derive(Clone, Debug, Default)]
pub(crate) struct AddressPolicy {
    pub(crate) allowed: Vec<IpNet>,
}

impl AddressPolicy {
    /// `Ok` if an app may connect to `ip`, else why not.
    pub(crate) fn check(&self, ip: IpAddr) -> Result<(), &'static str> {
        if self.allowed.iter().any(|n| n.contains(&ip)) {
            return Ok(());
        }
        special(ip).map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(s: &str) -> Option<&'static str> {
        special(s.parse().unwrap())
    }

    /// One test per row: an address inside each refused block is refused, naming that block.
    #[test]
    fn every_v4_row_refuses_an_address_inside_it() {
        for (a, len, what) in V4 {
            let net = Ipv4Net::new(a, len).unwrap();
            assert_eq!(special(IpAddr::V4(net.network())), Some(what), "{net}");
            // The last address may sit in a narrower row (255.255.255.255 in 240.0.0.0/4).
            assert!(special(IpAddr::V4(net.broadcast())).is_some(), "{net}");
        }
    }

    #[test]
    fn every_v6_row_refuses_an_address_inside_it() {
        for (a, len, what) in V6 {
            let net = Ipv6Net::new(a, len).unwrap();
            for ip in [net.network(), net.broadcast()] {
                let got = special(IpAddr::V6(ip));
                // A narrower row inside this one (Teredo inside 2001::/23, the unspecified
                // and loopback addresses inside ::/96) names itself instead.
                assert!(got.is_some(), "{ip} in {net} was allowed");
                if net.network() != Ipv6Addr::UNSPECIFIED && len != 23 {
                    assert_eq!(got, Some(what), "{ip} in {net}");
                }
            }
        }
    }

    #[test]
    fn the_named_attack_addresses_are_refused() {
        for ip in [
            "127.0.0.1",
            "127.255.255.254",
            "0.0.0.0",
            "10.1.2.3",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254", // cloud metadata
            "100.64.0.1",
            "100.127.255.255",
            "192.0.0.170",
            "198.18.0.1",
            "198.19.255.255",
            "240.0.0.1",
            "255.255.255.255",
            "224.0.0.251",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:8.8.8.8", // mapped: judged as mapped, not as the global 8.8.8.8
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe", // NAT64 of 169.254.169.254
            "64:ff9b:1::1",
            "2002:7f00:1::1",                       // 6to4 of 127.0.0.1
            "2001:0:4136:e378:8000:63bf:3fff:fdd2", // Teredo
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "100::1",
            "4000::1",
        ] {
            assert!(refused(ip).is_some(), "{ip} was allowed");
        }
    }

    #[test]
    fn global_addresses_pass() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.216.34",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2a00:1450:4001::1",
        ] {
            assert_eq!(refused(ip), None, "{ip} was refused");
        }
    }

    #[test]
    fn an_allowed_range_opens_only_itself() {
        let p = AddressPolicy {
            allowed: vec!["127.0.0.1/32".parse().unwrap()],
        };
        assert!(p.check("127.0.0.1".parse().unwrap()).is_ok());
        assert!(p.check("127.0.0.2".parse().unwrap()).is_err());
        assert!(p.check("::1".parse().unwrap()).is_err());
        assert!(p.check("169.254.169.254".parse().unwrap()).is_err());
    }
}
