//! # sandframe-validate
//!
//! The validation layer: `verify` will be the only way to mint a `VerifiedPackage`, always
//! checking signature, trust, publisher pinning and digests itself; pluggable [`Check`]s (static
//! analysis of the wasm, manifest/capability consistency, malicious-pattern definitions,
//! host-added rules) add [`Finding`]s.
//!
//! **Status:** the [`Check`] contract and the error enum exist; `verify` and the default checks
//! arrive with the validation issue. Nothing here can mint a verified package yet.

use sandframe_package::Package;

/// How serious a [`Finding`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Worth knowing; does not block install.
    Info,
    /// Suspicious; does not block install unless the host says so.
    Warning,
    /// Blocks install.
    Error,
}

/// One thing a [`Check`] found in a package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The check's stable rule id, e.g. `"wasm.import.unknown"`.
    pub rule: String,
    /// How serious it is.
    pub severity: Severity,
    /// What was found and what to do about it.
    pub message: String,
}

/// A check over a package that has already passed the integrity and origin checks.
///
/// Checks add findings; they cannot skip or undo the signature, trust, pinning and digest
/// checks, which `verify` always runs first.
pub trait Check: Send + Sync {
    /// The check's name, for reports.
    fn name(&self) -> &str;

    /// Inspects `package` and appends what it finds to `findings`.
    fn check(&self, package: &Package, findings: &mut Vec<Finding>);
}

/// Errors of the validation layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ValidateError {
    /// The package failed to parse or failed an integrity or origin check.
    #[error(transparent)]
    Package(#[from] sandframe_package::PackageError),
}
