//! Every command but `run` and `demo`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sandframe_host::{AppId, Capability};
use sandframe_host::{Host, HostBuilder};
use sandframe_package::{Package, PublicKey, SecretKey, TrustStore, source};
use sandframe_validate::{Context, Installed, Registry, Validator};

use crate::args::{Cli, Command, DefsAction, TrustAction};
use crate::out::{Out, quoted, shown};
use crate::{CliError, demo, run, sim};

/// The trust store's file in the home.
const TRUST_FILE: &str = "trust.toml";
/// The definitions signer's key in the home.
const DEFS_KEY_FILE: &str = "definitions.pub";
/// The current signed definitions in the home.
const DEFS_FILE: &str = "definitions.signed";

/// Runs one command.
pub(crate) fn run(cli: Cli, out: &mut Out) -> Result<(), CliError> {
    let home = || home_dir(cli.home.clone());
    match cli.command {
        Command::Keygen { out: dir, force } => keygen(&dir, force, out),
        Command::Pack {
            src,
            key,
            out: dest,
        } => pack(&src, &key, &dest, out),
        Command::Verify { package, trust } => verify(&home, &package, &trust, out),
        Command::Trust { action } => trust(&home()?, action, out),
        Command::Install { package } => install(&home()?, &package, out),
        Command::List => list(&home()?, out),
        Command::Info { app } => info(&home()?, &app_id(&app)?, out),
        Command::Run {
            app,
            profile_name,
            serve: true,
            port,
            ..
        } => sim::serve_installed(&home()?, &app_id(&app)?, port, profile_name, out),
        Command::Run {
            app,
            events,
            grant,
            deny_all,
            policy,
            profile_name,
            ..
        } => run::run(
            &home()?,
            &run::Options {
                app: app_id(&app)?,
                events,
                grant,
                deny_all,
                policy,
                profile_name,
            },
            out,
        ),
        Command::Grants { app } => grants(&home()?, &app_id(&app)?, out),
        Command::Revoke { app, capability } => revoke(&home()?, &app, &capability, out),
        Command::Audit { app, verify } => audit(&home()?, app.as_deref(), verify, out),
        Command::Defs { action } => defs(&home()?, action, out),
        Command::Uninstall { app } => {
            let app = app_id(&app)?;
            let host = host(&home()?)?.build()?;
            host.uninstall(&app)?;
            out.line(format!(
                "uninstalled {app}: its package, artifact, storage and grants are gone (its audit \
                 trail and publisher pin stay)"
            ));
            out.set("app", app.as_str());
            Ok(())
        }
        Command::Release { app } => {
            let app = app_id(&app)?;
            let host = host(&home()?)?.build()?;
            if !host.is_quarantined(&app) {
                return Err(CliError::Usage(format!(
                    "{app} is not quarantined; `sandframe list` shows which apps are"
                )));
            }
            host.release(&app)?;
            out.line(format!(
                "released {app}: it launches again, watched as before"
            ));
            out.set("app", app.as_str());
            Ok(())
        }
        Command::Demo { examples } => demo::demo(examples, out),
        Command::New { name, template } => crate::new::new(&name, template, out),
        Command::Dev {
            src,
            port,
            profile_name,
        } => sim::dev(&src, port, profile_name, out),
    }
}

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

fn capability(s: &str) -> Result<Capability, CliError> {
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
fn validator(home: &Path) -> Result<Validator, CliError> {
    let mut v = Validator::new();
    if let Ok(key) = std::fs::read(home.join(DEFS_KEY_FILE)) {
        v = v.with_definitions_key(PublicKey::from_file_text(&key)?);
        if let Ok(signed) = std::fs::read(home.join(DEFS_FILE)) {
            v.update_definitions(&signed)?;
        }
    }
    Ok(v)
}

/// The home's definitions key and accepted definitions, on the host builder.
fn definitions(home: &Path, mut builder: HostBuilder) -> Result<HostBuilder, CliError> {
    if let Ok(key) = std::fs::read(home.join(DEFS_KEY_FILE)) {
        builder = builder.definitions_key(PublicKey::from_file_text(&key)?);
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

fn keygen(dir: &Path, force: bool, out: &mut Out) -> Result<(), CliError> {
    let key = SecretKey::generate()?;
    let (secret, public) = sandframe_package::write_key_pair(dir, &key, force)?;
    out.line(format!(
        "wrote {} (secret, mode 0600) and {}\npublisher {}",
        secret.display(),
        public.display(),
        key.public_key()
    ));
    out.set("secret_key_file", secret);
    out.set("public_key_file", public);
    out.set("publisher", key.public_key().to_string());
    Ok(())
}

fn pack(src: &Path, key: &Path, dest: &Path, out: &mut Out) -> Result<(), CliError> {
    let key = SecretKey::from_file_text(&read_input(key)?)?;
    let spinner = crate::progress::Spinner::start(
        out.json(),
        format!("packing {} (a Rust app is built with cargo)", src.display()),
    );
    let contents = source::read_dir_adding_target(src, |l| spinner.note(l))?;
    drop(spinner);
    let bytes = contents.sign(&key)?;
    let p = Package::parse(&bytes)?;
    std::fs::write(dest, &bytes).map_err(|source| CliError::Io {
        what: format!("write {}", dest.display()),
        source,
    })?;
    out.line(format!(
        "packed {} {} ({} bytes, {} files) -> {}\ndigest blake3:{}",
        p.manifest().id(),
        p.manifest().version(),
        bytes.len(),
        p.files().count(),
        dest.display(),
        p.digest()
    ));
    out.set("app", p.manifest().id().as_str());
    out.set("version", p.manifest().version().to_string());
    out.set("bytes", bytes.len());
    out.set("digest", format!("blake3:{}", p.digest()));
    out.set("package", dest);
    Ok(())
}

/// No app installed yet: `verify` checks a package as a first install would.
struct NothingInstalled;

impl Registry for NothingInstalled {
    fn installed(&self, _app: &AppId) -> Option<Installed> {
        None
    }
}

fn verify(
    home: &dyn Fn() -> Result<PathBuf, CliError>,
    package: &Path,
    trust: &[PathBuf],
    out: &mut Out,
) -> Result<(), CliError> {
    let bytes = read_input(package)?;
    let (store, validator) = if trust.is_empty() {
        let home = home()?;
        (trust_store(&home)?, validator(&home)?)
    } else {
        let mut store = TrustStore::new();
        for t in trust {
            store.trust(
                PublicKey::from_file_text(&read_input(t)?)?,
                t.display().to_string(),
            );
        }
        (store, Validator::new())
    };
    let verified = validator.verify(&bytes, &Context::new(&store, &NothingInstalled))?;
    let p = verified.package();
    out.line(format!(
        "valid: {} {} by {}\ndigest blake3:{}",
        p.manifest().id(),
        p.manifest().version(),
        p.publisher(),
        p.digest()
    ));
    for f in verified.report().findings() {
        out.line(format!("  {}", shown(&f.to_string())));
    }
    out.set("app", p.manifest().id().as_str());
    out.set("version", p.manifest().version().to_string());
    out.set("publisher", p.publisher().to_string());
    out.set("digest", format!("blake3:{}", p.digest()));
    out.set("findings", verified.report().findings());
    Ok(())
}

fn trust(home: &Path, action: TrustAction, out: &mut Out) -> Result<(), CliError> {
    let mut store = trust_store(home)?;
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
            store.trust(key, name.clone());
            write_home_file(home, TRUST_FILE, store.to_toml()?.as_bytes())?;
            out.line(format!("trusted {key} as {}", quoted(&name)));
            out.set("publisher", key.to_string());
            out.set("name", name);
        }
        TrustAction::List => {
            let mut list: Vec<(String, String)> = store
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
            if !store.remove(&key) {
                return Err(CliError::Usage(format!(
                    "{key} is not trusted by this home; `sandframe trust list` shows the keys it \
                     trusts"
                )));
            }
            write_home_file(home, TRUST_FILE, store.to_toml()?.as_bytes())?;
            out.line(format!(
                "no longer trusting {key}: its installed apps will not launch"
            ));
            out.set("publisher", key.to_string());
        }
    }
    Ok(())
}

fn install(home: &Path, package: &Path, out: &mut Out) -> Result<(), CliError> {
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

fn list(home: &Path, out: &mut Out) -> Result<(), CliError> {
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

fn info(home: &Path, app: &AppId, out: &mut Out) -> Result<(), CliError> {
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

fn grants(home: &Path, app: &AppId, out: &mut Out) -> Result<(), CliError> {
    let host = host(home)?.build()?;
    installed(&host, app)?;
    let grants = host.grants(app)?;
    if grants.is_empty() {
        out.line(format!("{app} holds no stored grants"));
    }
    let mut list = Vec::new();
    for g in &grants {
        let source = format!("{:?}", g.source()).to_lowercase();
        out.line(format!(
            "{}  by {source} at {} (Unix ms)",
            g.capability(),
            g.granted_at_unix_ms()
        ));
        list.push(serde_json::json!({
            "capability": g.capability().as_str(),
            "source": source,
            "granted_at_unix_ms": g.granted_at_unix_ms(),
        }));
    }
    out.set("app", app.as_str());
    out.set("grants", list);
    Ok(())
}

fn revoke(home: &Path, app: &str, cap: &str, out: &mut Out) -> Result<(), CliError> {
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

fn audit(home: &Path, app: Option<&str>, verify: bool, out: &mut Out) -> Result<(), CliError> {
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

fn defs(home: &Path, action: DefsAction, out: &mut Out) -> Result<(), CliError> {
    let DefsAction::Update { file, key } = action;
    let signed = read_input(&file)?;
    let current = std::fs::read(home.join(DEFS_KEY_FILE))
        .ok()
        .map(|t| PublicKey::from_file_text(&t))
        .transpose()?;
    let new_key = match &key {
        Some(path) => {
            let text = read_input(path)?;
            Some((PublicKey::from_file_text(&text)?, text))
        }
        None => None,
    };
    // Checked before anything is written: a refused file changes nothing, not even the key.
    let mut v = match &new_key {
        // A new signer starts afresh: the old signer's set does not bind it.
        Some((k, _)) if current.as_ref() != Some(k) => Validator::new().with_definitions_key(*k),
        _ => validator(home)?,
    };
    let version = v.update_definitions(&signed)?;
    if let (Some((k, text)), Some(path)) = (&new_key, &key) {
        write_home_file(home, DEFS_KEY_FILE, text)?;
        out.line(format!(
            "definitions signer set to {k} from {} (only definitions it signs are accepted)",
            path.display()
        ));
    }
    write_home_file(home, DEFS_FILE, &signed)?;
    out.line(format!(
        "security definitions version {version} accepted: every install is checked against them"
    ));
    out.set("version", version);
    Ok(())
}
