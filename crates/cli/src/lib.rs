//! # sandframe-cli
//!
//! The `sandframe` command-line tool over `sandframe-host` (install, run, dispatch, audit, and
//! `keygen` / `pack` / `verify` for authors outside this repository).
//!
//! **Status:** only the error enum exists; the binary is built with the CLI issue. Until then,
//! `cargo xtask keygen | pack | verify | inspect` serve authors.

/// Errors of the CLI.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// A package could not be read, built or checked.
    #[error(transparent)]
    Package(#[from] sandframe_package::PackageError),
}
