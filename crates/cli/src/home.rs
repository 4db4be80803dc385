//! What every command needs from the home and the command line: the home's directory, a
//! host builder over it (its trust store and definitions kept by `sandframe_host::HomeConfig`,
//! which alone writes them), and the parsing of ids, capabilities and input files.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sandframe_host::{AppId, Capability, HomeConfig, Host, HostBuilder};

use crate::CliError;
use crate::out::quoted;

/// The home: `--home`, else `$SANDFRAME_HOME`, else the platform data directory.
pub(crate) fn home_dir(arg: Option<PathBuf>) -> Result<PathBuf, CliError> {
    arg.or_else(|| std::env::var_os("SANDFRAME_HOME").map(PathBuf::from))
        .or_else(|| {
            directories::ProjectDirs::from("dev", "sandframe", "sandframe")
                .map(|p| p.data_dir().to_path_buf())
        })
        .ok_or_else(|| {
            CliError::Usage(
                "no home directory could be found: pass --home DIR or set SANDFRAME_HOME".into(),
            )
        })
}

/// An app id from the command line.
pub(crate) fn app_id(s: &str) -> Result<AppId, CliError> {
    s.parse().map_err(|e| {
        CliError::Usage(format!(
            "{} is not an app id ({e}); app ids look like com.example.app",
            quoted(s)
        ))
    })
}

pub(crate) fn capability(s: &str) -> Result<Capability, CliError> {
    s.parse().map_err(|e| {
        CliError::Usage(format!(
            "{} is not a capability ({e}); e.g. storage:local, user:readProfile",
            quoted(s)
        ))
    })
}

/// Reads a file named on the command line.
pub(crate) fn read_input(path: &Path) -> Result<Vec<u8>, CliError> {
    std::fs::read(path).map_err(|e| {
        CliError::Usage(format!(
            "cannot read {}: {e}; {}",
            path.display(),
            crate::help::io_step(&e)
        ))
    })
}

/// `user.getProfile`: `{"name": NAME}` for `name`, else `$USER`, else "sandframe user"; the
/// gateway gives it only to apps granted `user:readProfile`.
pub(crate) fn profile_api(name: Option<String>) -> Arc<dyn sandframe_host::Api> {
    let name = name
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "sandframe user".into());
    sandframe_host::typed_api(move |_app, _request: serde::de::IgnoredAny| {
        Ok::<_, sandframe_host::ApiError>(serde_json::json!({ "name": name }))
    })
}

/// A host builder over the home: its trust store and definitions, one logic thread.
pub(crate) fn host(home: &Path) -> Result<HostBuilder, CliError> {
    // The network door is open in every command (so that a package declaring net:fetch
    // installs), with the strict defaults; `run` and `dev` add their origin settings.
    Ok(HomeConfig::open(home)?
        .builder()?
        .threads(1)
        .net(sandframe_host::NetConfig::new()))
}

/// Whether the app is installed, from the home's records alone: its grants stay manageable
/// after its publisher is distrusted or its digest blocked.
pub(crate) fn installed(host: &Host, app: &AppId) -> Result<(), CliError> {
    if host.is_installed(app) {
        Ok(())
    } else {
        Err(
            sandframe_host::HostError::from(sandframe_host::Misuse::NotInstalled(app.clone()))
                .into(),
        )
    }
}
