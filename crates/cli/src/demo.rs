//! `sandframe demo`: a scripted tour on a throwaway key and a temporary home.

use std::path::{Path, PathBuf};

use sandframe_host::AppId;
use sandframe_package::{PackageContents, SecretKey, source};
use serde_json::json;

use crate::home::profile_api;
use crate::out::{Out, shown};
use crate::run::{Answers, PolicyFile, Session};
use crate::{CliError, exit};

/// A hostile app: it imports a host function outside ABI v1 (a WASI file write).
const ESCAPER: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1 1)
  (func (export "sf_init") (result i32) i32.const 0)
  (func (export "sf_event") (param i32) (result i32) i32.const 0))"#;

/// A hostile app: every event spins forever.
const SPINNER: &str = r#"(module
  (import "sandframe_v1" "call" (func (param i32 i32 i32 i32) (result i64)))
  (memory (export "memory") 1 1)
  (func (export "sf_init") (result i32) i32.const 0)
  (func (export "sf_event") (param i32) (result i32) (loop $l (br $l)) i32.const 0))"#;

fn hostile(id: &str, name: &str, wat: &str, key: &SecretKey) -> Result<Vec<u8>, CliError> {
    let manifest = format!(
        "id = \"{id}\"\nname = \"{name}\"\nversion = \"1.0.0\"\nviews = [\"index\"]\n\
         [limits]\nmemory_pages = 1\nfuel_per_event = 1000000\n"
    );
    let wasm = wat::parse_str(wat)
        .map_err(|e| CliError::Internal(format!("the demo's module does not assemble: {e}")))?;
    let mut c = PackageContents::new(manifest.into_bytes());
    c.add_file("logic.wasm", wasm)?;
    c.add_file(
        "views/index.xml",
        b"<view><button bind:tap=\"onTap\">Go</button></view>".to_vec(),
    )?;
    Ok(c.sign(key)?)
}

thread_local! {
    /// When the current step started.
    static STEP_STARTED: std::cell::Cell<Option<std::time::Instant>> =
        const { std::cell::Cell::new(None) };
}

/// Ends the step in progress (printing how long it took) and starts `title`, if any.
fn step_done(out: &mut Out) {
    if let Some(started) = STEP_STARTED.take() {
        let seconds = started.elapsed().as_secs_f64();
        out.line(format!("({seconds:.1} s)"));
        out.push("step_seconds", (seconds * 1000.0).round() / 1000.0);
    }
}

fn step(out: &mut Out, title: &str) {
    step_done(out);
    out.line(format!("\n=== {title} ==="));
    out.push("steps", title);
    STEP_STARTED.set(Some(std::time::Instant::now()));
}

fn fail(what: String) -> CliError {
    CliError::Internal(format!("the demo did not go as scripted: {what}"))
}

/// `sandframe demo`.
pub(crate) fn demo(examples: Option<PathBuf>, out: &mut Out) -> Result<(), CliError> {
    let tmp = tempfile::tempdir().map_err(|source| CliError::Io {
        what: "create a temporary home".into(),
        source,
    })?;
    // The examples this binary carries (with the SDK's source, for the Rust ones), written
    // into the temporary directory, unless the caller names a directory of their own.
    let examples = match examples {
        Some(dir) => dir,
        None => {
            let src = tmp.path().join("src");
            crate::embedded::write_tree(&src, &["examples/", "crates/"])?;
            src.join("examples")
        }
    };
    if !examples.join("counter/manifest.toml").exists() {
        return Err(CliError::Usage(format!(
            "{} holds no example mini-apps (counter, profile); pass --examples with the \
             examples directory of a sandframe checkout, or leave it out to use the examples \
             this binary carries",
            examples.display()
        )));
    }
    let home = tmp.path().join("home");
    let result = tour(&examples, &home, out);
    step_done(out);
    let kept = tmp.path().display().to_string();
    drop(tmp);
    out.line(format!(
        "\nremoved the temporary home {kept} and the throwaway key"
    ));
    result
}

fn tour(examples: &Path, home: &Path, out: &mut Out) -> Result<(), CliError> {
    step(
        out,
        "1. a throwaway publisher key, trusted by a temporary home",
    );
    let key = SecretKey::generate()?;
    sandframe_host::HomeConfig::open(home)?
        .change_trust(|t| t.trust(key.public_key(), "demo publisher"))?;
    out.line(format!("publisher {}", key.public_key()));

    step(
        out,
        "2. pack and sign the example mini-apps (Rust ones are built for wasm32)",
    );
    // The notes app's own service: HTTPS on 127.0.0.1, its certificate signed by a CA made
    // for this demo and trusted by this demo's host alone.
    let service = sandframe_net::service::LocalService::start(&[NOTES_HOST])
        .map_err(|e| fail(format!("the notes service did not start: {e}")))?;
    let origin = format!("https://{NOTES_HOST}:{}", service.port());
    let mut packages = Vec::new();
    for name in ["counter", "profile", "notes", "counter-js"] {
        let spinner = crate::progress::Spinner::start(
            out.json(),
            if name.ends_with("-js") {
                format!("packing examples/{name} (JavaScript: nothing to build)")
            } else {
                format!("building examples/{name} for wasm32 with cargo")
            },
        );
        let contents = source::read_dir_adding_target(&examples.join(name), |l| spinner.note(l))?;
        drop(spinner);
        // The notes app declares the one origin it reaches: this run's service.
        let contents = if name == "notes" {
            with_origin(&contents, &origin)?
        } else {
            contents
        };
        let bytes = contents.sign(&key)?;
        out.line(format!("packed examples/{name}: {} bytes", bytes.len()));
        packages.push(bytes);
    }

    // The consent policy: the profile and the network are granted by policy, nobody is asked.
    let policy = PolicyFile {
        grant: vec!["user:readProfile".into(), "net:fetch".into()],
        ..PolicyFile::default()
    };
    let lo = std::net::IpAddr::from([127, 0, 0, 1]);
    let net = sandframe_host::NetConfig::new()
        .trust_root(service.ca_der())
        .resolver(std::sync::Arc::new(
            sandframe_host::StaticResolver::new().with(NOTES_HOST, [lo]),
        ))
        .allow_range(ipnet::IpNet::from(lo));
    let session = Session::open(
        home,
        Answers::new(&[], false, &policy, false),
        &policy,
        profile_api(Some("Ada".into())),
        net,
        &crate::args::NetArgs::default(),
    )?;
    let h = &session.host;

    step(
        out,
        "3. install: every package verified (signature, digests, static analysis)",
    );
    let mut apps = Vec::new();
    for bytes in &packages {
        let done = h.install(bytes)?;
        out.line(format!("installed {} {}", done.app, done.version));
        apps.push(done.app);
    }
    let [counter, profile, notes, counter_js] = apps.as_slice() else {
        return Err(fail("the examples did not install".into()));
    };

    step(
        out,
        "4. run the counter: three taps, stored in its encrypted storage",
    );
    h.launch(counter)?;
    session.frame(counter, "launch", out)?;
    for _ in 0..3 {
        tap(&session, counter, "+1", out)?;
    }
    h.terminate(counter)?;

    step(out, "5. relaunch it: the count survived in storage");
    h.launch(counter)?;
    session.frame(counter, "relaunch", out)?;
    if !session.text(counter).contains("Count: 3") {
        return Err(fail("the counter did not keep its count".into()));
    }
    h.terminate(counter)?;

    step(
        out,
        "6. the same counter in JavaScript (runtime = \"js@1\"): QuickJS inside the same sandbox",
    );
    h.launch(counter_js)?;
    session.frame(counter_js, "launch", out)?;
    for _ in 0..2 {
        tap(&session, counter_js, "+1", out)?;
    }
    if !session.text(counter_js).contains("Count: 2") {
        return Err(fail("the JS counter did not count".into()));
    }
    h.terminate(counter_js)?;

    step(
        out,
        "7. the profile app asks for user:readProfile: answered by the demo's policy",
    );
    h.launch(profile)?;
    session.frame(profile, "launch", out)?;
    tap(&session, profile, "Ask for my profile", out)?;
    if !session.text(profile).contains("Hello, Ada!") {
        return Err(fail("the profile app was not granted its profile".into()));
    }
    h.terminate(profile)?;

    step(
        out,
        "8. the notes app reaches its own service over HTTPS (net.fetch), and only that",
    );
    h.launch(notes)?;
    until(&session, notes, "0 notes on the service")?;
    session.frame(notes, "launch", out)?;
    tap(&session, notes, "Add a note", out)?;
    until(&session, notes, "1 note on the service")?;
    session.frame(notes, "the service's answer", out)?;
    tap(&session, notes, "Fetch from another site", out)?;
    if !session
        .text(notes)
        .contains("is not an origin granted to this app")
    {
        return Err(fail(
            "the notes app reached a site it did not declare".into(),
        ));
    }
    for r in h
        .audit_records(None)?
        .iter()
        .filter(|r| r.action == "fetch")
    {
        out.line(format!(
            "  audit: {} {} {} ({})",
            r.app,
            shown(&r.subject),
            r.outcome,
            shown(&r.detail)
        ));
    }
    out.push(
        "network",
        json!({ "origin": origin, "requests_served": service.seen().len() }),
    );
    h.terminate(notes)?;

    step(
        out,
        "9. a hostile app that imports a WASI file write: rejected at install",
    );
    match h.install(&hostile("dev.sandframe.escaper", "Escaper", ESCAPER, &key)?) {
        Err(e) => {
            let e = CliError::from(e);
            if e.exit_code() != exit::REJECTED {
                return Err(e);
            }
            out.line(format!(
                "rejected (exit code {} from `sandframe install`):",
                exit::REJECTED
            ));
            for f in e.report().map(|r| r.findings()).unwrap_or_default() {
                out.line(format!("  {}", shown(&f.to_string())));
            }
            out.push("rejected", json!({ "app": "dev.sandframe.escaper", "findings": e.report().map(|r| r.findings()) }));
        }
        Ok(_) => return Err(fail("the escaper was installed".into())),
    }

    step(
        out,
        "10. a hostile app that spins forever: terminated when its event's fuel runs out",
    );
    let spinner = h
        .install(&hostile("dev.sandframe.spinner", "Spinner", SPINNER, &key)?)?
        .app;
    h.launch(&spinner)?;
    match tap(&session, &spinner, "Go", out) {
        Err(e @ CliError::Terminated(_)) => {
            out.line(format!(
                "{e} (exit code {} from `sandframe run`)",
                exit::TERMINATED
            ));
            out.push(
                "terminated",
                json!({ "app": spinner.as_str(), "error": e.to_string() }),
            );
        }
        Err(e) => return Err(e),
        Ok(()) => return Err(fail("the spinner was not stopped".into())),
    }

    step(
        out,
        "11. the audit trail: MAC-chained, anchored outside the home, verified",
    );
    let v = h.verify_audit()?;
    let records = h.audit_records(None)?;
    for r in records
        .iter()
        .filter(|r| r.layer == "host" || r.action == "consent" || r.layer == "net")
    {
        out.line(format!(
            "  {:<22} {:<8} {:<10} {:<8} {}",
            r.app,
            r.layer,
            shown(&r.action),
            r.outcome,
            shown(&r.detail)
        ));
    }
    out.line(format!(
        "verified: {} records, {} bytes of MAC-chained frames",
        records.len(),
        v.valid_bytes
    ));
    out.set("audit_records", records.len());

    step(
        out,
        "12. uninstall: package, artifact, storage, grants and keys of each app go",
    );
    for app in [counter, profile, notes, counter_js, &spinner] {
        h.uninstall(app)?;
        out.line(format!("uninstalled {app}"));
    }
    Ok(())
}

/// The notes service's name: resolved to 127.0.0.1 by the demo's host alone.
const NOTES_HOST: &str = "notes.sandframe.test";

/// `contents` with its manifest's net:fetch origin replaced by `origin`.
fn with_origin(contents: &PackageContents, origin: &str) -> Result<PackageContents, CliError> {
    let manifest = String::from_utf8_lossy(contents.manifest())
        .replace("https://notes.sandframe.test:8443", origin);
    let mut patched = PackageContents::new(manifest.into_bytes());
    for (path, bytes) in contents.files() {
        patched.add_file(path.as_str(), bytes.to_vec())?;
    }
    Ok(patched)
}

/// Waits (up to 20 s) for `app`'s view to show `text`: a network answer comes as an event.
fn until(session: &Session, app: &AppId, text: &str) -> Result<(), CliError> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !session.text(app).contains(text) {
        if std::time::Instant::now() >= deadline {
            return Err(fail(format!(
                "{app} never showed {text:?}; it shows: {}",
                shown(&session.text(app))
            )));
        }
        let _ = session.host.settle(app);
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    Ok(())
}

/// Taps the element labelled `label` and prints the view after it.
fn tap(session: &Session, app: &AppId, label: &str, out: &mut Out) -> Result<(), CliError> {
    crate::run::script_step(session, app, label, out)
}
