//! The home holds no key, attacked as SECURITY.md's attacker would (read and write anything
//! in the home, not the anchor): a compiled artifact forged with a `host.key` they planted is
//! never loaded; a home made before the keys moved out is moved, with nothing of its old keys
//! trusted (every package verified again in full, storage re-sealed, records and quarantines
//! carried into the sealed state, grants dropped), and no file left in it opens what storage
//! hides.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // a test: failing loudly is the point

mod common;

use std::path::Path;
use std::sync::Arc;

use sandframe_host::{
    AppId, DiskStorage, FileKeySource, HostError, MemoryKeySource, Storage, StorageConfig,
};
use sandframe_package::Package;
use sandframe_testkit::{manifest, sign};

fn id(s: &str) -> AppId {
    s.parse().unwrap()
}

/// An app whose every event answers `n`.
fn answering(n: i32) -> String {
    format!(
        r#"(module
  (memory (export "memory") 1 1)
  (func (export "sf_init") (result i32) i32.const 0)
  (func (export "sf_event") (param i32) (result i32) i32.const {n}))"#
    )
}

fn package(app: &str, wat: &str) -> Vec<u8> {
    sign(&manifest(app, ""), wat::parse_str(wat).unwrap())
}

/// The files of a directory, by name.
fn names(dir: &Path) -> std::collections::BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// The artifact MAC as the runtime computes it (keyed blake3 over the cache key, the
/// artifact's length and the artifact): what an attacker holding the MAC key would forge.
fn artifact_mac(key: &[u8; 32], name: &str, artifact: &[u8]) -> [u8; 32] {
    let mut h = blake3::Hasher::new_keyed(key);
    h.update(name.as_bytes());
    h.update(&(artifact.len() as u64).to_le_bytes());
    h.update(artifact);
    *h.finalize().as_bytes()
}

/// An install receipt as docs/validation.md defines it, under `key`: what a home-writer
/// holding the old `host.key` would forge for a package that never passed validation.
fn receipt(key: &[u8; 32], bytes: &[u8]) -> [u8; 32] {
    let p = Package::parse(bytes).unwrap();
    let m = p.manifest();
    let mut h = blake3::Hasher::new_keyed(key);
    h.update(b"sandframe install receipt v1\0");
    h.update(p.digest().as_bytes());
    for field in [m.id().as_str(), &m.version().to_string()] {
        h.update(&(field.len() as u64).to_le_bytes());
        h.update(field.as_bytes());
    }
    h.update(p.publisher().as_bytes());
    *h.finalize().as_bytes()
}

#[test]
fn an_artifact_forged_with_a_planted_host_key_is_never_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let (honest, hostile) = (id("com.example.honest"), id("com.example.hostile"));
    let artifacts = home.join("artifacts");
    let (honest_file, forged) = {
        let h = common::host_in(&home).threads(1).build().unwrap();
        h.install(&package(honest.as_str(), &answering(1))).unwrap();
        h.launch(&honest).unwrap();
        let before = names(&artifacts);
        h.install(&package(hostile.as_str(), &answering(99)))
            .unwrap();
        h.launch(&hostile).unwrap();
        assert_eq!(h.dispatch(&hostile, b"{}").unwrap(), 99);
        // The attacker finds which artifact is whose by watching the cache fill.
        let hostile_file = names(&artifacts)
            .difference(&before)
            .next()
            .unwrap()
            .clone();
        let honest_file = before.iter().next().unwrap().clone();
        drop(h);

        // The old attack: the hostile app's machine code, under the honest app's cache
        // name, MAC'd with a key the attacker chose and planted as host.key.
        let planted = [9u8; 32];
        std::fs::write(home.join("host.key"), planted).unwrap();
        let record = std::fs::read(artifacts.join(&hostile_file)).unwrap();
        let code = &record[..record.len() - 32];
        let mut forged = code.to_vec();
        forged.extend_from_slice(&artifact_mac(&planted, &honest_file, code));
        std::fs::write(artifacts.join(&honest_file), &forged).unwrap();
        // Had the host read host.key, the honest app would now answer 99.
        (honest_file, forged)
    };
    let h = common::host_in(&home).threads(1).build().unwrap();
    h.launch(&honest).unwrap();
    assert_eq!(
        h.dispatch(&honest, b"{}").unwrap(),
        1,
        "the forged artifact was never loaded; the honest module was compiled again"
    );
    assert_ne!(
        std::fs::read(artifacts.join(&honest_file)).unwrap(),
        forged,
        "the forged record failed its MAC and was replaced"
    );
    let tampered = common::audited(&h, "tamper");
    assert_eq!(tampered, ["host.key"], "the planted key is reported");
}

#[test]
fn an_old_home_is_moved_to_keys_outside_it_trusting_nothing_of_its_old_keys() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let (kept, smuggled) = (id("com.example.kept"), id("com.example.smuggled"));
    {
        let h = common::host_in(&home).threads(1).build().unwrap();
        h.install(&package(kept.as_str(), &answering(1))).unwrap();
    }
    // The home as a build before this change left it: host.key and storage.key inside,
    // values sealed under storage.key, receipts MAC'd with host.key, no secret beside the anchor.
    let old_host_key = [9u8; 32];
    std::fs::write(home.join("host.key"), old_host_key).unwrap();
    let kept_pkg = std::fs::read(home.join("apps/com.example.kept/package.sfpkg")).unwrap();
    std::fs::write(
        home.join("apps/com.example.kept/receipt"),
        receipt(&old_host_key, &kept_pkg),
    )
    .unwrap();
    let home_dir =
        |p: &Path| cap_std::fs::Dir::open_ambient_dir(p, cap_std::ambient_authority()).unwrap();
    let old_storage = DiskStorage::new(
        home_dir(&home.join("storage")),
        Arc::new(FileKeySource::new(home_dir(&home), "storage.key")),
        StorageConfig::default(),
    );
    old_storage
        .set(&kept, "greeting", b"hello from before")
        .unwrap();
    assert!(home.join("storage.key").exists());
    // What a home-writer with host.key could do before: smuggle in a package signed by a
    // trusted publisher that validation refuses (it imports env.system), with a record and
    // a receipt forged under host.key.
    let escaper = r#"(module
  (import "env" "system" (func (param i32) (result i32)))
  (memory (export "memory") 1 1)
  (func (export "sf_init") (result i32) i32.const 0)
  (func (export "sf_event") (param i32) (result i32) i32.const 0))"#;
    let smuggled_pkg = package(smuggled.as_str(), escaper);
    let sdir = home.join("apps/com.example.smuggled");
    std::fs::create_dir_all(&sdir).unwrap();
    std::fs::write(sdir.join("package.sfpkg"), &smuggled_pkg).unwrap();
    std::fs::write(sdir.join("receipt"), receipt(&old_host_key, &smuggled_pkg)).unwrap();
    std::fs::write(
        sdir.join("record.toml"),
        format!(
            "publisher = \"{}\"\nversion = \"1.0.0\"\ncapabilities = []\n",
            sandframe_testkit::key().public_key()
        ),
    )
    .unwrap();
    // Before this build there was no secret beside the anchor, the anchor had no state
    // head, and records, grants and quarantines were plain files.
    let secret = dir.path().join("home.audit-anchor.secret");
    std::fs::remove_file(&secret).unwrap();
    let anchor_file = dir.path().join("home.audit-anchor");
    let a = std::fs::read(&anchor_file).unwrap();
    let mut v1 = b"SFANCHR1".to_vec();
    v1.extend_from_slice(&a[8..88]);
    std::fs::write(&anchor_file, v1).unwrap();
    std::fs::remove_file(home.join("home.state")).unwrap();
    let publisher = sandframe_testkit::key().public_key();
    let old_record =
        |version: &str| format!("publisher = \"{publisher}\"\n{version}capabilities = []\n");
    std::fs::write(
        home.join("apps/com.example.kept/record.toml"),
        old_record("version = \"1.0.0\"\n"),
    )
    .unwrap();
    // An uninstalled app, quarantined: its pin and its quarantine are carried over.
    let gone = id("com.example.gone");
    std::fs::create_dir_all(home.join("apps/com.example.gone")).unwrap();
    std::fs::write(
        home.join("apps/com.example.gone/record.toml"),
        old_record(""),
    )
    .unwrap();
    std::fs::create_dir_all(home.join("quarantine")).unwrap();
    std::fs::write(
        home.join("quarantine/com.example.gone.json"),
        r#"{"app":"com.example.gone","rule":"cpu","evidence":"burnt","unix_ms":1}"#,
    )
    .unwrap();
    // A grant nothing says a person gave: dropped, the app asks again.
    std::fs::create_dir_all(home.join("grants")).unwrap();
    std::fs::write(
        home.join("grants/com.example.kept.json"),
        r#"[{"app":"com.example.kept","capability":"storage:local","source":"consent","unix_ms":1}]"#,
    )
    .unwrap();

    // A new host moves the home.
    let h = common::host_in(&home).threads(1).build().unwrap();
    assert!(!home.join("host.key").exists() && !home.join("storage.key").exists());
    let a = std::fs::read(&secret).unwrap();
    assert_eq!(
        (&a[..8], a[40]),
        (&b"SFSECRT1"[..], 2),
        "the secret beside the anchor records the move done"
    );
    assert_ne!(
        std::fs::read(home.join("apps/com.example.kept/receipt")).unwrap(),
        receipt(&old_host_key, &kept_pkg),
        "a new receipt, under a key from outside the home"
    );
    h.launch(&kept).unwrap();
    assert_eq!(h.dispatch(&kept, b"{}").unwrap(), 1);
    assert_eq!(
        h.storage().get(&kept, "greeting").unwrap().unwrap(),
        b"hello from before"
    );
    // The smuggled package was verified in full, refused, and does not launch.
    match h.launch(&smuggled) {
        Err(HostError::Home(e)) => assert!(e.to_string().contains("receipt"), "{e}"),
        other => panic!("the smuggled app must not launch: {other:?}"),
    }
    let records = h.audit_records(None).unwrap();
    let migrate: Vec<_> = records.iter().filter(|r| r.action == "migrate").collect();
    assert!(
        migrate
            .iter()
            .any(|r| r.app == smuggled.as_str() && r.outcome == "denied"),
        "{migrate:?}"
    );
    let summary = migrate.iter().find(|r| r.outcome == "allowed").unwrap();
    assert!(summary.detail.contains("1 refused"), "{}", summary.detail);
    for said in [
        "1 uninstalled apps' pins and 1 quarantines carried over",
        "grants of 1 apps dropped (com.example.kept",
    ] {
        assert!(summary.detail.contains(said), "{}", summary.detail);
    }
    assert!(h.is_quarantined(&gone), "the quarantine was carried over");
    assert!(h.grants(&kept).unwrap().is_empty(), "the grant was not");
    for old in ["grants", "quarantine", "apps/com.example.kept/record.toml"] {
        assert!(!home.join(old).exists(), "{old} is gone once sealed");
    }
    // The tombstone's pin holds: another publisher cannot take the id.
    let other = sandframe_host::SecretKey::from_seed(&[7; 32]);
    let mut trust = sandframe_host::TrustStore::new();
    trust.trust(other.public_key(), "other");
    trust.trust(publisher, "ours");
    drop(h);
    let h = common::host_in(&home)
        .threads(1)
        .trust(trust)
        .build()
        .unwrap();
    assert!(
        h.install(&common::package_by(&other, gone.as_str(), &answering(2)))
            .is_err()
    );
    assert!(h.is_quarantined(&gone), "still quarantined after a restart");
    assert!(
        summary.detail.contains("1 stored values re-sealed"),
        "{}",
        summary.detail
    );

    // No small file left in the home, read as a key, opens the stored value.
    let mut candidates = Vec::new();
    for entry in walk(&home) {
        let bytes = std::fs::read(&entry).unwrap();
        if bytes.len() <= 4096 {
            for w in bytes.windows(32) {
                candidates.push(<[u8; 32]>::try_from(w).unwrap());
            }
        }
    }
    assert!(!candidates.is_empty());
    for key in candidates {
        let s = DiskStorage::new(
            home_dir(&home.join("storage")),
            Arc::new(MemoryKeySource::new(key)),
            StorageConfig::default(),
        );
        assert!(
            !matches!(s.get(&kept, "greeting"), Ok(Some(_))),
            "a file in the home opens storage"
        );
    }
}

/// Every file below `root`.
fn walk(root: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(root).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
