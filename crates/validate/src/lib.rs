//! # sandframe-validate: nothing runs that was not verified
//!
//! [`verify`] (or [`Validator::verify`]) is the only way to mint a [`VerifiedPackage`], the
//! only thing `sandframe-runtime` accepts. It runs, in order:
//!
//! 1. **Integrity and origin**, always, whatever checks a host plugs in: canonical parse, every
//!    digest, the ed25519 signature (strict), publisher trusted and not revoked (by the trust
//!    store or the definitions), package digest not blocked, and the app id not pinned to
//!    another publisher key (unless the host rotates the pin explicitly). A failure here stops
//!    verification.
//! 2. **Static analysis** of the logic module ([`FEATURES`], ABI v1 imports and exports, the
//!    [`Caps`]).
//! 3. **Capabilities**: the manifest declares only capabilities the host knows.
//! 4. **Views**: every listed template is present, UTF-8 and within its size cap.
//! 5. **Security definitions**: blocked byte patterns in data and custom sections, blocked
//!    export names.
//! 6. **Version policy**: no downgrade unless the host allows it; an update reports the
//!    capabilities it adds, which start ungranted.
//! 7. The host's own [`Check`]s.
//!
//! Every finding has a stable code (`docs/validation.md`), a severity, a location and a
//! message; any error finding rejects the package, with the whole [`Report`].
//!
//! **Invariant:** this crate does no I/O. Install state (pins, installed versions) comes in
//! through [`Registry`]; the host persists it.
//!
//! ```
//! use std::collections::BTreeMap;
//! use sandframe_package::{PackageContents, SecretKey, TrustStore};
//! use sandframe_validate::{Context, Installed, Validator};
//!
//! let key = SecretKey::from_seed(&[3; 32]);
//! let wasm = wat::parse_str(r#"(module
//!     (import "sandframe_v1" "call" (func (param i32 i32 i32 i32) (result i64)))
//!     (memory (export "memory") 1 1)
//!     (func (export "sf_init") (result i32) i32.const 0)
//!     (func (export "sf_event") (param i32) (result i32) i32.const 0))"#).unwrap();
//! let mut c = PackageContents::new(
//!     b"id = \"com.example.a\"\nname = \"A\"\nversion = \"1.0.0\"\nviews = [\"index\"]\n".to_vec());
//! c.add_file("logic.wasm", wasm)?;
//! c.add_file("views/index.xml", b"<view/>".to_vec())?;
//! let bytes = c.sign(&key)?;
//!
//! let mut trust = TrustStore::new();
//! trust.trust(key.public_key(), "Example");
//! let installed: BTreeMap<_, Installed> = BTreeMap::new();
//! let verified = Validator::new().verify(&bytes, &Context::new(&trust, &installed))?;
//! assert_eq!(verified.package().manifest().id().as_str(), "com.example.a");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod config;
mod definitions;
mod module;
mod report;

use std::collections::{BTreeMap, BTreeSet};

use sandframe_core::{AppId, Capability};
use sandframe_package::{Package, PackageError, PublicKey, TrustStore};
use wasmparser::{Parser, Payload};

pub use config::{
    Caps, DEFAULT_BRANCH_POINTS_PER_FUNCTION, DEFAULT_CAPABILITIES, DEFAULT_CODE_BYTES,
    DEFAULT_COMPILE_COST, DEFAULT_CUSTOM_BYTES, DEFAULT_DATA_BYTES, DEFAULT_EXPORTS,
    DEFAULT_FUNCTION_BODY_BYTES, DEFAULT_FUNCTIONS, DEFAULT_GLOBALS, DEFAULT_LOCALS_PER_FUNCTION,
    DEFAULT_MEMORY_PAGES, DEFAULT_TABLE_ELEMENTS, DEFAULT_TABLES, DEFAULT_VIEW_BYTES, FEATURES,
};
pub use definitions::{
    DEFS_DOMAIN, DEFS_FORMAT_VERSION, DEFS_MAGIC, Definitions, MAX_DEFS_BYTES, MAX_DEFS_ENTRIES,
    PATTERN_BYTES,
};
pub use module::{ABI_MODULE, codes as module_codes, validity};
pub use report::{Finding, Location, Report, Severity};

use definitions::Scanner;
use module::MemoryLimit;

/// Finding codes of the stages other than static analysis (see `docs/validation.md`).
pub mod codes {
    pub use crate::module::codes::*;
    /// The package does not parse (container, digests, manifest, layout).
    pub const MALFORMED: &str = "SF-V001";
    /// The signature does not verify.
    pub const BAD_SIGNATURE: &str = "SF-V002";
    /// The publisher key is not trusted.
    pub const UNTRUSTED: &str = "SF-V003";
    /// The publisher key is revoked (trust store or definitions).
    pub const REVOKED: &str = "SF-V004";
    /// The package digest is blocked by the definitions.
    pub const BLOCKED_DIGEST: &str = "SF-V005";
    /// The app id is pinned to another publisher key.
    pub const PINNED_ELSEWHERE: &str = "SF-V006";
    /// The manifest declares a capability the host does not know.
    pub const UNKNOWN_CAPABILITY: &str = "SF-V201";
    /// The manifest's `runtime` is one this host carries no engine for.
    pub const NO_ENGINE: &str = "SF-V203";
    /// A view template is larger than its cap.
    pub const VIEW_TOO_LARGE: &str = "SF-V301";
    /// A listed view template is missing.
    pub const VIEW_MISSING: &str = "SF-V302";
    /// A view template is not UTF-8.
    pub const VIEW_NOT_UTF8: &str = "SF-V303";
    /// A view template breaks the template grammar (`docs/format.md`).
    pub const BAD_TEMPLATE: &str = "SF-V304";
    /// A capability's `origins` list is malformed (`manifest.toml`, with line and column).
    pub const BAD_ORIGINS: &str = "SF-V202";
    /// A blocked byte pattern in a data or custom section.
    pub const BLOCKED_PATTERN: &str = "SF-V401";
    /// A blocked export name.
    pub const BLOCKED_EXPORT: &str = "SF-V402";
    /// A lower version than the installed one.
    pub const DOWNGRADE: &str = "SF-V501";
    /// The same version as the installed one.
    pub const SAME_VERSION: &str = "SF-V502";
    /// The update declares capabilities the installed version did not.
    pub const NEW_CAPABILITIES: &str = "SF-V503";
}

/// What the host knows about an app id it has seen before.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Installed {
    /// The publisher key the app id is pinned to.
    pub publisher: PublicKey,
    /// The installed version; `None` after an uninstall (the pin stays: a tombstone).
    pub version: Option<semver::Version>,
    /// The capabilities the installed version declared.
    pub capabilities: Vec<Capability>,
}

/// The host's install records, as `verify` needs them.
pub trait Registry {
    /// What is known of `app`, if it was ever installed.
    fn installed(&self, app: &AppId) -> Option<Installed>;
}

impl Registry for BTreeMap<AppId, Installed> {
    fn installed(&self, app: &AppId) -> Option<Installed> {
        self.get(app).cloned()
    }
}

/// Everything a verification needs from the host besides the package bytes.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    trust: &'a TrustStore,
    registry: &'a dyn Registry,
    allow_downgrade: bool,
    rotate_to: Option<&'a PublicKey>,
}

impl<'a> Context<'a> {
    /// A context with the host's trust store and install records; no downgrade, no rotation.
    pub fn new(trust: &'a TrustStore, registry: &'a dyn Registry) -> Context<'a> {
        Context {
            trust,
            registry,
            allow_downgrade: false,
            rotate_to: None,
        }
    }

    /// Lets a lower version replace the installed one (reported as a warning).
    pub fn allow_downgrade(mut self) -> Context<'a> {
        self.allow_downgrade = true;
        self
    }

    /// Accepts, for this install only, a package signed by `key` for an app id pinned to
    /// another key: an explicit pin rotation, which the host must record and audit.
    pub fn rotate_pin_to(mut self, key: &'a PublicKey) -> Context<'a> {
        self.rotate_to = Some(key);
        self
    }
}

/// How a verified package stands to the app id's publisher pin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pin {
    /// The app id was never installed: this install pins it to the publisher.
    New,
    /// The package is signed by the pinned key.
    Same,
    /// The host rotated the pin from `from` to this package's publisher.
    Rotated {
        /// The key the app id was pinned to.
        from: PublicKey,
    },
}

/// A package that passed [`Validator::verify`]: the only input the runtime accepts.
///
/// It cannot be built any other way: its fields are private and it has no constructor.
#[derive(Clone, Debug)]
pub struct VerifiedPackage {
    package: Package,
    publisher_name: String,
    report: Report,
    pin: Pin,
    added_capabilities: Vec<Capability>,
}

impl VerifiedPackage {
    /// The package.
    pub fn package(&self) -> &Package {
        &self.package
    }
    /// The publisher's name in the host's trust store.
    pub fn publisher_name(&self) -> &str {
        &self.publisher_name
    }
    /// Every finding (warnings and information only: errors would have rejected it).
    pub fn report(&self) -> &Report {
        &self.report
    }
    /// How the package stands to the app id's publisher pin.
    pub fn pin(&self) -> &Pin {
        &self.pin
    }
    /// Capabilities this version declares that the installed one did not: they start
    /// ungranted, and the host must ask consent again before granting them.
    pub fn added_capabilities(&self) -> &[Capability] {
        &self.added_capabilities
    }

    /// The install receipt for this package: a keyed blake3 MAC under the host's secret over
    /// the package digest, app id, version and publisher. A host stores it beside the package
    /// so that [`Validator::reinstate`] can re-mint the `VerifiedPackage` at launch without
    /// re-running every stage.
    pub fn receipt(&self, host_secret: &[u8; 32]) -> [u8; 32] {
        receipt_mac(&self.package, host_secret)
    }
}

fn receipt_mac(package: &Package, host_secret: &[u8; 32]) -> [u8; 32] {
    let manifest = package.manifest();
    let mut h = blake3::Hasher::new_keyed(host_secret);
    h.update(b"sandframe install receipt v1\0");
    h.update(package.digest().as_bytes());
    for field in [manifest.id().as_str(), &manifest.version().to_string()] {
        h.update(&(field.len() as u64).to_le_bytes());
        h.update(field.as_bytes());
    }
    h.update(package.publisher().as_bytes());
    *h.finalize().as_bytes()
}

/// A check a host adds. It runs after the built-in stages, on a package that passed the
/// integrity and origin checks, and can only add findings: it cannot skip or undo the
/// built-in checks.
pub trait Check: Send + Sync {
    /// The check's name, for reports.
    fn name(&self) -> &str;

    /// Inspects `package` and appends what it finds. Codes must not start with `SF-`.
    fn check(&self, package: &Package, findings: &mut Vec<Finding>);
}

/// Errors of the validation layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ValidateError {
    /// The package was rejected; the report has every finding.
    #[error("the package was rejected: {}", summary(.0))]
    Rejected(Box<Report>),
    /// A definitions file or source is malformed.
    #[error("security definitions: {0}")]
    Definitions(String),
    /// A definitions file is not signed by the configured definitions key.
    #[error("security definitions are not signed by the configured definitions key; refused")]
    DefinitionsSignature,
    /// A definitions file is not newer than the current set.
    #[error(
        "security definitions version {offered} is not newer than the current version {current}; refused (no rollback)"
    )]
    DefinitionsRollback {
        /// The current version.
        current: u64,
        /// The offered version.
        offered: u64,
    },
    /// An install receipt does not match the package (changed, foreign, or another host's).
    #[error("the install receipt does not match this package; reinstall it")]
    BadReceipt,
    /// No definitions key is configured, so no update can be accepted.
    #[error("no definitions key is configured; set one with Validator::with_definitions_key")]
    NoDefinitionsKey,
}

impl ValidateError {
    /// The exit code a front end ends with on this error (`sandframe_package::exit`): denied
    /// for an origin finding ([`Report::is_about_origin`]) or definitions not signed by the
    /// configured key, internal for a receipt that does not match, rejected otherwise.
    pub fn exit_code(&self) -> u8 {
        use sandframe_package::exit;
        match self {
            ValidateError::Rejected(r) if r.is_about_origin() => exit::DENIED,
            ValidateError::DefinitionsSignature | ValidateError::NoDefinitionsKey => exit::DENIED,
            ValidateError::BadReceipt => exit::INTERNAL,
            _ => exit::REJECTED,
        }
    }
}

fn summary(report: &Report) -> String {
    let errors: Vec<&Finding> = report
        .findings()
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .collect();
    match errors.as_slice() {
        [] => "no error findings".into(),
        [one] => one.to_string(),
        [first, rest @ ..] => format!("{first} (and {} more errors)", rest.len()),
    }
}

/// The validator: caps, known capabilities, security definitions and host checks.
pub struct Validator {
    caps: Caps,
    capabilities: BTreeSet<Capability>,
    builtin: Definitions,
    scanner: Scanner,
    definitions_key: Option<PublicKey>,
    checks: Vec<Box<dyn Check>>,
    /// The JavaScript engine module a `runtime = "js@1"` app runs on, if the host has one.
    js_engine: Option<&'static [u8]>,
    /// The engine's static-analysis findings, by the memory limit they were made under (the
    /// engine is the same for every JS app: analysed once per limit).
    js_findings: std::sync::Mutex<BTreeMap<u64, Vec<Finding>>>,
}

impl Default for Validator {
    fn default() -> Self {
        Validator::new()
    }
}

impl std::fmt::Debug for Validator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Validator")
            .field("caps", &self.caps)
            .field("capabilities", &self.capabilities)
            .field("definitions_version", &self.scanner.defs.version())
            .field(
                "checks",
                &self
                    .checks
                    .iter()
                    .map(|c| c.name().to_owned())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Verifies `bytes` with the default [`Validator`].
///
/// # Errors
/// [`ValidateError::Rejected`] with every finding.
pub fn verify(bytes: &[u8], context: &Context<'_>) -> Result<VerifiedPackage, ValidateError> {
    Validator::new().verify(bytes, context)
}

impl Validator {
    /// Default caps, the default known capabilities, the built-in definitions, no host checks.
    pub fn new() -> Validator {
        let builtin = Definitions::builtin();
        Validator {
            caps: Caps::default(),
            capabilities: config::default_capabilities(),
            scanner: Scanner::new(builtin.clone()),
            builtin,
            definitions_key: None,
            checks: Vec::new(),
            js_engine: None,
            js_findings: std::sync::Mutex::new(BTreeMap::new()),
        }
    }

    /// Lets `runtime = "js@1"` apps install: `engine` is the JavaScript engine module they run
    /// on (the runtime's `js::JS_ENGINE`). It passes the same static analysis as any logic
    /// module, under each app's memory limit; the app's `logic.js` is scanned with the
    /// security definitions' byte patterns.
    pub fn with_js_engine(mut self, engine: &'static [u8]) -> Validator {
        self.js_engine = Some(engine);
        self
    }

    /// Replaces the caps (a host may lower them; raising them lengthens worst-case compile
    /// times, see `docs/validation.md`).
    pub fn with_caps(mut self, caps: Caps) -> Validator {
        self.caps = caps;
        self
    }

    /// Adds a capability the host knows (for its custom APIs).
    pub fn with_capability(mut self, capability: Capability) -> Validator {
        self.capabilities.insert(capability);
        self
    }

    /// Adds a host check.
    pub fn with_check(mut self, check: Box<dyn Check>) -> Validator {
        self.checks.push(check);
        self
    }

    /// Sets the key that signs definitions updates.
    pub fn with_definitions_key(mut self, key: PublicKey) -> Validator {
        self.definitions_key = Some(key);
        self
    }

    /// Takes on a new definitions signer in place: the accepted definitions go back to the
    /// built-in set (a new signer starts afresh: the old one's version does not bind it), and
    /// the caps, capabilities and host checks stay.
    pub fn replace_definitions_key(&mut self, key: PublicKey) {
        self.definitions_key = Some(key);
        self.scanner = Scanner::new(self.builtin.clone());
    }

    /// The caps.
    pub fn caps(&self) -> &Caps {
        &self.caps
    }

    /// The effective definitions (built-in plus the newest accepted update).
    pub fn definitions(&self) -> &Definitions {
        &self.scanner.defs
    }

    /// Accepts a signed definitions update if it is signed by the definitions key and newer
    /// than the current set; returns its version.
    ///
    /// # Errors
    /// [`ValidateError::NoDefinitionsKey`], [`ValidateError::DefinitionsSignature`],
    /// [`ValidateError::DefinitionsRollback`] or [`ValidateError::Definitions`]; on error the
    /// current definitions stay as they were.
    pub fn update_definitions(&mut self, signed: &[u8]) -> Result<u64, ValidateError> {
        let key = self
            .definitions_key
            .ok_or(ValidateError::NoDefinitionsKey)?;
        let update = Definitions::from_signed(signed, &key)?;
        let current = self.scanner.defs.version();
        if update.version() <= current {
            return Err(ValidateError::DefinitionsRollback {
                current,
                offered: update.version(),
            });
        }
        self.scanner = Scanner::new(self.builtin.union(&update));
        Ok(update.version())
    }

    /// Verifies `bytes`: see the crate documentation for the stages.
    ///
    /// # Errors
    /// [`ValidateError::Rejected`] with every finding, when any finding is an error.
    pub fn verify(
        &self,
        bytes: &[u8],
        context: &Context<'_>,
    ) -> Result<VerifiedPackage, ValidateError> {
        let mut report = Report::default();
        let origin = match self.origin(bytes, context) {
            Ok(origin) => origin,
            Err(finding) => {
                report.push(*finding);
                return Err(ValidateError::Rejected(Box::new(report)));
            }
        };
        let Origin {
            package,
            publisher_name,
            pin,
            installed,
        } = origin;
        let manifest = package.manifest();

        // 2. static analysis
        let memory = match manifest.limits().memory_pages {
            Some(p) if u64::from(p) < self.caps.memory_pages => MemoryLimit {
                pages: p.into(),
                from_manifest: true,
            },
            _ => MemoryLimit {
                pages: self.caps.memory_pages,
                from_manifest: false,
            },
        };
        let js = manifest.runtime() == sandframe_package::AppRuntime::Js1;
        if js {
            match self.js_engine {
                // The engine declares the host's cap (the runtime clamps it there); a JS app's
                // own `memory_pages` bounds its QuickJS heap inside the instance.
                Some(engine) => report.extend(self.engine_findings(
                    engine,
                    MemoryLimit {
                        pages: self.caps.memory_pages,
                        from_manifest: false,
                    },
                )),
                None => report.push(Finding::error(
                    codes::NO_ENGINE,
                    Location::file("manifest.toml"),
                    "runtime = \"js@1\" needs a host that carries the JavaScript engine; this one does not (the sandframe host does)",
                )),
            }
        } else {
            report.extend(module::analyze(package.logic(), &self.caps, memory));
        }

        // 3. capabilities
        for declared in manifest.capabilities() {
            if !self.capabilities.contains(declared.capability()) {
                report.push(Finding::error(
                    codes::UNKNOWN_CAPABILITY,
                    Location::file("manifest.toml"),
                    format!(
                        "declares capability {}, which this host does not know; remove it or use one of: {}",
                        declared.capability(),
                        self.capabilities.iter().map(Capability::as_str).collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
        }

        // 4. views
        for view in manifest.views() {
            let file = format!("views/{view}.xml");
            match package.view(view) {
                None => report.push(Finding::error(
                    codes::VIEW_MISSING,
                    Location::file(&file),
                    "the manifest lists this view but the package lacks it",
                )),
                Some(t) if t.len() as u64 > self.caps.view_bytes => report.push(Finding::error(
                    codes::VIEW_TOO_LARGE,
                    Location::file(&file),
                    format!(
                        "the template is {} bytes; the cap is {}",
                        t.len(),
                        self.caps.view_bytes
                    ),
                )),
                Some(t) if std::str::from_utf8(t).is_err() => report.push(Finding::error(
                    codes::VIEW_NOT_UTF8,
                    Location::file(&file),
                    "the template is not UTF-8",
                )),
                Some(_) => {}
            }
        }

        // 5. definitions
        if js {
            if let Some(script) = package.script() {
                self.scan_bytes(script.as_bytes(), Location::file("logic.js"), &mut report);
            }
        } else {
            self.scan(package.logic(), &mut report);
        }

        // 6. version policy
        let added_capabilities =
            self.version_policy(&package, installed.as_ref(), context, &mut report);

        // 7. host checks
        for check in &self.checks {
            let mut found = Vec::new();
            check.check(&package, &mut found);
            for mut f in found {
                if f.code.starts_with("SF-") {
                    f.code = format!("HOST-{}", f.code);
                }
                report.push(f);
            }
        }

        if report.has_errors() {
            return Err(ValidateError::Rejected(Box::new(report)));
        }
        Ok(VerifiedPackage {
            package,
            publisher_name,
            report,
            pin,
            added_capabilities,
        })
    }

    /// Re-mints the `VerifiedPackage` of a package this host verified before, from its install
    /// receipt ([`VerifiedPackage::receipt`]), for a fast launch: the package is parsed (every
    /// digest checked) and the receipt's MAC checked in constant time, and the cheap origin
    /// checks run again, so a publisher revoked or a digest blocked since install does not
    /// launch. The signature and the static analysis are not repeated: the receipt proves
    /// they passed for exactly these bytes.
    ///
    /// The receipt is bound to the install record too: the context's registry must hold this
    /// app id pinned to this package's publisher at exactly this package's version, so an
    /// older package put back with its own (once valid) receipt is refused as a downgrade,
    /// and a package whose record is gone or another publisher's does not launch.
    ///
    /// # Errors
    /// [`ValidateError::BadReceipt`], or [`ValidateError::Rejected`] if the package no longer
    /// parses, its origin is now refused, or it is not the version its record names.
    pub fn reinstate(
        &self,
        bytes: &[u8],
        receipt: &[u8],
        host_secret: &[u8; 32],
        context: &Context<'_>,
    ) -> Result<VerifiedPackage, ValidateError> {
        let trust = context.trust;
        let reject = |code: &str, message: String| {
            let mut report = Report::default();
            report.push(Finding::error(code, Location::default(), message));
            ValidateError::Rejected(Box::new(report))
        };
        let package = Package::parse(bytes).map_err(|e| reject(codes::MALFORMED, e.to_string()))?;
        let expected = blake3::Hash::from_bytes(receipt_mac(&package, host_secret));
        // blake3::Hash compares in constant time.
        if blake3::Hash::from_slice(receipt).ok() != Some(expected) {
            return Err(ValidateError::BadReceipt);
        }
        let publisher = package.publisher();
        let manifest = package.manifest();
        let installed = context.registry.installed(manifest.id());
        match installed {
            Some(Installed {
                publisher: pinned,
                version: Some(version),
                ..
            }) if pinned == *publisher && version == *manifest.version() => {}
            Some(Installed {
                publisher: pinned, ..
            }) if pinned != *publisher => {
                return Err(reject(
                    codes::PINNED_ELSEWHERE,
                    format!(
                        "{} is pinned to publisher {pinned}, not {publisher}; install it again",
                        manifest.id()
                    ),
                ));
            }
            Some(Installed {
                version: Some(version),
                ..
            }) => {
                return Err(reject(
                    codes::DOWNGRADE,
                    format!(
                        "the install record of {} names version {version}, but the package in the home is {}: an older package was put back; install the app again",
                        manifest.id(),
                        manifest.version()
                    ),
                ));
            }
            _ => {
                return Err(reject(
                    codes::MALFORMED,
                    format!(
                        "{} has no install record naming this version; install it again",
                        manifest.id()
                    ),
                ));
            }
        }
        if self.scanner.defs.revokes(publisher) {
            return Err(reject(
                codes::REVOKED,
                format!("publisher {publisher} is revoked by the security definitions"),
            ));
        }
        let publisher_name = match trust.check(publisher) {
            Ok(name) => name.to_owned(),
            Err(e @ PackageError::Revoked { .. }) => {
                return Err(reject(codes::REVOKED, e.to_string()));
            }
            Err(e) => return Err(reject(codes::UNTRUSTED, e.to_string())),
        };
        if self.scanner.defs.blocks_digest(package.digest().as_bytes()) {
            return Err(reject(
                codes::BLOCKED_DIGEST,
                format!(
                    "package blake3:{} is blocked by the security definitions",
                    package.digest()
                ),
            ));
        }
        Ok(VerifiedPackage {
            package,
            publisher_name,
            report: Report::default(),
            pin: Pin::Same,
            added_capabilities: Vec::new(),
        })
    }

    /// Stage 1: integrity and origin; the first failure is final.
    fn origin(&self, bytes: &[u8], context: &Context<'_>) -> Result<Origin, Box<Finding>> {
        let fail = |code: &str, location: Location, message: String| {
            Box::new(Finding::error(code, location, message))
        };
        let package = Package::parse(bytes).map_err(|e| match e {
            PackageError::Origins {
                line,
                column,
                message,
            } => fail(
                codes::BAD_ORIGINS,
                Location::text("manifest.toml", line, column),
                message,
            ),
            PackageError::Template { file, source } => fail(
                codes::BAD_TEMPLATE,
                Location::text(&file, source.line, source.column),
                source.message,
            ),
            e => fail(codes::MALFORMED, Location::default(), e.to_string()),
        })?;
        package
            .verify_signature()
            .map_err(|e| fail(codes::BAD_SIGNATURE, Location::default(), e.to_string()))?;
        let publisher = package.publisher();
        if self.scanner.defs.revokes(publisher) {
            return Err(fail(
                codes::REVOKED,
                Location::default(),
                format!("publisher {publisher} is revoked by the security definitions"),
            ));
        }
        let publisher_name = match context.trust.check(publisher) {
            Ok(name) => name.to_owned(),
            Err(e @ PackageError::Revoked { .. }) => {
                return Err(fail(codes::REVOKED, Location::default(), e.to_string()));
            }
            Err(e) => return Err(fail(codes::UNTRUSTED, Location::default(), e.to_string())),
        };
        if self.scanner.defs.blocks_digest(package.digest().as_bytes()) {
            return Err(fail(
                codes::BLOCKED_DIGEST,
                Location::default(),
                format!(
                    "package blake3:{} is blocked by the security definitions",
                    package.digest()
                ),
            ));
        }
        let installed = context.registry.installed(package.manifest().id());
        let pin = match &installed {
            None => Pin::New,
            Some(i) if &i.publisher == publisher => Pin::Same,
            Some(i) if context.rotate_to == Some(publisher) => Pin::Rotated { from: i.publisher },
            Some(i) => {
                return Err(fail(
                    codes::PINNED_ELSEWHERE,
                    Location::file("manifest.toml"),
                    format!(
                        "app id {} is pinned to publisher {}, but this package is signed by {}; \
                         only an explicit pin rotation by the host can change that",
                        package.manifest().id(),
                        i.publisher,
                        publisher
                    ),
                ));
            }
        };
        Ok(Origin {
            package,
            publisher_name,
            pin,
            installed,
        })
    }

    /// Stage 5: blocked patterns in data and custom sections, blocked export names.
    /// The engine's static-analysis findings under `memory`, computed once per limit.
    fn engine_findings(&self, engine: &[u8], memory: MemoryLimit) -> Vec<Finding> {
        let key = memory.pages;
        if let Ok(cache) = self.js_findings.lock()
            && let Some(found) = cache.get(&key)
        {
            return found.clone();
        }
        let mut report = Report::default();
        report.extend(module::analyze(engine, &self.caps, memory));
        let found = report.findings().to_vec();
        if let Ok(mut cache) = self.js_findings.lock() {
            cache.insert(key, found.clone());
        }
        found
    }

    fn scan(&self, wasm: &[u8], report: &mut Report) {
        for payload in Parser::new(0).parse_all(wasm) {
            // An unparsable module was already reported by static analysis.
            let Ok(payload) = payload else { return };
            match payload {
                Payload::DataSection(r) => {
                    for data in r.into_iter().flatten() {
                        let at = data.range.start;
                        self.scan_bytes(data.data, Location::wasm("data", Some(at)), report);
                    }
                }
                Payload::CustomSection(r) => {
                    let at = r.range().start;
                    self.scan_bytes(r.data(), Location::wasm("custom", Some(at)), report);
                }
                Payload::ExportSection(r) => {
                    for export in r.into_iter().flatten() {
                        if self.scanner.defs.blocks_export(export.name) {
                            report.push(Finding::error(
                                codes::BLOCKED_EXPORT,
                                Location::wasm("export", None),
                                format!(
                                    "exports {:?}, a name blocked by the security definitions",
                                    export.name
                                ),
                            ));
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn scan_bytes(&self, bytes: &[u8], location: Location, report: &mut Report) {
        if let Some((at, pattern)) = self.scanner.find(bytes) {
            let mut location = location;
            location.offset = location.offset.map(|o| o + at as u64);
            report.push(Finding::error(
                codes::BLOCKED_PATTERN,
                location,
                format!(
                    "contains {:?}, a pattern blocked by the security definitions (version {})",
                    String::from_utf8_lossy(pattern),
                    self.scanner.defs.version()
                ),
            ));
        }
    }

    /// Stage 6: downgrades and new capabilities.
    fn version_policy(
        &self,
        package: &Package,
        installed: Option<&Installed>,
        context: &Context<'_>,
        report: &mut Report,
    ) -> Vec<Capability> {
        let manifest = package.manifest();
        let Some(installed) = installed else {
            return Vec::new();
        };
        let loc = || Location::file("manifest.toml");
        if let Some(current) = &installed.version {
            let new = manifest.version();
            if new < current {
                let severity = if context.allow_downgrade {
                    Severity::Warning
                } else {
                    Severity::Error
                };
                report.push(Finding::new(
                    codes::DOWNGRADE,
                    severity,
                    loc(),
                    format!("version {new} is lower than the installed {current}; a host must allow a downgrade explicitly"),
                ));
            } else if new == current {
                report.push(Finding::new(
                    codes::SAME_VERSION,
                    Severity::Info,
                    loc(),
                    format!("version {new} is already installed"),
                ));
            }
        }
        let added: Vec<Capability> = manifest
            .capabilities()
            .iter()
            .map(|d| d.capability().clone())
            .filter(|c| !installed.capabilities.contains(c))
            .collect();
        if !added.is_empty() {
            report.push(Finding::new(
                codes::NEW_CAPABILITIES,
                Severity::Info,
                loc(),
                format!(
                    "this update declares new capabilities ({}); they start ungranted",
                    added
                        .iter()
                        .map(Capability::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        added
    }
}

struct Origin {
    package: Package,
    publisher_name: String,
    pin: Pin,
    installed: Option<Installed>,
}
