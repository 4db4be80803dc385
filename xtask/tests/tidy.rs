//! Repository rules that prose cannot keep by itself (rust-analyzer's `tidy` is the model).
//!
//! - Every test SECURITY.md's "Attacks we test" table names exists, as a `#[test]` function
//!   in the file the table gives (or, in a libtest-mimic harness, a function registered as a
//!   trial under its own name): the table is a list of promises, and a renamed or deleted
//!   test would leave one unchecked.

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
