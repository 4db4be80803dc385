//! `HomeConfig`, the trust store and definitions a front end keeps in the home: changes from
//! several writers at once (each with its own descriptor, as separate processes would be)
//! are all kept; a file written, removed or put back by hand is never read.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test: failing loudly is the point

use sandframe_host::{
    GatewayError, HomeConfig, HomeError, HostError, SecretKey, TRUST_FILE, TrustStore,
};

const STATE_FILE: &str = sandframe_host::STATE_FILE;

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
fn a_trust_file_written_or_removed_by_hand_is_never_read() {
    let dir = tempfile::tempdir().unwrap();
    let ours = SecretKey::from_seed(&[1; 32]).public_key();
    let theirs = SecretKey::from_seed(&[2; 32]).public_key();
    let config = HomeConfig::open(dir.path()).unwrap();
    config.change_trust(|t| t.trust(ours, "ours")).unwrap();
    // The view is written for people to read.
    let view = std::fs::read_to_string(dir.path().join(TRUST_FILE)).unwrap();
    assert!(view.contains(&ours.to_string()), "{view}");
    // A home-writer trusts their own key by hand, in a file that parses.
    let mut forged = TrustStore::new();
    forged.trust(theirs, "theirs");
    std::fs::write(dir.path().join(TRUST_FILE), forged.to_toml().unwrap()).unwrap();
    drop(config);
    let trusted = HomeConfig::open(dir.path()).unwrap().trust().unwrap();
    let keys: Vec<String> = trusted.publishers().map(|(k, _)| k.to_string()).collect();
    assert_eq!(
        keys,
        [ours.to_string()],
        "the sealed store is the one in force"
    );
    // Removing the file removes no one, and garbage in it is not read either.
    std::fs::remove_file(dir.path().join(TRUST_FILE)).unwrap();
    assert_eq!(
        HomeConfig::open(dir.path())
            .unwrap()
            .trust()
            .unwrap()
            .publishers()
            .count(),
        1
    );
    std::fs::write(dir.path().join(TRUST_FILE), "not = [toml").unwrap();
    let config = HomeConfig::open(dir.path()).unwrap();
    assert_eq!(config.trust().unwrap().publishers().count(), 1);
    // A change goes to the sealed store and writes the view again.
    config
        .change_trust(|t| t.trust(theirs, "now ours too"))
        .unwrap();
    assert_eq!(config.trust().unwrap().publishers().count(), 2);
    assert!(
        std::fs::read_to_string(dir.path().join(TRUST_FILE))
            .unwrap()
            .contains(&theirs.to_string())
    );
}

#[test]
fn a_rolled_back_state_file_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let config = HomeConfig::open(dir.path()).unwrap();
    let key = |n: u8| SecretKey::from_seed(&[n; 32]).public_key();
    config.change_trust(|t| t.trust(key(1), "one")).unwrap();
    let older = std::fs::read(dir.path().join(STATE_FILE)).unwrap();
    config.change_trust(|t| t.trust(key(2), "two")).unwrap();
    drop(config);
    // Put back the older copy, once authentic: refused as a whole, not read.
    std::fs::write(dir.path().join(STATE_FILE), &older).unwrap();
    match HomeConfig::open(dir.path()) {
        Err(HostError::Home(HomeError::Gateway(GatewayError::StateTampered(why)))) => {
            assert!(why.contains(STATE_FILE), "{why}");
        }
        other => panic!("expected a refused state, got {other:?}"),
    }
    // Removed: refused too.
    std::fs::remove_file(dir.path().join(STATE_FILE)).unwrap();
    assert!(matches!(
        HomeConfig::open(dir.path()),
        Err(HostError::Home(HomeError::Gateway(
            GatewayError::StateTampered(_)
        )))
    ));
}

#[test]
fn a_fifo_planted_as_the_trust_file_view_hangs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ours = SecretKey::from_seed(&[1; 32]).public_key();
    let config = HomeConfig::open(dir.path()).unwrap();
    config.change_trust(|t| t.trust(ours, "ours")).unwrap();
    let view = dir.path().join(TRUST_FILE);
    std::fs::remove_file(&view).unwrap();
    let status = std::process::Command::new("mkfifo")
        .arg(&view)
        .status()
        .unwrap();
    assert!(status.success());
    // Read, and changed under the home lock, without waiting on the FIFO.
    assert_eq!(config.trust().unwrap().publishers().count(), 1);
    let theirs = SecretKey::from_seed(&[2; 32]).public_key();
    assert!(config.change_trust(|t| t.trust(theirs, "theirs")).is_ok());
    assert_eq!(config.trust().unwrap().publishers().count(), 2);
}
