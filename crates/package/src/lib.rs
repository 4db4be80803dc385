//! # sandframe-package: the package format, as a library
//!
//! A package (`.sfpkg`) carries a mini-app: its `manifest.toml`, its logic module
//! (`logic.wasm`), its view templates (`views/<name>.xml`) and assets (`assets/**`), every file
//! with its blake3 digest, and an ed25519 signature by the publisher over a canonical,
//! domain-separated statement of the manifest and every file's path and digest.
//!
//! - [`PackageContents`] + [`PackageContents::sign`]: build a package (the author side).
//! - [`Package::parse`]: decode one canonically and check its structure, digests and manifest;
//!   [`Package::verify_signature`] then checks the signature against the embedded publisher
//!   key, and a [`TrustStore`] says whether that publisher is trusted.
//! - [`source`]: read an author's source directory (assembling `logic.wat`, or building a
//!   Rust crate for `wasm32-unknown-unknown`).
//!
//! # Security
//! Parsing never panics on any bytes, and every size is bounded ([`limits`]). A parsed
//! [`Package`] is *not* trusted: it says what the bytes claim. Only `sandframe-validate` turns
//! one into something the runtime will run. The format is specified, with test vectors, in
//! `docs/format.md`.
//!
//! ```
//! use sandframe_package::{Package, PackageContents, SecretKey, TrustStore};
//!
//! let key = SecretKey::from_seed(&[42; 32]);
//! let manifest = b"id = \"com.example.hello\"\nname = \"Hello\"\nversion = \"1.0.0\"\nviews = [\"index\"]\n";
//! let mut contents = PackageContents::new(manifest.to_vec());
//! contents.add_file("logic.wasm", b"\0asm\x01\0\0\0".to_vec())?;
//! contents.add_file("views/index.xml", b"<view>hi</view>".to_vec())?;
//! let bytes = contents.sign(&key)?;
//!
//! let package = Package::parse(&bytes)?;
//! package.verify_signature()?;
//! let mut trust = TrustStore::new();
//! trust.trust(key.public_key(), "Example");
//! assert_eq!(trust.check(package.publisher())?, "Example");
//! assert_eq!(package.manifest().id().as_str(), "com.example.hello");
//! # Ok::<(), sandframe_package::PackageError>(())
//! ```

mod container;
mod error;
mod keys;
pub mod limits;
mod manifest;
mod path;
pub mod source;
pub mod template;

use std::collections::{BTreeMap, HashMap};
use std::fmt;

pub use container::{FORMAT_VERSION, MAGIC, STATEMENT_DOMAIN};
pub use error::{PackageError, exit};
pub use keys::{
    PUBLIC_KEY_LABEL, PublicKey, SECRET_KEY_LABEL, SecretKey, TrustStore, write_key_pair,
};
pub use manifest::{AppRuntime, DeclaredCapability, Manifest};
pub use path::PackagePath;

use container::{WireBody, WireFile};
use error::clip;
use limits::{MAX_FILES, MAX_PACKAGE_BYTES};

/// A blake3 digest (of a file, a manifest or a whole package).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest([u8; 32]);

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest(*blake3::hash(bytes).as_bytes())
    }
    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.to_hex())
    }
}

/// The files of a package before it is signed: what an author packs.
#[derive(Clone, Debug, Default)]
pub struct PackageContents {
    manifest: Vec<u8>,
    files: BTreeMap<PackagePath, Vec<u8>>,
}

impl PackageContents {
    /// Starts a package with the bytes of its `manifest.toml`.
    pub fn new(manifest: Vec<u8>) -> PackageContents {
        PackageContents {
            manifest,
            files: BTreeMap::new(),
        }
    }

    /// Adds a file at `path` (replacing any earlier file at that path).
    ///
    /// # Errors
    /// [`PackageError::BadPath`] or [`PackageError::UnexpectedFile`] for a path outside the
    /// package rules and layout.
    pub fn add_file(&mut self, path: &str, bytes: Vec<u8>) -> Result<(), PackageError> {
        let path = PackagePath::parse(path)?;
        if !path.in_layout() {
            return Err(PackageError::UnexpectedFile {
                path: path.as_str().into(),
            });
        }
        self.files.insert(path, bytes);
        Ok(())
    }

    /// The manifest bytes.
    pub fn manifest(&self) -> &[u8] {
        &self.manifest
    }

    /// The files, in path order.
    pub fn files(&self) -> impl Iterator<Item = (&PackagePath, &[u8])> {
        self.files.iter().map(|(p, b)| (p, b.as_slice()))
    }

    /// Signs the contents with `key` and returns the package bytes.
    ///
    /// The result is parsed back before it is returned, so `sign` never emits a package that
    /// [`Package::parse`] would refuse.
    ///
    /// # Errors
    /// Any rule the contents break (manifest, layout, views, limits).
    pub fn sign(&self, key: &SecretKey) -> Result<Vec<u8>, PackageError> {
        let digests: Vec<(&str, [u8; 32])> = self
            .files
            .iter()
            .map(|(p, b)| (p.as_str(), *blake3::hash(b).as_bytes()))
            .collect();
        let statement = container::statement(&self.manifest, &digests)?;
        let signature = key.sign(&statement);
        let body = WireBody {
            manifest: &self.manifest,
            files: self
                .files
                .iter()
                .zip(&digests)
                .map(|((p, b), (_, d))| WireFile {
                    path: p.as_str(),
                    digest: *d,
                    bytes: b,
                })
                .collect(),
            publisher: *key.public_key().as_bytes(),
            signature: &signature,
        };
        let bytes = container::encode(&body)?;
        Package::parse(&bytes)?;
        Ok(bytes)
    }
}

/// Parses the template in `bytes` (from file `path`).
fn parse_template(path: &str, bytes: &[u8]) -> Result<template::Template, PackageError> {
    let error = |source| PackageError::Template {
        file: path.to_owned(),
        source,
    };
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let (line, column) = {
            let valid = bytes.get(..e.valid_up_to()).unwrap_or_default();
            let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
            let start = valid.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            let column = String::from_utf8_lossy(valid.get(start..).unwrap_or_default())
                .chars()
                .count()
                + 1;
            (line, column)
        };
        error(template::TemplateError {
            line: u32::try_from(line).unwrap_or(u32::MAX),
            column: u32::try_from(column).unwrap_or(u32::MAX),
            message: "the template is not UTF-8; save it as UTF-8".into(),
        })
    })?;
    template::Template::parse(text).map_err(error)
}

/// A decoded package whose structure, digests and manifest have been checked.
///
/// **Not trusted:** holding a `Package` says nothing about who made it. Call
/// [`Package::verify_signature`] and check the publisher against a [`TrustStore`], or, to run
/// it, hand it to `sandframe_validate::verify`.
#[derive(Clone)]
pub struct Package {
    manifest: Manifest,
    manifest_bytes: Vec<u8>,
    files: BTreeMap<PackagePath, Vec<u8>>,
    publisher: PublicKey,
    signature: [u8; 64],
    statement: Vec<u8>,
    digest: Digest,
}

impl Package {
    /// Decodes and checks package bytes.
    ///
    /// Checks, in order: size limit, header and format version, canonical decoding (no
    /// trailing bytes, re-encodes to itself), file count, every path (rules, layout, strict
    /// order, no case collisions), every digest, the manifest, that the manifest's views
    /// and the `views/` files match one to one, that every view template parses
    /// ([`template::Template::parse`]) and that `logic.wasm` is present. The signature is
    /// *not* checked here: see [`Package::verify_signature`].
    ///
    /// # Errors
    /// A [`PackageError`] naming the first rule broken. Never panics.
    pub fn parse(bytes: &[u8]) -> Result<Package, PackageError> {
        if bytes.len() > MAX_PACKAGE_BYTES {
            return Err(PackageError::TooLarge {
                what: "package".into(),
                size: bytes.len() as u64,
                max: MAX_PACKAGE_BYTES as u64,
            });
        }
        let wire = container::decode(bytes)?;
        if wire.files.len() > MAX_FILES {
            return Err(PackageError::TooMany {
                what: "files",
                count: wire.files.len(),
                max: MAX_FILES,
            });
        }
        let signature: [u8; 64] = wire
            .signature
            .try_into()
            .map_err(|_| PackageError::Corrupt("the signature is not 64 bytes".into()))?;

        let mut files = BTreeMap::new();
        let mut lowercase: HashMap<String, &str> = HashMap::new();
        let mut previous: Option<&str> = None;
        let mut digests = Vec::with_capacity(wire.files.len());
        for f in &wire.files {
            let path = PackagePath::parse(f.path)?;
            if !path.in_layout() {
                return Err(PackageError::UnexpectedFile { path: clip(f.path) });
            }
            if previous.is_some_and(|p| p >= f.path) {
                return Err(PackageError::Unsorted { path: clip(f.path) });
            }
            previous = Some(f.path);
            if let Some(other) = lowercase.insert(f.path.to_ascii_lowercase(), f.path) {
                return Err(PackageError::CaseCollision {
                    a: other.into(),
                    b: f.path.into(),
                });
            }
            if blake3::hash(f.bytes).as_bytes() != &f.digest {
                return Err(PackageError::DigestMismatch {
                    path: f.path.into(),
                });
            }
            digests.push((f.path, f.digest));
            files.insert(path, f.bytes.to_vec());
        }

        let manifest = Manifest::parse(wire.manifest)?;
        check_logic(&manifest, &files)?;
        for view in manifest.views() {
            if !files.keys().any(|p| p.view_name() == Some(view.as_str())) {
                return Err(PackageError::ViewMissing { view: view.clone() });
            }
        }
        if let Some(extra) = files.keys().find(|p| {
            p.view_name()
                .is_some_and(|v| !manifest.views().iter().any(|m| m == v))
        }) {
            return Err(PackageError::ViewNotListed {
                path: extra.as_str().into(),
            });
        }

        for (path, bytes) in &files {
            if path.view_name().is_some() {
                parse_template(path.as_str(), bytes)?;
            }
        }

        let statement = container::statement(wire.manifest, &digests)?;
        Ok(Package {
            manifest,
            manifest_bytes: wire.manifest.to_vec(),
            files,
            publisher: PublicKey::from_bytes(wire.publisher),
            signature,
            statement,
            digest: Digest::of(bytes),
        })
    }

    /// Verifies the signature over the statement against the embedded publisher key, strictly.
    ///
    /// This proves the package is unchanged since *that key* signed it; whether the key is
    /// trusted is a separate question ([`TrustStore::check`]).
    ///
    /// # Errors
    /// [`PackageError::SignatureInvalid`], opaque on purpose.
    pub fn verify_signature(&self) -> Result<(), PackageError> {
        self.publisher.verify(&self.statement, &self.signature)
    }

    /// The parsed manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }
    /// The manifest exactly as signed.
    pub fn manifest_bytes(&self) -> &[u8] {
        &self.manifest_bytes
    }
    /// The publisher key that (claims to have) signed the package.
    pub fn publisher(&self) -> &PublicKey {
        &self.publisher
    }
    /// The blake3 digest of the whole package file.
    pub fn digest(&self) -> Digest {
        self.digest
    }
    /// The logic module's bytes (empty for a `runtime = "js@1"` package, whose logic is
    /// [`Package::script`] run by the host's JavaScript engine).
    pub fn logic(&self) -> &[u8] {
        self.file(PackagePath::LOGIC).unwrap_or_default()
    }
    /// A `runtime = "js@1"` package's `logic.js` (UTF-8, checked by [`Package::parse`]).
    pub fn script(&self) -> Option<&str> {
        self.file(PackagePath::LOGIC_JS)
            .and_then(|b| std::str::from_utf8(b).ok())
    }
    /// The bytes of the file at `path`, if present.
    pub fn file(&self, path: &str) -> Option<&[u8]> {
        self.files.get(path).map(Vec::as_slice)
    }
    /// The parsed template of view `name`, if the manifest lists it.
    ///
    /// # Errors
    /// Never for a view that [`Package::parse`] accepted (every template was parsed there).
    pub fn template(&self, name: &str) -> Option<Result<template::Template, PackageError>> {
        let path = format!("views/{name}.xml");
        self.file(&path).map(|bytes| parse_template(&path, bytes))
    }
    /// The template of view `name`, if present.
    pub fn view(&self, name: &str) -> Option<&[u8]> {
        self.files
            .iter()
            .find(|(p, _)| p.view_name() == Some(name))
            .map(|(_, b)| b.as_slice())
    }
    /// Every file with its digest, in path order.
    pub fn files(&self) -> impl Iterator<Item = (&PackagePath, Digest, &[u8])> {
        self.files
            .iter()
            .map(|(p, b)| (p, Digest::of(b), b.as_slice()))
    }
    /// The contents, for re-signing with another key (a key rotation).
    pub fn to_contents(&self) -> PackageContents {
        PackageContents {
            manifest: self.manifest_bytes.clone(),
            files: self.files.clone(),
        }
    }
    /// The exact bytes the signature covers (domain prefix included).
    pub fn statement(&self) -> &[u8] {
        &self.statement
    }
}

impl fmt::Debug for Package {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Package")
            .field("id", self.manifest.id())
            .field("version", &self.manifest.version().to_string())
            .field("publisher", &self.publisher)
            .field("digest", &self.digest)
            .field("files", &self.files.len())
            .finish()
    }
}

/// The logic file the manifest's runtime runs is there, the other is not, and a script is
/// UTF-8 and under its cap.
fn check_logic(
    manifest: &Manifest,
    files: &BTreeMap<PackagePath, Vec<u8>>,
) -> Result<(), PackageError> {
    let has = |p: &str| files.keys().any(|k| k.as_str() == p);
    match manifest.runtime() {
        AppRuntime::Wasm => {
            if has(PackagePath::LOGIC_JS) {
                return Err(PackageError::WrongLogic(
                    "the package carries logic.js but its manifest does not say runtime = \"js@1\"; add it, or remove logic.js".into(),
                ));
            }
            if !has(PackagePath::LOGIC) {
                return Err(PackageError::MissingLogic);
            }
        }
        AppRuntime::Js1 => {
            if has(PackagePath::LOGIC) {
                return Err(PackageError::WrongLogic(
                    "a runtime = \"js@1\" package runs logic.js on the host's engine and carries no logic.wasm; remove logic.wasm".into(),
                ));
            }
            let Some(script) = files
                .iter()
                .find(|(k, _)| k.as_str() == PackagePath::LOGIC_JS)
                .map(|(_, v)| v)
            else {
                return Err(PackageError::WrongLogic(
                    "a runtime = \"js@1\" package has no logic.js; add the app's script as logic.js".into(),
                ));
            };
            let bad = |reason: String| PackageError::BadScript {
                path: PackagePath::LOGIC_JS.into(),
                reason,
            };
            if script.len() > limits::MAX_SCRIPT_BYTES {
                return Err(bad(format!(
                    "{} bytes; a script is at most {} bytes (bundle and minify it)",
                    script.len(),
                    limits::MAX_SCRIPT_BYTES
                )));
            }
            if let Err(e) = std::str::from_utf8(script) {
                return Err(bad(format!("not UTF-8 ({e}); save it as UTF-8")));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &[u8] =
        b"id = \"com.example.t\"\nname = \"T\"\nversion = \"1.0.0\"\nviews = [\"index\"]\n";
    const BAD: &[u8] = b"<view>\n  <script>alert(1)</script>\n</view>\n";

    /// A package whose template is hostile, encoded as an attacker would (no `sign` check).
    fn hostile_bytes() -> Vec<u8> {
        let files = [
            ("logic.wasm", &b"\0asm\x01\0\0\0"[..]),
            ("views/index.xml", BAD),
        ];
        let body = WireBody {
            manifest: MANIFEST,
            files: files
                .iter()
                .map(|(path, bytes)| WireFile {
                    path,
                    digest: *blake3::hash(bytes).as_bytes(),
                    bytes,
                })
                .collect(),
            publisher: [0; 32],
            signature: &[0; 64],
        };
        container::encode(&body).unwrap()
    }

    #[test]
    fn a_bad_template_is_refused_at_parse_and_at_sign_with_file_line_and_column() {
        let e = Package::parse(&hostile_bytes()).err().unwrap();
        let PackageError::Template { file, source } = &e else {
            panic!("{e}")
        };
        assert_eq!(file, "views/index.xml");
        assert_eq!((source.line, source.column), (2, 3));
        assert!(
            e.to_string()
                .starts_with("views/index.xml: line 2, column 3: <script>"),
            "{e}"
        );
        let mut c = PackageContents::new(MANIFEST.to_vec());
        c.add_file("logic.wasm", b"\0asm\x01\0\0\0".to_vec())
            .unwrap();
        c.add_file("views/index.xml", BAD.to_vec()).unwrap();
        let key = SecretKey::generate().unwrap();
        assert!(matches!(c.sign(&key), Err(PackageError::Template { .. })));
        // Not UTF-8: refused with the position of the first bad byte.
        c.add_file("views/index.xml", b"<view>\n ok \xff</view>".to_vec())
            .unwrap();
        let Err(PackageError::Template { source, .. }) = c.sign(&key) else {
            panic!()
        };
        assert_eq!((source.line, source.column), (2, 5));
    }
}
