//! `sandframe new NAME [--template wat|rust|js]`: a mini-app that packs, installs and runs as
//! it is, made from the examples this binary carries (`hello` for WebAssembly text, `counter`
//! for Rust, `counter-js` for JavaScript).

use std::path::{Path, PathBuf};

use sandframe_host::AppId;

use crate::args::Template;
use crate::out::Out;
use crate::{CliError, embedded};

/// Where a Rust app's copy of the SDK goes, inside the app's directory.
const SDK_COPY: &str = ".sandframe/sdk";

fn embedded_text(path: &str) -> Result<String, CliError> {
    embedded::FILES
        .iter()
        .find(|(rel, _)| *rel == path)
        .map(|(_, bytes)| String::from_utf8_lossy(bytes).into_owned())
        .ok_or_else(|| {
            CliError::Internal(format!("the template file {path} is not in this binary"))
        })
}

/// The example's manifest with the new app's id and name (every other line kept).
fn manifest(example: &str, id: &AppId, name: &str) -> Result<String, CliError> {
    let text = embedded_text(&format!("examples/{example}/manifest.toml"))?;
    let mut out = format!(
        "# {name}: a sandframe mini-app, made by `sandframe new` from the {example} example.\n\
         # Change the id to one under a domain you control before you publish it.\n"
    );
    // Only the top-level keys, before the first table (`[[capabilities]]` has a `name` too).
    let mut top = true;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        top = top && !line.trim_start().starts_with('[');
        let key = line.split('=').next().unwrap_or_default().trim();
        match key {
            "id" if top => out.push_str(&format!("id = \"{id}\"\n")),
            "name" if top => out.push_str(&format!("name = \"{name}\"\n")),
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    Ok(out)
}

fn write(dir: &Path, rel: &str, text: &str) -> Result<(), CliError> {
    let path = dir.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| CliError::Io {
            what: format!("create {}", parent.display()),
            source,
        })?;
    }
    std::fs::write(&path, text).map_err(|source| CliError::Io {
        what: format!("write {}", path.display()),
        source,
    })
}

/// Whether cargo takes `name` (already lowercase letters, digits and `-`) as the package name
/// of the Rust template: not a keyword of any edition (as the library crate's name, with `-`
/// as `_`), not a crate of the standard distribution, not the SDK it depends on (`cargo new`
/// refuses the first two as well).
fn usable_crate_name(name: &str) -> bool {
    const KEYWORDS: &[&str] = &[
        "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate",
        "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl",
        "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub",
        "ref", "return", "self", "static", "struct", "super", "trait", "true", "try", "type",
        "typeof", "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
    ];
    const TAKEN: &[&str] = &[
        "alloc",
        "core",
        "proc_macro",
        "std",
        "test",
        "sandframe_sdk",
        "sandframe_core",
    ];
    let lib = name.replace('-', "_");
    !KEYWORDS.contains(&lib.as_str()) && !TAKEN.contains(&lib.as_str())
}

fn cargo_toml(name: &str) -> String {
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
crate-type = ["cdylib", "rlib"]

[dependencies]
# By path, to the copy `sandframe new` wrote: never a `sandframe-sdk` from a registry.
sandframe-sdk = {{ path = "{SDK_COPY}/crates/sdk" }}

[profile.release]
panic = "abort"
opt-level = "s"
lto = true
codegen-units = 1

# The app is a workspace of its own; the SDK copy is another.
[workspace]
exclude = [".sandframe"]
"#
    )
}

fn readme(name: &str, id: &AppId, template: Template) -> String {
    let logic = match template {
        Template::Wat => "`logic.wat`: the logic, in WebAssembly text against host ABI v1",
        Template::Rust => {
            "`src/lib.rs`: the logic, in Rust with `sandframe-sdk` (its source is in \
             `.sandframe/sdk`; `sandframe pack` builds the crate for wasm32-unknown-unknown)"
        }
        Template::Js => {
            "`logic.js`: the logic, in JavaScript (a WeChat-style `Page`; `runtime = \"js@1\"` \
             in the manifest runs it on the host's QuickJS engine; the API is in sandframe's \
             docs/js.md)"
        }
    };
    format!(
        "# {name}\n\n\
         A sandframe mini-app.\n\n\
         - `manifest.toml`: its id (`{id}`: change it to one under a domain you control), \
         name, version, views, the capabilities it asks for and why, its limits\n\
         - `views/index.xml`: its view, a template filled from the data the logic sends\n\
         - {logic}\n\n\
         Try it:\n\n\
         ```sh\n\
         sandframe keygen --out keys\n\
         sandframe pack . --key keys/publisher.key --out {name}.sfpkg\n\
         sandframe trust add keys/publisher.pub\n\
         sandframe install {name}.sfpkg\n\
         sandframe run {id}\n\
         sandframe dev .        # in a browser, re-packed on every save\n\
         ```\n"
    )
}

/// `sandframe new NAME --template T`, in the current directory.
pub(crate) fn new(name: &str, template: Template, out: &mut Out) -> Result<(), CliError> {
    let id: AppId = format!("com.example.{name}").parse().map_err(|e| {
        CliError::Usage(format!(
            "{name:?} cannot name an app ({e}); use lowercase letters, digits and `-`, \
             starting with a letter"
        ))
    })?;
    if name.contains('.') {
        return Err(CliError::Usage(format!(
            "{name:?} cannot name an app: no dots; use lowercase letters, digits and `-`"
        )));
    }
    if template == Template::Rust && !usable_crate_name(name) {
        return Err(CliError::Usage(format!(
            "{name:?} cannot name a Rust crate (a Rust keyword, or a crate every build already \
             has); pick another name, e.g. {name}-app"
        )));
    }
    let dir = PathBuf::from(name);
    if std::fs::symlink_metadata(&dir).is_ok() {
        return Err(CliError::Usage(format!(
            "{} already exists; pick another name, or move it away first",
            dir.display()
        )));
    }
    let example = match template {
        Template::Wat => "hello",
        Template::Rust => "counter",
        Template::Js => "counter-js",
    };
    let made = (|| {
        write(&dir, "manifest.toml", &manifest(example, &id, name)?)?;
        write(
            &dir,
            "views/index.xml",
            &embedded_text(&format!("examples/{example}/views/index.xml"))?,
        )?;
        match template {
            Template::Wat => write(
                &dir,
                "logic.wat",
                &embedded_text("examples/hello/logic.wat")?,
            )?,
            Template::Rust => {
                write(&dir, "Cargo.toml", &cargo_toml(name))?;
                write(
                    &dir,
                    "src/lib.rs",
                    &embedded_text("examples/counter/src/lib.rs")?,
                )?;
                embedded::write_tree(&dir.join(SDK_COPY), &["crates/"])?;
            }
            Template::Js => write(
                &dir,
                "logic.js",
                &embedded_text("examples/counter-js/logic.js")?,
            )?,
        }
        write(&dir, ".gitignore", "target/\n*.sfpkg\n")?;
        write(&dir, "README.md", &readme(name, &id, template))
    })();
    if let Err(e) = made {
        // Nothing half-made is left behind.
        let _ = std::fs::remove_dir_all(&dir);
        return Err(e);
    }
    out.line(format!(
        "made {}/ ({} template): app {id}; next: sandframe pack {} --key KEY --out {name}.sfpkg \
         (its README says the rest)",
        dir.display(),
        match template {
            Template::Wat => "wat",
            Template::Rust => "rust",
            Template::Js => "js",
        },
        dir.display()
    ));
    out.set("app", id.as_str());
    out.set("dir", dir.display().to_string());
    Ok(())
}
