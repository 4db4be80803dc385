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

/// The network door `run` and `dev` open, with `args`' development settings: the strict
/// defaults, plus the CAs, ranges, names and http origins named.
pub(crate) fn net_config(
    args: &crate::args::NetArgs,
) -> Result<sandframe_host::NetConfig, CliError> {
    let mut config = sandframe_host::NetConfig::new();
    for file in &args.trust_ca {
        let bytes = std::fs::read(file).map_err(|e| {
            CliError::Usage(format!(
                "--trust-ca {}: {e}; {}",
                file.display(),
                crate::help::io_step(&e)
            ))
        })?;
        config = config
            .trust_pem_or_der(&bytes)
            .map_err(|e| CliError::Usage(format!("--trust-ca {}: {e}", file.display())))?;
    }
    for cidr in &args.allow_private {
        let bare = cidr.trim_start_matches('[').trim_end_matches(']');
        let range: ipnet::IpNet = cidr
            .parse()
            .or_else(|_| bare.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
            .map_err(|_| {
                CliError::Usage(format!(
                    "--allow-private {cidr:?} is not an address range; write e.g. 127.0.0.1/32 or 10.0.0.0/8"
                ))
            })?;
        if range.prefix_len() == 0 {
            return Err(CliError::Usage(format!(
                "--allow-private {cidr:?} opens every address, the cloud metadata service's among them; name the range your development service is in, e.g. 127.0.0.1/32"
            )));
        }
        config = config.allow_range(range);
    }
    if !args.resolve.is_empty() {
        let mut table = sandframe_host::StaticResolver::new();
        for entry in &args.resolve {
            // The name as the door looks it up: the WHATWG host parser's A-labels, in lower
            // case, without a trailing dot; the address with or without brackets.
            let parsed = entry.split_once('=').and_then(|(name, addr)| {
                let addr = addr.trim_start_matches('[').trim_end_matches(']');
                let ip = addr.parse::<std::net::IpAddr>().ok()?;
                match url::Host::parse(name.strip_suffix('.').unwrap_or(name)) {
                    Ok(url::Host::Domain(d)) if !d.is_empty() => Some((d, ip)),
                    _ => None,
                }
            });
            let Some((name, ip)) = parsed else {
                return Err(CliError::Usage(format!(
                    "--resolve {entry:?} is not NAME=ADDR with a host name and an IP address; write e.g. --resolve api.example.test=127.0.0.1"
                )));
            };
            table = table.with(&name, [ip]);
        }
        config = config.resolver(std::sync::Arc::new(
            table.or_else(std::sync::Arc::new(sandframe_host::SystemResolver)),
        ));
    }
    for o in &args.allow_http {
        let origin = origin(o, "--allow-http")?;
        if origin.is_https() {
            return Err(CliError::Usage(format!(
                "--allow-http {o:?} is an https origin; name the http:// origin to let through"
            )));
        }
        config = config.allow_http(origin);
    }
    Ok(config)
}

/// `policy` narrowed by `args`' origin lists.
pub(crate) fn origin_policy(
    args: &crate::args::NetArgs,
    mut policy: sandframe_host::Policy,
) -> Result<sandframe_host::Policy, CliError> {
    for o in &args.deny_origin {
        policy = policy.deny_origin(origin(o, "--deny-origin")?);
    }
    if !args.allow_origin.is_empty() {
        let allowed = args
            .allow_origin
            .iter()
            .map(|o| origin(o, "--allow-origin"))
            .collect::<Result<Vec<_>, _>>()?;
        policy = policy.allow_only_origins(allowed);
    }
    Ok(policy)
}

fn origin(text: &str, flag: &str) -> Result<sandframe_host::OriginPattern, CliError> {
    text.parse()
        .map_err(|e| CliError::Usage(format!("{flag}: {e}")))
}
