//! The author's tools: `keygen`, `pack` and `verify`, over the package and validate crates
//! (no home is needed, except to verify against its trust store).

use std::path::{Path, PathBuf};

use sandframe_host::AppId;
use sandframe_package::{PackageError, PublicKey, SecretKey, TrustStore, source};
use sandframe_validate::{Context, Installed, Registry, Validator};

use crate::CliError;
use crate::home::read_input;
use crate::out::{Out, shown};

pub(crate) fn keygen(dir: &Path, force: bool, out: &mut Out) -> Result<(), CliError> {
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

pub(crate) fn pack(src: &Path, key: &Path, dest: &Path, out: &mut Out) -> Result<(), CliError> {
    let key = SecretKey::from_file_text(&read_input(key)?)?;
    let spinner = crate::progress::Spinner::start(
        out.json(),
        format!("packing {} (a Rust app is built with cargo)", src.display()),
    );
    let (bytes, p) = source::pack(src, &key, |l| spinner.note(l))?;
    drop(spinner);
    if let Some(script) = p.script() {
        check_script(script, out)?;
    }
    std::fs::write(dest, &bytes).map_err(|source| CliError::Io {
        what: format!("write {}", dest.display()),
        source,
    })?;
    out.line(source::packed_summary(&p, bytes.len(), dest));
    out.set("app", p.manifest().id().as_str());
    out.set("version", p.manifest().version().to_string());
    out.set("bytes", bytes.len());
    out.set("digest", format!("blake3:{}", p.digest()));
    out.set("package", dest);
    Ok(())
}

/// A JS app's script, parsed by the engine inside the sandbox: a syntax error is the pack's
/// failure, with its line and column (nothing is written).
fn check_script(script: &str, out: &mut Out) -> Result<(), CliError> {
    let spinner = crate::progress::Spinner::start(
        out.json(),
        "checking logic.js on the JS engine (inside the sandbox)".to_owned(),
    );
    let checked = sandframe_host::check_script(script)?;
    drop(spinner);
    match checked {
        Ok(()) => Ok(()),
        Err(sandframe_host::ScriptProblem::Syntax {
            line,
            column,
            message,
        }) => Err(PackageError::Syntax {
            path: "logic.js".into(),
            line,
            column,
            message,
        }
        .into()),
        Err(other) => Err(PackageError::BadScript {
            path: "logic.js".into(),
            reason: other.to_string(),
        }
        .into()),
    }
}

/// No app installed yet: `verify` checks a package as a first install would.
struct NothingInstalled;

impl Registry for NothingInstalled {
    fn installed(&self, _app: &AppId) -> Option<Installed> {
        None
    }
}

pub(crate) fn verify(
    home: &dyn Fn() -> Result<PathBuf, CliError>,
    package: &Path,
    trust: &[PathBuf],
    out: &mut Out,
) -> Result<(), CliError> {
    let bytes = read_input(package)?;
    let (store, validator) = if trust.is_empty() {
        let config = sandframe_host::HomeConfig::open(home()?)?;
        (config.trust()?, config.validator()?)
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
    // The `sandframe` host opens a network door in every command: it knows net:fetch.
    let validator = match sandframe_host::Capability::parse(sandframe_host::Capability::NET_FETCH) {
        Ok(net) => validator.with_capability(net),
        Err(_) => validator,
    };
    // ... and carries the JS engine js@1 apps run on.
    let validator = validator.with_js_engine(sandframe_host::JS_ENGINE);
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
