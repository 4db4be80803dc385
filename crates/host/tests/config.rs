//! `HomeConfig`, the trust store and definitions a front end keeps in the home: changes from
//! several writers at once (each with its own descriptor, as separate processes would be)
//! are all kept; a damaged file is named.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test: failing loudly is the point

use sandframe_host::{HomeConfig, HomeError, HostError, SecretKey, TRUST_FILE};

#[test]
fn racing_trust_changes_are_all_kept() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::thread::scope(|s| {
        for n in 0..8u8 {
            let home = &home;
            s.spawn(move || {
                let config = HomeConfig::open(home).unwrap();
                for i in 0..5u8 {
                    let key = SecretKey::from_seed(&[n * 5 + i + 1; 32]).public_key();
                    config
                        .change_trust(|t| t.trust(key, format!("publisher {n}.{i}")))
                        .unwrap();
                }
            });
        }
    });
    let trusted = HomeConfig::open(&home).unwrap().trust().unwrap();
    assert_eq!(trusted.publishers().count(), 40, "no change was lost");
}

#[test]
fn a_damaged_trust_file_is_named_not_read_as_empty() {
    let dir = tempfile::tempdir().unwrap();
    let config = HomeConfig::open(dir.path()).unwrap();
    std::fs::write(dir.path().join(TRUST_FILE), "not = [toml").unwrap();
    match config.trust() {
        Err(HostError::Home(HomeError::Damaged(what))) => {
            assert!(what.contains(TRUST_FILE), "{what}");
        }
        other => panic!("expected a damaged home, got {other:?}"),
    }
    // And a change does not overwrite it with an empty store.
    assert!(config.change_trust(|_| ()).is_err());
    assert_eq!(
        std::fs::read_to_string(dir.path().join(TRUST_FILE)).unwrap(),
        "not = [toml"
    );
}
