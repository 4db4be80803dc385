//! Findings and the report that gathers them: each with its code, severity, location and a
//! message that says what to fix.

use std::fmt;

use serde::Serialize;

/// How serious a [`Finding`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; does not block install.
    Info,
    /// Suspicious; does not block install.
    Warning,
    /// Blocks install.
    Error,
}

/// Where in the package a [`Finding`] points. Every field is optional: each is filled where
/// it is known.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Location {
    /// The file inside the package, e.g. `logic.wasm` or `manifest.toml`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The wasm section, e.g. `import`, `code`, `data`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub section: Option<String>,
    /// The wasm function index.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function: Option<u32>,
    /// The byte offset in the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// The 1-based line in a text file (a view template).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// The 1-based column (in characters) in a text file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
}

impl Location {
    /// A location in file `file`.
    pub fn file(file: &str) -> Location {
        Location {
            file: Some(file.to_owned()),
            ..Location::default()
        }
    }

    /// A location in `logic.wasm`, section `section`, at `offset` if known.
    pub fn wasm(section: &str, offset: Option<u64>) -> Location {
        Location {
            file: Some("logic.wasm".to_owned()),
            section: Some(section.to_owned()),
            offset,
            ..Location::default()
        }
    }

    /// A location in text file `file`, at `line` and `column` (1-based).
    pub fn text(file: &str, line: u32, column: u32) -> Location {
        Location {
            file: Some(file.to_owned()),
            line: Some(line),
            column: Some(column),
            ..Location::default()
        }
    }

    /// The same location, at function `index`.
    pub fn in_function(mut self, index: u32) -> Location {
        self.function = Some(index);
        self
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sep = "";
        if let Some(file) = &self.file {
            write!(f, "{file}")?;
            sep = ", ";
        }
        if let Some(s) = &self.section {
            write!(f, "{sep}{s} section")?;
            sep = ", ";
        }
        if let Some(i) = self.function {
            write!(f, "{sep}function {i}")?;
            sep = ", ";
        }
        if let Some(o) = self.offset {
            write!(f, "{sep}offset {o:#x}")?;
            sep = ", ";
        }
        if let Some(l) = self.line {
            write!(f, "{sep}line {l}")?;
            sep = ", ";
        }
        if let Some(c) = self.column {
            write!(f, "{sep}column {c}")?;
        }
        Ok(())
    }
}

/// One thing a stage or [`crate::Check`] found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The stable code, e.g. `SF-V101` (see `docs/validation.md`). Host checks use their own
    /// codes, which must not start with `SF-`.
    pub code: String,
    /// How serious it is.
    pub severity: Severity,
    /// Where.
    pub location: Location,
    /// What was found and what to do, for a reviewer.
    pub message: String,
}

impl Finding {
    /// An error finding (blocks install).
    pub fn error(code: &str, location: Location, message: impl Into<String>) -> Finding {
        Finding::new(code, Severity::Error, location, message)
    }

    /// A finding of any severity.
    pub fn new(
        code: &str,
        severity: Severity,
        location: Location,
        message: impl Into<String>,
    ) -> Finding {
        Finding {
            code: code.to_owned(),
            severity,
            location,
            message: message.into(),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        write!(f, "{sev} {}: {}", self.code, self.message)?;
        // A finding about the package as a whole has no location: no empty "()".
        if self.location != Location::default() {
            write!(f, " ({})", self.location)?;
        }
        Ok(())
    }
}

/// Every finding of one verification, in stage order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    findings: Vec<Finding>,
}

impl Report {
    /// The findings, in stage order.
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    /// Whether any finding blocks install.
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    /// Whether a finding with `code` is present.
    pub fn has(&self, code: &str) -> bool {
        self.findings.iter().any(|f| f.code == code)
    }

    /// Whether the refusal is about who signed the package rather than what it holds: an
    /// error finding of an untrusted or revoked publisher, or of an id pinned to another one.
    pub fn is_about_origin(&self) -> bool {
        self.findings.iter().any(|f| {
            f.severity == Severity::Error
                && [
                    crate::codes::UNTRUSTED,
                    crate::codes::REVOKED,
                    crate::codes::PINNED_ELSEWHERE,
                ]
                .contains(&f.code.as_str())
        })
    }

    /// The report as JSON (`{"findings": [...]}`).
    pub fn to_json(&self) -> String {
        // Serializing plain strings, numbers and enums cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    pub(crate) fn extend(&mut self, findings: Vec<Finding>) {
        self.findings.extend(findings);
    }

    pub(crate) fn push(&mut self, finding: Finding) {
        self.findings.push(finding);
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for finding in &self.findings {
            writeln!(f, "{finding}")?;
        }
        Ok(())
    }
}
