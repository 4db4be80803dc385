//! Package paths: the few names a package may hold, checked so that a path is always a safe,
//! relative, case-free file name.

use std::fmt;

use crate::error::{PackageError, clip};
use crate::limits::{MAX_COMPONENT_BYTES, MAX_PATH_BYTES, MAX_PATH_DEPTH};

/// A file path inside a package: relative, normalized, portable.
///
/// 1..=[`MAX_PATH_BYTES`] bytes; 1..=[`MAX_PATH_DEPTH`] components separated by `/`; each
/// component 1..=[`MAX_COMPONENT_BYTES`] bytes of ASCII letters, digits, `.`, `_` and `-`, not
/// starting with `.`. So there is no `..`, no `.`, no absolute path, no empty component, no
/// NUL, no backslash, no drive letter, no hidden file and no Unicode to confuse anyone.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PackagePath(String);

impl PackagePath {
    /// The path of the logic module.
    pub const LOGIC: &'static str = "logic.wasm";
    /// The path of a `runtime = "js@1"` app's script.
    pub const LOGIC_JS: &'static str = "logic.js";

    /// Parses and checks a package path.
    ///
    /// # Errors
    /// [`PackageError::BadPath`] naming the broken rule.
    pub fn parse(s: &str) -> Result<Self, PackageError> {
        let bad = |reason| PackageError::BadPath {
            path: clip(s),
            reason,
        };
        if s.is_empty() {
            return Err(bad("it is empty"));
        }
        if s.len() > MAX_PATH_BYTES {
            return Err(bad("it is longer than 255 bytes"));
        }
        let mut depth = 0;
        for component in s.split('/') {
            depth += 1;
            if component.is_empty() {
                return Err(bad("it is absolute or has an empty component"));
            }
            if component.starts_with('.') {
                return Err(bad("a component starts with '.' ('..', '.', hidden files)"));
            }
            if component.len() > MAX_COMPONENT_BYTES {
                return Err(bad("a component is longer than 64 bytes"));
            }
            if !component
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
            {
                return Err(bad(
                    "only ASCII letters, digits, '.', '_', '-' and '/' are allowed",
                ));
            }
        }
        if depth > MAX_PATH_DEPTH {
            return Err(bad("it is nested deeper than 8 components"));
        }
        Ok(PackagePath(s.to_owned()))
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// If this is `views/<name>.xml`, the view name.
    pub fn view_name(&self) -> Option<&str> {
        let rest = self.0.strip_prefix("views/")?;
        let name = rest.strip_suffix(".xml")?;
        (!name.contains('/')).then_some(name)
    }

    /// Whether the layout allows this path: `logic.wasm`, `logic.js`, `views/<name>.xml` or
    /// `assets/**`.
    pub fn in_layout(&self) -> bool {
        self.0 == Self::LOGIC
            || self.0 == Self::LOGIC_JS
            || self.view_name().is_some()
            || self
                .0
                .strip_prefix("assets/")
                .is_some_and(|r| !r.is_empty())
    }
}

impl std::borrow::Borrow<str> for PackagePath {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PackagePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PackagePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_paths_are_rejected() {
        let long = "a/".repeat(9) + "b";
        let wide = "a".repeat(65);
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../b",
            "a/./b",
            "./a",
            "a//b",
            "a/",
            ".hidden",
            "a\\b",
            "c:x",
            "a\0b",
            "assets/ä.png",
            "a b",
            "views/\u{202e}lmx.js",
            long.as_str(),
            wide.as_str(),
        ] {
            assert!(PackagePath::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn layout_is_enforced() {
        let p = |s| PackagePath::parse(s).unwrap();
        assert!(p("logic.wasm").in_layout());
        assert!(p("views/index.xml").in_layout());
        assert_eq!(p("views/index.xml").view_name(), Some("index"));
        assert!(p("assets/img/logo.png").in_layout());
        assert!(!p("views/a/b.xml").in_layout());
        assert!(!p("views/index.html").in_layout());
        assert!(!p("logic.wat").in_layout());
        assert!(!p("manifest.toml").in_layout());
        assert!(!p("assets").in_layout());
    }
}
