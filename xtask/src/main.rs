//! `cargo xtask`: repository tasks, thin over the sandframe libraries
//! (keygen, pack, sign, verify, inspect, defs, fuzz, bench, js-engine, ci).
//!
//! Exit codes, the same as the `sandframe` CLI's for the same outcome
//! (`sandframe_package::exit`): 0 success; 1 an internal or environment error (a tool that
//! would not start, a failed fuzz or bench run, output that could not be written); 2 bad
//! arguments or an input file that cannot be read; 3 a package rejected for what it holds
//! (tampered, malformed, a bad signature); 5 denied (an untrusted or revoked publisher).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use clap::{Parser, Subcommand};
use sandframe_package::{Package, PackageError, PublicKey, SecretKey, TrustStore, exit, source};
use sandframe_validate::{Definitions, ValidateError};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "sandframe repository tasks", version)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Make a publisher key pair: DIR/publisher.key (secret, 0600) and DIR/publisher.pub.
    Keygen {
        /// Directory to write the two files into (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// Replace an existing key pair (the old secret key is lost).
        #[arg(long)]
        force: bool,
    },
    /// Build and sign a package from a source directory.
    Pack {
        /// The source directory (manifest.toml, logic.wasm|logic.wat|Cargo.toml, views/, assets/).
        src: PathBuf,
        /// The publisher's secret key file.
        #[arg(long)]
        key: PathBuf,
        /// Where to write the .sfpkg.
        #[arg(long)]
        out: PathBuf,
    },
    /// Re-sign an existing package with another key (a key rotation).
    Sign {
        /// The package to re-sign; its signature is checked first.
        package: PathBuf,
        /// The new publisher's secret key file.
        #[arg(long)]
        key: PathBuf,
        /// Where to write the re-signed .sfpkg.
        #[arg(long)]
        out: PathBuf,
    },
    /// Check a package's signature, digests and publisher; exit 0 only if all hold.
    Verify {
        /// The package.
        package: PathBuf,
        /// A trusted publisher: a publisher.pub file or a trust store (TOML). Repeatable.
        #[arg(long, required = true)]
        trust: Vec<PathBuf>,
    },
    /// Print a package's manifest, files and digests without trusting it.
    Inspect {
        /// The package.
        package: PathBuf,
    },
    /// Sign a security definitions set (TOML) with a definitions key, for hosts that trust it.
    Defs {
        /// The definitions source (TOML: version, blocked_digests, revoked_publishers,
        /// blocked_patterns, blocked_exports).
        src: PathBuf,
        /// The definitions secret key file (made by keygen; keep it apart from publisher keys).
        #[arg(long)]
        key: PathBuf,
        /// Where to write the signed definitions.
        #[arg(long)]
        out: PathBuf,
    },
    /// Run one fuzz target (cargo-fuzz; a sanitizer where nightly is present).
    Fuzz {
        /// The target, e.g. package_parse (see fuzz/fuzz_targets).
        target: String,
        /// How long to run.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
    },
    /// Run the benchmarks (criterion; each figure beside its baseline from the same run).
    Bench {
        /// One benchmark (install, compile_caps, runtime, runaway, launch, home, storage,
        /// monitor, render, fetch, js, js_density, handler_fuel, extism); all but extism when
        /// omitted.
        name: Option<String>,
    },
    /// Rebuild the JavaScript engine guest (crates/js-engine) and put it where the runtime
    /// carries it (crates/runtime/js/engine.wasm), reproducibly: the same sources, toolchain
    /// and clang give the same bytes. Needs clang (Debian: apt-get install clang).
    JsEngine {
        /// Only check: fail (exit 1) if the rebuilt bytes differ from the checked-in ones.
        #[arg(long)]
        check: bool,
    },
    /// Run what CI runs (.ci/run).
    Ci,
}

/// A failed task: its message and exit code.
struct Failure {
    code: u8,
    message: String,
}

impl From<PackageError> for Failure {
    fn from(e: PackageError) -> Self {
        Failure {
            code: e.exit_code(),
            message: e.to_string(),
        }
    }
}

fn validate_failure(e: ValidateError) -> Failure {
    Failure {
        code: e.exit_code(),
        message: e.to_string(),
    }
}

/// An environment that failed (a tool that would not start, output that could not be
/// written): exit 1.
fn env_failure(message: String) -> Failure {
    Failure {
        code: exit::INTERNAL,
        message,
    }
}

/// An input file that cannot be read or is not what it should be: exit 2.
fn input_failure(message: String) -> Failure {
    Failure {
        code: exit::USAGE,
        message,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut out = std::io::stdout().lock();
    match run(cli.command, &mut out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            let _ = out.flush();
            eprintln!("error: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

fn run(cmd: Cmd, out: &mut impl Write) -> Result<(), Failure> {
    let w =
        |r: std::io::Result<()>| r.map_err(|e| env_failure(format!("cannot write output: {e}")));
    match cmd {
        Cmd::Keygen { out: dir, force } => {
            let key = SecretKey::generate()?;
            let (secret, public) = sandframe_package::write_key_pair(&dir, &key, force)?;
            w(writeln!(
                out,
                "wrote {} (secret, mode 0600) and {}",
                secret.display(),
                public.display()
            ))?;
            w(writeln!(out, "publisher {}", key.public_key()))
        }
        Cmd::Pack {
            src,
            key,
            out: dest,
        } => {
            let key = SecretKey::from_file_text(&read(&key)?)?;
            let (bytes, p) = source::pack(&src, &key, |l| eprintln!("xtask: {l}"))?;
            write_file(&dest, &bytes)?;
            w(writeln!(
                out,
                "{}",
                source::packed_summary(&p, bytes.len(), &dest)
            ))
        }
        Cmd::Sign {
            package,
            key,
            out: dest,
        } => {
            let old = Package::parse(&read(&package)?)?;
            old.verify_signature()?;
            let key = SecretKey::from_file_text(&read(&key)?)?;
            let bytes = old.to_contents().sign(&key)?;
            write_file(&dest, &bytes)?;
            w(writeln!(
                out,
                "re-signed {} {}: publisher {} -> {}",
                old.manifest().id(),
                old.manifest().version(),
                old.publisher(),
                key.public_key()
            ))
        }
        Cmd::Verify { package, trust } => {
            let mut store = TrustStore::new();
            for t in &trust {
                load_trust(&mut store, t)?;
            }
            let p = Package::parse(&read(&package)?)?;
            p.verify_signature()?;
            let name = store.check(p.publisher())?;
            w(writeln!(out, "valid"))?;
            w(writeln!(out, "app        {}", p.manifest().id()))?;
            w(writeln!(out, "version    {}", p.manifest().version()))?;
            w(writeln!(
                out,
                "publisher  {} ({})",
                p.publisher(),
                shown(name)
            ))?;
            w(writeln!(out, "digest     blake3:{}", p.digest()))
        }
        Cmd::Inspect { package } => {
            let p = Package::parse(&read(&package)?)?;
            let sig = match p.verify_signature() {
                Ok(()) => {
                    "valid for the embedded key (publisher not checked against any trust store)"
                        .to_string()
                }
                Err(e) => format!("INVALID: {e}"),
            };
            w(writeln!(out, "package    {}", package.display()))?;
            w(writeln!(out, "digest     blake3:{}", p.digest()))?;
            w(writeln!(out, "publisher  {}", p.publisher()))?;
            w(writeln!(out, "signature  {sig}"))?;
            w(writeln!(out, "--- manifest.toml (untrusted) ---"))?;
            let text = String::from_utf8_lossy(p.manifest_bytes());
            for line in text.lines() {
                w(writeln!(out, "{}", shown(line)))?;
            }
            w(writeln!(out, "--- files ---"))?;
            for (path, digest, bytes) in p.files() {
                w(writeln!(out, "{digest}  {:>9}  {path}", bytes.len()))?;
            }
            Ok(())
        }
        Cmd::Defs {
            src,
            key,
            out: dest,
        } => {
            let text = String::from_utf8(read(&src)?)
                .map_err(|_| input_failure(format!("{} is not UTF-8", src.display())))?;
            let defs = Definitions::from_toml(&text).map_err(validate_failure)?;
            let key = SecretKey::from_file_text(&read(&key)?)?;
            let bytes = defs.sign(&key).map_err(validate_failure)?;
            write_file(&dest, &bytes)?;
            w(writeln!(
                out,
                "signed definitions version {} -> {}\nsigner {}",
                defs.version(),
                dest.display(),
                key.public_key()
            ))
        }
        Cmd::Fuzz { target, seconds } => fuzz(&target, seconds, out),
        Cmd::Bench { name } => {
            let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
            cmd.args(["bench", "-p", "sandframe-bench"])
                .current_dir(repo_root());
            if let Some(name) = name {
                // The comparison with Extism builds a second engine: only when asked for.
                if name == "extism" {
                    cmd.args(["--features", "extism"]);
                }
                cmd.args(["--bench", &name]);
            }
            let status = cmd
                .status()
                .map_err(|e| env_failure(format!("cannot run cargo bench: {e}")))?;
            exit_status(status, "benchmarks")
        }
        Cmd::JsEngine { check } => js_engine(check, out),
        Cmd::Ci => {
            let status = Command::new("bash")
                .arg(repo_root().join(".ci/run"))
                .status()
                .map_err(|e| env_failure(format!("cannot run .ci/run: {e}")))?;
            exit_status(status, "CI")
        }
    }
}

/// The wasm memory cap the engine is linked with (16 MiB, the validator's default cap); a
/// host clamps it lower for an app that asks for less.
const JS_ENGINE_MAX_MEMORY: u64 = 16 << 20;

/// Where the engine is built: always the same absolute path, since cargo's hashes of path
/// packages (and so the order of the linked code) depend on where they sit.
const JS_ENGINE_BUILD_DIR: &str = "/tmp/sandframe-js-engine-build";

/// Copies `from` into `to`, leaving out `target/` directories.
fn copy_tree(from: &Path, to: &Path) -> Result<(), Failure> {
    let io = |what: &Path, e: std::io::Error| env_failure(format!("{}: {e}", what.display()));
    fs::create_dir_all(to).map_err(|e| io(to, e))?;
    for entry in fs::read_dir(from).map_err(|e| io(from, e))? {
        let entry = entry.map_err(|e| io(from, e))?;
        let path = entry.path();
        let dest = to.join(entry.file_name());
        let kind = entry.file_type().map_err(|e| io(&path, e))?;
        if kind.is_dir() {
            if entry.file_name() != "target" {
                copy_tree(&path, &dest)?;
            }
        } else if kind.is_file() {
            fs::copy(&path, &dest).map_err(|e| io(&path, e))?;
        }
    }
    Ok(())
}

/// The engine's sources (it, the SDK and the contracts crate, and the workspace manifest
/// they inherit from, trimmed to those two) copied to [`JS_ENGINE_BUILD_DIR`]; the engine's
/// directory there.
fn stage_js_engine(root: &Path) -> Result<PathBuf, Failure> {
    let stage = PathBuf::from(JS_ENGINE_BUILD_DIR);
    let keep_target = stage.join("crates/js-engine/target");
    // Sources are replaced; the build cache is kept.
    for dir in ["crates/core", "crates/sdk"] {
        let _ = fs::remove_dir_all(stage.join(dir));
        copy_tree(&root.join(dir), &stage.join(dir))?;
    }
    for sub in ["src", "types"] {
        let _ = fs::remove_dir_all(stage.join("crates/js-engine").join(sub));
    }
    fs::create_dir_all(&keep_target)
        .map_err(|e| env_failure(format!("{}: {e}", keep_target.display())))?;
    copy_tree(
        &root.join("crates/js-engine"),
        &stage.join("crates/js-engine"),
    )?;
    let manifest = fs::read_to_string(root.join("Cargo.toml"))
        .map_err(|e| env_failure(format!("Cargo.toml: {e}")))?;
    let trimmed: String = manifest
        .lines()
        .filter(|l| {
            !l.starts_with("sandframe-")
                || l.starts_with("sandframe-core ")
                || l.starts_with("sandframe-sdk ")
        })
        .map(|l| {
            if l.starts_with("members = ") {
                "members = [\"crates/core\", \"crates/sdk\"]"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    fs::write(stage.join("Cargo.toml"), trimmed + "\n")
        .map_err(|e| env_failure(format!("{}: {e}", stage.display())))?;
    Ok(stage.join("crates/js-engine"))
}

/// Fails, saying how to mend it, when the toolchain has no standard library for wasm32
/// (a fresh machine whose rustup installed the channel without its targets).
fn wasm32_target_installed() -> Result<(), Failure> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| PathBuf::from(s.trim()))
        .ok_or_else(|| env_failure("cannot run rustc --print sysroot".into()))?;
    if sysroot
        .join("lib/rustlib/wasm32-unknown-unknown/lib")
        .is_dir()
    {
        Ok(())
    } else {
        Err(env_failure(format!(
            "rebuilding the JS engine needs the wasm32-unknown-unknown target, which the toolchain at {} lacks: \
             run `rustup target add wasm32-unknown-unknown` (rust-toolchain.toml lists it; `rustup toolchain install` adds it)",
            sysroot.display()
        )))
    }
}

fn js_engine(check: bool, out: &mut impl Write) -> Result<(), Failure> {
    let root = repo_root();
    let crate_dir = stage_js_engine(&root)?;
    let checked_in = root.join("crates/runtime/js/engine.wasm");
    let record = root.join("crates/runtime/js/engine.toml");
    let cc = std::env::var("CC_wasm32_unknown_unknown").unwrap_or_else(|_| "clang".into());
    let clang = Command::new(&cc)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|v| v.lines().next().map(str::to_owned))
        .ok_or_else(|| {
            env_failure(format!(
                "rebuilding the JS engine needs clang for wasm32 (QuickJS is C), and {cc:?} does not run: \
                 install it (Debian: apt-get install clang) or set CC_wasm32_unknown_unknown. \
                 Nothing else needs clang: the engine's bytes are checked in."
            ))
        })?;
    wasm32_target_installed()?;
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from("/nonexistent"));
    // Paths are remapped so that the bytes do not depend on where the repository or cargo's
    // registry sit; the memory maximum is the one the validator expects.
    let rustflags = format!(
        "-C link-arg=--max-memory={JS_ENGINE_MAX_MEMORY} --remap-path-prefix={JS_ENGINE_BUILD_DIR}=/sandframe --remap-path-prefix={}=/cargo",
        cargo_home.display()
    );
    let cflags = format!(
        "-ffile-prefix-map={JS_ENGINE_BUILD_DIR}=/sandframe -ffile-prefix-map={}=/cargo",
        cargo_home.display()
    );
    let target_dir = crate_dir.join("target");
    let _ = writeln!(
        out,
        "building crates/js-engine in {JS_ENGINE_BUILD_DIR} with {clang}"
    );
    let _ = out.flush();
    let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args([
            "build",
            "--release",
            "--locked",
            "--target",
            "wasm32-unknown-unknown",
        ])
        .current_dir(&crate_dir)
        .env("RUSTFLAGS", &rustflags)
        .env("CFLAGS_wasm32_unknown_unknown", &cflags)
        .env("CC_wasm32_unknown_unknown", &cc)
        .env("CARGO_TARGET_DIR", &target_dir)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .status()
        .map_err(|e| env_failure(format!("cannot run cargo build: {e}")))?;
    exit_status(status, "the JS engine build")?;
    let built_path = target_dir.join("wasm32-unknown-unknown/release/sandframe_js_engine.wasm");
    let built = fs::read(&built_path)
        .map_err(|e| env_failure(format!("cannot read {}: {e}", built_path.display())))?;
    let digest = blake3::hash(&built).to_hex().to_string();
    let rquickjs = fs::read_to_string(root.join("crates/js-engine/Cargo.lock"))
        .ok()
        .and_then(|lock| {
            lock.split("[[package]]")
                .find(|p| p.contains("name = \"rquickjs\""))
                .and_then(|p| {
                    p.lines()
                        .find(|l| l.starts_with("version"))
                        .map(str::to_owned)
                })
        })
        .unwrap_or_default();
    if check {
        let current = fs::read(&checked_in).unwrap_or_default();
        if current != built {
            return Err(env_failure(format!(
                "the rebuilt JS engine (blake3 {digest}, {} bytes) differs from crates/runtime/js/engine.wasm (blake3 {}, {} bytes): \
                 run `cargo xtask js-engine` and commit the result with its new digest, or find what makes the build differ \
                 (clang here: {clang}; the record: crates/runtime/js/engine.toml)",
                built.len(),
                blake3::hash(&current).to_hex(),
                current.len()
            )));
        }
        let _ = writeln!(
            out,
            "reproduced: crates/runtime/js/engine.wasm is blake3 {digest} ({} bytes)",
            built.len()
        );
        return Ok(());
    }
    fs::write(&checked_in, &built)
        .map_err(|e| env_failure(format!("cannot write {}: {e}", checked_in.display())))?;
    let text = format!(
        "# Written by `cargo xtask js-engine`: what built crates/runtime/js/engine.wasm.\n\
         blake3 = \"{digest}\"\nbytes = {}\nclang = {clang:?}\nrquickjs = {:?}\nmax_memory = {JS_ENGINE_MAX_MEMORY}\n",
        built.len(),
        rquickjs.trim_start_matches("version = ").trim_matches('"'),
    );
    fs::write(&record, text)
        .map_err(|e| env_failure(format!("cannot write {}: {e}", record.display())))?;
    let _ = writeln!(
        out,
        "wrote crates/runtime/js/engine.wasm ({} bytes, blake3 {digest}); set JS_ENGINE_DIGEST in crates/runtime/src/js.rs to it",
        built.len()
    );
    Ok(())
}

fn fuzz(target: &str, seconds: u64, out: &mut impl Write) -> Result<(), Failure> {
    let root = repo_root();
    let fuzz_dir = root.join("fuzz");
    if !target
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        || !fuzz_dir
            .join("fuzz_targets")
            .join(format!("{target}.rs"))
            .is_file()
    {
        return Err(input_failure(format!(
            "no fuzz target {target:?}; see fuzz/fuzz_targets/"
        )));
    }
    let nightly = Command::new("rustup")
        .args(["run", "nightly", "rustc", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    let mut cmd = Command::new("cargo");
    if nightly {
        cmd.arg("+nightly");
    }
    cmd.args(["fuzz", "run"]);
    let how = if nightly {
        "with AddressSanitizer (nightly toolchain found)"
    } else {
        cmd.args(["-s", "none"]);
        "WITHOUT a sanitizer (-s none): no nightly toolchain; install one for ASan"
    };
    let _ = writeln!(out, "fuzzing {target} for {seconds} s {how}");
    let _ = out.flush();
    cmd.arg(target)
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .current_dir(&fuzz_dir);
    let status = cmd.status().map_err(|e| {
        env_failure(format!(
            "cannot run cargo fuzz (cargo install cargo-fuzz --version 0.13.2 --locked): {e}"
        ))
    })?;
    exit_status(status, "fuzzing")
}

fn exit_status(status: std::process::ExitStatus, what: &str) -> Result<(), Failure> {
    if status.success() {
        Ok(())
    } else {
        Err(Failure {
            code: exit::INTERNAL,
            message: format!("{what} failed ({status})"),
        })
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Adds a `publisher.pub` file or a whole trust store to `store`.
fn load_trust(store: &mut TrustStore, path: &Path) -> Result<(), Failure> {
    let bytes = read(path)?;
    if bytes.starts_with(sandframe_package::PUBLIC_KEY_LABEL.as_bytes()) {
        let key = PublicKey::from_file_text(&bytes)?;
        let name = path.display().to_string();
        store.trust(key, name);
    } else {
        store.merge(TrustStore::from_toml(&bytes)?);
    }
    Ok(())
}

/// Untrusted text made safe for a terminal: control characters (escape sequences) are shown
/// escaped, everything else as is.
fn shown(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() && c != '\t' {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

fn read(path: &Path) -> Result<Vec<u8>, Failure> {
    fs::read(path).map_err(|e| input_failure(format!("{}: {e}", path.display())))
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    fs::write(path, bytes).map_err(|e| env_failure(format!("{}: {e}", path.display())))
}
