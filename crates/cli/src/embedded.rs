//! The examples' and the guest SDK's sources, carried in the binary (see `build.rs`), and
//! written out where `demo` and `new` need them.
//!
//! They are written as the repository lays them out, with a workspace manifest trimmed to the
//! SDK and the contracts crate, so that a Rust app depends on the SDK by path: never on a
//! `sandframe-sdk` from a registry, where whoever registered that name would run their build
//! script on the author's machine.

use std::path::Path;

use crate::CliError;

include!(concat!(env!("OUT_DIR"), "/embedded.rs"));

/// Where the SDK crate is, under a tree [`write_tree`] wrote.
pub(crate) const SDK_DIR: &str = "crates/sdk";

/// Writes every embedded file whose path starts with one of `prefixes` (and the trimmed
/// workspace manifest) under `dest`, which must not hold them yet.
pub(crate) fn write_tree(dest: &Path, prefixes: &[&str]) -> Result<(), CliError> {
    let io = |what: String| move |source| CliError::Io { what, source };
    for (rel, bytes) in FILES {
        if *rel == "Cargo.toml" || !prefixes.iter().any(|p| rel.starts_with(p)) {
            continue;
        }
        let path = dest.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(format!("create {}", parent.display())))?;
        }
        std::fs::write(&path, bytes).map_err(io(format!("write {}", path.display())))?;
    }
    let manifest = dest.join("Cargo.toml");
    std::fs::write(&manifest, workspace_manifest()?)
        .map_err(io(format!("write {}", manifest.display())))?;
    // One target directory for every crate in the tree (cargo runs in the crate's directory
    // and finds this), so that two examples build the SDK once.
    let config = dest.join(".cargo");
    std::fs::create_dir_all(&config).map_err(io(format!("create {}", config.display())))?;
    std::fs::write(
        config.join("config.toml"),
        "[build]\ntarget-dir = \"target\"\n",
    )
    .map_err(io(format!("write {}", config.display())))?;
    Ok(())
}

/// The repository's workspace manifest, trimmed to the SDK and the contracts crate: their
/// members, the package fields and lints they inherit, and the dependencies that are not
/// other sandframe crates.
fn workspace_manifest() -> Result<String, CliError> {
    let broken =
        |why: String| CliError::Internal(format!("the embedded workspace manifest: {why}"));
    let text = FILES
        .iter()
        .find(|(rel, _)| *rel == "Cargo.toml")
        .map(|(_, bytes)| String::from_utf8_lossy(bytes).into_owned())
        .ok_or_else(|| broken("missing".into()))?;
    let mut manifest: toml::Table = toml::from_str(&text).map_err(|e| broken(e.to_string()))?;
    let workspace = manifest
        .get_mut("workspace")
        .and_then(|w| w.as_table_mut())
        .ok_or_else(|| broken("no [workspace]".into()))?;
    workspace.insert(
        "members".into(),
        toml::Value::Array(vec!["crates/core".into(), SDK_DIR.into()]),
    );
    workspace.remove("exclude");
    workspace.remove("default-members");
    if let Some(deps) = workspace
        .get_mut("dependencies")
        .and_then(|d| d.as_table_mut())
    {
        deps.retain(|name, spec| {
            let path = spec.get("path").and_then(|p| p.as_str());
            path.is_none() || (name == "sandframe-core" && path == Some("crates/core"))
        });
    }
    manifest.retain(|k, _| k == "workspace");
    let body = toml::to_string(&manifest).map_err(|e| broken(e.to_string()))?;
    Ok(format!(
        "# Written by `sandframe`: the guest SDK and the contracts crate it builds on, from the\n\
         # sandframe release this binary is. Rust mini-apps depend on crates/sdk by path.\n\n{body}"
    ))
}
