//! Attacks on the package format: every change to a signed package must be refused, and no
//! input may panic the parser.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // a test: failing loudly is the point

use proptest::prelude::*;
use sandframe_package::{Package, PackageContents, PackageError, SecretKey, TrustStore};

const MANIFEST: &str = r#"id = "com.example.counter"
name = "Counter"
version = "1.0.0"
views = ["index"]

[[capabilities]]
name = "storage:local"
reason = "Remember the count"
"#;

fn key() -> SecretKey {
    SecretKey::from_seed(&[9; 32])
}

fn contents() -> PackageContents {
    let mut c = PackageContents::new(MANIFEST.as_bytes().to_vec());
    c.add_file("logic.wasm", b"\0asm\x01\0\0\0".to_vec())
        .unwrap();
    c.add_file("views/index.xml", b"<view>{{count}}</view>".to_vec())
        .unwrap();
    c.add_file("assets/logo.txt", b"logo".to_vec()).unwrap();
    c
}

fn signed() -> Vec<u8> {
    contents().sign(&key()).unwrap()
}

fn trust() -> TrustStore {
    let mut t = TrustStore::new();
    t.trust(key().public_key(), "Example");
    t
}

/// What a verifier does: parse, check the signature, check the publisher is trusted.
fn accept(bytes: &[u8]) -> Result<Package, PackageError> {
    let p = Package::parse(bytes)?;
    p.verify_signature()?;
    trust().check(p.publisher())?;
    Ok(p)
}

#[test]
fn untouched_package_is_accepted() {
    let bytes = signed();
    let p = accept(&bytes).unwrap();
    assert_eq!(p.manifest().id().as_str(), "com.example.counter");
    assert_eq!(p.logic(), b"\0asm\x01\0\0\0");
    assert_eq!(p.view("index"), Some(&b"<view>{{count}}</view>"[..]));
    assert_eq!(p.digest(), sandframe_package::Digest::of(&bytes));
    // Signing is deterministic and canonical: the same contents give the same bytes.
    assert_eq!(signed(), bytes);
}

#[test]
fn every_single_byte_flip_is_rejected() {
    let bytes = signed();
    for i in 0..bytes.len() {
        for bit in [0x01u8, 0x80] {
            let mut b = bytes.clone();
            b[i] ^= bit;
            assert!(
                accept(&b).is_err(),
                "flipping bit {bit:#x} of byte {i} was accepted"
            );
        }
    }
}

#[test]
fn appended_and_truncated_bytes_are_rejected() {
    let bytes = signed();
    for extra in [&[0u8][..], b"x", &[0xff; 100]] {
        let mut b = bytes.clone();
        b.extend_from_slice(extra);
        assert!(
            matches!(Package::parse(&b), Err(PackageError::TrailingBytes(_))),
            "appended {extra:?}"
        );
    }
    for len in 0..bytes.len() {
        assert!(
            accept(&bytes[..len]).is_err(),
            "truncated to {len} was accepted"
        );
    }
}

#[test]
fn another_key_is_not_trusted() {
    let other = SecretKey::from_seed(&[10; 32]);
    let bytes = contents().sign(&other).unwrap();
    let p = Package::parse(&bytes).unwrap();
    p.verify_signature().unwrap(); // validly signed ...
    assert!(matches!(
        accept(&bytes),
        Err(PackageError::Untrusted { .. })
    )); // ... by a stranger
}

#[test]
fn revoked_key_is_refused() {
    let mut t = trust();
    t.revoke(key().public_key());
    let p = Package::parse(&signed()).unwrap();
    assert!(matches!(
        t.check(p.publisher()),
        Err(PackageError::Revoked { .. })
    ));
}

#[test]
fn signature_moved_to_another_package_fails() {
    // Take package A's signature and publisher, and graft them onto package B.
    let a = Package::parse(&signed()).unwrap();
    let mut edited = PackageContents::new(MANIFEST.replace("1.0.0", "9.0.0").into_bytes());
    for (p, b) in contents().files() {
        edited.add_file(p.as_str(), b.to_vec()).unwrap();
    }
    let b_bytes = edited.sign(&SecretKey::from_seed(&[11; 32])).unwrap();
    let sig_at = b_bytes.len() - 64;
    let mut forged = b_bytes.clone();
    // Publisher key sits just before the 1-byte length and the 64-byte signature.
    let pk_at = sig_at - 1 - 32;
    forged[pk_at..pk_at + 32].copy_from_slice(a.publisher().as_bytes());
    let a_bytes = signed();
    forged[sig_at..].copy_from_slice(&a_bytes[a_bytes.len() - 64..]);
    let p = Package::parse(&forged).unwrap();
    assert!(matches!(
        p.verify_signature(),
        Err(PackageError::SignatureInvalid)
    ));
}

#[test]
fn edited_manifest_fails_the_signature() {
    let bytes = signed();
    // Change "1.0.0" to "2.0.0" in place (same length, so the container still decodes).
    let at = bytes.windows(5).position(|w| w == b"1.0.0").unwrap();
    let mut b = bytes.clone();
    b[at] = b'2';
    let p = Package::parse(&b).unwrap();
    assert_eq!(p.manifest().version().major, 2);
    assert!(matches!(
        p.verify_signature(),
        Err(PackageError::SignatureInvalid)
    ));
}

#[test]
fn edited_file_fails_its_digest() {
    let bytes = signed();
    let at = bytes.windows(4).rposition(|w| w == b"logo").unwrap();
    let mut b = bytes.clone();
    b[at] = b'L';
    assert!(matches!(
        Package::parse(&b),
        Err(PackageError::DigestMismatch { .. })
    ));
}

#[test]
fn layout_rules_hold_at_pack_time() {
    let mut c = PackageContents::new(MANIFEST.as_bytes().to_vec());
    assert!(matches!(
        c.add_file("../etc/passwd", vec![]),
        Err(PackageError::BadPath { .. })
    ));
    assert!(matches!(
        c.add_file("run.sh", vec![]),
        Err(PackageError::UnexpectedFile { .. })
    ));
    // No logic module.
    c.add_file("views/index.xml", vec![]).unwrap();
    assert!(matches!(c.sign(&key()), Err(PackageError::MissingLogic)));
    // A view the manifest does not list.
    c.add_file("logic.wasm", vec![]).unwrap();
    c.add_file("views/secret.xml", vec![]).unwrap();
    assert!(matches!(
        c.sign(&key()),
        Err(PackageError::ViewNotListed { .. })
    ));
    // A listed view that is missing.
    let mut c = PackageContents::new(
        MANIFEST
            .replace("[\"index\"]", "[\"index\", \"more\"]")
            .into_bytes(),
    );
    c.add_file("logic.wasm", vec![]).unwrap();
    c.add_file("views/index.xml", vec![]).unwrap();
    assert!(matches!(
        c.sign(&key()),
        Err(PackageError::ViewMissing { .. })
    ));
    // Case collisions.
    let mut c = contents();
    c.add_file("assets/Logo.txt", vec![]).unwrap();
    assert!(matches!(
        c.sign(&key()),
        Err(PackageError::CaseCollision { .. })
    ));
}

#[test]
fn wrong_magic_and_version_are_named() {
    let mut b = signed();
    b[5] = 2;
    assert!(matches!(
        Package::parse(&b),
        Err(PackageError::UnsupportedVersion(2))
    ));
    assert!(matches!(
        Package::parse(b"PK\x03\x04zip"),
        Err(PackageError::NotAPackage)
    ));
    assert!(matches!(
        Package::parse(b""),
        Err(PackageError::NotAPackage)
    ));
}

#[test]
fn oversized_package_is_refused_before_decoding() {
    let huge = vec![0u8; sandframe_package::limits::MAX_PACKAGE_BYTES + 1];
    assert!(matches!(
        Package::parse(&huge),
        Err(PackageError::TooLarge { .. })
    ));
}

#[test]
fn resigning_rotates_the_publisher() {
    let p = Package::parse(&signed()).unwrap();
    let new_key = SecretKey::from_seed(&[12; 32]);
    let again = Package::parse(&p.to_contents().sign(&new_key).unwrap()).unwrap();
    again.verify_signature().unwrap();
    assert_eq!(again.publisher(), &new_key.public_key());
    assert_eq!(again.manifest(), p.manifest());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = Package::parse(&bytes);
        let mut with_magic = b"SFPKG\x01".to_vec();
        with_magic.extend_from_slice(&bytes);
        prop_assert!(accept(&with_magic).is_err());
    }

    #[test]
    fn random_mutations_are_rejected(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        insert in proptest::option::of((any::<prop::sample::Index>(), any::<u8>())),
        remove in proptest::option::of(any::<prop::sample::Index>()),
    ) {
        let original = signed();
        let mut b = original.clone();
        for (i, v) in &edits {
            let at = i.index(b.len());
            b[at] = *v;
        }
        if let Some((i, v)) = insert {
            b.insert(i.index(b.len() + 1), v);
        }
        if let Some(i) = remove {
            let at = i.index(b.len());
            b.remove(at);
        }
        if b != original {
            prop_assert!(accept(&b).is_err());
        }
    }
}
