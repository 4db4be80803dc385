//! Network origins an app may reach (`net:fetch`'s scope): written, stored, matched and shown
//! in one canonical form, with A-labels (punycode) for international names, so that what a
//! person is shown is what is matched.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::id::truncate;

/// An origin, or a family of origins, such as `https://api.example.com` or
/// `https://*.cdn.example.com:8443`.
///
/// The rules, checked by [`OriginPattern::parse`]:
/// - the scheme is `https` (or `http`, which a host allows only for origins it names for
///   development);
/// - the host is a name, exact or `*.suffix`, where `*` stands for exactly one label (never
///   the apex: list the apex too to reach it), and neither the name nor the suffix under a
///   `*` is a public suffix (`*.com`, `*.co.uk`, `*.github.io`: the list is compiled in; a
///   top-level domain the list does not know, such as `corp` or `localhost`, counts as one);
/// - international names are turned into A-labels (`https://bücher.example` is written
///   `https://xn--bcher-kva.example`), and upper case into lower case;
/// - the port is exact, and 443 (80 for http) when none is written;
/// - no IP address in any form (`127.1`, `0x7f.1`, `2130706433`, `[::1]`), no userinfo, no
///   path, query or fragment, no trailing dot.
///
/// ```
/// use sandframe_core::OriginPattern;
/// let p: OriginPattern = "https://*.cdn.Example.com:8443".parse()?;
/// assert_eq!(p.to_string(), "https://*.cdn.example.com:8443");
/// assert!(p.matches(&"https://eu.cdn.example.com:8443/a.png".parse().unwrap()));
/// assert!(!p.matches(&"https://cdn.example.com:8443/".parse().unwrap()));
/// assert!("https://*.com".parse::<OriginPattern>().is_err());
/// assert!("https://127.1".parse::<OriginPattern>().is_err());
/// # Ok::<(), sandframe_core::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OriginPattern {
    secure: bool,
    wildcard: bool,
    /// The exact host, or the suffix under `*.`: lower-case A-labels.
    host: String,
    port: u16,
}

impl OriginPattern {
    /// Longest accepted pattern, in bytes.
    pub const MAX_LEN: usize = 300;

    /// Parses and checks a pattern (see the type's rules).
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the rule the text breaks.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let invalid = |reason: &str| Error::Invalid {
            what: "origin",
            reason: format!(
                "{:?} {reason}; write e.g. \"https://api.example.com\" or \"https://*.cdn.example.com:8443\"",
                truncate(s)
            ),
        };
        if s.len() > Self::MAX_LEN {
            return Err(invalid("is too long"));
        }
        let (secure, rest) = if let Some(rest) = s.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = s.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err(invalid("does not start with https://"));
        };
        if rest.contains('@') {
            return Err(invalid("has userinfo (a name or password before '@')"));
        }
        if rest.contains(['/', '?', '#', '\\']) {
            return Err(invalid(
                "has a path, query or fragment (an origin is scheme, host and port only)",
            ));
        }
        if rest.starts_with('[') {
            return Err(invalid("is an IP address (list a name)"));
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) => {
                let ok =
                    !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit());
                match port.parse::<u16>() {
                    Ok(p) if ok && p != 0 => (host, p),
                    _ => return Err(invalid("has a bad port (write 1..=65535)")),
                }
            }
            None => (rest, if secure { 443 } else { 80 }),
        };
        let (wildcard, name) = match host.strip_prefix("*.") {
            Some(suffix) => (true, suffix),
            None => (false, host),
        };
        if name.contains('*') {
            return Err(invalid(
                "has a '*' that is not one whole leading label (write *.example.com)",
            ));
        }
        if name.is_empty() || name.ends_with('.') {
            return Err(invalid("has an empty host or a trailing dot"));
        }
        // The WHATWG host parser, as a URL parser would see the name: the IPv4 number forms
        // (`127.1`, `0x7f.1`, `2130706433`) come out as addresses, percent escapes are
        // decoded, and names are mapped (IDNA) to lower-case A-labels.
        let ascii = match url::Host::parse(name) {
            Ok(url::Host::Domain(d)) => d,
            Ok(url::Host::Ipv4(_) | url::Host::Ipv6(_)) => {
                return Err(invalid("is an IP address (list a name)"));
            }
            Err(e) => return Err(invalid(&format!("has a host that does not parse ({e})"))),
        };
        if ascii.len() > 253 || !ascii.split('.').all(is_ldh_label) {
            return Err(invalid(
                "has a host that is not a DNS name (labels of a-z, 0-9 and '-', at most 63 bytes)",
            ));
        }
        if is_public_suffix(&ascii) {
            return Err(invalid(if wildcard {
                "puts '*' directly over a public suffix, which would match every site under it"
            } else {
                "is a public suffix, which no one site owns"
            }));
        }
        Ok(OriginPattern {
            secure,
            wildcard,
            host: ascii,
            port,
        })
    }

    /// Whether `url` is on an origin this pattern covers: same scheme, same port (with the
    /// scheme's default filled in), and the host equal (or, under `*.`, one label more).
    /// A URL whose host is an IP address never matches.
    #[must_use]
    pub fn matches(&self, url: &url::Url) -> bool {
        let scheme_ok = match url.scheme() {
            "https" => self.secure,
            "http" => !self.secure,
            _ => false,
        };
        let Some(url::Host::Domain(host)) = url.host() else {
            return false;
        };
        scheme_ok && url.port_or_known_default() == Some(self.port) && self.covers_host(host)
    }

    fn covers_host(&self, host: &str) -> bool {
        if !self.wildcard {
            return host == self.host;
        }
        host.strip_suffix(self.host.as_str())
            .and_then(|label| label.strip_suffix('.'))
            .is_some_and(|label| !label.is_empty() && !label.contains('.'))
    }

    /// Whether every origin this pattern covers is also covered by `other` (so that a grant
    /// of `other` reaches all of this one).
    #[must_use]
    pub fn within(&self, other: &OriginPattern) -> bool {
        if self.secure != other.secure || self.port != other.port {
            return false;
        }
        match (self.wildcard, other.wildcard) {
            (false, _) => other.covers_host(&self.host),
            (true, true) => self.host == other.host,
            (true, false) => false,
        }
    }

    /// Whether the scheme is `https`.
    #[must_use]
    pub fn is_https(&self) -> bool {
        self.secure
    }

    /// The port.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }
}

fn is_ldh_label(label: &str) -> bool {
    let b = label.as_bytes();
    (1..=63).contains(&b.len())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b.first() != Some(&b'-')
        && b.last() != Some(&b'-')
}

/// Whether `name` is itself a public suffix: on the list (ICANN and private sections), or a
/// top-level domain the list does not know, which its default rule (`*`) makes one (`corp`,
/// `internal`, `localhost`: a wildcard over them would reach every such intranet host).
fn is_public_suffix(name: &str) -> bool {
    psl::suffix(name.as_bytes()).is_some_and(|s| s.as_bytes() == name.as_bytes())
}

impl fmt::Display for OriginPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.secure { "https" } else { "http" };
        let star = if self.wildcard { "*." } else { "" };
        let default = if self.secure { 443 } else { 80 };
        write!(f, "{scheme}://{star}{}", self.host)?;
        if self.port != default {
            write!(f, ":{}", self.port)?;
        }
        Ok(())
    }
}

impl fmt::Debug for OriginPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OriginPattern({self})")
    }
}

impl FromStr for OriginPattern {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        OriginPattern::parse(s)
    }
}

impl TryFrom<String> for OriginPattern {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        OriginPattern::parse(&s)
    }
}

impl From<OriginPattern> for String {
    fn from(p: OriginPattern) -> String {
        p.to_string()
    }
}

/// Whether `url` is on an origin some pattern in `scope` covers.
#[must_use]
pub fn in_scope(scope: &[OriginPattern], url: &url::Url) -> bool {
    scope.iter().any(|p| p.matches(url))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> url::Url {
        url::Url::parse(s).unwrap()
    }

    #[test]
    fn canonical_forms() {
        for (written, canonical) in [
            ("https://api.example.com", "https://api.example.com"),
            ("https://API.Example.COM:443", "https://api.example.com"),
            (
                "https://*.cdn.example.com:8443",
                "https://*.cdn.example.com:8443",
            ),
            ("http://dev.example.com:8080", "http://dev.example.com:8080"),
            ("https://bücher.example", "https://xn--bcher-kva.example"),
            ("https://dev.localhost:8443", "https://dev.localhost:8443"),
        ] {
            let p = OriginPattern::parse(written).unwrap();
            assert_eq!(p.to_string(), canonical, "{written}");
            assert_eq!(OriginPattern::parse(canonical).unwrap(), p);
        }
    }

    #[test]
    fn refused_forms() {
        for bad in [
            "api.example.com",
            "ftp://api.example.com",
            "https://",
            "https://api.example.com/",
            "https://api.example.com/v1",
            "https://api.example.com?x",
            "https://api.example.com#x",
            "https://user@api.example.com",
            "https://user:pw@api.example.com",
            "https://api.example.com:",
            "https://api.example.com:0",
            "https://api.example.com:65536",
            "https://api.example.com:+80",
            "https://api.example.com.",
            "https://*",
            "https://*.com",
            "https://*.co.uk",
            "https://*.github.io",
            "https://*.corp",
            "https://*.internal",
            "https://*.localhost",
            "https://*.test",
            "https://internal",
            "https://localhost:8443",
            "https://com",
            "https://co.uk",
            "https://a.*.example.com",
            "https://**.example.com",
            "https://*example.com",
            "https://127.0.0.1",
            "https://127.1",
            "https://0x7f.1",
            "https://2130706433",
            "https://0177.0.0.1",
            "https://%31%32%37.0.0.1",
            "https://[::1]",
            "https://[::ffff:127.0.0.1]:443",
            "https://exa mple.com",
            "https://under_score.example.com",
            "https://-lead.example.com",
        ] {
            assert!(OriginPattern::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn matching() {
        let exact = OriginPattern::parse("https://api.example.com").unwrap();
        assert!(exact.matches(&url("https://api.example.com/v1?q=1")));
        assert!(exact.matches(&url("https://API.example.com:443/")));
        assert!(!exact.matches(&url("http://api.example.com/")));
        assert!(!exact.matches(&url("https://api.example.com:8443/")));
        assert!(!exact.matches(&url("https://x.api.example.com/")));
        assert!(!exact.matches(&url("https://api.example.com.evil.test/")));
        assert!(!exact.matches(&url("https://api.example.com./")));
        let wild = OriginPattern::parse("https://*.cdn.example.com").unwrap();
        assert!(wild.matches(&url("https://eu.cdn.example.com/")));
        assert!(!wild.matches(&url("https://cdn.example.com/")));
        assert!(!wild.matches(&url("https://a.b.cdn.example.com/")));
        assert!(!wild.matches(&url("https://evilcdn.example.com/")));
        // An IP literal never matches, whatever the pattern.
        assert!(!exact.matches(&url("https://127.0.0.1/")));
    }

    #[test]
    fn homographs_are_matched_as_shown() {
        // Cyrillic 'а' (U+0430) in place of Latin 'a'.
        let p = OriginPattern::parse("https://\u{430}pple.com").unwrap();
        assert!(p.to_string().starts_with("https://xn--"), "{p}");
        assert!(!p.matches(&url("https://apple.com/")));
        assert!(p.matches(&url("https://\u{430}pple.com/")));
    }

    #[test]
    fn within() {
        let p = |s: &str| OriginPattern::parse(s).unwrap();
        assert!(p("https://a.example.com").within(&p("https://*.example.com")));
        assert!(!p("https://example.com").within(&p("https://*.example.com")));
        assert!(p("https://*.example.com").within(&p("https://*.example.com")));
        assert!(!p("https://*.example.com").within(&p("https://a.example.com")));
        assert!(!p("https://a.example.com:8443").within(&p("https://*.example.com")));
        assert!(!p("http://a.example.com").within(&p("https://a.example.com")));
    }

    #[test]
    fn serde_checks() {
        let p: OriginPattern = serde_json::from_str("\"https://A.example.com\"").unwrap();
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            "\"https://a.example.com\""
        );
        assert!(serde_json::from_str::<OriginPattern>("\"https://*.com\"").is_err());
    }
}
