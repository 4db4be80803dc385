//! Reading an author's source directory into [`PackageContents`].
//!
//! The layout (see `docs/format.md`):
//!
//! ```text
//! manifest.toml
//! logic.wasm | logic.wat | Cargo.toml (a Rust crate built for wasm32-unknown-unknown)
//!   | logic.js (with runtime = "js@1" in the manifest: run by the host's JS engine)
//! views/<name>.xml
//! assets/**            (optional)
//! ```
//!
//! Symbolic links are refused wherever `pack` reads: `manifest.toml`, the logic source,
//! `views/` and `assets/` themselves and every entry under them (a link could pull the
//! author's private files into a published package). Nothing is ever read through a link:
//! each entry is looked at with `symlink_metadata`. Any file name the package path rules
//! reject is refused too. The source directory itself may be a link (the author names it).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::PackageError;
use crate::limits::{MAX_FILES, MAX_MANIFEST_BYTES, MAX_PACKAGE_BYTES, MAX_PATH_DEPTH};
use crate::{Manifest, Package, PackageContents, PackagePath, SecretKey};

/// The target Rust logic crates are built for.
pub const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// Default declared memory maximum for Rust guests whose manifest sets no `memory_pages`
/// (rustc's output declares none; the validator refuses a memory without one). 64 pages = 4 MiB.
pub const DEFAULT_RUST_MEMORY_PAGES: u32 = 64;

/// Reads `dir` into package contents: the manifest, the logic module (assembled from
/// `logic.wat` or built from a Rust crate when needed), views and assets.
///
/// It never changes a toolchain: a Rust crate whose toolchain lacks [`WASM_TARGET`] is
/// [`PackageError::MissingTarget`] ([`read_dir_adding_target`] adds it with rustup).
///
/// # Errors
/// [`PackageError::Source`] for a layout problem, [`PackageError::Wat`] or
/// [`PackageError::Build`] when the logic does not build, [`PackageError::MissingTarget`],
/// [`PackageError::Io`] for I/O, and any package rule the files break.
pub fn read_dir(dir: &Path) -> Result<PackageContents, PackageError> {
    let source_err = |reason: String| PackageError::Source {
        dir: dir.to_path_buf(),
        reason,
    };
    let manifest_bytes = read_file(&dir.join("manifest.toml"), MAX_MANIFEST_BYTES)?;
    let manifest = Manifest::parse(&manifest_bytes)?;
    let mut contents = PackageContents::new(manifest_bytes);

    let wasm = dir.join("logic.wasm");
    let wat = dir.join("logic.wat");
    let cargo = dir.join("Cargo.toml");
    let js = dir.join(PackagePath::LOGIC_JS);
    let mut present: Vec<&str> = Vec::new();
    for (path, name) in [
        (&wasm, "logic.wasm"),
        (&wat, "logic.wat"),
        (&cargo, "Cargo.toml"),
        (&js, PackagePath::LOGIC_JS),
    ] {
        if kind(path)?.is_some() {
            present.push(name);
        }
    }
    let js_app = manifest.runtime() == crate::AppRuntime::Js1;
    if js_app != (present == [PackagePath::LOGIC_JS]) {
        return Err(source_err(if js_app {
            format!(
                "runtime = \"js@1\" runs logic.js, and only it; found {}",
                if present.is_empty() {
                    "no logic".into()
                } else {
                    present.join(", ")
                }
            )
        } else if present.contains(&PackagePath::LOGIC_JS) {
            "logic.js is run only with runtime = \"js@1\" in manifest.toml; add it, or remove logic.js".into()
        } else if present.is_empty() {
            "no logic: add logic.wasm, logic.wat, a Rust crate (Cargo.toml), or logic.js with runtime = \"js@1\"".into()
        } else {
            format!(
                "more than one logic source ({}); keep exactly one",
                present.join(", ")
            )
        }));
    }
    if js_app {
        let script = read_file(&js, crate::limits::MAX_SCRIPT_BYTES)?;
        contents.add_file(PackagePath::LOGIC_JS, script)?;
    }
    let logic = match present.as_slice() {
        [_] if js_app => None,
        ["logic.wasm"] => Some(read_file(&wasm, MAX_PACKAGE_BYTES)?),
        ["logic.wat"] => {
            let text = read_file(&wat, MAX_PACKAGE_BYTES)?;
            Some(
                wat::parse_bytes(&text)
                    .map_err(|e| PackageError::Wat(e.to_string()))?
                    .into_owned(),
            )
        }
        ["Cargo.toml"] => Some(build_rust(
            dir,
            manifest
                .limits()
                .memory_pages
                .unwrap_or(DEFAULT_RUST_MEMORY_PAGES),
        )?),
        [] => {
            return Err(source_err(
                "no logic: add logic.wasm, logic.wat or a Rust crate (Cargo.toml)".into(),
            ));
        }
        several => {
            return Err(source_err(format!(
                "more than one logic source ({}); keep exactly one",
                several.join(", ")
            )));
        }
    };
    if let Some(logic) = logic {
        contents.add_file(PackagePath::LOGIC, logic)?;
    }

    let views = dir.join("views");
    if top_dir(&views)? {
        for entry in list(&views)? {
            let (name, path) = entry;
            if path
                .symlink_metadata()
                .map_err(|e| PackageError::io(&path, e))?
                .is_dir()
            {
                return Err(source_err(format!(
                    "views/{name} is a directory; views are flat"
                )));
            }
            contents.add_file(
                &format!("views/{name}"),
                read_file(&path, MAX_PACKAGE_BYTES)?,
            )?;
        }
    }
    let assets = dir.join("assets");
    if top_dir(&assets)? {
        add_assets(&mut contents, &assets, "assets", 1)?;
    }
    if contents.files.len() > MAX_FILES {
        return Err(PackageError::TooMany {
            what: "files",
            count: contents.files.len(),
            max: MAX_FILES,
        });
    }
    Ok(contents)
}

fn add_assets(
    contents: &mut PackageContents,
    dir: &Path,
    prefix: &str,
    depth: usize,
) -> Result<(), PackageError> {
    if depth >= MAX_PATH_DEPTH {
        return Err(PackageError::Source {
            dir: dir.to_path_buf(),
            reason: format!("assets nest deeper than {MAX_PATH_DEPTH} levels"),
        });
    }
    for (name, path) in list(dir)? {
        let meta = path
            .symlink_metadata()
            .map_err(|e| PackageError::io(&path, e))?;
        let rel = format!("{prefix}/{name}");
        if meta.is_dir() {
            add_assets(contents, &path, &rel, depth + 1)?;
        } else {
            contents.add_file(&rel, read_file(&path, MAX_PACKAGE_BYTES)?)?;
        }
        if contents.files.len() > MAX_FILES {
            return Err(PackageError::TooMany {
                what: "files",
                count: contents.files.len(),
                max: MAX_FILES,
            });
        }
    }
    Ok(())
}

/// The refusal of the symbolic link at `path`.
fn link_refused(path: &Path) -> PackageError {
    PackageError::Source {
        dir: path.parent().unwrap_or(path).to_path_buf(),
        reason: format!(
            "{} is a symbolic link; copy the file in instead (pack never follows a link: it \
             could pull files from outside the source directory into a signed package)",
            path.display()
        ),
    }
}

/// What is at `path`, without following a link: `None` if nothing is; a symbolic link
/// (dangling or not) is refused.
fn kind(path: &Path) -> Result<Option<fs::FileType>, PackageError> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => Err(link_refused(path)),
        Ok(meta) => Ok(Some(meta.file_type())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(PackageError::io(path, e)),
    }
}

/// Whether the optional top-level directory `path` (`views/`, `assets/`) is there; a link or
/// a file in its place is refused.
fn top_dir(path: &Path) -> Result<bool, PackageError> {
    match kind(path)? {
        None => Ok(false),
        Some(k) if k.is_dir() => Ok(true),
        Some(_) => Err(PackageError::Source {
            dir: path.parent().unwrap_or(path).to_path_buf(),
            reason: format!("{} is not a directory", path.display()),
        }),
    }
}

/// The entries of `dir` as (UTF-8 name, path), refusing symlinks and non-UTF-8 names.
fn list(dir: &Path) -> Result<Vec<(String, PathBuf)>, PackageError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| PackageError::io(dir, e))? {
        let entry = entry.map_err(|e| PackageError::io(dir, e))?;
        let path = entry.path();
        let file_type = entry.file_type().map_err(|e| PackageError::io(&path, e))?;
        if file_type.is_symlink() {
            return Err(link_refused(&path));
        }
        let name = entry
            .file_name()
            .into_string()
            .map_err(|n| PackageError::Source {
                dir: dir.to_path_buf(),
                reason: format!("file name {n:?} is not UTF-8; rename it"),
            })?;
        out.push((name, path));
    }
    out.sort();
    Ok(out)
}

/// Reads a regular file of at most `max` bytes.
fn read_file(path: &Path, max: usize) -> Result<Vec<u8>, PackageError> {
    let meta = fs::symlink_metadata(path).map_err(|e| PackageError::io(path, e))?;
    if meta.file_type().is_symlink() {
        return Err(link_refused(path));
    }
    if !meta.is_file() {
        return Err(PackageError::Source {
            dir: path.parent().unwrap_or(path).to_path_buf(),
            reason: format!("{} is not a regular file", path.display()),
        });
    }
    if meta.len() > max as u64 {
        return Err(PackageError::TooLarge {
            what: path.display().to_string(),
            size: meta.len(),
            max: max as u64,
        });
    }
    fs::read(path).map_err(|e| PackageError::io(path, e))
}

/// Builds the Rust crate in `dir` for `wasm32-unknown-unknown` (release, `cdylib`), linking
/// with a declared memory maximum of `memory_pages` pages, and returns the module bytes.
fn build_rust(dir: &Path, memory_pages: u32) -> Result<Vec<u8>, PackageError> {
    if let Some(toolchain) = missing_target(dir) {
        return Err(PackageError::MissingTarget {
            target: WASM_TARGET,
            toolchain,
            dir: dir.to_path_buf(),
        });
    }
    let abs = std::path::absolute(dir).map_err(|e| PackageError::io(dir, e))?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let max_bytes = u64::from(memory_pages) * 65_536;
    let output = Command::new(&cargo)
        .arg("rustc")
        .arg("--release")
        .args([
            "--target",
            "wasm32-unknown-unknown",
            "--crate-type",
            "cdylib",
        ])
        .arg("--manifest-path")
        .arg(abs.join("Cargo.toml"))
        // As `cargo build` run there: the crate's own `.cargo/config.toml` applies.
        .current_dir(&abs)
        .args(["--message-format", "json-render-diagnostics", "--quiet"])
        .arg("--")
        .arg("-C")
        .arg(format!("link-arg=--max-memory={max_bytes}"))
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .map_err(|e| {
            PackageError::Build(format!("cannot run {}: {e}", Path::new(&cargo).display()))
        })?;
    if !output.status.success() {
        return Err(PackageError::Build(format!(
            "cargo failed ({}); its output:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    let mut wasm: Option<PathBuf> = None;
    for line in output.stdout.split(|b| *b == b'\n') {
        let Ok(msg) = serde_json::from_slice::<serde_json::Value>(line) else {
            continue;
        };
        if msg.get("reason").and_then(|r| r.as_str()) != Some("compiler-artifact") {
            continue;
        }
        let files = msg.get("filenames").and_then(|f| f.as_array());
        for f in files.into_iter().flatten().filter_map(|f| f.as_str()) {
            if f.ends_with(".wasm") {
                wasm = Some(PathBuf::from(f));
            }
        }
    }
    let wasm = wasm.ok_or_else(|| {
        PackageError::Build("cargo produced no .wasm; is the crate a library?".into())
    })?;
    read_file(&wasm, MAX_PACKAGE_BYTES)
}

/// The `rustc` cargo will use for the crate in `dir` (`$RUSTC`, else rustup's proxy on
/// `PATH`, which resolves the toolchain for `dir` as cargo's does).
fn rustc(dir: &Path) -> Command {
    let mut cmd = Command::new(std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into()));
    cmd.current_dir(dir);
    cmd
}

/// The toolchain resolved for `dir`, if it has no standard library for [`WASM_TARGET`];
/// `None` if it has one, or if `rustc` cannot say (cargo then reports what is wrong).
fn missing_target(dir: &Path) -> Option<String> {
    let out = rustc(dir)
        .args(["--print", "target-libdir", "--target", WASM_TARGET])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let libdir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if libdir.is_dir() {
        return None;
    }
    Some(toolchain(dir))
}

/// rustup's name for the toolchain resolved for `dir`, else the version `rustc --version`
/// gives (`1.95.0`).
fn toolchain(dir: &Path) -> String {
    let rustup = Command::new(rustup_program())
        .args(["show", "active-toolchain"])
        .current_dir(dir)
        .output();
    if let Ok(out) = rustup
        && out.status.success()
        && let Some(name) = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
    {
        return name.to_owned();
    }
    rustc(dir)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            text.split_whitespace().nth(1).map(str::to_owned)
        })
        .unwrap_or_else(|| "in use".to_owned())
}

fn rustup_program() -> std::ffi::OsString {
    std::env::var_os("RUSTUP").unwrap_or_else(|| "rustup".into())
}

/// [`read_dir`], and if the crate's toolchain lacks [`WASM_TARGET`], adds it with
/// `rustup target add` (an explicit command, so it works under `RUSTUP_AUTO_INSTALL=0`) and
/// reads again, as wasm-pack does. `notify` is told, in one line, before rustup runs.
///
/// Parallel callers (several packs, parallel tests) take turns through a lock file in the
/// temporary directory, and one that finds the target added meanwhile does not run rustup.
/// The rustup run is `$RUSTUP`, else `rustup` on `PATH`.
///
/// # Errors
/// As [`read_dir`]; [`PackageError::AddTarget`] if rustup is missing or fails (the message
/// gives the command to run by hand, and says so when rustup could not reach its server).
pub fn read_dir_adding_target(
    dir: &Path,
    notify: impl FnOnce(&str),
) -> Result<PackageContents, PackageError> {
    match read_dir(dir) {
        Err(PackageError::MissingTarget { toolchain, .. }) => {
            add_target(dir, &toolchain, notify)?;
            read_dir(dir)
        }
        other => other,
    }
}

/// Adds [`WASM_TARGET`] to `toolchain` with rustup, under the lock, unless it is there by now.
fn add_target(dir: &Path, toolchain: &str, notify: impl FnOnce(&str)) -> Result<(), PackageError> {
    let by_hand = format!("rustup target add {WASM_TARGET} --toolchain {toolchain}");
    let lock_path = std::env::temp_dir().join("sandframe-rustup-target.lock");
    // Nothing is ever written to it (a link planted there changes nothing); another user's
    // lock file is opened read-only, which locks as well.
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .or_else(|_| fs::File::open(&lock_path))
        .map_err(|e| PackageError::io(&lock_path, e))?;
    lock.lock().map_err(|e| PackageError::io(&lock_path, e))?;
    if missing_target(dir).is_none() {
        return Ok(());
    }
    notify(&format!(
        "the Rust toolchain {toolchain} has no {WASM_TARGET} target: adding it ({by_hand})"
    ));
    let out = Command::new(rustup_program())
        .args(["target", "add", WASM_TARGET, "--toolchain", toolchain])
        .current_dir(dir)
        .output()
        .map_err(|e| {
            PackageError::AddTarget(format!(
                "the Rust toolchain {toolchain} has no {WASM_TARGET} target, and rustup cannot \
                 be run ({e}); install the target with `{by_hand}`, or with your toolchain's \
                 installer if it is not rustup's"
            ))
        })?;
    if out.status.success() && missing_target(dir).is_none() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let offline = [
        "could not download",
        "error sending request",
        "dns error",
        "timed out",
    ]
    .iter()
    .any(|m| stderr.to_lowercase().contains(m));
    Err(PackageError::AddTarget(format!(
        "`{by_hand}` failed ({}){}; run it by hand once it can succeed. rustup said:\n{}",
        out.status,
        if offline {
            ": rustup could not reach its server (static.rust-lang.org)"
        } else {
            ""
        },
        stderr.trim_end()
    )))
}

/// The two lines both front ends print after a [`pack`] wrote `bytes` (of `package`) to
/// `dest`: `packed <id> <version> (<n> bytes, <m> files) -> <dest>` and `digest blake3:<hex>`.
#[must_use]
pub fn packed_summary(package: &Package, bytes: usize, dest: &Path) -> String {
    format!(
        "packed {} {} ({bytes} bytes, {} files) -> {}\ndigest blake3:{}",
        package.manifest().id(),
        package.manifest().version(),
        package.files().count(),
        dest.display(),
        package.digest()
    )
}

/// `pack`, as both front ends (`sandframe pack` and `cargo xtask pack`) run it: reads the
/// source directory ([`read_dir_adding_target`], `notify` told of a target being added),
/// signs it with `key`, and checks that the result parses as a package. Returns the signed
/// bytes and the parsed package.
///
/// # Errors
/// As [`read_dir_adding_target`], [`PackageContents::sign`] and [`Package::parse`].
pub fn pack(
    dir: &Path,
    key: &SecretKey,
    notify: impl FnOnce(&str),
) -> Result<(Vec<u8>, Package), PackageError> {
    let bytes = read_dir_adding_target(dir, notify)?.sign(key)?;
    let package = Package::parse(&bytes)?;
    Ok((bytes, package))
}
