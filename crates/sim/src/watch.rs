//! `sandframe dev`: pack the source directory, reinstall and relaunch on every save.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher as _};
use sandframe_package::{PackageError, SecretKey, source};
use serde_json::{Value, json};

use crate::{Shared, SimError};

/// Saves closer together than this are one change.
const SETTLE: Duration = Duration::from_millis(300);

/// The author's source directory and the development key it is packed with.
pub(crate) struct Source {
    pub(crate) dir: PathBuf,
    pub(crate) key: SecretKey,
}

/// A finding for the page: `{code, severity, location: {file, line, column}, message}`.
fn finding(
    code: &str,
    file: Option<&str>,
    line: Option<u32>,
    column: Option<u32>,
    message: &str,
) -> Value {
    json!({
        "code": code,
        "severity": "error",
        "location": { "file": file, "line": line, "column": column },
        "message": message,
    })
}

/// What a failed pack says, as findings.
fn pack_findings(e: &PackageError) -> Value {
    match e {
        PackageError::Template { file, source } => Value::Array(vec![finding(
            "pack",
            Some(file),
            Some(source.line),
            Some(source.column),
            &source.message,
        )]),
        other => Value::Array(vec![finding("pack", None, None, None, &other.to_string())]),
    }
}

/// A JS app's syntax error, as findings with its line and column (the engine parses the
/// script inside the sandbox); `None` for a script that parses, or a wasm app.
fn script_findings(bytes: &[u8], shared: &Shared) -> Option<Value> {
    let package = sandframe_package::Package::parse(bytes).ok()?;
    let script = package.script()?;
    shared.set_status("checking logic.js on the JS engine…");
    match shared.host.check_script(script) {
        Ok(Ok(())) => None,
        Ok(Err(sandframe_host::ScriptProblem::Syntax {
            line,
            column,
            message,
        })) => Some(Value::Array(vec![finding(
            "pack",
            Some("logic.js"),
            Some(line),
            Some(column),
            &message,
        )])),
        Ok(Err(other)) => Some(Value::Array(vec![finding(
            "pack",
            Some("logic.js"),
            None,
            None,
            &other.to_string(),
        )])),
        Err(e) => Some(Value::Array(vec![finding(
            "pack",
            None,
            None,
            None,
            &e.to_string(),
        )])),
    }
}

impl Source {
    /// Packs, installs and relaunches; a failure shows in the page as findings.
    pub(crate) fn rebuild(&self, shared: &Shared) {
        shared.set_status("packing…");
        let packed = source::read_dir_adding_target(&self.dir, |line| {
            shared.set_status(line);
            eprintln!("sandframe: {line}");
        })
        .and_then(|c| c.sign(&self.key));
        let problem = match &packed {
            Ok(bytes) => script_findings(bytes, shared),
            Err(_) => None,
        };
        let result = match packed {
            Err(e) => Err(pack_findings(&e)),
            Ok(_) if problem.is_some() => Err(problem.unwrap_or(Value::Null)),
            Ok(bytes) => match shared.host.install(&bytes) {
                Ok(done) => Ok(done.app),
                Err(e) if e.report().is_some() => Err(e.report().map_or(Value::Null, |r| {
                    serde_json::to_value(r.findings()).unwrap_or(Value::Null)
                })),
                Err(e) => Err(Value::Array(vec![finding(
                    "install",
                    None,
                    None,
                    None,
                    &e.to_string(),
                )])),
            },
        };
        match result {
            Ok(app) => {
                if let Ok(mut f) = shared.findings.lock() {
                    *f = Value::Array(Vec::new());
                }
                if let Ok(mut a) = shared.app.lock() {
                    *a = Some(app.clone());
                }
                shared.relaunch(&app);
            }
            Err(findings) => {
                if let Ok(mut f) = shared.findings.lock() {
                    *f = findings;
                }
                shared.set_status("not accepted: see the findings; the last good version runs");
            }
        }
    }
}

/// Whether a changed path is the author's (not a build's output or a VCS's bookkeeping).
fn is_source(dir: &Path, path: &Path) -> bool {
    let rel = path.strip_prefix(dir).unwrap_or(path);
    !rel.components().any(|c| {
        let c = c.as_os_str();
        c == "target" || c == ".git"
    })
}

/// Watches the source directory; every save (after [`SETTLE`]) rebuilds.
pub(crate) fn start(
    source: Source,
    shared: Arc<Shared>,
) -> Result<notify::RecommendedWatcher, SimError> {
    let fail = |e: notify::Error| SimError::Watch {
        dir: source.dir.clone(),
        reason: e.to_string(),
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let dir = source.dir.clone();
    let filter_dir = dir.canonicalize().unwrap_or_else(|_| dir.clone());
    let mut watcher = notify::recommended_watcher(move |e: notify::Result<notify::Event>| {
        if let Ok(e) = e
            && !e.kind.is_access()
            && e.paths.iter().any(|p| is_source(&filter_dir, p))
        {
            let _ = tx.send(());
        }
    })
    .map_err(fail)?;
    watcher
        .watch(&dir, RecursiveMode::Recursive)
        .map_err(fail)?;
    std::thread::Builder::new()
        .name("sandframe-sim-watch".into())
        .spawn(move || {
            while rx.recv().is_ok() {
                // Let a burst of saves settle into one rebuild.
                while rx.recv_timeout(SETTLE).is_ok() {}
                source.rebuild(&shared);
            }
        })
        .map_err(|e| SimError::Watch {
            dir,
            reason: e.to_string(),
        })?;
    Ok(watcher)
}
