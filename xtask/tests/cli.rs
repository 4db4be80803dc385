//! `cargo xtask` end to end: keygen, pack the example, verify; then every kind of tampering
//! makes verify fail with a reason and a non-zero exit.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // a test: failing loudly is the point

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn xtask(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .output()
        .expect("xtask runs")
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/hello")
}

struct Setup {
    dir: tempfile::TempDir,
    pkg: PathBuf,
    pubkey: PathBuf,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let out = xtask(&["keygen", "--out", s(&keys)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pkg = dir.path().join("hello.sfpkg");
    let out = xtask(&[
        "pack",
        s(&example()),
        "--key",
        s(&keys.join("publisher.key")),
        "--out",
        s(&pkg),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Setup {
        pubkey: keys.join("publisher.pub"),
        pkg,
        dir,
    }
}

fn verify(pkg: &Path, trust: &Path) -> Output {
    xtask(&["verify", s(pkg), "--trust", s(trust)])
}

/// The exit codes both front ends share (`sandframe_package::exit`).
const REJECTED: i32 = 3;
const DENIED: i32 = 5;

fn assert_refused(out: &Output, code: i32, reason: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    assert!(err.contains(reason), "expected {reason:?} in {err:?}");
}

#[test]
fn keygen_pack_verify_succeeds() {
    let t = setup();
    let out = verify(&t.pkg, &t.pubkey);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("valid"));
    assert!(text.contains("dev.sandframe.hello"));
    assert!(text.contains("0.1.0"));
    assert!(text.contains("blake3:"));
    let pubtext = std::fs::read_to_string(&t.pubkey).unwrap();
    let hex = pubtext.split(' ').nth(1).unwrap().trim();
    assert!(text.contains(hex), "publisher key not printed");
}

#[cfg(unix)]
#[test]
fn secret_key_is_private_and_never_printed() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let out = xtask(&["keygen", "--out", s(dir.path())]);
    assert!(out.status.success());
    let key = dir.path().join("publisher.key");
    let mode = std::fs::metadata(&key).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let secret = std::fs::read_to_string(&key).unwrap();
    let hex = secret.split(' ').nth(1).unwrap().trim();
    assert!(!String::from_utf8_lossy(&out.stdout).contains(hex));
    assert!(!String::from_utf8_lossy(&out.stderr).contains(hex));
    // A second keygen does not overwrite the pair.
    let again = xtask(&["keygen", "--out", s(dir.path())]);
    assert_eq!(again.status.code(), Some(2), "usage: pass --force");
    assert_eq!(std::fs::read_to_string(&key).unwrap(), secret);
}

#[test]
fn flipped_byte_fails_verify() {
    let t = setup();
    let bytes = std::fs::read(&t.pkg).unwrap();
    // A byte in the middle (file data), and the last byte (the signature).
    for at in [bytes.len() / 2, bytes.len() - 1] {
        let mut b = bytes.clone();
        b[at] ^= 0x01;
        let bad = t.dir.path().join("bad.sfpkg");
        std::fs::write(&bad, &b).unwrap();
        let out = verify(&bad, &t.pubkey);
        assert_eq!(out.status.code(), Some(REJECTED), "byte {at}");
    }
    let mut b = bytes.clone();
    let last = b.len() - 1;
    b[last] ^= 0x01;
    let bad = t.dir.path().join("bad.sfpkg");
    std::fs::write(&bad, &b).unwrap();
    assert_refused(&verify(&bad, &t.pubkey), REJECTED, "signature is invalid");
}

#[test]
fn appended_byte_fails_verify() {
    let t = setup();
    let mut b = std::fs::read(&t.pkg).unwrap();
    b.push(0);
    let bad = t.dir.path().join("bad.sfpkg");
    std::fs::write(&bad, &b).unwrap();
    assert_refused(
        &verify(&bad, &t.pubkey),
        REJECTED,
        "unexpected bytes after the end",
    );
}

#[test]
fn edited_manifest_fails_verify() {
    let t = setup();
    let mut b = std::fs::read(&t.pkg).unwrap();
    let at = b.windows(5).position(|w| w == b"Hello").unwrap();
    b[at] = b'J';
    let bad = t.dir.path().join("bad.sfpkg");
    std::fs::write(&bad, &b).unwrap();
    assert_refused(&verify(&bad, &t.pubkey), REJECTED, "signature is invalid");
}

#[test]
fn other_key_fails_verify_and_resign_rotates() {
    let t = setup();
    let other = t.dir.path().join("other");
    assert!(xtask(&["keygen", "--out", s(&other)]).status.success());
    let resigned = t.dir.path().join("resigned.sfpkg");
    let out = xtask(&[
        "sign",
        s(&t.pkg),
        "--key",
        s(&other.join("publisher.key")),
        "--out",
        s(&resigned),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Signed by a key the verifier does not trust.
    assert_refused(&verify(&resigned, &t.pubkey), DENIED, "is not trusted");
    // Trusted once its key is given.
    assert!(
        verify(&resigned, &other.join("publisher.pub"))
            .status
            .success()
    );
}

#[test]
fn bad_arguments_and_missing_files_exit_2() {
    assert_eq!(xtask(&["verify"]).status.code(), Some(2));
    assert_eq!(xtask(&["frobnicate"]).status.code(), Some(2));
    let out = xtask(&["inspect", "/nonexistent/x.sfpkg"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/x.sfpkg"));
}

#[test]
fn inspect_shows_an_untrusted_package() {
    let t = setup();
    let out = xtask(&["inspect", s(&t.pkg)]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("logic.wasm"));
    assert!(text.contains("views/index.xml"));
    assert!(text.contains("id = \"dev.sandframe.hello\""));
}

#[test]
fn defs_signs_a_definitions_set_a_validator_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("defs-keys");
    assert!(xtask(&["keygen", "--out", s(&keys)]).status.success());
    let src = dir.path().join("defs.toml");
    std::fs::write(&src, "version = 7\nblocked_exports = [\"mine\"]\n").unwrap();
    let out_file = dir.path().join("defs.sfdefs");
    let out = xtask(&[
        "defs",
        s(&src),
        "--key",
        s(&keys.join("publisher.key")),
        "--out",
        s(&out_file),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pubkey = sandframe_package::PublicKey::from_file_text(
        &std::fs::read(keys.join("publisher.pub")).unwrap(),
    )
    .unwrap();
    let mut v = sandframe_validate::Validator::new().with_definitions_key(pubkey);
    assert_eq!(
        v.update_definitions(&std::fs::read(&out_file).unwrap())
            .unwrap(),
        7
    );
    // A malformed source is rejected: exit 3, as `sandframe` ends on a rejection.
    std::fs::write(&src, "version = \"seven\"\n").unwrap();
    let out = xtask(&[
        "defs",
        s(&src),
        "--key",
        s(&keys.join("publisher.key")),
        "--out",
        s(&out_file),
    ]);
    assert_eq!(out.status.code(), Some(REJECTED));
}

/// `cargo xtask pack` runs the same `pack` as `sandframe pack` (`source::pack`) and ends a
/// rejection with the same code, 3 (crates/cli/tests/cli.rs checks the CLI's side).
#[test]
fn a_rejected_source_exits_3_as_the_cli_does() {
    let t = setup();
    let src = t.dir.path().join("broken");
    std::fs::create_dir_all(src.join("views")).unwrap();
    std::fs::write(src.join("manifest.toml"), "id = \"com.example.broken\"\n").unwrap();
    std::fs::write(src.join("logic.wat"), "(module)").unwrap();
    let out = xtask(&[
        "pack",
        s(&src),
        "--key",
        s(&t.dir.path().join("keys/publisher.key")),
        "--out",
        s(&t.dir.path().join("broken.sfpkg")),
    ]);
    assert_refused(&out, REJECTED, "manifest.toml");
    assert!(!t.dir.path().join("broken.sfpkg").exists());
}

/// The Rust examples pack with `cargo xtask pack` (a cargo build for wasm32 with the SDK) and
/// verify, static analysis included.
#[test]
fn the_rust_examples_pack_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    assert!(xtask(&["keygen", "--out", s(&keys)]).status.success());
    for name in ["counter", "profile"] {
        let pkg = dir.path().join(format!("{name}.sfpkg"));
        let src = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../examples")
            .join(name);
        let out = xtask(&[
            "pack",
            s(&src),
            "--key",
            s(&keys.join("publisher.key")),
            "--out",
            s(&pkg),
        ]);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = verify(&pkg, &keys.join("publisher.pub"));
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn rebuilding_the_js_engine_without_clang_says_what_to_install() {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["js-engine", "--check"])
        .env("CC_wasm32_unknown_unknown", "/nonexistent")
        .output()
        .expect("xtask runs");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs clang"), "{err}");
    assert!(err.contains("apt-get install clang"), "{err}");
    assert!(err.contains("\"/nonexistent\""), "{err}");
}
