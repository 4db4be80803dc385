//! View templates (`views/<name>.xml`): the grammar and its parser.
//!
//! A template is a small XML document (no DTD, no processing instructions, no namespaces but
//! the `bind:` and `sf:` prefixes) over a fixed vocabulary, with `{{path}}` bindings into the
//! app's view data. There is no script of any kind: a template can only show data and name
//! the handlers that events go to. The full grammar is in `docs/format.md`; in short:
//!
//! ```xml
//! <view class="page">
//!   <text>Hello, {{user.name}}! You have {{count}} items.</text>
//!   <view sf:if="{{!done}}"><text>Not done yet</text></view>
//!   <list items="{{todos}}" key="id" as="todo">
//!     <button bind:tap="onToggle">{{todo.title}}</button>
//!   </list>
//!   <input value="{{draft}}" placeholder="New item" bind:input="onDraft"/>
//!   <image src="assets/logo.png"/>
//! </view>
//! ```
//!
//! Parsing never panics and is bounded: [`MAX_TEMPLATE_BYTES`], [`MAX_DEPTH`], [`MAX_NODES`],
//! [`MAX_ATTRS`] and [`MAX_BINDINGS`] cap what a hostile template can make the parser (and
//! later the render side) hold. Every error carries the line and column where it was found.

use sandframe_core::EventKind;

/// Largest template file, in bytes (256 KiB).
pub const MAX_TEMPLATE_BYTES: usize = 256 << 10;
/// Deepest element nesting.
pub const MAX_DEPTH: usize = 64;
/// Most nodes (elements and text runs) in one template.
pub const MAX_NODES: usize = 4096;
/// Most attributes on one element.
pub const MAX_ATTRS: usize = 16;
/// Most `{{…}}` bindings in one template.
pub const MAX_BINDINGS: usize = 2048;
/// Longest binding path, in segments (`a.b.0.c` has four).
pub const MAX_PATH_SEGMENTS: usize = 16;
/// Longest identifier (a path segment, a handler name, a `key` or `as` name), in bytes.
pub const MAX_IDENT_BYTES: usize = 64;

/// A parsed view template: one root element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    root: Element,
}

impl Template {
    /// The root element.
    pub fn root(&self) -> &Element {
        &self.root
    }
}

/// The elements of the vocabulary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Tag {
    /// A container (`<view>`).
    View,
    /// A run of text (`<text>`).
    Text,
    /// A button (`<button>`).
    Button,
    /// A one-line text input (`<input/>`, no children).
    Input,
    /// An image from the package's own `assets/` (`<image/>`, no children).
    Image,
    /// A list: its children repeat for each item of an array (`<list items key as>`).
    List,
}

impl Tag {
    /// Every tag.
    pub const ALL: [Tag; 6] = [
        Tag::View,
        Tag::Text,
        Tag::Button,
        Tag::Input,
        Tag::Image,
        Tag::List,
    ];

    /// The element name.
    pub const fn name(self) -> &'static str {
        match self {
            Tag::View => "view",
            Tag::Text => "text",
            Tag::Button => "button",
            Tag::Input => "input",
            Tag::Image => "image",
            Tag::List => "list",
        }
    }

    fn parse(name: &str) -> Option<Tag> {
        Tag::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The plain attributes this element accepts (besides `sf:if` and event bindings).
    const fn attributes(self) -> &'static [&'static str] {
        match self {
            Tag::View | Tag::Text | Tag::Button => &["class"],
            Tag::Input => &["class", "value", "placeholder", "type"],
            Tag::Image => &["class", "src", "alt"],
            Tag::List => &["class"],
        }
    }

    /// The events this element can bind.
    const fn events(self) -> &'static [EventKind] {
        match self {
            Tag::View | Tag::Text | Tag::Button | Tag::Image => &[EventKind::Tap],
            Tag::Input => &[EventKind::Input],
            Tag::List => &[],
        }
    }
}

/// One segment of a binding path: a field name or an array index.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PathSegment {
    /// A field of an object.
    Field(String),
    /// An element of an array.
    Index(u32),
}

/// A `{{path}}` binding: a dotted path into the view data (`user.name`, `items.0.title`),
/// optionally negated (`{{!done}}`, in `sf:if` only).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Binding {
    /// The segments, first to last.
    pub path: Vec<PathSegment>,
    /// Whether it reads as "not …" (conditions only).
    pub negated: bool,
}

/// Literal text and bindings, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    /// Text shown as it is (entities already decoded; untrusted, escaped by every surface).
    Literal(String),
    /// Text taken from the view data when rendered.
    Bound(Binding),
}

/// A text run or attribute value: literal text and bindings.
pub type Value = Vec<Piece>;

/// A list's repetition: for each item of the array at `items`, the list's children are
/// rendered with the item visible as `as` (and its position as `as` + `Index`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repeat {
    /// The array.
    pub items: Binding,
    /// The field of each item that identifies it across updates (for minimal patches), if any.
    pub key: Option<String>,
    /// The name the item is visible under in the children (default `item`).
    pub alias: String,
}

/// An element of a template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Element {
    /// Which element.
    pub tag: Tag,
    /// Its plain attributes, in template order.
    pub attrs: Vec<(String, Value)>,
    /// `sf:if`: rendered only while this binding is truthy.
    pub condition: Option<Binding>,
    /// `bind:tap` / `bind:input`: the handler each event goes to.
    pub events: Vec<(EventKind, String)>,
    /// For `list`: what it repeats over.
    pub repeat: Option<Repeat>,
    /// Its children, in order.
    pub children: Vec<Node>,
    /// Where it starts in the file (1-based line and column).
    pub position: (u32, u32),
}

/// A child of an element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    /// An element.
    Element(Element),
    /// A text run (whitespace-only runs between elements are dropped).
    Text(Value),
}

/// Why a template was refused, and where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct TemplateError {
    /// 1-based line.
    pub line: u32,
    /// 1-based column (in characters).
    pub column: u32,
    /// What is wrong and what to do, in words.
    pub message: String,
}

/// The document a template is parsed as: the template inside a wrapper that declares the
/// `bind:` and `sf:` prefixes (an XML parser refuses undeclared prefixes, and templates do
/// not declare them).
const WRAP_OPEN: &str =
    "<sf-template xmlns:bind=\"urn:sandframe:bind\" xmlns:sf=\"urn:sandframe:sf\">";
const WRAP_CLOSE: &str = "</sf-template>";
const BIND_NS: &str = "urn:sandframe:bind";
const SF_NS: &str = "urn:sandframe:sf";

struct Parser<'a> {
    /// The template as written (positions are reported in it).
    text: &'a str,
    nodes: usize,
    bindings: usize,
}

/// 1-based line and column (in characters) of byte `offset` of `text` (clamped to its end).
fn line_col(text: &str, offset: usize) -> (u32, u32) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = text.get(..end).unwrap_or_default();
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).unwrap_or_default().chars().count() + 1;
    (
        u32::try_from(line).unwrap_or(u32::MAX),
        u32::try_from(column).unwrap_or(u32::MAX),
    )
}

impl Template {
    /// Parses a template.
    ///
    /// # Errors
    /// A [`TemplateError`] with the position of the first problem. Never panics.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let at_start = |message: String| TemplateError {
            line: 1,
            column: 1,
            message,
        };
        if text.len() > MAX_TEMPLATE_BYTES {
            return Err(at_start(format!(
                "the template is {} bytes; the limit is {MAX_TEMPLATE_BYTES}",
                text.len()
            )));
        }
        if text.trim_start().starts_with("<?xml") {
            return Err(at_start(
                "leave out the <?xml …?> declaration: a template is always UTF-8 XML".into(),
            ));
        }
        let wrapped = format!("{WRAP_OPEN}{text}{WRAP_CLOSE}");
        let options = roxmltree::ParsingOptions {
            allow_dtd: false,
            nodes_limit: u32::try_from(MAX_NODES * 4).unwrap_or(u32::MAX),
            ..roxmltree::ParsingOptions::default()
        };
        let parser = Parser {
            text,
            nodes: 0,
            bindings: 0,
        };
        let doc = roxmltree::Document::parse_with_options(&wrapped, options).map_err(|e| {
            // Back from the wrapped document to the template's own positions.
            let pos = e.pos();
            let (line, column) = if pos.row == 1 {
                let col = (pos.col as usize)
                    .saturating_sub(WRAP_OPEN.chars().count())
                    .max(1);
                (1, u32::try_from(col).unwrap_or(u32::MAX))
            } else {
                (pos.row, pos.col)
            };
            let (end_line, end_column) = line_col(text, text.len());
            let (line, column) = if (line, column) > (end_line, end_column) {
                (end_line, end_column)
            } else {
                (line, column)
            };
            // roxmltree's own text names its position in the wrapped document ("at 1:87"):
            // left out, so the one position given is the template's own.
            let said = e.to_string().replacen(&format!(" at {}", e.pos()), "", 1);
            TemplateError {
                line,
                column,
                message: format!("not a well-formed template: {said}"),
            }
        })?;
        parser.document(&doc)
    }
}

impl Parser<'_> {
    /// The template: exactly one root element inside the wrapper, nothing else but
    /// whitespace and comments.
    fn document(mut self, doc: &roxmltree::Document<'_>) -> Result<Template, TemplateError> {
        let wrapper = doc.root_element();
        let mut root = None;
        for node in wrapper.children() {
            if node.is_element() {
                if root.is_some() {
                    return Err(self.error(
                        node,
                        "a template has one root element; wrap these in a <view>",
                    ));
                }
                root = Some(node);
            } else if node.is_text() && !node.text().unwrap_or_default().trim().is_empty() {
                return Err(self.error(node, "text outside the root element"));
            } else if node.is_pi() {
                return Err(self.error(node, "processing instructions are not allowed"));
            }
        }
        let Some(root) = root else {
            return Err(TemplateError {
                line: 1,
                column: 1,
                message: "the template is empty; write one root element, e.g. <view>…</view>"
                    .into(),
            });
        };
        let root = self.element(root, 1)?;
        Ok(Template { root })
    }

    fn error(&self, node: roxmltree::Node<'_, '_>, message: impl Into<String>) -> TemplateError {
        self.error_at(node.range().start, message)
    }

    /// An error at byte `offset` of the wrapped document.
    fn error_at(&self, offset: usize, message: impl Into<String>) -> TemplateError {
        let (line, column) = line_col(self.text, offset.saturating_sub(WRAP_OPEN.len()));
        TemplateError {
            line,
            column,
            message: message.into(),
        }
    }

    fn count_node(&mut self, node: roxmltree::Node<'_, '_>) -> Result<(), TemplateError> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(self.error(
                node,
                format!("the template has more than {MAX_NODES} nodes; split it into views"),
            ));
        }
        Ok(())
    }

    fn element(
        &mut self,
        node: roxmltree::Node<'_, '_>,
        depth: usize,
    ) -> Result<Element, TemplateError> {
        self.count_node(node)?;
        if depth > MAX_DEPTH {
            return Err(self.error(
                node,
                format!("elements nest deeper than {MAX_DEPTH}; flatten the view"),
            ));
        }
        let name = node.tag_name();
        if name.namespace().is_some() {
            return Err(self.error(node, "namespaced elements are not allowed"));
        }
        let Some(tag) = Tag::parse(name.name()) else {
            return Err(self.error(
                node,
                format!(
                    "<{}> is not a template element; use one of view, text, button, input, \
                     image, list (templates run no script)",
                    name.name().escape_debug()
                ),
            ));
        };
        let mut element = Element {
            tag,
            attrs: Vec::new(),
            condition: None,
            events: Vec::new(),
            repeat: None,
            children: Vec::new(),
            position: line_col(
                self.text,
                node.range().start.saturating_sub(WRAP_OPEN.len()),
            ),
        };
        self.attributes(node, &mut element)?;
        if matches!(tag, Tag::Input | Tag::Image) && node.has_children() {
            return Err(self.error(node, format!("<{}> takes no children", tag.name())));
        }
        for child in node.children() {
            if child.is_element() {
                let e = self.element(child, depth + 1)?;
                element.children.push(Node::Element(e));
            } else if child.is_text() {
                let text = child.text().unwrap_or_default();
                if text.trim().is_empty() {
                    continue;
                }
                self.count_node(child)?;
                let value = self.value_pieces(child.range().start, text, false)?;
                element.children.push(Node::Text(value));
            } else if child.is_pi() {
                return Err(self.error(child, "processing instructions are not allowed"));
            }
            // Comments are dropped.
        }
        if tag == Tag::List && element.repeat.is_none() {
            return Err(self.error(
                node,
                "<list> needs items=\"{{path}}\", the array it repeats",
            ));
        }
        Ok(element)
    }

    fn attributes(
        &mut self,
        node: roxmltree::Node<'_, '_>,
        element: &mut Element,
    ) -> Result<(), TemplateError> {
        let tag = element.tag;
        let attrs: Vec<_> = node.attributes().collect();
        if attrs.len() > MAX_ATTRS {
            return Err(self.error(
                node,
                format!("more than {MAX_ATTRS} attributes on one element"),
            ));
        }
        let (mut items, mut key, mut alias) = (None, None, None);
        for a in attrs {
            let at = a.range().start;
            let name = a.name();
            let qualified = match a.namespace() {
                None => name.to_owned(),
                Some(BIND_NS) => format!("bind:{name}"),
                Some(SF_NS) => format!("sf:{name}"),
                Some(_) => {
                    return Err(self.error_at(
                        at,
                        "only the bind: and sf: prefixes mean something in a template",
                    ));
                }
            };
            let value = a.value();
            match qualified.as_str() {
                "sf:if" => {
                    let b = self.sole_binding(at, value, "sf:if", true)?;
                    element.condition = Some(b);
                }
                "bind:tap" | "bind:input" => {
                    let kind = if qualified == "bind:tap" {
                        EventKind::Tap
                    } else {
                        EventKind::Input
                    };
                    if !tag.events().contains(&kind) {
                        return Err(
                            self.error_at(at, format!("<{}> has no {qualified} event", tag.name()))
                        );
                    }
                    if !is_ident(value) {
                        return Err(self.error_at(
                            at,
                            format!(
                                "{qualified}=\"{}\" is not a handler name: letters, digits and \
                                 _ only, not starting with a digit, at most {MAX_IDENT_BYTES} \
                                 bytes",
                                value.escape_debug()
                            ),
                        ));
                    }
                    element.events.push((kind, value.to_owned()));
                }
                "items" if tag == Tag::List => {
                    items = Some(self.sole_binding(at, value, "items", false)?);
                }
                "key" if tag == Tag::List => {
                    if !is_ident(value) {
                        return Err(
                            self.error_at(at, "key names a field of each item: an identifier")
                        );
                    }
                    key = Some(value.to_owned());
                }
                "as" if tag == Tag::List => {
                    if !is_ident(value) {
                        return Err(self.error_at(at, "as names each item: an identifier"));
                    }
                    alias = Some(value.to_owned());
                }
                plain if tag.attributes().contains(&plain) => {
                    let v = self.value_pieces(at, value, false)?;
                    if plain == "src" {
                        check_asset(&v).map_err(|m| self.error_at(at, m))?;
                    }
                    if plain == "type" && !matches!(value, "text" | "number" | "password") {
                        return Err(
                            self.error_at(at, "an input's type is text, number or password")
                        );
                    }
                    element.attrs.push((plain.to_owned(), v));
                }
                other => {
                    return Err(self.error_at(
                        at,
                        format!(
                            "<{}> takes no attribute {:?}{}",
                            tag.name(),
                            other,
                            if other.starts_with("on") {
                                " (templates run no script: bind an event to a handler with \
                                 bind:tap)"
                            } else {
                                ""
                            }
                        ),
                    ));
                }
            }
        }
        if let Some(items) = items {
            let alias = alias.unwrap_or_else(|| "item".to_owned());
            element.repeat = Some(Repeat { items, key, alias });
        } else if key.is_some() || alias.is_some() {
            return Err(self.error(node, "key and as belong with items"));
        }
        Ok(())
    }

    /// A value that must be exactly one binding (`sf:if`, `items`).
    fn sole_binding(
        &mut self,
        at: usize,
        value: &str,
        what: &str,
        negatable: bool,
    ) -> Result<Binding, TemplateError> {
        let pieces = self.value_pieces(at, value, negatable)?;
        match pieces.as_slice() {
            [Piece::Bound(b)] => Ok(b.clone()),
            _ => Err(self.error_at(
                at,
                format!("{what} takes one binding, e.g. {what}=\"{{{{path}}}}\""),
            )),
        }
    }

    /// Splits `text` into literals and `{{path}}` bindings.
    fn value_pieces(
        &mut self,
        at: usize,
        text: &str,
        negatable: bool,
    ) -> Result<Value, TemplateError> {
        let mut pieces = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                pieces.push(Piece::Literal(
                    rest.get(..open).unwrap_or_default().to_owned(),
                ));
            }
            let after = rest.get(open + 2..).unwrap_or_default();
            let Some(close) = after.find("}}") else {
                return Err(self.error_at(at, "a {{ has no matching }}"));
            };
            let inner = after.get(..close).unwrap_or_default().trim();
            self.bindings += 1;
            if self.bindings > MAX_BINDINGS {
                return Err(self.error_at(
                    at,
                    format!("more than {MAX_BINDINGS} bindings in one template"),
                ));
            }
            let binding = parse_binding(inner, negatable).map_err(|m| self.error_at(at, m))?;
            pieces.push(Piece::Bound(binding));
            rest = after.get(close + 2..).unwrap_or_default();
        }
        if rest.contains("}}") {
            return Err(self.error_at(at, "a }} has no matching {{"));
        }
        if !rest.is_empty() {
            pieces.push(Piece::Literal(rest.to_owned()));
        }
        Ok(pieces)
    }
}

/// `[A-Za-z_][A-Za-z0-9_]*`, at most [`MAX_IDENT_BYTES`].
fn is_ident(s: &str) -> bool {
    let mut bytes = s.bytes();
    s.len() <= MAX_IDENT_BYTES
        && bytes
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn parse_binding(inner: &str, negatable: bool) -> Result<Binding, String> {
    let (negated, path) = match inner.strip_prefix('!') {
        Some(p) if negatable => (true, p.trim_start()),
        Some(_) => return Err("! (not) is only for conditions: sf:if=\"{{!path}}\"".into()),
        None => (false, inner),
    };
    if path.is_empty() {
        return Err("an empty {{}} binding; name a path into the view data".into());
    }
    let mut segments = Vec::new();
    for (i, s) in path.split('.').enumerate() {
        if i >= MAX_PATH_SEGMENTS {
            return Err(format!(
                "a binding path has more than {MAX_PATH_SEGMENTS} segments"
            ));
        }
        if i > 0 && !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            let n = s
                .parse::<u32>()
                .map_err(|_| format!("index {s} is too large"))?;
            segments.push(PathSegment::Index(n));
        } else if is_ident(s) {
            segments.push(PathSegment::Field(s.to_owned()));
        } else {
            return Err(format!(
                "{{{{{}}}}} is not a binding: a dotted path of names and indices, e.g. \
                 {{{{user.name}}}} or {{{{items.0.title}}}}",
                inner.escape_debug()
            ));
        }
    }
    Ok(Binding {
        path: segments,
        negated,
    })
}

/// An image source: a literal path under `assets/` (no binding, no scheme, no `..`).
fn check_asset(value: &Value) -> Result<(), String> {
    let [Piece::Literal(src)] = value.as_slice() else {
        return Err("an image's src is a literal path under assets/ (no binding)".into());
    };
    let ok = src.starts_with("assets/")
        && !src
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
        && src
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "src=\"{}\" is not a package asset: images come only from the package's own \
             assets/ (e.g. src=\"assets/logo.png\"), never from a URL",
            src.escape_debug()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> TemplateError {
        match Template::parse(text) {
            Err(e) => e,
            Ok(t) => panic!("accepted: {t:?}"),
        }
    }

    #[test]
    fn the_hello_example_parses() {
        let t = Template::parse(
            "<view class=\"page\">\n  <text>Taps: {{taps}}</text>\n  <button bind:tap=\"onTap\">Tap me</button>\n</view>\n",
        )
        .unwrap();
        let root = t.root();
        assert_eq!(root.tag, Tag::View);
        assert_eq!(root.children.len(), 2);
        let Node::Element(text) = &root.children[0] else {
            panic!()
        };
        assert_eq!(
            text.children,
            [Node::Text(vec![
                Piece::Literal("Taps: ".into()),
                Piece::Bound(Binding {
                    path: vec![PathSegment::Field("taps".into())],
                    negated: false
                })
            ])]
        );
        let Node::Element(button) = &root.children[1] else {
            panic!()
        };
        assert_eq!(button.events, [(EventKind::Tap, "onTap".to_owned())]);
        assert_eq!(button.position, (3, 3));
    }

    #[test]
    fn lists_conditions_and_paths() {
        let t = Template::parse(
            r#"<view><list items="{{a.todos}}" key="id" as="todo"><text sf:if="{{!todo.done}}">{{todo.title}} #{{a.items.3.x}}</text></list></view>"#,
        )
        .unwrap();
        let Node::Element(list) = &t.root().children[0] else {
            panic!()
        };
        let repeat = list.repeat.as_ref().unwrap();
        assert_eq!(repeat.key.as_deref(), Some("id"));
        assert_eq!(repeat.alias, "todo");
        let Node::Element(text) = &list.children[0] else {
            panic!()
        };
        assert!(text.condition.as_ref().unwrap().negated);
        let Node::Text(pieces) = &text.children[0] else {
            panic!()
        };
        assert_eq!(
            pieces[2],
            Piece::Bound(Binding {
                path: vec![
                    PathSegment::Field("a".into()),
                    PathSegment::Field("items".into()),
                    PathSegment::Index(3),
                    PathSegment::Field("x".into())
                ],
                negated: false
            })
        );
    }

    #[test]
    fn script_in_any_form_is_refused_with_a_position() {
        let e = err("<view>\n  <script>alert(1)</script>\n</view>");
        assert_eq!((e.line, e.column), (2, 3));
        assert!(e.message.contains("not a template element"), "{e}");
        let e = err(r#"<view onclick="alert(1)"/>"#);
        assert!(e.message.contains("no script"), "{e}");
        assert_eq!((e.line, e.column), (1, 7));
        let e = err(r#"<view><image src="javascript:alert(1)"/></view>"#);
        assert!(e.message.contains("not a package asset"), "{e}");
        for src in [
            "https://evil.example/x.png",
            "assets/../logo.png",
            "/assets/logo.png",
            "assets//x",
            "assets/x y.png",
            "data:image/png;base64,AAAA",
        ] {
            err(&format!(r#"<image src="{src}"/>"#));
        }
        err(r#"<image src="{{pic}}"/>"#);
        err(r#"<view xmlns:x="urn:x" x:onload="1"/>"#);
        err(r#"<?xml-stylesheet href="x"?><view/>"#);
        err(r#"<!DOCTYPE view [<!ENTITY a "b">]><view>&a;</view>"#);
    }

    #[test]
    fn malformed_bindings_and_structure_are_refused() {
        for bad in [
            "<view>{{</view>",
            "<view>}}</view>",
            "<view>{{}}</view>",
            "<view>{{a..b}}</view>",
            "<view>{{0a}}</view>",
            "<view>{{!a}}</view>",
            "<view>{{a b}}</view>",
            "<view>{{a.99999999999}}</view>",
            "<list>x</list>",
            r#"<list items="x{{a}}"/>"#,
            r#"<view key="id"/>"#,
            r#"<input value="a">child</input>"#,
            r#"<input type="file"/>"#,
            r#"<text bind:input="h"/>"#,
            r#"<button bind:tap="do-it"/>"#,
            r#"<button bind:tap="1st"/>"#,
            "<view/><view/>",
            "",
            "<view>",
        ] {
            err(bad);
        }
    }

    #[test]
    fn hostile_sizes_are_bounded_with_clear_errors() {
        let deep = format!("{}{}", "<view>".repeat(100), "</view>".repeat(100));
        assert!(err(&deep).message.contains("nest deeper"));
        let wide = format!("<view>{}</view>", "<text>x</text>".repeat(MAX_NODES));
        assert!(err(&wide).message.contains("nodes"));
        let bindings = format!(
            "<view><text>{}</text></view>",
            "{{a}}".repeat(MAX_BINDINGS + 1)
        );
        assert!(err(&bindings).message.contains("bindings"));
        let attrs: String = (0..20).map(|i| format!(" class{i}=\"x\"")).collect();
        assert!(
            err(&format!("<view{attrs}/>"))
                .message
                .contains("attributes")
        );
        let huge = "x".repeat(MAX_TEMPLATE_BYTES + 1);
        assert!(err(&huge).message.contains("limit"));
        // Very deep input is refused without exhausting the stack.
        let very_deep = format!("{}{}", "<view>".repeat(50_000), "</view>".repeat(50_000));
        let _ = err(&very_deep);
    }
}
