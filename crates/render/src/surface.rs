//! Surfaces: where patches end up. Each keeps its own copy of every app's tree (built only from
//! the patches it receives) and writes it in its own language, escaping every string.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use sandframe_core::{AppId, Error, EventKind, Surface, ViewNode, ViewPatch};

use crate::view::apply;

/// The trees a surface has been sent, per app.
#[derive(Debug, Default)]
struct Trees(BTreeMap<AppId, Option<ViewNode>>);

impl Trees {
    fn apply(&mut self, app: &AppId, patches: &[ViewPatch]) -> Result<(), Error> {
        let tree = self.0.entry(app.clone()).or_default();
        apply(tree, patches).map_err(|e| Error::Invalid {
            what: "view patch",
            reason: e.to_string(),
        })
    }

    fn close(&mut self, app: &AppId) {
        self.0.remove(app);
    }

    fn get(&self, app: &AppId) -> Option<&ViewNode> {
        self.0.get(app).and_then(Option::as_ref)
    }
}

/// Records every patch it receives, and keeps the trees they build (for tests).
#[derive(Debug, Default)]
pub struct RecordingSurface {
    trees: Trees,
    /// Every batch of patches, in order, with its app.
    pub batches: Vec<(AppId, Vec<ViewPatch>)>,
}

impl RecordingSurface {
    /// An empty recorder.
    pub fn new() -> RecordingSurface {
        RecordingSurface::default()
    }

    /// The tree the patches so far built for `app`.
    pub fn tree(&self, app: &AppId) -> Option<&ViewNode> {
        self.trees.get(app)
    }
}

impl Surface for RecordingSurface {
    fn apply(&mut self, app: &AppId, patches: &[ViewPatch]) -> Result<(), Error> {
        self.trees.apply(app, patches)?;
        self.batches.push((app.clone(), patches.to_vec()));
        Ok(())
    }
    fn close(&mut self, app: &AppId) {
        self.trees.close(app);
    }
}

/// Writes each app's view as HTML: `view` and `list` as `div`, `text` as `span`, `button`,
/// `input` and `image` as `button`, `input`, `img`. Every text and attribute value is
/// escaped; the only attributes written are `class`, an input's `value`, `placeholder` and
/// `type`, an image's `alt` and `src` (the asset path under a base the embedder chooses), and
/// `data-sf-path` / `data-sf-events`, which say where a surface event goes. No inline script,
/// style or event attribute is ever written.
#[derive(Debug)]
pub struct HtmlSurface {
    trees: Trees,
    asset_base: String,
}

impl HtmlSurface {
    /// A surface whose images load from `asset_base` + the asset path (e.g. `/assets/`).
    pub fn new(asset_base: &str) -> HtmlSurface {
        HtmlSurface {
            trees: Trees::default(),
            asset_base: asset_base.to_owned(),
        }
    }

    /// The app's view as an HTML fragment (empty before its first render).
    pub fn html(&self, app: &AppId) -> String {
        let mut out = String::new();
        if let Some(tree) = self.trees.get(app) {
            let mut path = Vec::new();
            self.node(tree, &mut path, &mut out);
        }
        out
    }

    fn node(&self, node: &ViewNode, path: &mut Vec<u32>, out: &mut String) {
        match node {
            ViewNode::Text(t) => escape_into(t, out),
            ViewNode::Element {
                tag,
                attrs,
                events,
                children,
            } => {
                let (html, void) = match tag.as_str() {
                    "text" => ("span", false),
                    "button" => ("button", false),
                    "input" => ("input", true),
                    "image" => ("img", true),
                    _ => ("div", false),
                };
                out.push('<');
                out.push_str(html);
                let _ = write!(out, " data-sf=\"{}\"", tag_class(tag));
                for (name, value) in attrs {
                    let allowed = match (tag.as_str(), name.as_str()) {
                        (_, "class") => true,
                        ("input", "value" | "placeholder" | "type") => true,
                        ("image", "alt") => true,
                        ("image", "src") => {
                            out.push_str(" src=\"");
                            escape_into(&self.asset_base, out);
                            escape_into(value, out);
                            out.push('"');
                            continue;
                        }
                        _ => false,
                    };
                    if allowed {
                        out.push(' ');
                        out.push_str(name);
                        out.push_str("=\"");
                        escape_into(value, out);
                        out.push('"');
                    }
                }
                if !events.is_empty() {
                    out.push_str(" data-sf-path=\"");
                    let joined: Vec<String> = path.iter().map(u32::to_string).collect();
                    out.push_str(&joined.join("."));
                    out.push_str("\" data-sf-events=\"");
                    let names: Vec<&str> = events
                        .iter()
                        .map(|e| match e {
                            EventKind::Input => "input",
                            _ => "tap",
                        })
                        .collect();
                    out.push_str(&names.join(" "));
                    out.push('"');
                }
                out.push('>');
                if void {
                    return;
                }
                for (i, c) in children.iter().enumerate() {
                    path.push(u32::try_from(i).unwrap_or(u32::MAX));
                    self.node(c, path, out);
                    path.pop();
                }
                out.push_str("</");
                out.push_str(html);
                out.push('>');
            }
        }
    }
}

/// The element name as written in `data-sf` (only the six vocabulary names reach here; any
/// other string becomes `view`).
fn tag_class(tag: &str) -> &'static str {
    crate::view::tag(tag).map_or("view", |t| t.name())
}

/// Escapes text for HTML content and double-quoted attribute values.
fn escape_into(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '`' => out.push_str("&#96;"),
            c => out.push(c),
        }
    }
}

impl Surface for HtmlSurface {
    fn apply(&mut self, app: &AppId, patches: &[ViewPatch]) -> Result<(), Error> {
        self.trees.apply(app, patches)
    }
    fn close(&mut self, app: &AppId) {
        self.trees.close(app);
    }
}

/// Writes each app's view as plain text for a terminal: one line per text run, buttons as
/// `[label]` with their path (for a person to pick), inputs as `<value>`. Control characters
/// (escape sequences, carriage returns, …) are shown as `\u{…}`, never sent to the terminal.
#[derive(Debug, Default)]
pub struct TextSurface {
    trees: Trees,
}

impl TextSurface {
    /// An empty surface.
    pub fn new() -> TextSurface {
        TextSurface::default()
    }

    /// The app's view tree (for a terminal front end to find what a person picks).
    pub fn tree(&self, app: &AppId) -> Option<&ViewNode> {
        self.trees.get(app)
    }

    /// The app's view as text (empty before its first render).
    pub fn text(&self, app: &AppId) -> String {
        let mut out = String::new();
        if let Some(tree) = self.trees.get(app) {
            let mut path = Vec::new();
            text_node(tree, &mut path, 0, &mut out);
        }
        out
    }
}

fn text_node(node: &ViewNode, path: &mut Vec<u32>, indent: usize, out: &mut String) {
    match node {
        ViewNode::Text(t) => {
            let t = t.trim();
            if !t.is_empty() {
                out.push_str(&"  ".repeat(indent));
                safe_into(t, out);
                out.push('\n');
            }
        }
        ViewNode::Element {
            tag,
            attrs,
            events,
            children,
        } => {
            let label = || {
                let mut s = String::new();
                for c in children {
                    if let ViewNode::Text(t) = c {
                        s.push_str(t.trim());
                    }
                }
                s
            };
            let at: Vec<String> = path.iter().map(u32::to_string).collect();
            let at = at.join(".");
            match tag.as_str() {
                "button" => {
                    out.push_str(&"  ".repeat(indent));
                    out.push('[');
                    safe_into(&label(), out);
                    let _ = writeln!(out, "] ({at})");
                    return;
                }
                "input" => {
                    let value = attrs
                        .iter()
                        .find(|(n, _)| n == "value" || n == "placeholder")
                        .map_or("", |(_, v)| v.as_str());
                    out.push_str(&"  ".repeat(indent));
                    out.push('<');
                    safe_into(value, out);
                    let _ = writeln!(out, "> ({at})");
                    return;
                }
                "image" => {
                    let alt = attrs
                        .iter()
                        .find(|(n, _)| n == "alt")
                        .map_or("image", |(_, v)| v.as_str());
                    out.push_str(&"  ".repeat(indent));
                    out.push_str("(image: ");
                    safe_into(alt, out);
                    out.push_str(")\n");
                    return;
                }
                _ => {}
            }
            let next = if events.is_empty() {
                indent
            } else {
                indent + 1
            };
            if !events.is_empty() {
                let _ = writeln!(out, "{}* ({at})", "  ".repeat(indent));
            }
            for (i, c) in children.iter().enumerate() {
                path.push(u32::try_from(i).unwrap_or(u32::MAX));
                text_node(c, path, next, out);
                path.pop();
            }
        }
    }
}

/// Untrusted view content made safe for a terminal: every control character (escape
/// sequences, carriage returns, …) and bidirectional override or mark is shown as `\u{…}`.
/// Other invisible characters stay, as view content needs them (ZWJ and ZWNJ in Persian, in
/// Indic scripts and in emoji); for text that names an app or its publisher to a person, use
/// [`identity_text`].
pub fn terminal_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    shown_into(s, false, &mut out);
    out
}

/// Untrusted identity text made safe for a terminal: an app's name and description, its
/// publisher's name, capability reasons, consent prompts, findings, audit records; whatever a
/// person reads to decide who an app is or what it may do. Everything [`terminal_text`]
/// escapes, and also every `Default_Ignorable_Code_Point` and every format character
/// (general category `Cf`: zero-width spaces and joiners, the soft hyphen, word joiners,
/// invisible operators, tags, interlinear annotation marks, …), the line and paragraph
/// separators (`Zl`, `Zp`), all shown as `\u{…}`; the backslash itself is shown as `\\`, so
/// every `\u{…}` on the screen is one this function wrote, never one the text spelled out.
/// Look-alike labels (`Bank` with a zero-width space inside, a fake `\u{200b}`) therefore
/// look different. The tables are the Unicode Character Database's, from `icu_properties`.
pub fn identity_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    shown_into(s, true, &mut out);
    out
}

/// Whether `c` is a control character or a bidirectional override or mark.
fn terminal_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Whether `c` is default-ignorable, a format character or a line or paragraph separator.
fn invisible(c: char) -> bool {
    use icu_properties::props::{DefaultIgnorableCodePoint, GeneralCategory};
    use icu_properties::{CodePointMapData, CodePointSetData};
    CodePointSetData::new::<DefaultIgnorableCodePoint>().contains(c)
        || matches!(
            CodePointMapData::<GeneralCategory>::new().get(c),
            GeneralCategory::Format
                | GeneralCategory::LineSeparator
                | GeneralCategory::ParagraphSeparator
        )
}

/// Text with every control character and bidirectional mark shown escaped (view content).
fn safe_into(s: &str, out: &mut String) {
    shown_into(s, false, out);
}

/// Writes `s` as [`terminal_text`] does, or as [`identity_text`] does if `identity`.
fn shown_into(s: &str, identity: bool, out: &mut String) {
    for c in s.chars() {
        if identity && c == '\\' {
            out.push_str("\\\\");
        } else if terminal_unsafe(c) || (identity && invisible(c)) {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
}

impl Surface for TextSurface {
    fn apply(&mut self, app: &AppId, patches: &[ViewPatch]) -> Result<(), Error> {
        self.trees.apply(app, patches)
    }
    fn close(&mut self, app: &AppId) {
        self.trees.close(app);
    }
}
