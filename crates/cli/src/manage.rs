//! The commands that manage a home through the host: trust, install, list, info, grants,
//! revoke, audit, definitions, uninstall and release.

use std::path::Path;

use sandframe_host::{AppId, Capability, HomeConfig};
use sandframe_package::PublicKey;

use crate::CliError;
use crate::args::{DefsAction, TrustAction};
use crate::home::{app_id, capability, host, installed, read_input};
use crate::out::{Out, quoted, shown};

pub(crate) fn trust(home: &Path, action: TrustAction, out: &mut Out) -> Result<(), CliError> {
    let config = HomeConfig::open(home)?;
    match action {
        TrustAction::Add { pubfile, name } => {
            let key = PublicKey::from_file_text(&read_input(&pubfile)?)?;
            let name = name.unwrap_or_else(|| {
                pubfile
                    .file_stem()
                    .map_or_else(|| "publisher".into(), |s| s.to_string_lossy().into_owned())
            });
            if name.trim().is_empty() {
                return Err(CliError::Usage(
                    "a publisher's name cannot be empty; pass --name with the name to show for it"
                        .into(),
                ));
            }
            config.change_trust(|store| store.trust(key, name.clone()))?;
            out.line(format!("trusted {key} as {}", quoted(&name)));
            out.set("publisher", key.to_string());
            out.set("name", name);
        }
        TrustAction::List => {
            let mut list: Vec<(String, String)> = config
                .trust()?
                .publishers()
                .map(|(k, n)| (k.to_string(), n.to_owned()))
                .collect();
            list.sort();
            if list.is_empty() {
                out.line("no trusted publishers (add one with: sandframe trust add PUBFILE)");
            }
            for (key, name) in &list {
                out.line(format!("{key}  {}", shown(name)));
                out.push(
                    "publishers",
                    serde_json::json!({ "publisher": key, "name": name }),
                );
            }
            if list.is_empty() {
                out.set("publishers", Vec::<()>::new());
            }
        }
        TrustAction::Remove { key } => {
            let key: PublicKey = match key.parse() {
                Ok(k) => k,
                Err(_) => PublicKey::from_file_text(&read_input(Path::new(&key))?)?,
            };
            if !config.change_trust(|store| store.remove(&key))? {
                return Err(CliError::Usage(format!(
                    "{key} is not trusted by this home; `sandframe trust list` shows the keys it \
                     trusts"
                )));
            }
            out.line(format!(
                "no longer trusting {key}: its installed apps will not launch"
            ));
            out.set("publisher", key.to_string());
        }
    }
    Ok(())
}

pub(crate) fn install(home: &Path, package: &Path, out: &mut Out) -> Result<(), CliError> {
    let bytes = read_input(package)?;
    let host = host(home)?.build()?;
    let done = host.install(&bytes)?;
    let pin = match &done.pin {
        sandframe_validate::Pin::New => "new".to_owned(),
        sandframe_validate::Pin::Same => "same publisher".to_owned(),
        sandframe_validate::Pin::Rotated { from } => format!("rotated from {from}"),
    };
    out.line(format!("installed {} {} ({pin})", done.app, done.version));
    let added: Vec<&str> = done
        .added_capabilities
        .iter()
        .map(Capability::as_str)
        .collect();
    if !added.is_empty() {
        out.line(format!(
            "capabilities it may ask for (each asked for at first use): {}",
            added.join(", ")
        ));
    }
    out.set("app", done.app.as_str());
    out.set("version", done.version.to_string());
    out.set("pin", pin);
    out.set("added_capabilities", added);
    Ok(())
}

pub(crate) fn list(home: &Path, out: &mut Out) -> Result<(), CliError> {
    let host = host(home)?.build()?;
    let apps = host.list()?;
    if apps.is_empty() {
        out.line("no apps installed (install one with: sandframe install FILE.sfpkg)");
    }
    for a in &apps {
        out.line(format!(
            "{}  {}{}",
            a.app,
            shown(&a.version),
            if a.quarantined { "  (quarantined)" } else { "" }
        ));
    }
    out.set("apps", &apps);
    Ok(())
}

pub(crate) fn info(home: &Path, app: &AppId, out: &mut Out) -> Result<(), CliError> {
    let host = host(home)?.build()?;
    let info = host.info(app)?;
    out.line(format!(
        "{} {}  {}\npublisher   {}\nquarantined {}",
        info.summary.app,
        shown(&info.summary.version),
        quoted(&info.name),
        shown(&info.summary.publisher),
        info.summary.quarantined
    ));
    if let Some(d) = &info.description {
        out.line(format!("about       {}", shown(d)));
    }
    out.line(format!("views       {}", shown(&info.views.join(", "))));
    for c in &info.capabilities {
        let granted = info
            .grants
            .as_ref()
            .is_some_and(|g| g.contains(&c.capability));
        out.line(format!(
            "capability  {}{}  — {}",
            c.capability,
            if granted { " (granted)" } else { "" },
            shown(&c.reason)
        ));
    }
    if let (Some(used), Some(quota)) = (info.storage_bytes, info.storage_quota_bytes) {
        out.line(format!("storage     {used} of {quota} bytes"));
    }
    out.set("info", &info);
    Ok(())
}

pub(crate) fn grants(home: &Path, app: &AppId, out: &mut Out) -> Result<(), CliError> {
    let host = host(home)?.build()?;
    installed(&host, app)?;
    let grants = host.grants(app)?;
    if grants.is_empty() {
        out.line(format!("{app} holds no stored grants"));
    }
    let mut list = Vec::new();
    for g in &grants {
        let source = format!("{:?}", g.source()).to_lowercase();
        let origins: Vec<String> = g.scope().iter().map(ToString::to_string).collect();
        let reach = if origins.is_empty() {
            String::new()
        } else {
            format!(" for {}", origins.join(", "))
        };
        out.line(format!(
            "{}{reach}  by {source} at {} (Unix ms)",
            g.capability(),
            g.granted_at_unix_ms()
        ));
        list.push(serde_json::json!({
            "capability": g.capability().as_str(),
            "origins": origins,
            "source": source,
            "granted_at_unix_ms": g.granted_at_unix_ms(),
        }));
    }
    out.set("app", app.as_str());
    out.set("grants", list);
    Ok(())
}

pub(crate) fn revoke(home: &Path, app: &str, cap: &str, out: &mut Out) -> Result<(), CliError> {
    let app = app_id(app)?;
    let cap = capability(cap)?;
    let host = host(home)?.build()?;
    installed(&host, &app)?;
    let held = host.revoke(&app, &cap)?;
    out.line(if held {
        format!("revoked {cap} from {app}")
    } else {
        format!("{app} did not hold {cap}; nothing to revoke")
    });
    out.set("app", app.as_str());
    out.set("capability", cap.as_str());
    out.set("was_granted", held);
    Ok(())
}

pub(crate) fn audit(
    home: &Path,
    app: Option<&str>,
    verify: bool,
    out: &mut Out,
) -> Result<(), CliError> {
    let app = app.map(app_id).transpose()?;
    let host = host(home)?.build()?;
    if verify {
        let v = host.verify_audit()?;
        out.line(format!(
            "audit log verified: {} bytes of valid frames, {} frames written after the last \
             anchor, {} torn bytes at the end",
            v.valid_bytes, v.unanchored_frames, v.torn_tail_bytes
        ));
        out.set("verified", true);
        out.set("valid_bytes", v.valid_bytes);
        out.set("unanchored_frames", v.unanchored_frames);
        out.set("torn_tail_bytes", v.torn_tail_bytes);
        if app.is_none() {
            return Ok(());
        }
    }
    let records = host.audit_records(app.as_ref())?;
    for r in &records {
        out.line(format!(
            "{:>6} {} {:<8} {:<10} {:<24} {:<8} {}",
            r.seq,
            r.unix_ms,
            r.layer,
            shown(&r.action),
            shown(&r.subject),
            r.outcome,
            shown(&r.detail)
        ));
    }
    out.set("records", &records);
    Ok(())
}

pub(crate) fn defs(home: &Path, action: DefsAction, out: &mut Out) -> Result<(), CliError> {
    let DefsAction::Update { file, key } = action;
    let signed = read_input(&file)?;
    let new_key = match &key {
        Some(path) => {
            let text = read_input(path)?;
            Some((PublicKey::from_file_text(&text)?, text))
        }
        None => None,
    };
    // Checked before anything is written: a refused file changes nothing, not even the key.
    let version = HomeConfig::open(home)?.update_definitions(
        &signed,
        new_key.as_ref().map(|(k, text)| (*k, text.as_slice())),
    )?;
    if let (Some((k, _)), Some(path)) = (&new_key, &key) {
        out.line(format!(
            "definitions signer set to {k} from {} (only definitions it signs are accepted)",
            path.display()
        ));
    }
    out.line(format!(
        "security definitions version {version} accepted: every install is checked against them"
    ));
    out.set("version", version);
    // The installed packages are scanned again under them now (a host's start does it);
    // what fails is blocked, and stopped wherever it runs.
    let host = host(home)?.build()?;
    let blocked: Vec<String> = host
        .list()?
        .into_iter()
        .filter(|a| {
            matches!(
                host.check_launch(&a.app),
                Err(sandframe_host::HostError::Denied(
                    sandframe_host::Denied::Blocked { .. }
                ))
            )
        })
        .map(|a| a.app.to_string())
        .collect();
    if !blocked.is_empty() {
        out.line(format!(
            "blocked by them until a version that passes is installed: {}",
            blocked.join(", ")
        ));
    }
    out.set("blocked", blocked);
    Ok(())
}

/// `sandframe uninstall APP`.
pub(crate) fn uninstall(home: &Path, app: &AppId, out: &mut Out) -> Result<(), CliError> {
    let host = host(home)?.build()?;
    host.uninstall(app)?;
    out.line(format!(
        "uninstalled {app}: its package, artifact, storage and grants are gone (its audit \
         trail and publisher pin stay)"
    ));
    out.set("app", app.as_str());
    Ok(())
}

/// `sandframe release APP`: lifts a monitor's quarantine (audited).
pub(crate) fn release(home: &Path, app: &AppId, out: &mut Out) -> Result<(), CliError> {
    let host = host(home)?.build()?;
    if !host.is_quarantined(app) {
        return Err(CliError::Usage(format!(
            "{app} is not quarantined; `sandframe list` shows which apps are"
        )));
    }
    host.release(app)?;
    out.line(format!(
        "released {app}: it launches again, watched as before"
    ));
    out.set("app", app.as_str());
    Ok(())
}
