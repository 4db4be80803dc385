//! A toolchain without the wasm target, as a fresh machine has it: `sandframe pack` of a Rust
//! app adds the target with rustup (once, saying so in one line) and goes on; without rustup
//! it fails with the command to run. A fake `rustup` on `PATH` records its arguments, and a
//! `rustc` wrapper (`RUSTC`) reports the target missing until that fake has "added" it, then
//! hands every call to the real compiler, so the pack is a real build.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // a test: failing loudly is the point

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn script(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// The real compiler behind the rustup proxy (the toolchain these tests run with).
fn real_rustc() -> PathBuf {
    let out = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .unwrap();
    assert!(out.status.success());
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim()).join("bin/rustc")
}

struct Machine {
    dir: tempfile::TempDir,
}

impl Machine {
    /// A scratch directory with `bin/rustup` (fake: `show active-toolchain` answers
    /// `1.95.0-fake`, `target add` marks the target added, every call is logged) and
    /// `bin/rustc` (the wrapper), and a key pair made by the binary.
    fn new() -> Machine {
        Machine::with_target_add("touch {d}/added")
    }

    /// [`Machine::new`] whose fake `rustup target add` runs `add` (`{d}`: the scratch dir).
    fn with_target_add(add: &str) -> Machine {
        let m = Machine {
            dir: tempfile::tempdir().unwrap(),
        };
        let bin = m.path("bin");
        std::fs::create_dir(&bin).unwrap();
        let d = m.dir.path().display();
        let add = add.replace("{d}", &d.to_string());
        script(
            &bin.join("rustup"),
            &format!(
                "#!/bin/sh\necho \"$*\" >> {d}/rustup.log\n\
                 case \"$1\" in\n\
                   show) echo '1.95.0-fake (overridden by a test)' ;;\n\
                   target) {add} ;;\n\
                 esac\n"
            ),
        );
        script(
            &bin.join("rustc"),
            &format!(
                "#!/bin/sh\n\
                 if [ \"$1 $2\" = '--print target-libdir' ] && [ ! -e {d}/added ]; then\n\
                   echo {d}/no-such-libdir; exit 0\n\
                 fi\n\
                 exec {} \"$@\"\n",
                real_rustc().display()
            ),
        );
        let out = m.sf(&["keygen", "--out", m.path("keys").to_str().unwrap()], true);
        assert!(out.status.success(), "{out:?}");
        m
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// Runs `sandframe ARGS` with the wrapper as `RUSTC`, a target dir of its own, and `PATH`
    /// starting with the fake rustup (`with_rustup`) or holding no rustup at all.
    fn sf(&self, args: &[&str], with_rustup: bool) -> Output {
        let path = if with_rustup {
            format!("{}:/usr/bin:/bin", self.path("bin").display())
        } else {
            "/usr/bin:/bin".to_owned()
        };
        Command::new(env!("CARGO_BIN_EXE_sandframe"))
            .args(args)
            .env("PATH", path)
            .env("RUSTC", self.path("bin/rustc"))
            .env("CARGO_TARGET_DIR", self.path("target"))
            .env_remove("RUSTUP")
            .env_remove("SANDFRAME_HOME")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn pack(&self, with_rustup: bool) -> Output {
        let counter = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/counter");
        self.sf(
            &[
                "pack",
                counter.to_str().unwrap(),
                "--key",
                self.path("keys/publisher.key").to_str().unwrap(),
                "--out",
                self.path("counter.sfpkg").to_str().unwrap(),
            ],
            with_rustup,
        )
    }

    fn rustup_log(&self) -> Vec<String> {
        std::fs::read_to_string(self.path("rustup.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

#[test]
fn pack_adds_a_missing_wasm_target_with_rustup_once_and_goes_on() {
    let m = Machine::new();
    let out = m.pack(true);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let adds: Vec<String> = m
        .rustup_log()
        .into_iter()
        .filter(|l| l.starts_with("target"))
        .collect();
    assert_eq!(
        adds,
        ["target add wasm32-unknown-unknown --toolchain 1.95.0-fake"],
        "rustup was asked once, for the toolchain it named"
    );
    let notices: Vec<&str> = stderr.lines().filter(|l| l.contains("adding it")).collect();
    assert_eq!(notices.len(), 1, "{stderr}");
    assert!(
        notices[0].contains("rustup target add wasm32-unknown-unknown --toolchain 1.95.0-fake"),
        "{stderr}"
    );
    assert!(m.path("counter.sfpkg").is_file(), "the pack went on");

    // With the target there, a second pack asks rustup for nothing.
    let again = m.pack(true);
    assert!(again.status.success());
    assert_eq!(
        m.rustup_log()
            .iter()
            .filter(|l| l.starts_with("target"))
            .count(),
        1
    );
}

#[test]
fn pack_without_rustup_fails_with_the_command_to_run() {
    let m = Machine::new();
    let out = m.pack(false);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("rustup target add wasm32-unknown-unknown --toolchain 1.95.0"),
        "{stderr}"
    );
    assert!(stderr.contains("rustup cannot be run"), "{stderr}");
    assert!(!m.path("counter.sfpkg").exists());
    assert!(m.rustup_log().is_empty());
}

#[test]
fn a_rustup_that_cannot_reach_its_server_is_reported_as_such() {
    let m = Machine::with_target_add(
        "echo \"error: could not download file from 'https://static.rust-lang.org/dist/x' to \
         'y': error sending request\" >&2; exit 1",
    );
    let out = m.pack(true);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("rustup could not reach its server"),
        "{stderr}"
    );
    assert!(
        stderr.contains("could not download file"),
        "rustup's own words: {stderr}"
    );
    assert!(
        stderr.contains("rustup target add wasm32-unknown-unknown --toolchain 1.95.0-fake"),
        "{stderr}"
    );
    assert!(!m.path("counter.sfpkg").exists());
}
