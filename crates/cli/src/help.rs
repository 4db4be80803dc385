//! The next step for each error: the `help:` line the CLI prints under it.
//!
//! Many layer errors already end with what to do ("re-pack it", "launch it first"); those get
//! no help line, so the step is never said twice. The rest, and every error whose step depends
//! on the command line rather than the library, get one here. A test runs each failure through
//! the real binary and checks the step it names.

use std::io::ErrorKind;

use sandframe_host::GatewayError;
use sandframe_host::RuntimeError;
use sandframe_host::{Denied, HomeError, HostError, LayerError, Misuse, Rejected};
use sandframe_package::PackageError;
use sandframe_validate::ValidateError;

use crate::CliError;

/// What to do about `e`, when its message does not say it already.
pub(crate) fn next_step(e: &CliError) -> Option<String> {
    match e {
        CliError::Usage(_)
        | CliError::Denied(_)
        | CliError::Terminated(_)
        | CliError::Internal(_) => None,
        // A file found damaged: the message says what to do (no errno to go by).
        CliError::Io { source, .. } if source.kind() == ErrorKind::Other => None,
        CliError::Io { source, .. } => Some(io_step(source)),
        CliError::Package(p) => package_step(p),
        CliError::Validate(v) => validate_step(v),
        CliError::Host(h) => host_step(h),
    }
}

pub(crate) fn io_step(e: &std::io::Error) -> String {
    match e.kind() {
        ErrorKind::NotFound => "check that the path exists and is spelled as you meant".into(),
        ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem => {
            "check the permissions of that path, or pass --home DIR with a home you can write"
                .into()
        }
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded => {
            "free some disk space, then run the command again".into()
        }
        ErrorKind::AlreadyExists => "remove it or choose another path".into(),
        _ => "check the disk and the file system, then run the command again".into(),
    }
}

fn package_step(e: &PackageError) -> Option<String> {
    Some(match e {
        PackageError::Io { source, .. } => io_step(source),
        PackageError::BadPath { .. } | PackageError::DigestMismatch { .. } => {
            "get a fresh copy of the package from its publisher, or re-pack it from its source"
                .into()
        }
        PackageError::ViewMissing { .. } => {
            "add the view's file under views/, or remove it from the manifest's views".into()
        }
        PackageError::Manifest(_) => {
            "fix manifest.toml (docs/format.md, \"Manifest\", lists every field), then pack again"
                .into()
        }
        PackageError::Template { .. } => {
            "fix the view at the position shown (docs/format.md, \"View templates\", has the \
             grammar), then pack again"
                .into()
        }
        PackageError::TooLarge { .. } | PackageError::TooMany { .. } => {
            "make it smaller than the limit, then run the command again".into()
        }
        PackageError::SignatureInvalid => {
            "get a fresh copy from its publisher; a publisher re-signs with `sandframe pack`".into()
        }
        PackageError::TrustStore(_) => {
            "trust your publishers again with `sandframe trust add PUBFILE` (the trust store \
             is sealed in the home's state; trust.toml is only a view of it)"
                .into()
        }
        PackageError::Random(_) => {
            "the operating system's random source failed; run the command again, and if it \
             fails again check the system"
                .into()
        }
        PackageError::Source { .. } => {
            "fix the source directory as said (docs/format.md, \"Source directory\", shows its \
             layout), then pack again"
                .into()
        }
        PackageError::Wat(_) => "fix logic.wat at the position shown, then pack again".into(),
        PackageError::Build(_) => {
            "fix the crate so that `cargo build --release --target wasm32-unknown-unknown` \
             succeeds in its directory, then pack again"
                .into()
        }
        // The message already says what to do.
        _ => return None,
    })
}

fn validate_step(e: &ValidateError) -> Option<String> {
    Some(match e {
        ValidateError::Rejected(_) => {
            "each finding names its code; docs/validation.md, \"Finding codes\", says what each \
             one means"
                .into()
        }
        ValidateError::Definitions(_) => {
            "the definitions file is malformed: get a fresh copy from whoever signs them".into()
        }
        ValidateError::DefinitionsSignature => {
            "install definitions signed by this home's definitions key, or set a new key with \
             `sandframe defs update FILE --key PUBFILE`"
                .into()
        }
        ValidateError::DefinitionsRollback { .. } => {
            "the installed definitions are newer: nothing to do, or ask their signer for a newer \
             version"
                .into()
        }
        _ => return None,
    })
}

fn host_step(e: &HostError) -> Option<String> {
    Some(match e {
        HostError::Rejected(Rejected::Validation(v)) | HostError::Denied(Denied::Origin(v)) => {
            return validate_step(v);
        }
        HostError::Rejected(Rejected::Package(p)) => return package_step(p),
        HostError::Stopped(r) | HostError::Layer(LayerError::Runtime(r)) => return runtime_step(r),
        HostError::Denied(Denied::Blocked { app, .. }) => format!(
            "ask its publisher for a version that passes the current definitions, then \
             `sandframe install PKG`; `sandframe audit {app}` shows the scan"
        ),
        HostError::Denied(Denied::Quarantined(app)) => format!(
            "`sandframe audit {app}` shows why; once you trust it again, `sandframe release {app}`"
        ),
        HostError::Misuse(Misuse::NotInstalled(_)) => {
            "install it with `sandframe install PKG`; `sandframe list` shows what is installed"
                .into()
        }
        HostError::Misuse(Misuse::AlreadyRunning(_)) => "stop it before launching it again".into(),
        HostError::Home(HomeError::Io { source, .. }) => io_step(source),
        HostError::Home(HomeError::Gateway(GatewayError::Tampered(_))) => {
            "the home's audit log was changed outside sandframe: keep the home as evidence, and \
             restore it from a backup"
                .into()
        }
        HostError::Home(HomeError::Gateway(GatewayError::Io { source, .. })) => io_step(source),
        // Their messages end with the step already.
        HostError::Home(
            HomeError::Monitor(_)
            | HomeError::Damaged(_)
            | HomeError::Receipt(_)
            | HomeError::Busy(_),
        )
        | HostError::Misuse(Misuse::NotRunning(_)) => return None,
        HostError::Home(HomeError::Layer(sandframe_host::CoreError::Io(e))) => io_step(e),
        HostError::Home(_) => {
            "restore the home from a backup, or uninstall the app and install it again".into()
        }
        HostError::Misuse(Misuse::Validation(v)) => return validate_step(v),
        HostError::Layer(_) | HostError::Misuse(_) => {
            "if this persists, report it with the command that caused it".into()
        }
        _ => return None,
    })
}

fn runtime_step(e: &RuntimeError) -> Option<String> {
    Some(match e {
        RuntimeError::Compile(_) | RuntimeError::Instantiate(_) => {
            "the module passed validation but the engine refused it: report it with the package"
                .into()
        }
        RuntimeError::Trapped { .. } => {
            "the app's publisher must fix it; `sandframe audit APP` shows what it did before".into()
        }
        _ => return None,
    })
}
