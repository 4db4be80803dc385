//! Packing from an author's source directory: layouts that work, and layouts refused with a
//! reason (several logic sources, none, symlinks, bad WAT, unlisted views).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // a test: failing loudly is the point

use std::fs;
use std::path::Path;

use sandframe_package::{Package, PackageError, SecretKey, source};

const MANIFEST: &str =
    "id = \"com.example.src\"\nname = \"Src\"\nversion = \"1.0.0\"\nviews = [\"index\"]\n";
const WAT: &str = r#"(module (memory (export "memory") 1 1)
  (func (export "sf_init") (result i32) i32.const 0)
  (func (export "sf_event") (param i32) (result i32) i32.const 0))"#;

fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let p = d.path().join(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }
    d
}

fn pack(dir: &Path) -> Result<Package, PackageError> {
    let bytes = source::read_dir_adding_target(dir, |l| eprintln!("{l}"))?
        .sign(&SecretKey::from_seed(&[5; 32]))?;
    Package::parse(&bytes)
}

#[test]
fn wat_source_is_assembled() {
    let d = dir_with(&[
        ("manifest.toml", MANIFEST),
        ("logic.wat", WAT),
        ("views/index.xml", "<view/>"),
        ("assets/img/a.txt", "a"),
    ]);
    let p = pack(d.path()).unwrap();
    assert!(p.logic().starts_with(b"\0asm"));
    assert_eq!(p.file("assets/img/a.txt"), Some(&b"a"[..]));
}

#[test]
fn several_or_no_logic_sources_are_refused() {
    let d = dir_with(&[
        ("manifest.toml", MANIFEST),
        ("logic.wat", WAT),
        ("logic.wasm", "\0asm"),
        ("views/index.xml", "<view/>"),
    ]);
    let e = pack(d.path()).unwrap_err().to_string();
    assert!(e.contains("more than one logic source"), "{e}");
    let d = dir_with(&[("manifest.toml", MANIFEST), ("views/index.xml", "<view/>")]);
    let e = pack(d.path()).unwrap_err().to_string();
    assert!(e.contains("no logic"), "{e}");
}

#[test]
fn bad_wat_is_reported() {
    let d = dir_with(&[
        ("manifest.toml", MANIFEST),
        ("logic.wat", "(module (func $f (result i32) i64.const 1"),
        ("views/index.xml", "<view/>"),
    ]);
    assert!(matches!(pack(d.path()), Err(PackageError::Wat(_))));
}

#[test]
fn unlisted_view_and_bad_asset_name_are_refused() {
    let d = dir_with(&[
        ("manifest.toml", MANIFEST),
        ("logic.wat", WAT),
        ("views/index.xml", "<view/>"),
        ("views/extra.xml", "<view/>"),
    ]);
    assert!(matches!(
        pack(d.path()),
        Err(PackageError::ViewNotListed { .. })
    ));
    let d = dir_with(&[
        ("manifest.toml", MANIFEST),
        ("logic.wat", WAT),
        ("views/index.xml", "<view/>"),
        ("assets/.secret", "x"),
    ]);
    assert!(matches!(pack(d.path()), Err(PackageError::BadPath { .. })));
}

#[cfg(unix)]
#[test]
fn symlinks_are_refused() {
    let outside = dir_with(&[("private.txt", "secret")]);
    let d = dir_with(&[
        ("manifest.toml", MANIFEST),
        ("logic.wat", WAT),
        ("views/index.xml", "<view/>"),
    ]);
    fs::create_dir_all(d.path().join("assets")).unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("private.txt"),
        d.path().join("assets/x.txt"),
    )
    .unwrap();
    let e = pack(d.path()).unwrap_err().to_string();
    assert!(e.contains("symbolic link"), "{e}");
    fs::remove_file(d.path().join("assets/x.txt")).unwrap();
    std::os::unix::fs::symlink(outside.path(), d.path().join("assets/dir")).unwrap();
    assert!(pack(d.path()).is_err());
}

#[test]
fn missing_manifest_names_the_file() {
    let d = dir_with(&[("logic.wat", WAT)]);
    let e = pack(d.path()).unwrap_err().to_string();
    assert!(e.contains("manifest.toml"), "{e}");
}

/// A Rust crate is built for wasm32 with a declared memory maximum (rustc declares none
/// otherwise, and validation refuses a memory without one).
#[test]
fn rust_crate_is_built_with_a_memory_maximum() {
    let manifest = MANIFEST.to_string() + "[limits]\nmemory_pages = 20\n";
    let d = dir_with(&[
        ("manifest.toml", &manifest),
        (
            "Cargo.toml",
            "[package]\nname = \"guest\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[lib]\ncrate-type = [\"cdylib\"]\n\n[workspace]\n",
        ),
        (
            "src/lib.rs",
            "#[unsafe(no_mangle)]\npub extern \"C\" fn sf_init() -> i32 { 0 }\n",
        ),
        ("views/index.xml", "<view/>"),
    ]);
    let p = pack(d.path()).unwrap();
    let wasm = p.logic();
    assert!(wasm.starts_with(b"\0asm"));
    // The memory section (id 5): one memory, flags 0x01 (has max), min, max = 20.
    let memory_section = wasm
        .windows(2)
        .position(|w| w == [5, 4] || w == [5, 5])
        .expect("memory section");
    let sec = &wasm[memory_section..];
    assert_eq!(sec[2], 1, "one memory");
    assert_eq!(sec[3], 1, "flags: has a maximum");
    assert_eq!(sec[5], 20, "maximum = memory_pages");
}

/// Makes `dir/entry` a symbolic link to `target` and expects `pack` to refuse it: a
/// [`PackageError::Source`] that names the link and says to copy the file in.
#[cfg(unix)]
fn refused_as_link(dir: &Path, entry: &str, target: &Path) {
    let link = dir.join(entry);
    std::os::unix::fs::symlink(target, &link).unwrap();
    let e = pack(dir).unwrap_err();
    assert!(matches!(e, PackageError::Source { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains(&format!("{} is a symbolic link", link.display()))
            && text.contains("copy the file in instead"),
        "{text}"
    );
}

/// The author's private directory that a link would pull in: a valid view and a secret.
#[cfg(unix)]
fn private_dir() -> tempfile::TempDir {
    dir_with(&[("index.xml", "<view/>"), ("private.txt", "secret")])
}

#[cfg(unix)]
#[test]
fn a_symlinked_assets_directory_is_refused() {
    let outside = private_dir();
    let d = dir_with(&[
        ("manifest.toml", MANIFEST),
        ("logic.wat", WAT),
        ("views/index.xml", "<view/>"),
    ]);
    refused_as_link(d.path(), "assets", outside.path());
}

#[cfg(unix)]
#[test]
fn a_symlinked_views_directory_is_refused() {
    // The linked directory holds exactly the view the manifest lists: followed, it would pack.
    let outside = private_dir();
    fs::remove_file(outside.path().join("private.txt")).unwrap();
    let d = dir_with(&[("manifest.toml", MANIFEST), ("logic.wat", WAT)]);
    refused_as_link(d.path(), "views", outside.path());
}

#[cfg(unix)]
#[test]
fn a_symlinked_manifest_is_refused() {
    let outside = dir_with(&[("manifest.toml", MANIFEST)]);
    let d = dir_with(&[("logic.wat", WAT), ("views/index.xml", "<view/>")]);
    refused_as_link(
        d.path(),
        "manifest.toml",
        &outside.path().join("manifest.toml"),
    );
}

#[cfg(unix)]
#[test]
fn a_symlinked_logic_source_is_refused_even_dangling() {
    let outside = dir_with(&[("logic.wat", WAT), ("Cargo.toml", "[package]\n")]);
    for entry in ["logic.wat", "logic.wasm", "Cargo.toml"] {
        let d = dir_with(&[("manifest.toml", MANIFEST), ("views/index.xml", "<view/>")]);
        refused_as_link(d.path(), entry, &outside.path().join(entry));
    }
    // A dangling link is refused too, not taken for "no logic.wat" beside a real logic.wasm.
    let d = dir_with(&[("manifest.toml", MANIFEST), ("views/index.xml", "<view/>")]);
    fs::write(d.path().join("logic.wasm"), wat::parse_str(WAT).unwrap()).unwrap();
    refused_as_link(d.path(), "logic.wat", &outside.path().join("absent.wat"));
}

#[test]
fn a_file_where_views_or_assets_should_be_is_refused() {
    for entry in ["views", "assets"] {
        let d = dir_with(&[
            ("manifest.toml", MANIFEST),
            ("logic.wat", WAT),
            (entry, "not a directory"),
        ]);
        let e = pack(d.path()).unwrap_err().to_string();
        assert!(e.contains(&format!("{entry} is not a directory")), "{e}");
    }
}
