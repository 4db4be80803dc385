//! Durable writes in a real directory: whole or not at all, no temporary file left behind,
//! racing writers never mixed, the mode set.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test: failing loudly is the point

use std::os::unix::fs::PermissionsExt as _;

use cap_std::fs::Dir;

fn dir() -> (tempfile::TempDir, Dir) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = Dir::open_ambient_dir(tmp.path(), cap_std::ambient_authority()).unwrap();
    (tmp, dir)
}

/// The directory's entries, sorted.
fn names(path: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(path)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn replace_writes_replaces_and_sets_the_mode_leaving_nothing_else() {
    let (tmp, d) = dir();
    sandframe_durable::replace(&d, "a", b"one", 0o600).unwrap();
    sandframe_durable::replace(&d, "a", b"two", 0o644).unwrap();
    assert_eq!(std::fs::read(tmp.path().join("a")).unwrap(), b"two");
    let mode = std::fs::metadata(tmp.path().join("a"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o644);
    sandframe_durable::replace(&d, "secret", b"k", 0o600).unwrap();
    let mode = std::fs::metadata(tmp.path().join("secret"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(names(tmp.path()), ["a", "secret"]);
}

#[test]
fn a_failed_replace_keeps_the_old_file_and_leaves_no_temporary() {
    let (tmp, d) = dir();
    // The target is a non-empty directory: the rename fails.
    std::fs::create_dir(tmp.path().join("busy")).unwrap();
    std::fs::write(tmp.path().join("busy/inside"), b"x").unwrap();
    assert!(sandframe_durable::replace(&d, "busy", b"new", 0o600).is_err());
    assert_eq!(std::fs::read(tmp.path().join("busy/inside")).unwrap(), b"x");
    assert_eq!(names(tmp.path()), ["busy"]);
}

#[test]
fn create_new_makes_a_file_once_and_never_changes_it() {
    let (tmp, d) = dir();
    assert!(sandframe_durable::create_new(&d, "k", b"first", 0o600).unwrap());
    assert!(!sandframe_durable::create_new(&d, "k", b"second", 0o600).unwrap());
    assert_eq!(std::fs::read(tmp.path().join("k")).unwrap(), b"first");
    let mode = std::fs::metadata(tmp.path().join("k"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(names(tmp.path()), ["k"]);
}

#[test]
fn racing_writers_of_one_name_never_mix_and_one_creator_wins() {
    let (tmp, d) = dir();
    let values: Vec<Vec<u8>> = (0..4u8).map(|i| vec![b'a' + i; 64 << 10]).collect();
    let path = tmp.path();
    std::thread::scope(|s| {
        for v in &values {
            let d = &d;
            s.spawn(move || {
                for _ in 0..25 {
                    sandframe_durable::replace(d, "shared", v, 0o600).unwrap();
                    let seen = std::fs::read(path.join("shared")).unwrap();
                    assert!(
                        seen.len() == v.len() && seen.iter().all(|b| *b == seen[0]),
                        "a reader saw a mix of two writes"
                    );
                }
            });
        }
    });
    let won: usize = std::thread::scope(|s| {
        let handles: Vec<_> = values
            .iter()
            .map(|v| {
                let d = &d;
                s.spawn(move || {
                    usize::from(sandframe_durable::create_new(d, "once", v, 0o600).unwrap())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(won, 1, "exactly one creator wins");
    assert_eq!(names(tmp.path()), ["once", "shared"]);
}

#[test]
fn leftovers_of_a_name_are_removed_and_nothing_else() {
    let (tmp, d) = dir();
    for f in [
        ".a.0123456789abcdef.tmp",
        ".a.fedcba9876543210.tmp",
        ".ab.0123456789abcdef.tmp",
        ".a.not-hex-at-all!.tmp",
        "a",
    ] {
        std::fs::write(tmp.path().join(f), b"x").unwrap();
    }
    sandframe_durable::remove_leftovers(&d, "a").unwrap();
    assert_eq!(
        names(tmp.path()),
        [".a.not-hex-at-all!.tmp", ".ab.0123456789abcdef.tmp", "a"]
    );
}

#[test]
fn the_file_gets_exactly_the_mode_asked_even_none() {
    let (tmp, d) = dir();
    // The temporary file is opened with the final mode and written through its descriptor,
    // so even a mode of 0 (no one may open it by name) works, and is the file's mode.
    sandframe_durable::replace(&d, "locked", b"secret", 0o000).unwrap();
    let mode = std::fs::metadata(tmp.path().join("locked"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0);
    assert_eq!(names(tmp.path()), ["locked"]);
}
