//! The manifest (`manifest.toml`): an app's id, name, version, views, capabilities with their
//! reasons, and limits, parsed strictly.

use sandframe_core::{AppId, Capability, Limits, OriginPattern};
use serde::Deserialize;

use crate::error::PackageError;
use crate::limits::{
    MAX_CAPABILITIES, MAX_DESCRIPTION_CHARS, MAX_MANIFEST_BYTES, MAX_MANIFEST_NESTING,
    MAX_NAME_CHARS, MAX_ORIGINS, MAX_REASON_CHARS, MAX_VIEWS,
};

/// A parsed, checked `manifest.toml`.
///
/// ```toml
/// id = "com.example.counter"
/// name = "Counter"
/// version = "1.0.0"
/// description = "Counts taps."      # optional
/// views = ["index"]                 # views/index.xml; the first is the entry view
/// runtime = "js@1"                  # optional: logic.js run by the host's JavaScript engine
///                                   # (the default, "wasm", runs the package's logic.wasm)
///
/// [[capabilities]]
/// name = "storage:local"
/// reason = "Remember the count between launches"
///
/// [[capabilities]]
/// name = "net:fetch"                # the one scoped capability: it lists what it reaches
/// reason = "Sync your notes"
/// origins = ["https://api.example.com", "https://*.cdn.example.com:8443"]
///
/// [limits]                          # optional; a host may lower these, never raise them
/// memory_pages = 32
/// fuel_per_event = 10000000
/// storage_quota_bytes = 1048576
/// ```
///
/// Unknown fields anywhere are an error, so a typo never silently drops a setting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    id: AppId,
    name: String,
    version: semver::Version,
    description: Option<String>,
    capabilities: Vec<DeclaredCapability>,
    limits: Limits,
    views: Vec<String>,
    runtime: AppRuntime,
}

/// What runs an app's logic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[non_exhaustive]
pub enum AppRuntime {
    /// The package's own `logic.wasm` (`runtime = "wasm"`, the default).
    #[default]
    #[serde(rename = "wasm")]
    Wasm,
    /// The package's `logic.js`, run by the JavaScript engine the host carries
    /// (`runtime = "js@1"`).
    #[serde(rename = "js@1")]
    Js1,
}

impl AppRuntime {
    /// The package file holding the logic this runtime runs.
    pub fn logic_file(self) -> &'static str {
        match self {
            AppRuntime::Wasm => crate::PackagePath::LOGIC,
            AppRuntime::Js1 => crate::PackagePath::LOGIC_JS,
        }
    }

    /// The name a manifest writes.
    pub fn as_str(self) -> &'static str {
        match self {
            AppRuntime::Wasm => "wasm",
            AppRuntime::Js1 => "js@1",
        }
    }
}

/// A capability the manifest declares, with the reason shown to the person asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeclaredCapability {
    capability: Capability,
    reason: String,
    scope: Vec<OriginPattern>,
}

impl DeclaredCapability {
    /// The capability.
    pub fn capability(&self) -> &Capability {
        &self.capability
    }
    /// Why the app wants it (untrusted text: escape it when shown).
    pub fn reason(&self) -> &str {
        &self.reason
    }
    /// What a scoped capability reaches (`net:fetch`: its `origins`, canonical, in
    /// A-labels); empty for the others.
    pub fn scope(&self) -> &[OriginPattern] {
        &self.scope
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    id: String,
    name: String,
    version: String,
    description: Option<String>,
    #[serde(default)]
    capabilities: Vec<RawCapability>,
    #[serde(default)]
    limits: Limits,
    views: Vec<String>,
    #[serde(default)]
    runtime: AppRuntime,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCapability {
    name: String,
    reason: String,
    origins: Option<toml::Spanned<Vec<toml::Spanned<String>>>>,
}

impl Manifest {
    /// Parses and checks manifest bytes.
    ///
    /// # Errors
    /// [`PackageError::TooLarge`] over [`MAX_MANIFEST_BYTES`]; [`PackageError::Manifest`] for
    /// bad UTF-8, bad TOML (with line and column), unknown fields or a broken rule.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, PackageError> {
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(PackageError::TooLarge {
                what: "manifest.toml".into(),
                size: bytes.len() as u64,
                max: MAX_MANIFEST_BYTES as u64,
            });
        }
        let text = std::str::from_utf8(bytes)
            .map_err(|e| PackageError::Manifest(format!("not UTF-8: {e}")))?;
        check_nesting(text)?;
        let raw: RawManifest =
            toml::from_str(text).map_err(|e| PackageError::Manifest(e.to_string()))?;
        Manifest::from_raw(raw, text)
    }

    fn from_raw(raw: RawManifest, text: &str) -> Result<Manifest, PackageError> {
        let bad = |s: String| PackageError::Manifest(s);
        let id = AppId::parse(&raw.id).map_err(|e| bad(format!("id: {e}")))?;
        check_text("name", &raw.name, MAX_NAME_CHARS, false)?;
        if let Some(d) = &raw.description {
            check_text("description", d, MAX_DESCRIPTION_CHARS, true)?;
        }
        let version = semver::Version::parse(&raw.version).map_err(|e| {
            bad(format!(
                "version {:?} is not semver ({e}); write e.g. \"1.0.0\"",
                raw.version
            ))
        })?;
        if raw.capabilities.len() > MAX_CAPABILITIES {
            return Err(PackageError::TooMany {
                what: "capabilities",
                count: raw.capabilities.len(),
                max: MAX_CAPABILITIES,
            });
        }
        let mut capabilities: Vec<DeclaredCapability> = Vec::new();
        for c in raw.capabilities {
            let capability =
                Capability::parse(&c.name).map_err(|e| bad(format!("capabilities: {e}")))?;
            check_text("capability reason", &c.reason, MAX_REASON_CHARS, false)?;
            if capabilities.iter().any(|d| d.capability == capability) {
                return Err(bad(format!("capability {capability} is declared twice")));
            }
            let scope = origins(&capability, c.origins, text)?;
            capabilities.push(DeclaredCapability {
                capability,
                reason: c.reason,
                scope,
            });
        }
        check_limits(&raw.limits)?;
        if raw.views.is_empty() {
            return Err(bad(
                "views is empty; list at least the entry view, e.g. views = [\"index\"]".into(),
            ));
        }
        if raw.views.len() > MAX_VIEWS {
            return Err(PackageError::TooMany {
                what: "views",
                count: raw.views.len(),
                max: MAX_VIEWS,
            });
        }
        for (i, v) in raw.views.iter().enumerate() {
            if !is_view_name(v) {
                return Err(bad(format!(
                    "view name {:?} must be 1..=64 of a-z, 0-9, '_' and '-', starting with a letter",
                    crate::error::clip(v)
                )));
            }
            if raw.views.iter().take(i).any(|w| w == v) {
                return Err(bad(format!("view {v:?} is listed twice")));
            }
        }
        Ok(Manifest {
            id,
            name: raw.name,
            version,
            description: raw.description,
            capabilities,
            limits: raw.limits,
            views: raw.views,
            runtime: raw.runtime,
        })
    }

    /// The app id.
    pub fn id(&self) -> &AppId {
        &self.id
    }
    /// The display name (untrusted text: escape it when shown).
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The version.
    pub fn version(&self) -> &semver::Version {
        &self.version
    }
    /// The description, if any (untrusted text).
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }
    /// The declared capabilities: the upper bound of what the app can be granted.
    pub fn capabilities(&self) -> &[DeclaredCapability] {
        &self.capabilities
    }
    /// Whether the manifest declares `capability`.
    pub fn declares(&self, capability: &Capability) -> bool {
        self.capabilities
            .iter()
            .any(|d| &d.capability == capability)
    }
    /// The limits the app asks for.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }
    /// The view names, entry view first.
    pub fn views(&self) -> &[String] {
        &self.views
    }
    /// What runs the app's logic.
    pub fn runtime(&self) -> AppRuntime {
        self.runtime
    }
}

/// The checked `origins` of a capability: required (non-empty) for `net:fetch`, refused on
/// any other; each one an [`OriginPattern`], listed once. A bad one is
/// [`PackageError::Origins`] with its line and column.
fn origins(
    capability: &Capability,
    raw: Option<toml::Spanned<Vec<toml::Spanned<String>>>>,
    text: &str,
) -> Result<Vec<OriginPattern>, PackageError> {
    let at = |span: std::ops::Range<usize>, message: String| {
        let (line, column) = line_column(text, span.start);
        PackageError::Origins {
            line,
            column,
            message,
        }
    };
    let scoped = capability.as_str() == Capability::NET_FETCH;
    let Some(raw) = raw else {
        if scoped {
            return Err(PackageError::Manifest(format!(
                "capability {capability} needs `origins`, the origins the app reaches, \
                 e.g. origins = [\"https://api.example.com\"]"
            )));
        }
        return Ok(Vec::new());
    };
    let span = raw.span();
    let list = raw.into_inner();
    if !scoped {
        return Err(at(
            span,
            format!("capability {capability} takes no `origins` (only net:fetch does)"),
        ));
    }
    if list.is_empty() {
        return Err(at(
            span,
            "origins is empty; list at least one origin".into(),
        ));
    }
    if list.len() > MAX_ORIGINS {
        return Err(at(
            span,
            format!(
                "{} origins; at most {MAX_ORIGINS} may be listed",
                list.len()
            ),
        ));
    }
    let mut scope: Vec<OriginPattern> = Vec::with_capacity(list.len());
    for o in list {
        let span = o.span();
        let pattern =
            OriginPattern::parse(o.get_ref()).map_err(|e| at(span.clone(), e.to_string()))?;
        if scope.contains(&pattern) {
            return Err(at(span, format!("origin {pattern} is listed twice")));
        }
        scope.push(pattern);
    }
    Ok(scope)
}

/// The 1-based line and column (in characters) of byte `offset` of `text`.
fn line_column(text: &str, offset: usize) -> (u32, u32) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (
        u32::try_from(line).unwrap_or(u32::MAX),
        u32::try_from(column).unwrap_or(u32::MAX),
    )
}

/// A view name: 1..=64 of `a-z0-9_-`, starting with a letter.
pub(crate) fn is_view_name(v: &str) -> bool {
    let b = v.as_bytes();
    matches!(b.first(), Some(f) if f.is_ascii_lowercase())
        && b.len() <= 64
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'-'))
}

fn check_text(
    what: &str,
    s: &str,
    max_chars: usize,
    allow_newlines: bool,
) -> Result<(), PackageError> {
    if s.trim().is_empty() {
        return Err(PackageError::Manifest(format!("{what} is empty")));
    }
    if s.chars().count() > max_chars {
        return Err(PackageError::Manifest(format!(
            "{what} is longer than {max_chars} characters"
        )));
    }
    if s.chars()
        .any(|c| c.is_control() && !(allow_newlines && c == '\n'))
    {
        return Err(PackageError::Manifest(format!(
            "{what} contains control characters"
        )));
    }
    Ok(())
}

fn check_limits(l: &Limits) -> Result<(), PackageError> {
    let bad = |s: &str| Err(PackageError::Manifest(format!("limits: {s}")));
    if l.memory_pages.is_some_and(|p| p == 0 || p > 65_536) {
        return bad("memory_pages must be 1..=65536 (64 KiB pages)");
    }
    if l.fuel_per_event == Some(0) {
        return bad("fuel_per_event must be at least 1");
    }
    if l.fetch_timeout_ms.is_some_and(|t| t == 0 || t > 600_000) {
        return bad(
            "fetch_timeout_ms must be 1..=600000 (a host's own timeout, 60 s by default, still caps it)",
        );
    }
    Ok(())
}

/// Rejects bracket nesting deeper than [`MAX_MANIFEST_NESTING`] before the recursive TOML
/// parser sees it. Counting brackets outside strings is enough: no legitimate manifest nests.
fn check_nesting(text: &str) -> Result<(), PackageError> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in text.chars() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' && q == '"' {
                escaped = true;
            } else if c == q || c == '\n' {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' => quote = Some(c),
            '#' => quote = Some('\n'),
            '[' | '{' => {
                depth += 1;
                if depth > MAX_MANIFEST_NESTING {
                    return Err(PackageError::Manifest(format!(
                        "nested deeper than {MAX_MANIFEST_NESTING} brackets"
                    )));
                }
            }
            ']' | '}' => depth = depth.saturating_sub(1),
            '\n' if depth == 0 => {}
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
id = "com.example.counter"
name = "Counter"
version = "1.2.3"
views = ["index", "about"]

[[capabilities]]
name = "storage:local"
reason = "Remember the count"

[limits]
memory_pages = 32
"#;

    #[test]
    fn good_manifest_parses() {
        let m = Manifest::parse(GOOD.as_bytes()).unwrap();
        assert_eq!(m.id().as_str(), "com.example.counter");
        assert_eq!(m.version(), &semver::Version::new(1, 2, 3));
        assert_eq!(m.views(), ["index", "about"]);
        assert!(m.declares(&"storage:local".parse().unwrap()));
        assert!(!m.declares(&"user:readProfile".parse().unwrap()));
        assert_eq!(m.limits().memory_pages, Some(32));
        assert_eq!(m.limits().fuel_per_event, None);
        assert_eq!(m.limits().fetch_timeout_ms, None);
        let lowered = GOOD.replace("memory_pages = 32", "fetch_timeout_ms = 5000");
        let m = Manifest::parse(lowered.as_bytes()).unwrap();
        assert_eq!(m.limits().fetch_timeout_ms, Some(5000));
    }

    #[test]
    fn broken_manifests_are_rejected_with_reasons() {
        let cases: &[(&str, &str, &str)] = &[
            ("id = \"com.example.counter\"", "id = \"x\"", "id"),
            ("version = \"1.2.3\"", "version = \"1.0\"", "semver"),
            ("name = \"Counter\"", "name = \"\"", "name is empty"),
            ("name = \"Counter\"", "name = \"a\\u0007b\"", "control"),
            (
                "views = [\"index\", \"about\"]",
                "views = []",
                "views is empty",
            ),
            (
                "views = [\"index\", \"about\"]",
                "views = [\"Index\"]",
                "view name",
            ),
            (
                "views = [\"index\", \"about\"]",
                "views = [\"a\", \"a\"]",
                "twice",
            ),
            (
                "name = \"Counter\"",
                "name = \"C\"\ncolour = \"red\"",
                "unknown field",
            ),
            (
                "name = \"storage:local\"",
                "name = \"storage\"",
                "capabilities",
            ),
            (
                "memory_pages = 32",
                "fetch_timeout_ms = 0",
                "fetch_timeout_ms must be",
            ),
            (
                "memory_pages = 32",
                "fetch_timeout_ms = 600001",
                "fetch_timeout_ms must be",
            ),
        ];
        for (from, to, want) in cases {
            assert!(GOOD.contains(from), "{from}");
            let text = GOOD.replacen(from, to, 1);
            let err = Manifest::parse(text.as_bytes()).unwrap_err().to_string();
            assert!(err.contains(want), "{to}: {err}");
        }
    }

    #[test]
    fn duplicate_capability_and_unknown_limit_are_rejected() {
        let dup = GOOD.replace(
            "[limits]",
            "[[capabilities]]\nname = \"storage:local\"\nreason = \"again\"\n\n[limits]",
        );
        assert!(
            Manifest::parse(dup.as_bytes())
                .unwrap_err()
                .to_string()
                .contains("twice")
        );
        let unknown = GOOD.replace("memory_pages = 32", "memory_pages = 32\ncpu = 1");
        assert!(Manifest::parse(unknown.as_bytes()).is_err());
        let zero = GOOD.replace("memory_pages = 32", "memory_pages = 0");
        assert!(Manifest::parse(zero.as_bytes()).is_err());
    }

    #[test]
    fn deep_nesting_and_huge_input_are_refused_before_parsing() {
        let deep = format!("id = {}", "[".repeat(10_000));
        assert!(
            Manifest::parse(deep.as_bytes())
                .unwrap_err()
                .to_string()
                .contains("nested")
        );
        let huge = vec![b'#'; MAX_MANIFEST_BYTES + 1];
        assert!(matches!(
            Manifest::parse(&huge),
            Err(PackageError::TooLarge { .. })
        ));
        assert!(Manifest::parse(b"\xff\xfe").is_err());
    }
}
