//! Everything that can go wrong reading, writing, signing or checking a package, grouped by
//! what it concerns.

use std::path::PathBuf;

/// Everything that can go wrong reading, writing, signing or checking a package.
///
/// Grouped by cause: malformed bytes, content rules, limits, cryptography and trust, and the
/// author-side source directory. Every message says what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PackageError {
    // --- malformed container ------------------------------------------------------------
    /// The bytes do not start with the package magic.
    #[error("not a sandframe package (no SFPKG header); pass a .sfpkg file made by `pack`")]
    NotAPackage,
    /// The container's format version is not one this library reads.
    #[error(
        "package format version {0} is not supported (this build reads version 1); update sandframe"
    )]
    UnsupportedVersion(u8),
    /// The container body does not decode.
    #[error("package is corrupt: {0}; re-download or re-pack it")]
    Corrupt(String),
    /// Bytes follow the container body.
    #[error("package is corrupt: {0} unexpected bytes after the end; re-download or re-pack it")]
    TrailingBytes(usize),
    /// The body decodes but is not in canonical form (it would re-encode differently).
    #[error(
        "package is not canonically encoded; it was altered or made by a faulty tool: re-pack it"
    )]
    NotCanonical,

    // --- content rules ------------------------------------------------------------------
    /// A file path breaks the path rules.
    #[error("bad path {path:?} in package: {reason}")]
    BadPath {
        /// The path (truncated, escaped by `Debug`).
        path: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// Files are not in strictly increasing path order (also catches duplicates).
    #[error("package files are out of order or duplicated at {path:?}; re-pack it")]
    Unsorted {
        /// The first path out of order.
        path: String,
    },
    /// Two paths differ only in ASCII case.
    #[error("paths {a:?} and {b:?} differ only in case; rename one")]
    CaseCollision {
        /// One path.
        a: String,
        /// The other.
        b: String,
    },
    /// A file's bytes do not match its recorded digest.
    #[error("file {path:?} does not match its digest; the package was altered")]
    DigestMismatch {
        /// The file.
        path: String,
    },
    /// The package has no `logic.wasm`.
    #[error("package has no logic.wasm; add logic.wasm, logic.wat or a Rust crate to the source")]
    MissingLogic,
    /// A `runtime = "js@1"` package without `logic.js`, or one carrying a `logic.wasm` too
    /// (or a wasm package carrying `logic.js`).
    #[error("{0}")]
    WrongLogic(String),
    /// A script that does not parse: found by the host's JavaScript engine, which parses it
    /// inside the sandbox (`sandframe pack` and `dev` run it on every JS app).
    #[error("{path}:{line}:{column}: {message}; fix it and pack again")]
    Syntax {
        /// The file.
        path: String,
        /// 1-based line.
        line: u32,
        /// 1-based column.
        column: u32,
        /// The engine's message (`SyntaxError: …`).
        message: String,
    },
    /// A script (`logic.js`) that is not UTF-8 or is over [`crate::limits::MAX_SCRIPT_BYTES`].
    #[error("{path}: {reason}")]
    BadScript {
        /// The file.
        path: String,
        /// What is wrong, and what to do.
        reason: String,
    },
    /// A file outside the allowed layout (`logic.wasm` or `logic.js`, `views/*.xml`,
    /// `assets/**`).
    #[error(
        "unexpected file {path:?}: a package holds only logic.wasm (or logic.js), views/<name>.xml and assets/**"
    )]
    UnexpectedFile {
        /// The file.
        path: String,
    },
    /// The manifest lists a view with no `views/<name>.xml`.
    #[error("manifest lists view {view:?} but views/{view}.xml is missing")]
    ViewMissing {
        /// The view name.
        view: String,
    },
    /// A `views/*.xml` file the manifest does not list.
    #[error("{path:?} is not listed in the manifest's views; list it or remove it")]
    ViewNotListed {
        /// The file.
        path: String,
    },
    /// The manifest is not valid.
    #[error("manifest.toml: {0}")]
    Manifest(String),
    /// A capability's `origins` list in `manifest.toml` is malformed.
    #[error("manifest.toml:{line}:{column}: {message}")]
    Origins {
        /// 1-based line.
        line: u32,
        /// 1-based column (in characters).
        column: u32,
        /// What is wrong and what to do.
        message: String,
    },

    /// A view template breaks the template grammar (`docs/format.md`).
    #[error("{file}: {source}")]
    Template {
        /// The template file, e.g. `views/index.xml`.
        file: String,
        /// What is wrong, with its line and column.
        #[source]
        source: crate::template::TemplateError,
    },

    // --- limits -------------------------------------------------------------------------
    /// Something is larger than its hard limit.
    #[error("{what} is {size} bytes; the limit is {max}")]
    TooLarge {
        /// What is too large.
        what: String,
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// Too many of something.
    #[error("too many {what}: {count}; the limit is {max}")]
    TooMany {
        /// What there are too many of.
        what: &'static str,
        /// How many.
        count: usize,
        /// The limit.
        max: usize,
    },

    // --- cryptography and trust ---------------------------------------------------------
    /// The signature does not verify against the package's publisher key.
    ///
    /// Opaque on purpose: it does not say which byte or why.
    #[error("signature is invalid: the package was changed after signing or signed badly")]
    SignatureInvalid,
    /// A key file or key text is malformed.
    #[error("bad key: {0}")]
    BadKey(String),
    /// A trust store is malformed.
    #[error("trust store: {0}")]
    TrustStore(String),
    /// The publisher key is not in the trust store.
    #[error(
        "publisher {key} is not trusted; add its public key to the trust store if you trust it"
    )]
    Untrusted {
        /// The publisher key, as text.
        key: String,
    },
    /// The publisher key was revoked.
    #[error("publisher {key} is revoked; the package must be re-signed by a current key")]
    Revoked {
        /// The publisher key, as text.
        key: String,
    },
    /// The system random source failed.
    #[error("the system random generator failed: {0}")]
    Random(String),

    // --- source directories (author side) -----------------------------------------------
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A key pair already exists where a new one was to be written.
    #[error(
        "{} already holds a key pair; pass --force to replace it (the old secret key is lost)",
        .0.display()
    )]
    KeyExists(PathBuf),
    /// The source directory does not have the expected layout.
    #[error("source {}: {reason}", dir.display())]
    Source {
        /// The source directory.
        dir: PathBuf,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// `logic.wat` does not assemble.
    #[error("logic.wat does not assemble: {0}")]
    Wat(String),
    /// Building a Rust logic crate failed.
    #[error("building the Rust logic crate failed: {0}")]
    Build(String),
    /// The Rust toolchain that builds the crate has no standard library for the wasm target.
    /// `read_dir` never installs one; `source::read_dir_adding_target` (what the `sandframe`
    /// command and xtask call) runs rustup for it.
    #[error(
        "the Rust toolchain {toolchain} (the one {} builds with) has no {target} target; add \
         it with `rustup target add {target} --toolchain {toolchain}`",
        dir.display()
    )]
    MissingTarget {
        /// The target, `wasm32-unknown-unknown`.
        target: &'static str,
        /// The toolchain resolved for the crate's directory (rustup's name for it, or
        /// `rustc --version` without rustup).
        toolchain: String,
        /// The crate's directory.
        dir: PathBuf,
    },
    /// Adding the wasm target with rustup failed.
    #[error("{0}")]
    AddTarget(String),
}

/// The exit codes of sandframe's front ends, the `sandframe` CLI and `cargo xtask`, for the
/// outcomes both share (docs/cli.md, "Exit codes"): one number per outcome, whichever tool
/// met it.
pub mod exit {
    /// An internal error or a broken environment (a toolchain without its target, a random
    /// source that failed, output that could not be written).
    pub const INTERNAL: u8 = 1;
    /// Bad arguments, or an input file that cannot be read or is not what it should be.
    pub const USAGE: u8 = 2;
    /// The package was rejected for what it holds (findings printed).
    pub const REJECTED: u8 = 3;
    /// Refused for who signed it: an untrusted or revoked publisher.
    pub const DENIED: u8 = 5;
}

impl PackageError {
    /// The exit code a front end ends with on this error ([`exit`]).
    pub fn exit_code(&self) -> u8 {
        match self {
            PackageError::Untrusted { .. } | PackageError::Revoked { .. } => exit::DENIED,
            PackageError::Io { .. } | PackageError::KeyExists(_) | PackageError::BadKey(_) => {
                exit::USAGE
            }
            PackageError::Random(_)
            | PackageError::MissingTarget { .. }
            | PackageError::AddTarget(_) => exit::INTERNAL,
            _ => exit::REJECTED,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        PackageError::Io {
            path: path.into(),
            source,
        }
    }
}

/// At most 100 characters of an untrusted string, for messages.
pub(crate) fn clip(s: &str) -> String {
    s.chars().take(100).collect()
}
