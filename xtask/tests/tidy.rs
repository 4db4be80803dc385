//! Repository rules that prose cannot keep by itself (rust-analyzer's `tidy` is the model).
//!
//! - Every test SECURITY.md's "Attacks we test" table names exists, as a `#[test]` function
//!   in the file the table gives (or, in a libtest-mimic harness, a function registered as a
//!   trial under its own name): the table is a list of promises, and a renamed or deleted
//!   test would leave one unchecked.
//! - Every `src` file opens with its `//!` doc: a reader finds what a file is for at its top.
//! - Each crate's sandframe dependencies are within its row of ARCHITECTURE.md's "Dependency
//!   rules" table, and every crate has a row.
//! - No crate declares a dependency it does not use (its name never appears as a path in the
//!   sources that may use it).
//! - No README says a thing is coming "next", is built "so far" or is "still to come": the
//!   READMEs say what the code does now.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // a test: failing loudly is the point

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the repository root")
        .to_path_buf()
}

/// The `path::name` references in the attack table's test column.
fn named_tests(security: &str) -> Vec<(String, String)> {
    let table = security
        .split("## Attacks we test")
        .nth(1)
        .expect("SECURITY.md has an \"Attacks we test\" section");
    let table = table.split("\n## ").next().unwrap_or(table);
    let mut out = Vec::new();
    for row in table.lines().filter(|l| l.starts_with("| ")) {
        let Some(cell) = row.trim_end_matches('|').rsplit('|').next() else {
            continue;
        };
        for reference in cell.split('`').skip(1).step_by(2) {
            if let Some((file, name)) = reference.split_once("::") {
                out.push((file.to_owned(), name.to_owned()));
            }
        }
    }
    out
}

/// Whether `source` defines `name` as a test: `fn name(` right under attribute lines, one of
/// them `#[test]` (others, such as `#[cfg(unix)]`, may stand between); or, in a file that runs
/// its own libtest-mimic harness, `fn name(` and the trial name `"name"`.
fn defines_test(source: &str, name: &str) -> bool {
    let lines: Vec<&str> = source.lines().collect();
    let function = |l: &&str| {
        let l = l.trim_start();
        l.starts_with(&format!("fn {name}(")) || l.starts_with(&format!("async fn {name}("))
    };
    if source.contains("libtest_mimic::run(")
        && source.contains(&format!("\"{name}\""))
        && lines.iter().any(function)
    {
        return true;
    }
    lines.iter().enumerate().any(|(i, line)| {
        line.trim_start().starts_with(&format!("fn {name}("))
            && lines[..i]
                .iter()
                .rev()
                .take_while(|l| l.trim_start().starts_with("#["))
                .any(|l| l.trim() == "#[test]")
    })
}

#[test]
fn every_test_security_md_names_exists() {
    let root = root();
    let security = std::fs::read_to_string(root.join("SECURITY.md")).unwrap();
    let named = named_tests(&security);
    assert!(
        named.len() >= 40,
        "the attack table names {} tests; did its format change?",
        named.len()
    );
    let missing: Vec<String> = named
        .iter()
        .filter(|(file, name)| {
            std::fs::read_to_string(root.join(file))
                .map(|source| !defines_test(&source, name))
                .unwrap_or(true)
        })
        .map(|(file, name)| format!("{file}::{name}"))
        .collect();
    assert!(
        missing.is_empty(),
        "SECURITY.md names tests that do not exist: {missing:#?}"
    );
}

#[test]
fn the_checks_themselves_can_fail() {
    // A reference to a test that is not there, and one to a helper that is not a test.
    let source = "#[test]\nfn real() {}\n\nfn helper() {}\n";
    assert!(defines_test(source, "real"));
    assert!(!defines_test(source, "helper"));
    assert!(!defines_test(source, "gone"));
    // A libtest-mimic harness: a registered trial counts, an unregistered function does not.
    let harness = "fn main() { libtest_mimic::run(&args, vec![t(\"trial\", trial)]); }\n\
                   fn trial() {}\nfn helper() {}\n";
    assert!(defines_test(harness, "trial"));
    assert!(!defines_test(harness, "helper"));
    let doc = "## Attacks we test\n\n| a | b | c |\n| --- | --- | --- |\n\
               | x | y | `a.rs::one`, `b.rs::two` |\n\n## Reporting\n| `c.rs::not_in_table` |\n";
    assert_eq!(
        named_tests(doc),
        [
            ("a.rs".to_owned(), "one".to_owned()),
            ("b.rs".to_owned(), "two".to_owned())
        ]
    );
}

/// Every `.rs` file under `dir`, recursively, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The workspace's crate directories: `crates/*` and `xtask`.
fn crate_dirs() -> Vec<PathBuf> {
    let root = root();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root.join("crates"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("Cargo.toml").is_file())
        .collect();
    dirs.push(root.join("xtask"));
    dirs.sort();
    dirs
}

/// The source files that lack an opening `//!` line.
fn undocumented(files: &[(String, String)]) -> Vec<String> {
    files
        .iter()
        .filter(|(_, text)| !text.starts_with("//!"))
        .map(|(name, _)| name.clone())
        .collect()
}

#[test]
fn every_source_file_opens_with_its_doc() {
    let root = root();
    let files: Vec<(String, String)> = crate_dirs()
        .iter()
        .flat_map(|d| rust_files(&d.join("src")))
        .map(|p| {
            let name = p.strip_prefix(&root).unwrap().display().to_string();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    assert!(files.len() > 50, "found only {} source files", files.len());
    let missing = undocumented(&files);
    assert!(
        missing.is_empty(),
        "these files do not open with a `//!` doc saying what they are for: {missing:#?}"
    );
}

/// ARCHITECTURE.md's dependency table: crate -> the sandframe crates it may depend on.
fn dependency_rules(architecture: &str) -> std::collections::BTreeMap<String, Vec<String>> {
    let section = architecture
        .split("## Dependency rules")
        .nth(1)
        .expect("ARCHITECTURE.md has a \"Dependency rules\" section");
    let section = section.split("\n## ").next().unwrap_or(section);
    let mut rules = std::collections::BTreeMap::new();
    for row in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = row.trim_matches('|').split('|').collect();
        let [krate, allowed, ..] = cells.as_slice() else {
            continue;
        };
        let name = krate.trim().trim_matches('`').to_owned();
        let allowed = allowed
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|n| n.starts_with("sandframe-"))
            .map(str::to_owned)
            .collect();
        rules.insert(name, allowed);
    }
    rules
}

/// A crate's manifest: its name and its `[dependencies]`, `[dev-dependencies]` and
/// `[build-dependencies]` names.
struct Manifest {
    name: String,
    sections: Vec<(&'static str, Vec<String>)>,
}

fn manifest(dir: &Path) -> Manifest {
    let text = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    let table: toml::Table = toml::from_str(&text).unwrap();
    let name = table["package"]["name"].as_str().unwrap().to_owned();
    let keys = |section: &str| -> Vec<String> {
        table
            .get(section)
            .and_then(|t| t.as_table())
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default()
    };
    Manifest {
        name,
        sections: vec![
            ("dependencies", keys("dependencies")),
            ("dev-dependencies", keys("dev-dependencies")),
            ("build-dependencies", keys("build-dependencies")),
        ],
    }
}

/// The dependencies in `deps` that break `rules` for `krate` (or all of them, with no row).
fn broken_rules(
    rules: &std::collections::BTreeMap<String, Vec<String>>,
    krate: &str,
    deps: &[String],
) -> Vec<String> {
    let ours = deps.iter().filter(|d| d.starts_with("sandframe-"));
    match rules.get(krate) {
        None => vec![format!(
            "{krate} has no row in ARCHITECTURE.md's dependency table"
        )],
        Some(allowed) => ours
            .filter(|d| !allowed.contains(d))
            .map(|d| format!("{krate} depends on {d}, which its row does not allow"))
            .collect(),
    }
}

#[test]
fn sandframe_dependencies_follow_architecture_md() {
    let architecture = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let rules = dependency_rules(&architecture);
    assert!(
        rules.len() >= 15,
        "the table has {} rows; did its format change?",
        rules.len()
    );
    let mut broken = Vec::new();
    for dir in crate_dirs() {
        let m = manifest(&dir);
        broken.extend(broken_rules(&rules, &m.name, &m.sections[0].1));
    }
    assert!(broken.is_empty(), "{broken:#?}");
}

/// Dependencies named for a reason other than a path in the code, each with that reason.
const USED_WITHOUT_A_PATH: &[(&str, &str, &str)] = &[(
    "sandframe-bench",
    "extism",
    "optional, behind the `extism` feature, for benches/extism.rs (a dev-dependency cannot be optional)",
)];

/// Whether `text` uses the crate `dep` (its library name: `-` read as `_`) as a path, a
/// `use`, a macro or an `extern crate`.
fn uses(text: &str, dep: &str) -> bool {
    let ident = dep.replace('-', "_");
    let starts = |i: usize| {
        i == 0
            || !text[..i]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
    };
    text.match_indices(&ident).any(|(i, _)| {
        let after = text[i + ident.len()..].trim_start();
        starts(i)
            && (after.starts_with("::")
                || after.starts_with('!')
                || after.starts_with(';')
                || after.starts_with(" as ")
                || text[..i].ends_with("use ")
                || text[..i].ends_with("extern crate "))
    })
}

fn read_all(dir: &Path, parts: &[&str]) -> String {
    let mut text = String::new();
    for part in parts {
        let p = dir.join(part);
        if p.is_file() {
            text.push_str(&std::fs::read_to_string(&p).unwrap());
        }
        for f in rust_files(&p) {
            text.push_str(&std::fs::read_to_string(&f).unwrap());
        }
    }
    text
}

#[test]
fn no_crate_declares_a_dependency_it_does_not_use() {
    let mut unused = Vec::new();
    for dir in crate_dirs() {
        let m = manifest(&dir);
        let code = read_all(&dir, &["src", "build.rs"]);
        let every = read_all(&dir, &["src", "build.rs", "tests", "benches", "examples"]);
        let build = read_all(&dir, &["build.rs"]);
        for (section, deps) in &m.sections {
            let text = match *section {
                "dependencies" => &code,
                "dev-dependencies" => &every,
                _ => &build,
            };
            for dep in deps {
                let excused = USED_WITHOUT_A_PATH
                    .iter()
                    .any(|(k, d, _)| *k == m.name && d == dep);
                if !excused && !uses(text, dep) {
                    unused.push(format!("{}: [{section}] {dep}", m.name));
                }
            }
        }
    }
    assert!(
        unused.is_empty(),
        "declared but never used (remove them, or say why in USED_WITHOUT_A_PATH): {unused:#?}"
    );
}

/// The words that say a README describes plans rather than the code.
fn stale_words(readme: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (i, line) in readme.lines().enumerate() {
        let lower = line.to_lowercase();
        for phrase in ["so far", "still to come"] {
            if lower.contains(phrase) {
                found.push(format!("line {}: {phrase:?}", i + 1));
            }
        }
        // A table's last cell (a status column) that says "next".
        if line.starts_with('|') {
            let last = line.trim_end_matches('|').rsplit('|').next().unwrap_or("");
            if last
                .to_lowercase()
                .split(|c: char| !c.is_alphanumeric())
                .any(|w| w == "next")
            {
                found.push(format!("line {}: a status of \"next\"", i + 1));
            }
        }
    }
    found
}

#[test]
fn readmes_say_what_the_code_does_now() {
    let root = root();
    let mut readmes = vec![root.join("README.md")];
    readmes.extend(
        crate_dirs()
            .iter()
            .map(|d| d.join("README.md"))
            .filter(|p| p.is_file()),
    );
    assert!(readmes.len() >= 10, "found only {} READMEs", readmes.len());
    let stale: Vec<String> = readmes
        .iter()
        .flat_map(|p| {
            let name = p.strip_prefix(&root).unwrap().display().to_string();
            stale_words(&std::fs::read_to_string(p).unwrap())
                .into_iter()
                .map(move |w| format!("{name} {w}"))
        })
        .collect();
    assert!(stale.is_empty(), "{stale:#?}");
}

#[test]
fn the_house_rules_fail_when_broken() {
    // A file without its doc.
    let files = [
        ("a.rs".to_owned(), "//! What a is.\nfn a() {}\n".to_owned()),
        ("b.rs".to_owned(), "use std::fs;\n".to_owned()),
    ];
    assert_eq!(undocumented(&files), ["b.rs"]);
    // A dependency its row does not allow, and a crate with no row.
    let rules = dependency_rules(
        "## Dependency rules\n\n| crate | may depend on |\n| --- | --- |\n\
         | `sandframe-core` | — |\n| `sandframe-gateway` | `sandframe-core` (why) |\n\n## Next\n\
         | `sandframe-late` | `sandframe-gateway` |\n",
    );
    assert_eq!(rules.len(), 2);
    let deps = |d: &[&str]| d.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    assert!(
        broken_rules(
            &rules,
            "sandframe-gateway",
            &deps(&["sandframe-core", "serde"])
        )
        .is_empty()
    );
    assert_eq!(
        broken_rules(&rules, "sandframe-gateway", &deps(&["sandframe-storage"])).len(),
        1
    );
    assert_eq!(
        broken_rules(&rules, "sandframe-core", &deps(&["sandframe-package"])).len(),
        1
    );
    assert_eq!(broken_rules(&rules, "sandframe-late", &deps(&[])).len(), 1);
    // A dependency used as a path, in a `use`, as a macro; and one only mentioned.
    assert!(uses("let x = serde_json::to_string(&v);", "serde-json"));
    assert!(uses("use wat;", "wat"));
    assert!(uses("tracing::warn!(\"x\");", "tracing"));
    assert!(uses("hex!(\"00\")", "hex"));
    assert!(!uses(
        "// serde_json is nice\nlet y = my_serde_json::x;",
        "serde-json"
    ));
    assert!(!uses("let hexagon = 1;", "hex"));
    // Stale words in a README.
    assert_eq!(
        stale_words("| a | built |\n| b | the comparison next |\n").len(),
        1
    );
    assert_eq!(stale_words("built for the layers so far\n").len(), 1);
    assert!(stale_words("| a | built |\nthe next event relaunches it\n").is_empty());
}
