//! `DiskStorage` on real files, against hostile keys, swapped and damaged ciphertexts, full
//! quotas, concurrent writers, and sharing and wiping done wrong.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // a test: failing loudly is the point

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sandframe_core::{AppId, Error, Storage};
use sandframe_storage::{DiskStorage, FileKeySource, MemoryKeySource, StorageConfig};

fn dir(p: &Path) -> cap_std::fs::Dir {
    std::fs::create_dir_all(p).unwrap();
    cap_std::fs::Dir::open_ambient_dir(p, cap_std::ambient_authority()).unwrap()
}

fn storage(root: &Path) -> DiskStorage {
    DiskStorage::new(
        dir(root),
        Arc::new(MemoryKeySource::new([3; 32])),
        StorageConfig::default(),
    )
}

fn id(s: &str) -> AppId {
    s.parse().unwrap()
}

fn value_files(root: &Path, app: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root.join(app).join("v"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

#[test]
fn values_round_trip_and_list_sorted() {
    let t = tempfile::tempdir().unwrap();
    let s = storage(t.path());
    let a = id("com.example.a");
    assert_eq!(s.get(&a, "missing").unwrap(), None);
    s.set(&a, "b", b"two").unwrap();
    s.set(&a, "a", b"one").unwrap();
    s.set(&a, "a", b"uno").unwrap();
    assert_eq!(s.get(&a, "a").unwrap().unwrap(), b"uno");
    assert_eq!(s.list(&a).unwrap(), ["a", "b"]);
    let u = s.usage(&a).unwrap();
    assert_eq!(u.keys, 2);
    assert_eq!(u.bytes, 2 * sandframe_storage::OVERHEAD_BYTES + 2 + 3 + 3);
    assert!(s.remove(&a, "a").unwrap());
    assert!(!s.remove(&a, "a").unwrap());
    assert_eq!(s.list(&a).unwrap(), ["b"]);
    // Nothing on disk names a key: only the salt and hashed value files.
    let on_disk = sandframe_testkit::tree(t.path());
    assert!(
        on_disk
            .iter()
            .all(|f| !f.contains('b') || f.contains("/v/")),
        "{on_disk:?}"
    );
    // Usage survives a restart (derived from the files).
    let again = storage(t.path());
    assert_eq!(again.usage(&a).unwrap(), s.usage(&a).unwrap());
}

#[test]
fn hostile_keys_stay_in_the_namespace_or_are_refused() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("storage");
    let s = storage(&root);
    let a = id("com.example.hostile");
    let nfc = "caf\u{e9}";
    let nfd = "cafe\u{301}";
    let accepted = [
        "..",
        ".",
        "../other.app/x",
        "../../../../etc/passwd",
        "/etc/passwd",
        "C:\\Windows\\system32",
        "a\0b",
        "/",
        "\\",
        nfc,
        nfd,
        "\u{ff46}\u{ff4f}\u{ff4f}", // fullwidth "foo"
        "foo",
        "\u{7}\n\t\r",
        "\u{202e}txt.exe",
        &"k".repeat(sandframe_storage::MAX_KEY_BYTES),
    ];
    for (i, key) in accepted.iter().enumerate() {
        let value = format!("value {i}");
        s.set(&a, key, value.as_bytes()).unwrap();
    }
    for (i, key) in accepted.iter().enumerate() {
        assert_eq!(
            s.get(&a, key).unwrap().unwrap(),
            format!("value {i}").as_bytes(),
            "{key:?}"
        );
    }
    // Look-alikes and normalization forms are distinct keys.
    let mut want: Vec<String> = accepted.iter().map(|k| k.to_string()).collect();
    want.sort();
    assert_eq!(s.list(&a).unwrap(), want);
    // Everything is confined: the only paths are the app's salt and hashed value files.
    for f in sandframe_testkit::tree(t.path()) {
        let ok = f == "storage/"
            || f == "storage/com.example.hostile/"
            || f == "storage/com.example.hostile/salt"
            || f == "storage/com.example.hostile/v/"
            || (f.starts_with("storage/com.example.hostile/v/") && f.len() == 30 + 64);
        assert!(ok, "unexpected path {f:?}");
    }
    // Refused with a clear error.
    for key in ["", &"k".repeat(sandframe_storage::MAX_KEY_BYTES + 1)] {
        match s.set(&a, key, b"x") {
            Err(Error::Invalid { what, .. }) => assert_eq!(what, "storage key"),
            other => panic!("{key:?}: {other:?}"),
        }
    }
    assert!(matches!(
        s.set(&a, "big", &vec![0; sandframe_storage::MAX_VALUE_BYTES + 1]),
        Err(Error::Limit(_))
    ));
}

#[test]
fn swapped_truncated_and_flipped_ciphertexts_fail_their_integrity_check() {
    let t = tempfile::tempdir().unwrap();
    let s = storage(t.path());
    let (a, b) = (id("com.example.a"), id("com.example.b"));
    s.set(&a, "secret", b"a's secret").unwrap();
    s.set(&b, "secret", b"b's secret").unwrap();
    s.set(&a, "other", b"a's other").unwrap();
    let a_files = value_files(t.path(), "com.example.a");
    let b_file = value_files(t.path(), "com.example.b")[0].clone();
    let a_secret = a_files
        .iter()
        .find(|p| {
            // the file whose content decrypts as "secret": find by elimination below
            std::fs::read(p).unwrap().len() == (sandframe_storage::OVERHEAD_BYTES as usize + 6 + 10)
        })
        .unwrap()
        .clone();
    let a_other = a_files.iter().find(|p| **p != a_secret).unwrap().clone();

    // A's ciphertext copied over B's value of the same key: B cannot open it.
    let b_original = std::fs::read(&b_file).unwrap();
    std::fs::copy(&a_secret, &b_file).unwrap();
    assert!(matches!(s.get(&b, "secret"), Err(Error::Integrity(_))));
    std::fs::write(&b_file, &b_original).unwrap();
    assert_eq!(s.get(&b, "secret").unwrap().unwrap(), b"b's secret");

    // A's "other" copied over A's "secret": refused, not served as the wrong value.
    let secret_original = std::fs::read(&a_secret).unwrap();
    std::fs::copy(&a_other, &a_secret).unwrap();
    assert!(matches!(s.get(&a, "secret"), Err(Error::Integrity(_))));
    assert!(matches!(s.list(&a), Err(Error::Integrity(_))));

    // Truncated and bit-flipped.
    for damage in 0..3 {
        let mut bytes = secret_original.clone();
        match damage {
            0 => bytes.truncate(bytes.len() - 1),
            1 => bytes.truncate(10),
            _ => {
                let n = bytes.len();
                bytes[n / 2] ^= 0x01;
            }
        }
        std::fs::write(&a_secret, &bytes).unwrap();
        assert!(
            matches!(s.get(&a, "secret"), Err(Error::Integrity(_))),
            "{damage}"
        );
    }
    std::fs::write(&a_secret, &secret_original).unwrap();
    assert_eq!(s.get(&a, "secret").unwrap().unwrap(), b"a's secret");

    // Another master key opens nothing.
    let stranger = DiskStorage::new(
        dir(t.path()),
        Arc::new(MemoryKeySource::new([4; 32])),
        StorageConfig::default(),
    );
    assert_eq!(
        stranger.get(&a, "secret").unwrap(),
        None,
        "the name hash differs too"
    );
    assert!(matches!(stranger.list(&a), Err(Error::Integrity(_))));
}

#[test]
fn quotas_are_checked_before_writing() {
    let t = tempfile::tempdir().unwrap();
    let s = DiskStorage::new(
        dir(t.path()),
        Arc::new(MemoryKeySource::new([3; 32])),
        StorageConfig {
            quota_bytes: 1_000,
            quota_keys: 3,
        },
    );
    let a = id("com.example.q");
    s.set(&a, "k1", &[1; 400]).unwrap();
    match s.set(&a, "k2", &[2; 600]) {
        Err(Error::Quota(m)) => assert!(m.contains("of 1000 bytes"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        s.get(&a, "k2").unwrap(),
        None,
        "nothing of a refused write is kept"
    );
    // Overwriting counts the old value out.
    s.set(&a, "k1", &[1; 900]).unwrap();
    s.set(&a, "k1", &[1; 10]).unwrap();
    s.set(&a, "k2", &[2; 10]).unwrap();
    s.set(&a, "k3", &[3; 10]).unwrap();
    assert!(matches!(s.set(&a, "k4", b"x"), Err(Error::Quota(_))));
    let u = s.usage(&a).unwrap();
    assert_eq!((u.keys, u.quota_bytes), (3, 1_000));
    // A lower per-app quota (the manifest's) applies; a higher one does not.
    s.set_quota(&a, 100);
    assert!(matches!(s.set(&a, "k1", &[1; 60]), Err(Error::Quota(_))));
    s.set_quota(&a, 1 << 30);
    assert_eq!(s.usage(&a).unwrap().quota_bytes, 1_000);
}

#[test]
fn concurrent_writers_to_one_key_never_tear_it() {
    let t = tempfile::tempdir().unwrap();
    let a = id("com.example.race");
    // Two instances of the storage (as two host processes would have) on the same files.
    let one = storage(t.path());
    let two = storage(t.path());
    one.set(&a, "k", b"start").unwrap();
    std::thread::scope(|sc| {
        for (n, s) in [(1u8, &one), (2u8, &two)] {
            let a = a.clone();
            sc.spawn(move || {
                for i in 0..100u32 {
                    let v = vec![n; 1000 + (i as usize * 37) % 5000];
                    s.set(&a, "k", &v).unwrap();
                }
            });
        }
        for _ in 0..200 {
            let v = one.get(&a, "k").unwrap().unwrap();
            assert!(v == b"start" || v.iter().all(|&b| b == v[0]), "torn read");
        }
    });
    let v = two.get(&a, "k").unwrap().unwrap();
    assert!(v.iter().all(|&b| b == 1) || v.iter().all(|&b| b == 2));
    assert_eq!(
        value_files(t.path(), "com.example.race").len(),
        1,
        "no temp file left"
    );
}

#[test]
fn sharing_is_explicit_read_only_and_revocable() {
    let t = tempfile::tempdir().unwrap();
    let s = storage(t.path());
    let (owner, reader, other) = (
        id("com.example.owner"),
        id("com.example.reader"),
        id("com.example.other"),
    );
    s.set(&owner, "public", b"hello").unwrap();
    s.set(&owner, "private", b"mine").unwrap();
    assert!(matches!(
        s.get_shared(&reader, &owner, "public"),
        Err(Error::Denied(_))
    ));
    assert!(matches!(
        s.share(&owner, "missing", &reader),
        Err(Error::NotFound(_))
    ));
    s.share(&owner, "public", &reader).unwrap();
    assert_eq!(
        s.get_shared(&reader, &owner, "public").unwrap().unwrap(),
        b"hello"
    );
    assert_eq!(
        s.shares(&owner).unwrap(),
        [("public".to_string(), reader.clone())]
    );
    // Both sides can list it.
    let theirs = s.shares_of(&reader).unwrap();
    assert_eq!(theirs.received, [(owner.clone(), "public".to_string())]);
    assert!(theirs.given.is_empty());
    assert_eq!(s.shares_of(&owner).unwrap().given.len(), 1);
    // Only that key, only that reader; the reader's own namespace does not see it.
    assert!(matches!(
        s.get_shared(&reader, &owner, "private"),
        Err(Error::Denied(_))
    ));
    assert!(matches!(
        s.get_shared(&other, &owner, "public"),
        Err(Error::Denied(_))
    ));
    assert_eq!(s.get(&reader, "public").unwrap(), None);
    // Revoked by the owner.
    assert!(s.unshare(&owner, "public", &reader).unwrap());
    assert!(matches!(
        s.get_shared(&reader, &owner, "public"),
        Err(Error::Denied(_))
    ));
    // Removing a key ends its shares; wiping a reader ends shares naming it.
    s.share(&owner, "public", &reader).unwrap();
    s.share(&owner, "private", &other).unwrap();
    s.remove(&owner, "public").unwrap();
    assert_eq!(
        s.shares(&owner).unwrap(),
        [("private".to_string(), other.clone())]
    );
    s.wipe(&other).unwrap();
    assert!(s.shares(&owner).unwrap().is_empty());
}

#[test]
fn wipe_leaves_nothing_and_shreds_what_it_cannot_delete() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("storage");
    let s = storage(&root);
    let (a, b) = (id("com.example.gone"), id("com.example.stays"));
    s.set(&b, "k", b"b").unwrap();
    let before = sandframe_testkit::tree(&root);
    s.set(&a, "k", b"a's data").unwrap();
    s.share(&a, "k", &b).unwrap();
    // An attacker keeps a copy of a's value file.
    let copy = std::fs::read(&value_files(&root, "com.example.gone")[0]).unwrap();
    let name = value_files(&root, "com.example.gone")[0]
        .file_name()
        .unwrap()
        .to_owned();
    s.wipe(&a).unwrap();
    assert_eq!(
        sandframe_testkit::tree(&root),
        before,
        "nothing of the app is left"
    );
    assert_eq!(s.usage(&a).unwrap().keys, 0);
    // The app comes back (a reinstall) and the old file is planted back: a new salt means a
    // new key, so the recovered file opens for no one.
    s.set(&a, "other", b"new").unwrap();
    std::fs::write(root.join("com.example.gone/v").join(&name), &copy).unwrap();
    assert!(matches!(s.list(&a), Err(Error::Integrity(_))));
    s.wipe(&a).unwrap();
    s.wipe(&a).unwrap(); // safe to retry
}

#[test]
fn the_file_key_source_makes_a_private_key_once() {
    let t = tempfile::tempdir().unwrap();
    let k = FileKeySource::new(dir(t.path()), "storage.key");
    use sandframe_storage::KeySource;
    let first = k.master_key().unwrap();
    assert_eq!(*k.master_key().unwrap(), *first);
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(t.path().join("storage.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    std::fs::write(t.path().join("storage.key"), b"short").unwrap();
    assert!(matches!(k.master_key(), Err(Error::Integrity(_))));
}

#[test]
fn racing_first_uses_of_the_key_file_agree_on_one_key() {
    use sandframe_storage::KeySource;
    for _ in 0..20 {
        let t = tempfile::tempdir().unwrap();
        let keys: Vec<[u8; 32]> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    let d = dir(t.path());
                    s.spawn(move || *FileKeySource::new(d, "storage.key").master_key().unwrap())
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(keys.windows(2).all(|w| w[0] == w[1]), "two keys were made");
        let left: Vec<_> = std::fs::read_dir(t.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temp file is left");
    }
}

#[test]
fn a_key_is_shared_with_a_bounded_number_of_apps() {
    let t = tempfile::tempdir().unwrap();
    let s = storage(t.path());
    let owner = id("com.example.popular");
    s.set(&owner, "k", b"v").unwrap();
    for i in 0..sandframe_storage::MAX_READERS_PER_KEY {
        s.share(&owner, "k", &id(&format!("com.example.r{i}")))
            .unwrap();
    }
    assert!(matches!(
        s.share(&owner, "k", &id("com.example.onetoomany")),
        Err(Error::Quota(_))
    ));
    // Sharing again with an existing reader is not a new share.
    s.share(&owner, "k", &id("com.example.r0")).unwrap();
}

#[test]
fn keys_cached_before_a_wipe_never_seal_new_data() {
    let t = tempfile::tempdir().unwrap();
    let a = id("com.example.cached");
    let one = storage(t.path());
    one.set(&a, "k", b"before").unwrap(); // `one` now caches the app's keys
    storage(t.path()).wipe(&a).unwrap(); // another instance wipes: the salt is gone
    one.set(&a, "k", b"after").unwrap();
    // A fresh instance (a restarted host) reads what `one` wrote: it was sealed under a new
    // salt, not under the cached keys of the wiped one.
    assert_eq!(storage(t.path()).get(&a, "k").unwrap().unwrap(), b"after");
}

/// Moving storage from one master key to another (a home's `storage.key` to a key derived
/// outside the home): every value opens under the new key and no longer under the old; a
/// second run (as after a crash part-way) finds them done and re-seals only what was written
/// under the old key since; a file that opens under neither is counted and left.
#[test]
fn reseal_moves_every_value_to_the_new_key_and_can_run_again() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("s");
    let under = |k: u8| {
        DiskStorage::new(
            dir(&root),
            Arc::new(MemoryKeySource::new([k; 32])),
            StorageConfig::default(),
        )
    };
    let (a, b) = (id("com.example.a"), id("com.example.b"));
    let old = under(1);
    for i in 0..20 {
        old.set(&a, &format!("k{i}"), format!("value {i}").as_bytes())
            .unwrap();
    }
    old.set(&b, "only", b"b's").unwrap();
    old.share(&a, "k1", &b).unwrap();
    let new = under(2);
    // Under another key a value's file has another name: nothing is found yet.
    assert_eq!(
        new.get(&a, "k1").unwrap(),
        None,
        "the new key cannot read yet"
    );

    let done = new.reseal_from(&MemoryKeySource::new([1; 32])).unwrap();
    assert_eq!(
        (done.apps, done.values, done.already, done.unreadable),
        (2, 21, 0, 0)
    );
    for i in 0..20 {
        assert_eq!(
            new.get(&a, &format!("k{i}")).unwrap().unwrap(),
            format!("value {i}").as_bytes()
        );
    }
    assert_eq!(new.get(&b, "only").unwrap().unwrap(), b"b's");
    assert_eq!(new.get_shared(&b, &a, "k1").unwrap().unwrap(), b"value 1");
    assert_eq!(
        value_files(&root, "com.example.a").len(),
        20,
        "old files gone"
    );
    assert_eq!(
        under(1).get(&a, "k1").unwrap(),
        None,
        "the old key reads nothing now"
    );

    // Written under the old key after a first run (as if that run had stopped half-way),
    // and one file nobody's key opens.
    under(1).set(&a, "late", b"late value").unwrap();
    std::fs::write(root.join("com.example.a/v").join("f".repeat(64)), [1u8; 80]).unwrap();
    let again = new.reseal_from(&MemoryKeySource::new([1; 32])).unwrap();
    assert_eq!((again.values, again.already, again.unreadable), (1, 21, 1));
    assert_eq!(new.get(&a, "late").unwrap().unwrap(), b"late value");
    assert_eq!(new.get(&a, "k7").unwrap().unwrap(), b"value 7");
}
