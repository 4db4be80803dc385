//! Publisher keys (ed25519) and their text files, and the trust store of publishers a host
//! trusts or has revoked.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::{PackageError, clip};
use crate::limits::{MAX_KEY_FILE_BYTES, MAX_TRUST_STORE_BYTES};

/// First word of a secret key file.
pub const SECRET_KEY_LABEL: &str = "sandframe-secret-key-v1";
/// First word of a public key file, and the prefix of a key as text.
pub const PUBLIC_KEY_LABEL: &str = "sandframe-public-key-v1";

/// A publisher's ed25519 signing key. Zeroized on drop; never printed (`Debug` hides it).
pub struct SecretKey(SigningKey);

impl SecretKey {
    /// Makes a new key from the operating system's random generator.
    ///
    /// # Errors
    /// [`PackageError::Random`] if the generator fails.
    pub fn generate() -> Result<SecretKey, PackageError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut()).map_err(|e| PackageError::Random(e.to_string()))?;
        Ok(SecretKey::from_seed(&seed))
    }

    /// The key for a 32-byte seed (deterministic; for test vectors and key files).
    pub fn from_seed(seed: &[u8; 32]) -> SecretKey {
        SecretKey(SigningKey::from_bytes(seed))
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key().to_bytes())
    }

    /// Signs `message`, returning the 64-byte ed25519 signature.
    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }

    /// Signs `domain || message`. The domain separates what one key signs for different
    /// purposes (packages, definitions): a signature for one is never valid for another.
    pub fn sign_with_domain(&self, domain: &[u8], message: &[u8]) -> [u8; 64] {
        let mut m = Vec::with_capacity(domain.len() + message.len());
        m.extend_from_slice(domain);
        m.extend_from_slice(message);
        self.sign(&m)
    }

    /// The key file text: `sandframe-secret-key-v1 <64 hex digits>\n`.
    ///
    /// # Security
    /// Write it only to a file readable by its owner alone (mode 0600).
    pub fn to_file_text(&self) -> Zeroizing<String> {
        let seed = Zeroizing::new(self.0.to_bytes());
        let hex = Zeroizing::new(hex::encode(seed.as_ref()));
        Zeroizing::new(format!("{SECRET_KEY_LABEL} {}\n", hex.as_str()))
    }

    /// Parses key file text written by [`SecretKey::to_file_text`].
    ///
    /// # Errors
    /// [`PackageError::BadKey`] if the text is not exactly that form.
    pub fn from_file_text(text: &[u8]) -> Result<SecretKey, PackageError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        parse_key_text(text, SECRET_KEY_LABEL, &mut seed)?;
        Ok(SecretKey::from_seed(&seed))
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(public: {})", self.public_key())
    }
}

/// A publisher's ed25519 public key: the publisher's identity.
///
/// As text: `sandframe-public-key-v1:<64 lowercase hex digits>`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PublicKey([u8; 32]);

impl PublicKey {
    /// A public key from its 32 bytes. Whether the bytes are a usable key is checked when a
    /// signature is verified.
    pub fn from_bytes(bytes: [u8; 32]) -> PublicKey {
        PublicKey(bytes)
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Verifies `signature` over `message` strictly (no malleable or small-order forms).
    ///
    /// # Errors
    /// [`PackageError::SignatureInvalid`], opaque on purpose.
    pub fn verify(&self, message: &[u8], signature: &[u8; 64]) -> Result<(), PackageError> {
        let key = VerifyingKey::from_bytes(&self.0).map_err(|_| PackageError::SignatureInvalid)?;
        let sig = ed25519_dalek::Signature::from_bytes(signature);
        key.verify_strict(message, &sig)
            .map_err(|_| PackageError::SignatureInvalid)
    }

    /// Verifies a signature made by [`SecretKey::sign_with_domain`], strictly.
    ///
    /// # Errors
    /// [`PackageError::SignatureInvalid`], opaque on purpose.
    pub fn verify_with_domain(
        &self,
        domain: &[u8],
        message: &[u8],
        signature: &[u8; 64],
    ) -> Result<(), PackageError> {
        let mut m = Vec::with_capacity(domain.len() + message.len());
        m.extend_from_slice(domain);
        m.extend_from_slice(message);
        self.verify(&m, signature)
    }

    /// The public key file text: `sandframe-public-key-v1 <64 hex digits>\n`.
    pub fn to_file_text(&self) -> String {
        format!("{PUBLIC_KEY_LABEL} {}\n", hex::encode(self.0))
    }

    /// Parses public key file text written by [`PublicKey::to_file_text`].
    ///
    /// # Errors
    /// [`PackageError::BadKey`] if the text is not exactly that form.
    pub fn from_file_text(text: &[u8]) -> Result<PublicKey, PackageError> {
        let mut bytes = [0u8; 32];
        parse_key_text(text, PUBLIC_KEY_LABEL, &mut bytes)?;
        Ok(PublicKey(bytes))
    }
}

/// Parses `<label> <64 lowercase hex>` with at most one trailing `\n`.
fn parse_key_text(text: &[u8], label: &str, out: &mut [u8; 32]) -> Result<(), PackageError> {
    let bad = |why: &str| {
        PackageError::BadKey(format!(
            "{why}; expected a file made by keygen ({label} ...)"
        ))
    };
    if text.len() > MAX_KEY_FILE_BYTES {
        return Err(bad("the file is too large"));
    }
    let text = std::str::from_utf8(text).map_err(|_| bad("not UTF-8"))?;
    let text = text.strip_suffix('\n').unwrap_or(text);
    let Some(hex_part) = text.strip_prefix(label).and_then(|r| r.strip_prefix(' ')) else {
        let other = if label == SECRET_KEY_LABEL {
            PUBLIC_KEY_LABEL
        } else {
            SECRET_KEY_LABEL
        };
        if text.starts_with(other) {
            return Err(bad(&format!("this is a {other} file, not a {label} file")));
        }
        return Err(bad("wrong header"));
    };
    parse_hex32(hex_part, out).map_err(|_| bad("the key must be 64 lowercase hex digits"))
}

fn parse_hex32(s: &str, out: &mut [u8; 32]) -> Result<(), ()> {
    if s.len() != 64 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(());
    }
    hex::decode_to_slice(s, out).map_err(|_| ())
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PUBLIC_KEY_LABEL}:{}", hex::encode(self.0))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", hex::encode(self.0))
    }
}

impl FromStr for PublicKey {
    type Err = PackageError;
    /// Parses `sandframe-public-key-v1:<hex>` (the `Display` form).
    fn from_str(s: &str) -> Result<Self, PackageError> {
        let mut bytes = [0u8; 32];
        s.strip_prefix(PUBLIC_KEY_LABEL)
            .and_then(|r| r.strip_prefix(':'))
            .ok_or(())
            .and_then(|h| parse_hex32(h, &mut bytes))
            .map_err(|()| {
                PackageError::BadKey(format!(
                    "{:?} is not {PUBLIC_KEY_LABEL}:<64 lowercase hex digits>",
                    clip(s)
                ))
            })?;
        Ok(PublicKey(bytes))
    }
}

/// The publisher keys a host trusts, and the keys it has revoked.
///
/// On disk, TOML:
///
/// ```toml
/// [[publisher]]
/// name = "Example Corp"
/// key = "sandframe-public-key-v1:<64 hex digits>"
///
/// revoked = ["sandframe-public-key-v1:<64 hex digits>"]   # optional, before any table
/// ```
///
/// A revoked key is refused even if it is also listed as trusted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustStore {
    trusted: BTreeMap<PublicKey, String>,
    revoked: BTreeSet<PublicKey>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrustStore {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    revoked: Vec<String>,
    #[serde(default)]
    publisher: Vec<RawPublisher>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPublisher {
    name: String,
    key: String,
}

/// Writes a key pair into `dir` (created if missing): `publisher.key`, the secret, readable
/// by its owner alone (mode 0600, never following or reusing an existing file unless
/// `replace`), and `publisher.pub`. Returns the two paths.
///
/// # Errors
/// [`PackageError::Io`]; [`PackageError::KeyExists`] if `dir` already holds a key pair and
/// `replace` is false.
pub fn write_key_pair(
    dir: &std::path::Path,
    key: &SecretKey,
    replace: bool,
) -> Result<(std::path::PathBuf, std::path::PathBuf), PackageError> {
    use std::io::Write as _;
    let io = |path: &std::path::Path| {
        let path = path.to_path_buf();
        move |source| PackageError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let secret = dir.join("publisher.key");
    let public = dir.join("publisher.pub");
    if !replace && (secret.exists() || public.exists()) {
        return Err(PackageError::KeyExists(dir.to_path_buf()));
    }
    if replace && secret.exists() {
        std::fs::remove_file(&secret).map_err(io(&secret))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut f = options.open(&secret).map_err(io(&secret))?;
    f.write_all(key.to_file_text().as_bytes())
        .map_err(io(&secret))?;
    f.sync_all().map_err(io(&secret))?;
    std::fs::write(&public, key.public_key().to_file_text().as_bytes()).map_err(io(&public))?;
    Ok((secret, public))
}

impl TrustStore {
    /// An empty store: trusts no one.
    pub fn new() -> TrustStore {
        TrustStore::default()
    }

    /// Trusts `key` under a display `name` (replacing an earlier name).
    pub fn trust(&mut self, key: PublicKey, name: impl Into<String>) {
        self.trusted.insert(key, name.into());
    }

    /// Revokes `key`: packages it signed are refused from now on.
    pub fn revoke(&mut self, key: PublicKey) {
        self.revoked.insert(key);
    }

    /// Stops trusting `key` (no revocation is recorded: trusting it again works); returns
    /// whether it was trusted.
    pub fn remove(&mut self, key: &PublicKey) -> bool {
        self.trusted.remove(key).is_some()
    }

    /// Adds every publisher and revocation of `other` (a revocation in either store wins).
    pub fn merge(&mut self, other: TrustStore) {
        self.trusted.extend(other.trusted);
        self.revoked.extend(other.revoked);
    }

    /// Checks that `key` is trusted and not revoked; returns the publisher's name.
    ///
    /// # Errors
    /// [`PackageError::Revoked`] or [`PackageError::Untrusted`].
    pub fn check(&self, key: &PublicKey) -> Result<&str, PackageError> {
        if self.revoked.contains(key) {
            return Err(PackageError::Revoked {
                key: key.to_string(),
            });
        }
        self.trusted
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| PackageError::Untrusted {
                key: key.to_string(),
            })
    }

    /// The trusted keys and their names.
    pub fn publishers(&self) -> impl Iterator<Item = (&PublicKey, &str)> {
        self.trusted.iter().map(|(k, n)| (k, n.as_str()))
    }

    /// Parses trust store TOML.
    ///
    /// # Errors
    /// [`PackageError::TrustStore`] for anything malformed, including an unknown field, a bad
    /// key or an empty name.
    pub fn from_toml(bytes: &[u8]) -> Result<TrustStore, PackageError> {
        let bad = |s: String| PackageError::TrustStore(s);
        if bytes.len() > MAX_TRUST_STORE_BYTES {
            return Err(bad(format!("larger than {MAX_TRUST_STORE_BYTES} bytes")));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| bad("not UTF-8".into()))?;
        let raw: RawTrustStore = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        let mut store = TrustStore::new();
        for p in raw.publisher {
            if p.name.trim().is_empty() || p.name.chars().any(char::is_control) {
                return Err(bad(
                    "a publisher name is empty or has control characters".into()
                ));
            }
            let key: PublicKey = p
                .key
                .parse()
                .map_err(|e: PackageError| bad(e.to_string()))?;
            store.trust(key, p.name);
        }
        for r in raw.revoked {
            store.revoke(r.parse().map_err(|e: PackageError| bad(e.to_string()))?);
        }
        Ok(store)
    }

    /// Writes the store as TOML that [`TrustStore::from_toml`] reads back.
    ///
    /// # Errors
    /// Only if TOML serialization fails.
    pub fn to_toml(&self) -> Result<String, PackageError> {
        let raw = RawTrustStore {
            revoked: self.revoked.iter().map(ToString::to_string).collect(),
            publisher: self
                .trusted
                .iter()
                .map(|(k, n)| RawPublisher {
                    name: n.clone(),
                    key: k.to_string(),
                })
                .collect(),
        };
        toml::to_string(&raw).map_err(|e| PackageError::TrustStore(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_round_trip_and_are_strict() {
        let sk = SecretKey::from_seed(&[7; 32]);
        let text = sk.to_file_text();
        let back = SecretKey::from_file_text(text.as_bytes()).unwrap();
        assert_eq!(back.public_key(), sk.public_key());
        let pubtext = sk.public_key().to_file_text();
        assert_eq!(
            PublicKey::from_file_text(pubtext.as_bytes()).unwrap(),
            sk.public_key()
        );

        // A secret key file is not a public key file and the other way round.
        assert!(
            PublicKey::from_file_text(text.as_bytes())
                .unwrap_err()
                .to_string()
                .contains("secret")
        );
        assert!(SecretKey::from_file_text(pubtext.as_bytes()).is_err());
        // Uppercase hex, short keys, extra whitespace, two newlines: all refused.
        for bad in [
            pubtext.to_uppercase(),
            pubtext.replace(' ', "  "),
            format!("{pubtext}\n"),
            pubtext[..pubtext.len() - 3].to_string() + "\n",
        ] {
            assert!(
                PublicKey::from_file_text(bad.as_bytes()).is_err(),
                "{bad:?}"
            );
        }
        assert!(!format!("{sk:?}").contains(&hex::encode([7u8; 32])));
    }

    #[test]
    fn signatures_verify_and_fail_for_other_keys_and_messages() {
        let sk = SecretKey::from_seed(&[1; 32]);
        let other = SecretKey::from_seed(&[2; 32]);
        let sig = sk.sign(b"hello");
        sk.public_key().verify(b"hello", &sig).unwrap();
        assert!(other.public_key().verify(b"hello", &sig).is_err());
        assert!(sk.public_key().verify(b"hellO", &sig).is_err());
        let mut bent = sig;
        bent[63] ^= 0x10;
        assert!(sk.public_key().verify(b"hello", &bent).is_err());
        // The identity point is a small-order key: strict verification refuses it.
        let mut id = [0u8; 32];
        id[0] = 1;
        assert!(
            PublicKey::from_bytes(id)
                .verify(b"hello", &[0; 64])
                .is_err()
        );
    }

    #[test]
    fn trust_store_round_trips_and_revocation_wins() {
        let a = SecretKey::from_seed(&[1; 32]).public_key();
        let b = SecretKey::from_seed(&[2; 32]).public_key();
        let mut store = TrustStore::new();
        store.trust(a, "Alice");
        store.trust(b, "Bob");
        store.revoke(b);
        let text = store.to_toml().unwrap();
        let back = TrustStore::from_toml(text.as_bytes()).unwrap();
        assert_eq!(back, store);
        assert_eq!(back.check(&a).unwrap(), "Alice");
        assert!(matches!(back.check(&b), Err(PackageError::Revoked { .. })));
        let c = SecretKey::from_seed(&[3; 32]).public_key();
        assert!(matches!(
            back.check(&c),
            Err(PackageError::Untrusted { .. })
        ));
        assert!(TrustStore::from_toml(b"[[publisher]]\nname = \"x\"\nkey = \"abc\"\n").is_err());
        assert!(TrustStore::from_toml(b"owner = 1\n").is_err());
    }
}
