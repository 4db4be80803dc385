//! What every command needs from the home and the command line: the home's directory, its
//! trust store and definitions, a host builder over it, durable writes of its files, and the
//! parsing of ids, capabilities and input files.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sandframe_host::{AppId, Capability, Host, HostBuilder};
use sandframe_package::{PublicKey, TrustStore};
use sandframe_validate::Validator;

use crate::CliError;
use crate::out::quoted;

/// The trust store's file in the home.
pub(crate) const TRUST_FILE: &str = "trust.toml";

/// The definitions signer's key in the home.
pub(crate) const DEFS_KEY_FILE: &str = "definitions.pub";

/// The current signed definitions in the home.
pub(crate) const DEFS_FILE: &str = "definitions.signed";

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

/// Writes a file of the home durably, as the host writes its own (`sandframe_durable`).
pub(crate) fn write_home_file(home: &Path, name: &str, bytes: &[u8]) -> Result<(), CliError> {
    let io = |what: &str| {
        let what = format!("{what} {}", home.join(name).display());
        move |source| CliError::Io { what, source }
    };
    std::fs::create_dir_all(home).map_err(io("create the home for"))?;
    let dir = cap_std::fs::Dir::open_ambient_dir(home, cap_std::ambient_authority())
        .map_err(io("open the home for"))?;
    sandframe_durable::replace(&dir, name, bytes, 0o600).map_err(io("write"))
}

/// The home's trust store (empty if none yet).
pub(crate) fn trust_store(home: &Path) -> Result<TrustStore, CliError> {
    match std::fs::read(home.join(TRUST_FILE)) {
        Ok(bytes) => Ok(TrustStore::from_toml(&bytes)?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(TrustStore::new()),
        Err(source) => Err(CliError::Io {
            what: format!("read {}", home.join(TRUST_FILE).display()),
            source,
        }),
    }
}

/// The validator, with the home's definitions signer and current definitions.
/// A validator with the home's definitions key and accepted definitions (for `verify` and
/// `defs`, which check without a host).
pub(crate) fn validator(home: &Path) -> Result<Validator, CliError> {
    let mut v = Validator::new();
    if let Ok(key) = std::fs::read(home.join(DEFS_KEY_FILE)) {
        v = v.with_definitions_key(definitions_key(home, &key)?);
        if let Ok(signed) = std::fs::read(home.join(DEFS_FILE)) {
            v.update_definitions(&signed)?;
        }
    }
    Ok(v)
}

/// The home's definitions key, from its file's text: a damaged file is the home's problem
/// (exit 1, naming the file), not a bad argument.
fn definitions_key(home: &Path, text: &[u8]) -> Result<PublicKey, CliError> {
    PublicKey::from_file_text(text).map_err(|e| CliError::Io {
        what: format!("{} is damaged", home.join(DEFS_KEY_FILE).display()),
        source: std::io::Error::other(format!(
            "{e}; set the signer again with `sandframe defs update FILE --key PUBFILE`"
        )),
    })
}

/// The home's definitions key and accepted definitions, on the host builder.
fn definitions(home: &Path, mut builder: HostBuilder) -> Result<HostBuilder, CliError> {
    if let Ok(key) = std::fs::read(home.join(DEFS_KEY_FILE)) {
        builder = builder.definitions_key(definitions_key(home, &key)?);
        if let Ok(signed) = std::fs::read(home.join(DEFS_FILE)) {
            builder = builder.definitions(signed);
        }
    }
    Ok(builder)
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
    definitions(
        home,
        Host::builder()
            .home(home)
            .trust(trust_store(home)?)
            .threads(1),
    )
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
