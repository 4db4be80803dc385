//! `sandframe dev` and `sandframe run --serve`: the simulator in a browser.

use std::path::Path;

use sandframe_host::AppId;
use sandframe_package::SecretKey;
use sandframe_sim::{Options, Parts};

use crate::CliError;
use crate::home::{host, profile_api};
use crate::out::Out;

/// Prints the page's address as soon as the server listens (standard output, flushed: a
/// script or a test reads it from there).
fn ready(json: bool) -> Box<dyn FnOnce(&str) + Send> {
    Box::new(move |url: &str| {
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        let _ = if json {
            writeln!(
                stdout,
                "{}",
                serde_json::json!({ "ok": true, "serving": url })
            )
        } else {
            writeln!(stdout, "sandframe simulator: open {url}  (Ctrl-C stops it)")
        };
        let _ = stdout.flush();
    })
}

fn serve(
    home: &Path,
    app: Option<AppId>,
    source: Option<(std::path::PathBuf, SecretKey)>,
    port: u16,
    name: Option<String>,
    net: &crate::args::NetArgs,
    out: &mut Out,
) -> Result<(), CliError> {
    let parts = Parts::new();
    let host = parts
        .attach(host(home)?)
        .api(
            "user.getProfile",
            Some("user:readProfile"),
            profile_api(name),
        )
        .net(crate::home::net_config(net)?)
        .policy(crate::home::origin_policy(
            net,
            sandframe_host::Policy::new(),
        )?)
        .build()?;
    sandframe_sim::serve(
        host,
        parts,
        Options {
            port,
            app,
            source,
            on_ready: Some(ready(out.json())),
        },
    )
    .map_err(|e| match e {
        sandframe_sim::SimError::Host(h) => CliError::Host(h),
        e @ sandframe_sim::SimError::Start(_) => CliError::Usage(format!(
            "{e}; if port {port} is taken, pass --port with another one (0 picks a free one)"
        )),
        other => CliError::Usage(format!(
            "{other}; check that the directory exists and that you may read it"
        )),
    })?;
    // With --json the "serving" line was the one object: nothing more on exit.
    out.streamed();
    Ok(())
}

/// `sandframe dev SRC_DIR`: a development key trusted only by a temporary home.
pub(crate) fn dev(
    src: &Path,
    port: u16,
    name: Option<String>,
    net: &crate::args::NetArgs,
    out: &mut Out,
) -> Result<(), CliError> {
    if !src.join("manifest.toml").is_file() {
        return Err(CliError::Usage(format!(
            "{} is not a mini-app source directory (no manifest.toml); `sandframe new NAME` \
             makes one",
            src.display()
        )));
    }
    let tmp = tempfile::tempdir().map_err(|source| CliError::Io {
        what: "create the simulator's temporary home".into(),
        source,
    })?;
    let home = tmp.path().join("home");
    let key = SecretKey::generate()?;
    sandframe_host::HomeConfig::open(&home)?
        .change_trust(|t| t.trust(key.public_key(), "development key (this simulator only)"))?;
    let dir = src.canonicalize().map_err(|e| {
        CliError::Usage(format!(
            "cannot open {}: {e}; {}",
            src.display(),
            crate::help::io_step(&e)
        ))
    })?;
    serve(&home, None, Some((dir, key)), port, name, net, out)
}

/// `sandframe run APP --serve`: an installed app, in the browser, from the real home.
pub(crate) fn serve_installed(
    home: &Path,
    app: &AppId,
    port: u16,
    name: Option<String>,
    net: &crate::args::NetArgs,
    out: &mut Out,
) -> Result<(), CliError> {
    let h = host(home)?.build()?;
    h.info(app)?; // installed, and still trusted
    if h.is_quarantined(app) {
        return Err(
            sandframe_host::HostError::from(sandframe_host::Denied::Quarantined(app.clone()))
                .into(),
        );
    }
    drop(h);
    serve(home, Some(app.clone()), None, port, name, net, out)
}
