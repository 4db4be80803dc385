//! Security definitions: versioned, signed sets of known-malicious patterns.
//!
//! A small default set is compiled in ([`Definitions::builtin`]). Updates are files signed by a
//! definitions key the embedder configures; a host accepts one only if it is signed by that key
//! and newer than what it has (no rollback). The effective set is the built-in set plus the
//! newest accepted update. The file format is in `docs/format.md`.

use std::collections::BTreeSet;

use aho_corasick::AhoCorasick;
use sandframe_package::{PublicKey, SecretKey};
use serde::{Deserialize, Serialize};

use crate::ValidateError;

/// The first five bytes of a signed definitions file.
pub const DEFS_MAGIC: &[u8; 5] = b"SFDEF";
/// The definitions format version this library reads and writes.
pub const DEFS_FORMAT_VERSION: u8 = 1;
/// The domain-separation prefix of what a definitions key signs.
pub const DEFS_DOMAIN: &[u8] = b"sandframe definitions v1\0";
/// Largest signed definitions file (4 MiB).
pub const MAX_DEFS_BYTES: usize = 4 << 20;
/// Most entries in any one list.
pub const MAX_DEFS_ENTRIES: usize = 10_000;
/// Shortest and longest byte pattern.
pub const PATTERN_BYTES: std::ops::RangeInclusive<usize> = 4..=256;

/// A set of security definitions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Definitions {
    version: u64,
    blocked_digests: BTreeSet<[u8; 32]>,
    revoked_publishers: BTreeSet<[u8; 32]>,
    blocked_patterns: BTreeSet<Vec<u8>>,
    blocked_exports: BTreeSet<String>,
}

/// The canonical binary body: every list strictly increasing.
#[derive(Serialize, Deserialize)]
struct WireDefs {
    version: u64,
    blocked_digests: Vec<[u8; 32]>,
    revoked_publishers: Vec<[u8; 32]>,
    blocked_patterns: Vec<Vec<u8>>,
    blocked_exports: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct WireSigned<'a> {
    #[serde(borrow)]
    body: &'a [u8],
    signer: [u8; 32],
    signature: &'a [u8],
}

/// The author format (TOML) that `cargo xtask defs` signs.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceDefs {
    version: u64,
    #[serde(default)]
    blocked_digests: Vec<String>,
    #[serde(default)]
    revoked_publishers: Vec<String>,
    #[serde(default)]
    blocked_patterns: Vec<String>,
    #[serde(default)]
    blocked_exports: Vec<String>,
}

fn bad(reason: impl Into<String>) -> ValidateError {
    ValidateError::Definitions(reason.into())
}

impl Definitions {
    /// The set compiled into this crate (version 0, so any signed update is newer): miner pool
    /// URL schemes and miner names in data or custom sections.
    pub fn builtin() -> Definitions {
        let patterns = [
            "stratum+tcp://",
            "stratum+ssl://",
            "stratum2+tcp://",
            "xmrig",
            "cryptonight",
            "coinhive",
        ];
        Definitions {
            version: 0,
            blocked_patterns: patterns.iter().map(|p| p.as_bytes().to_vec()).collect(),
            ..Definitions::default()
        }
    }

    /// The version.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Whether a package digest is blocked.
    pub fn blocks_digest(&self, digest: &[u8; 32]) -> bool {
        self.blocked_digests.contains(digest)
    }

    /// Whether a publisher key is revoked.
    pub fn revokes(&self, key: &PublicKey) -> bool {
        self.revoked_publishers.contains(key.as_bytes())
    }

    /// Whether an export name is blocked.
    pub fn blocks_export(&self, name: &str) -> bool {
        self.blocked_exports.contains(name)
    }

    /// The blocked byte patterns.
    pub fn patterns(&self) -> impl Iterator<Item = &[u8]> {
        self.blocked_patterns.iter().map(Vec::as_slice)
    }

    /// `self` plus everything in `other`, at `other`'s version.
    pub(crate) fn union(&self, other: &Definitions) -> Definitions {
        let mut d = self.clone();
        d.version = other.version;
        d.blocked_digests
            .extend(other.blocked_digests.iter().copied());
        d.revoked_publishers
            .extend(other.revoked_publishers.iter().copied());
        d.blocked_patterns
            .extend(other.blocked_patterns.iter().cloned());
        d.blocked_exports
            .extend(other.blocked_exports.iter().cloned());
        d
    }

    /// Reads the TOML author format.
    ///
    /// ```toml
    /// version = 2
    /// blocked_digests = ["<64 hex: a package digest>"]
    /// revoked_publishers = ["sandframe-public-key-v1:<64 hex>"]
    /// blocked_patterns = ["stratum+tcp://"]     # 4..=256 bytes each, matched in data and custom sections
    /// blocked_exports = ["mine"]
    /// ```
    ///
    /// # Errors
    /// [`ValidateError::Definitions`] for anything malformed.
    pub fn from_toml(text: &str) -> Result<Definitions, ValidateError> {
        if text.len() > MAX_DEFS_BYTES {
            return Err(bad("the definitions source is larger than 4 MiB"));
        }
        let src: SourceDefs = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        let mut d = Definitions {
            version: src.version,
            ..Definitions::default()
        };
        for h in &src.blocked_digests {
            let mut b = [0u8; 32];
            hex::decode_to_slice(h, &mut b)
                .map_err(|_| bad(format!("blocked digest {h:?} is not 64 hex digits")))?;
            d.blocked_digests.insert(b);
        }
        for k in &src.revoked_publishers {
            let key: PublicKey = k
                .parse()
                .map_err(|e| bad(format!("revoked publisher: {e}")))?;
            d.revoked_publishers.insert(*key.as_bytes());
        }
        d.blocked_patterns = src
            .blocked_patterns
            .into_iter()
            .map(String::into_bytes)
            .collect();
        d.blocked_exports = src.blocked_exports.into_iter().collect();
        d.check()?;
        Ok(d)
    }

    fn check(&self) -> Result<(), ValidateError> {
        let lens = [
            self.blocked_digests.len(),
            self.revoked_publishers.len(),
            self.blocked_patterns.len(),
            self.blocked_exports.len(),
        ];
        if lens.iter().any(|n| *n > MAX_DEFS_ENTRIES) {
            return Err(bad(format!(
                "a list has more than {MAX_DEFS_ENTRIES} entries"
            )));
        }
        if self
            .blocked_patterns
            .iter()
            .any(|p| !PATTERN_BYTES.contains(&p.len()))
        {
            return Err(bad("every blocked pattern must be 4..=256 bytes"));
        }
        if self
            .blocked_exports
            .iter()
            .any(|e| e.is_empty() || e.len() > 256)
        {
            return Err(bad("every blocked export name must be 1..=256 bytes"));
        }
        Ok(())
    }

    /// Signs the definitions with `key`, returning the file bytes.
    ///
    /// # Errors
    /// Only if encoding fails.
    pub fn sign(&self, key: &SecretKey) -> Result<Vec<u8>, ValidateError> {
        let body = postcard::to_stdvec(&self.to_wire()).map_err(|e| bad(e.to_string()))?;
        let signature = key.sign_with_domain(DEFS_DOMAIN, &body);
        let outer = WireSigned {
            body: &body,
            signer: *key.public_key().as_bytes(),
            signature: &signature,
        };
        let mut out = DEFS_MAGIC.to_vec();
        out.push(DEFS_FORMAT_VERSION);
        out.extend(postcard::to_stdvec(&outer).map_err(|e| bad(e.to_string()))?);
        Ok(out)
    }

    /// Reads a signed definitions file, checking that `trusted` signed it (strictly) and that
    /// the encoding is canonical.
    ///
    /// # Errors
    /// [`ValidateError::Definitions`] for a malformed file, [`ValidateError::DefinitionsSignature`]
    /// when it is not signed by `trusted`.
    pub fn from_signed(bytes: &[u8], trusted: &PublicKey) -> Result<Definitions, ValidateError> {
        if bytes.len() > MAX_DEFS_BYTES {
            return Err(bad("the file is larger than 4 MiB"));
        }
        let rest = bytes
            .strip_prefix(DEFS_MAGIC.as_slice())
            .ok_or_else(|| bad("not a definitions file (no SFDEF header)"))?;
        let (&version, rest) = rest
            .split_first()
            .ok_or_else(|| bad("the file ends after its header"))?;
        if version != DEFS_FORMAT_VERSION {
            return Err(bad(format!("format version {version} is not supported")));
        }
        let outer: WireSigned<'_> = canonical(rest)?;
        if &outer.signer != trusted.as_bytes() {
            return Err(ValidateError::DefinitionsSignature);
        }
        let signature: [u8; 64] = outer
            .signature
            .try_into()
            .map_err(|_| ValidateError::DefinitionsSignature)?;
        trusted
            .verify_with_domain(DEFS_DOMAIN, outer.body, &signature)
            .map_err(|_| ValidateError::DefinitionsSignature)?;
        let wire: WireDefs = canonical(outer.body)?;
        let d = Definitions::from_wire(wire)?;
        d.check()?;
        Ok(d)
    }

    fn to_wire(&self) -> WireDefs {
        WireDefs {
            version: self.version,
            blocked_digests: self.blocked_digests.iter().copied().collect(),
            revoked_publishers: self.revoked_publishers.iter().copied().collect(),
            blocked_patterns: self.blocked_patterns.iter().cloned().collect(),
            blocked_exports: self.blocked_exports.iter().cloned().collect(),
        }
    }

    fn from_wire(w: WireDefs) -> Result<Definitions, ValidateError> {
        fn set<T: Ord>(v: Vec<T>) -> Result<BTreeSet<T>, ValidateError> {
            if v.windows(2).any(|w| matches!(w, [a, b] if a >= b)) {
                return Err(bad("a list is not in strictly increasing order"));
            }
            Ok(v.into_iter().collect())
        }
        Ok(Definitions {
            version: w.version,
            blocked_digests: set(w.blocked_digests)?,
            revoked_publishers: set(w.revoked_publishers)?,
            blocked_patterns: set(w.blocked_patterns)?,
            blocked_exports: set(w.blocked_exports)?,
        })
    }
}

/// Decodes `bytes` as exactly one `T`, in canonical form.
fn canonical<'a, T: Serialize + Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, ValidateError> {
    let (value, rest) =
        postcard::take_from_bytes::<T>(bytes).map_err(|e| bad(format!("corrupt: {e}")))?;
    if !rest.is_empty() {
        return Err(bad("corrupt: trailing bytes"));
    }
    if postcard::to_stdvec(&value).map_err(|e| bad(e.to_string()))? != bytes {
        return Err(bad("corrupt: not canonically encoded"));
    }
    Ok(value)
}

/// Definitions ready to scan with: a multi-pattern matcher built once.
#[derive(Clone, Debug)]
pub(crate) struct Scanner {
    pub(crate) defs: Definitions,
    matcher: Option<AhoCorasick>,
}

impl Scanner {
    pub(crate) fn new(defs: Definitions) -> Scanner {
        let matcher = AhoCorasick::new(defs.patterns()).ok();
        Scanner { defs, matcher }
    }

    /// The first blocked pattern in `haystack`: (offset, pattern).
    pub(crate) fn find(&self, haystack: &[u8]) -> Option<(usize, &[u8])> {
        let m = self.matcher.as_ref()?.find(haystack)?;
        let pattern = self
            .defs
            .blocked_patterns
            .iter()
            .nth(m.pattern().as_usize())?;
        Some((m.start(), pattern.as_slice()))
    }
}
