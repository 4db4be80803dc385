//! `cargo xtask`: repository tasks, thin over the sandframe libraries
//! (keygen, pack, sign, verify, inspect, defs, fuzz, bench, ci).
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
        /// monitor, render, fetch, extism); all but extism when omitted.
        name: Option<String>,
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
        Cmd::Ci => {
            let status = Command::new("bash")
                .arg(repo_root().join(".ci/run"))
                .status()
                .map_err(|e| env_failure(format!("cannot run .ci/run: {e}")))?;
            exit_status(status, "CI")
        }
    }
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
