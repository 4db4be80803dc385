//! Embeds what `sandframe demo` and `sandframe new` need into the binary, so that an installed
//! `sandframe` works outside the checkout: the examples' sources and the guest SDK's (with the
//! contracts crate it depends on, and the workspace manifest they inherit from). Build output
//! (`target/`) and tests are left out. The list is generated into `$OUT_DIR/embedded.rs`.

#![allow(clippy::panic)] // a build script: a tree it cannot read must stop the build

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The trees embedded, relative to the repository root.
const ROOTS: [&str; 8] = [
    "examples/hello",
    "examples/counter",
    "examples/counter-js",
    "examples/profile-js",
    "examples/profile",
    "examples/notes",
    "crates/sdk",
    "crates/core",
];

fn walk(root: &Path, rel: &Path, out: &mut Vec<(String, PathBuf)>) {
    let dir = root.join(rel);
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("build.rs: cannot list {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        if name == "target" || name == "tests" || name.starts_with('.') {
            continue;
        }
        let rel = rel.join(&name);
        let Ok(kind) = e.file_type() else { continue };
        // Each file and each directory below the roots (cargo scans a directory for changes,
        // so a root itself, which holds `target/`, is never named: building an example must
        // not rebuild the CLI).
        println!("cargo:rerun-if-changed={}", root.join(&rel).display());
        if kind.is_dir() {
            walk(root, &rel, out);
        } else if kind.is_file() {
            out.push((rel.to_string_lossy().replace('\\', "/"), root.join(&rel)));
        }
    }
}

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let root = manifest_dir.join("../..");
    let mut files = Vec::new();
    for r in ROOTS {
        walk(&root, Path::new(r), &mut files);
    }
    println!(
        "cargo:rerun-if-changed={}",
        root.join("Cargo.toml").display()
    );
    files.push(("Cargo.toml".into(), root.join("Cargo.toml")));
    let mut code = String::from(
        "/// Every embedded file: its path from the repository root, and its bytes.\n\
         pub(crate) static FILES: &[(&str, &[u8])] = &[\n",
    );
    for (rel, path) in &files {
        let abs = path
            .canonicalize()
            .unwrap_or_else(|e| panic!("build.rs: {}: {e}", path.display()));
        let _ = writeln!(
            code,
            "    ({rel:?}, include_bytes!({:?})),",
            abs.display().to_string()
        );
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default()).join("embedded.rs");
    std::fs::write(&out, code).unwrap_or_else(|e| panic!("build.rs: {}: {e}", out.display()));
}
