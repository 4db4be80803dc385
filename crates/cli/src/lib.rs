//! # sandframe-cli
//!
//! The `sandframe` command over [`sandframe_host`]: make keys, pack and verify mini-apps,
//! manage the publishers a home trusts, install, run, inspect, audit and uninstall apps, and
//! `sandframe demo`, a scripted tour on a throwaway home.
//!
//! ```text
//! sandframe [--home DIR] [--json] COMMAND
//! ```
//!
//! The home is `--home`, else `$SANDFRAME_HOME`, else the platform data directory
//! (`~/.local/share/sandframe` on Linux). Its audit anchor lives beside it
//! (`<home>.audit-anchor`), out of reach of whoever can write the home alone.
//!
//! # Exit codes
//! | code | meaning |
//! | --- | --- |
//! | 0 | done |
//! | 1 | internal error: I/O, a damaged home, an audit log that fails verification, a Rust toolchain without the wasm target that rustup could not add |
//! | 2 | usage: bad arguments, an unreadable input file, an app that is not installed |
//! | 3 | package rejected: the findings are printed |
//! | 4 | the app was terminated by the sandbox (a trap, its fuel, a monitor verdict) |
//! | 5 | denied: an untrusted or revoked publisher, an id pinned to another publisher, a quarantined app, definitions not signed by the home's definitions key |
//!
//! With `--json`, standard output carries exactly one JSON object: `{"ok": true, ...}` with
//! the command's fields, or `{"ok": false, "exit": N, "error": "...", "findings": [...]}`
//! (see `docs/cli.md` for every command's fields). Messages for people go to standard error.

mod args;
mod author;
mod commands;
mod demo;
mod embedded;
mod help;
mod home;
mod manage;
mod new;
mod out;
mod progress;
mod run;
mod sim;

use std::process::ExitCode;

use clap::Parser as _;
use sandframe_host::{HostError, Misuse};
use sandframe_package::PackageError;
use sandframe_validate::{Report, ValidateError};

pub use args::{Cli, Command, Template};

/// The documented exit codes.
pub mod exit {
    /// Done.
    pub const OK: u8 = 0;
    /// Internal error: I/O, a damaged home, an audit log that fails verification, a missing
    /// wasm target that rustup could not add.
    pub const INTERNAL: u8 = sandframe_package::exit::INTERNAL;
    /// Usage: bad arguments, an unreadable input file, an app that is not installed.
    pub const USAGE: u8 = sandframe_package::exit::USAGE;
    /// The package was rejected (findings printed).
    pub const REJECTED: u8 = sandframe_package::exit::REJECTED;
    /// The app was terminated by the sandbox.
    pub const TERMINATED: u8 = 4;
    /// Denied: untrusted or revoked publisher, pinned id, quarantined app, unsigned definitions.
    pub const DENIED: u8 = sandframe_package::exit::DENIED;
}

/// Errors of the CLI; each maps to one exit code ([`CliError::exit_code`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// The command line is wrong.
    #[error("{0}")]
    Usage(String),
    /// Refused for who signed it or what the host decided (exit 5).
    #[error("{0}")]
    Denied(String),
    /// The sandbox stopped the app (exit 4).
    #[error("{0}")]
    Terminated(String),
    /// Something the binary itself got wrong (exit 1): a bug to report.
    #[error("{0}; this is a bug in sandframe: please report it with the command you ran")]
    Internal(String),
    /// A file could not be read or written.
    #[error("{what}: {source}")]
    Io {
        /// Which file, doing what.
        what: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A package could not be read, built or checked.
    #[error(transparent)]
    Package(#[from] PackageError),
    /// The validator refused a package or definitions.
    #[error(transparent)]
    Validate(#[from] ValidateError),
    /// The host failed.
    #[error(transparent)]
    Host(#[from] HostError),
}

impl CliError {
    /// The exit code this error ends the command with.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => exit::USAGE,
            CliError::Denied(_) => exit::DENIED,
            CliError::Terminated(_) => exit::TERMINATED,
            CliError::Io { .. } | CliError::Internal(_) => exit::INTERNAL,
            CliError::Package(e) => e.exit_code(),
            CliError::Validate(e) => e.exit_code(),
            CliError::Host(e) => match e {
                HostError::Rejected(_) => exit::REJECTED,
                HostError::Denied(_) => exit::DENIED,
                HostError::Stopped(_) => exit::TERMINATED,
                HostError::Misuse(Misuse::NotInstalled(_) | Misuse::NotRunning(_)) => exit::USAGE,
                HostError::Misuse(Misuse::Validation(v)) => v.exit_code(),
                _ => exit::INTERNAL,
            },
        }
    }

    /// What to do next, when the message does not say it already: the `help:` line under the
    /// error (and the JSON output's `help`).
    pub fn help(&self) -> Option<String> {
        help::next_step(self)
    }

    /// The validation report, when a package was rejected.
    pub fn report(&self) -> Option<&Report> {
        match self {
            CliError::Validate(ValidateError::Rejected(r)) => Some(r),
            CliError::Host(e) => e.report(),
            _ => None,
        }
    }
}

/// Runs the `sandframe` command with the process's arguments; what `main` returns.
pub fn main() -> ExitCode {
    // What the layers report as it happens (a wait for the home lock, a key file planted in
    // the home, an old home's keys moved out, a monitor's alert) reaches the person on
    // standard error; `SANDFRAME_LOG` (an `EnvFilter`, e.g. `info`) shows more.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .without_time()
        .with_target(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SANDFRAME_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .try_init();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(exit::USAGE));
        }
    };
    let mut out = out::Out::new(cli.json);
    match commands::run(cli, &mut out) {
        Ok(()) => {
            out.finish_ok();
            ExitCode::SUCCESS
        }
        Err(e) => {
            out.finish_err(&e);
            ExitCode::from(e.exit_code())
        }
    }
}
