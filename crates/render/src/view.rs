//! One app's view: its template, its data model, the tree rendered from them, and the
//! handlers the tree's events go to.

use sandframe_core::{EventKind, ViewNode, ViewPatch};
use sandframe_package::template::{Binding, Element, Node, PathSegment, Piece, Tag, Template};
use serde_json::{Map, Value};

use crate::RenderError;

/// Largest view data, serialized, in bytes (1 MiB).
pub const MAX_DATA_BYTES: usize = 1 << 20;
/// Largest `ui.setData` patch, in bytes (256 KiB).
pub const MAX_PATCH_BYTES: usize = 256 << 10;
/// Most keys in one `ui.setData` patch.
pub const MAX_PATCH_KEYS: usize = 256;
/// Most nodes a rendered view may have (a list over a long array stops here, with an error).
pub const MAX_RENDERED_NODES: usize = 10_000;
/// Deepest JSON nesting accepted in view data.
pub const MAX_DATA_DEPTH: usize = 32;
/// Most bytes of text and attribute values a rendered view may hold (4 MiB): a long string
/// repeated by a list stops here, not in the host's memory.
pub const MAX_RENDERED_BYTES: usize = 4 << 20;
/// Most steps one render may take (elements and list items visited, shown or hidden): a long
/// list of hidden items stops here, not by freezing the render thread.
pub const MAX_RENDER_STEPS: usize = 200_000;

/// Where a bound event goes: the handler, and the list item the element belongs to (if any).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bound {
    /// The logic's handler name.
    pub handler: String,
    /// The innermost list item around the element: its index and its key value (as text).
    pub item: Option<(usize, Option<String>)>,
}

/// One app's view (see the module documentation).
#[derive(Debug)]
pub struct View {
    template: Template,
    data: Value,
    data_bytes: usize,
    tree: Option<ViewNode>,
    bound: Vec<(Vec<u32>, EventKind, Bound)>,
}

impl View {
    /// A view of `template` over empty data (`{}`), not rendered yet.
    pub fn new(template: Template) -> View {
        View {
            template,
            data: Value::Object(Map::new()),
            data_bytes: 2,
            tree: None,
            bound: Vec::new(),
        }
    }

    /// The data model.
    pub fn data(&self) -> &Value {
        &self.data
    }

    /// The tree as last rendered.
    pub fn tree(&self) -> Option<&ViewNode> {
        self.tree.as_ref()
    }

    /// Renders the view from its current data and returns the patches that take a surface
    /// from the last rendered tree to the new one (the first render: one `Replace` of the
    /// root).
    ///
    /// # Errors
    /// [`RenderError::TooLarge`] if the tree would exceed [`MAX_RENDERED_NODES`]; the last
    /// tree stays.
    pub fn render(&mut self) -> Result<Vec<ViewPatch>, RenderError> {
        let mut r = Renderer {
            scopes: Vec::new(),
            nodes: 0,
            bytes: 0,
            steps: 0,
            bound: Vec::new(),
            data: &self.data,
        };
        let mut path = Vec::new();
        let new = r
            .element(self.template.root(), &mut path, None)?
            .unwrap_or_else(|| ViewNode::Element {
                tag: "view".into(),
                attrs: Vec::new(),
                events: Vec::new(),
                children: Vec::new(),
            });
        let bound = r.bound;
        let patches = match &self.tree {
            None => vec![ViewPatch::Replace {
                path: Vec::new(),
                node: new.clone(),
            }],
            Some(old) => {
                let mut out = Vec::new();
                diff(old, &new, &mut Vec::new(), &mut out);
                out
            }
        };
        self.tree = Some(new);
        self.bound = bound;
        Ok(patches)
    }

    /// Applies a `ui.setData` patch (a JSON object of `path: value`, e.g.
    /// `{"count": 3, "user.name": "Ada", "items.0.done": true}`) to the data, then renders.
    ///
    /// # Errors
    /// [`RenderError::BadData`] for a patch that is not such an object or names a bad path
    /// (nothing is changed); [`RenderError::TooLarge`] past a size limit (nothing is changed).
    pub fn set_data(&mut self, patch: &[u8]) -> Result<Vec<ViewPatch>, RenderError> {
        if patch.len() > MAX_PATCH_BYTES {
            return Err(RenderError::TooLarge(format!(
                "a setData patch is at most {MAX_PATCH_BYTES} bytes"
            )));
        }
        let patch: Value = serde_json::from_slice(patch)
            .map_err(|e| RenderError::BadData(format!("the patch is not JSON: {e}")))?;
        let Value::Object(entries) = patch else {
            return Err(RenderError::BadData(
                "setData takes an object of path: value, e.g. {\"count\": 1}".into(),
            ));
        };
        if entries.len() > MAX_PATCH_KEYS {
            return Err(RenderError::TooLarge(format!(
                "a setData patch sets at most {MAX_PATCH_KEYS} paths"
            )));
        }
        let mut data = self.data.clone();
        for (key, value) in entries {
            if depth(&value) > MAX_DATA_DEPTH {
                return Err(RenderError::TooLarge(format!(
                    "view data nests at most {MAX_DATA_DEPTH} deep"
                )));
            }
            let path = parse_path(&key)?;
            set(&mut data, &path, value)?;
        }
        let bytes = serde_json::to_vec(&data).map_or(usize::MAX, |v| v.len());
        if bytes > MAX_DATA_BYTES {
            return Err(RenderError::TooLarge(format!(
                "view data is at most {MAX_DATA_BYTES} bytes serialized; this patch makes it {bytes}"
            )));
        }
        let old = std::mem::replace(&mut self.data, data);
        match self.render() {
            Ok(p) => {
                self.data_bytes = bytes;
                Ok(p)
            }
            Err(e) => {
                self.data = old;
                Err(e)
            }
        }
    }

    /// The handler an event of `kind` on the node at `target` goes to, if one is bound.
    pub fn handler(&self, target: &[u32], kind: EventKind) -> Option<&Bound> {
        self.bound
            .iter()
            .find(|(p, k, _)| p == target && *k == kind)
            .map(|(_, _, b)| b)
    }

    /// The serialized size of the data model, in bytes.
    pub fn data_bytes(&self) -> usize {
        self.data_bytes
    }
}

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// A setData key: a dotted path of names and indices (the template's binding syntax).
fn parse_path(key: &str) -> Result<Vec<PathSegment>, RenderError> {
    let text = format!("<view>{{{{{key}}}}}</view>");
    let bad = || {
        RenderError::BadData(format!(
            "{:?} is not a data path: names and indices joined by dots, e.g. items.0.title",
            key.escape_debug().to_string()
        ))
    };
    if key.contains(['{', '}', '<', '>', '&']) {
        return Err(bad());
    }
    let t = Template::parse(&text).map_err(|_| bad())?;
    match t.root().children.as_slice() {
        [Node::Text(pieces)] => match pieces.as_slice() {
            [Piece::Bound(b)] if !b.negated => Ok(b.path.clone()),
            _ => Err(bad()),
        },
        _ => Err(bad()),
    }
}

/// Sets `path` in `data` to `value`, making objects on the way; an index must name an
/// existing element or the one just past the end (appending).
fn set(data: &mut Value, path: &[PathSegment], value: Value) -> Result<(), RenderError> {
    let Some((last, parents)) = path.split_last() else {
        return Err(RenderError::BadData("an empty path".into()));
    };
    let mut at = data;
    for seg in parents {
        at = step(at, seg, true)?;
    }
    match (at, last) {
        (Value::Object(o), PathSegment::Field(f)) => {
            o.insert(f.clone(), value);
            Ok(())
        }
        (Value::Array(a), PathSegment::Index(i)) => {
            let i = *i as usize;
            if i < a.len() {
                if let Some(slot) = a.get_mut(i) {
                    *slot = value;
                }
                Ok(())
            } else if i == a.len() {
                a.push(value);
                Ok(())
            } else {
                Err(RenderError::BadData(format!(
                    "index {i} is past the end of an array of {}",
                    a.len()
                )))
            }
        }
        (v, seg) => Err(RenderError::BadData(format!(
            "cannot set {} in a {}",
            describe(seg),
            kind(v)
        ))),
    }
}

fn step<'v>(
    at: &'v mut Value,
    seg: &PathSegment,
    create: bool,
) -> Result<&'v mut Value, RenderError> {
    match (at, seg) {
        (Value::Object(o), PathSegment::Field(f)) => {
            if !o.contains_key(f.as_str()) && create {
                o.insert(f.clone(), Value::Object(Map::new()));
            }
            o.get_mut(f.as_str())
                .ok_or_else(|| RenderError::BadData(format!("no field {f}")))
        }
        (Value::Array(a), PathSegment::Index(i)) => {
            let len = a.len();
            a.get_mut(*i as usize).ok_or_else(|| {
                RenderError::BadData(format!("index {i} is past the end of an array of {len}"))
            })
        }
        (v, seg) => Err(RenderError::BadData(format!(
            "cannot go to {} in a {}",
            describe(seg),
            kind(v)
        ))),
    }
}

fn describe(seg: &PathSegment) -> String {
    match seg {
        PathSegment::Field(f) => format!("field {f}"),
        PathSegment::Index(i) => format!("index {i}"),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A list item in scope: its alias and its value.
struct Scope<'d> {
    alias: &'d str,
    value: &'d Value,
}

struct Renderer<'d> {
    scopes: Vec<Scope<'d>>,
    nodes: usize,
    bytes: usize,
    steps: usize,
    bound: Vec<(Vec<u32>, EventKind, Bound)>,
    data: &'d Value,
}

impl<'d> Renderer<'d> {
    fn lookup(&self, b: &Binding) -> Option<&'d Value> {
        let (first, rest) = b.path.split_first()?;
        let mut at = match first {
            PathSegment::Field(name) => match self.scopes.iter().rev().find(|s| s.alias == name) {
                Some(scope) => scope.value,
                None => self.data.get(name.as_str())?,
            },
            PathSegment::Index(_) => return None,
        };
        for seg in rest {
            at = match (at, seg) {
                (Value::Object(o), PathSegment::Field(f)) => o.get(f.as_str())?,
                (Value::Array(a), PathSegment::Index(i)) => a.get(*i as usize)?,
                _ => return None,
            };
        }
        Some(at)
    }

    fn truthy(&self, b: &Binding) -> bool {
        let v = match self.lookup(b) {
            None | Some(Value::Null) | Some(Value::Bool(false)) => false,
            Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
            Some(Value::String(s)) => !s.is_empty(),
            Some(Value::Array(a)) => !a.is_empty(),
            Some(Value::Object(o)) => !o.is_empty(),
            Some(Value::Bool(true)) => true,
        };
        v != b.negated
    }

    fn text(&self, pieces: &[Piece]) -> String {
        let mut out = String::new();
        for p in pieces {
            match p {
                Piece::Literal(s) => out.push_str(s),
                Piece::Bound(b) => match self.lookup(b) {
                    None | Some(Value::Null) => {}
                    Some(Value::String(s)) => out.push_str(s),
                    Some(other) => out.push_str(&other.to_string()),
                },
            }
        }
        out
    }

    /// Text for `pieces`, charged against the byte budget.
    fn charged_text(&mut self, pieces: &[Piece]) -> Result<String, RenderError> {
        let text = self.text(pieces);
        self.bytes = self.bytes.saturating_add(text.len());
        if self.bytes > MAX_RENDERED_BYTES {
            return Err(RenderError::TooLarge(format!(
                "the view would hold more than {MAX_RENDERED_BYTES} bytes of text; show less"
            )));
        }
        Ok(text)
    }

    /// One step of work (an element or list item visited, shown or not).
    fn step(&mut self) -> Result<(), RenderError> {
        self.steps += 1;
        if self.steps > MAX_RENDER_STEPS {
            return Err(RenderError::TooLarge(format!(
                "rendering the view takes more than {MAX_RENDER_STEPS} steps; show fewer items"
            )));
        }
        Ok(())
    }

    fn count(&mut self) -> Result<(), RenderError> {
        self.nodes += 1;
        if self.nodes > MAX_RENDERED_NODES {
            return Err(RenderError::TooLarge(format!(
                "the view would have more than {MAX_RENDERED_NODES} nodes; show fewer items"
            )));
        }
        Ok(())
    }

    /// Renders `e` at `path` (`None` when its condition hides it).
    fn element(
        &mut self,
        e: &'d Element,
        path: &mut Vec<u32>,
        item: Option<(usize, Option<String>)>,
    ) -> Result<Option<ViewNode>, RenderError> {
        self.step()?;
        if let Some(c) = &e.condition
            && !self.truthy(c)
        {
            return Ok(None);
        }
        self.count()?;
        let mut attrs = Vec::with_capacity(e.attrs.len());
        for (name, value) in &e.attrs {
            attrs.push((name.clone(), self.charged_text(value)?));
        }
        for (kind, handler) in &e.events {
            self.bound.push((
                path.clone(),
                *kind,
                Bound {
                    handler: handler.clone(),
                    item: item.clone(),
                },
            ));
        }
        let mut children = Vec::new();
        match &e.repeat {
            Some(repeat) => {
                let items: &'d [Value] = match self.lookup(&repeat.items) {
                    Some(Value::Array(a)) => a,
                    _ => &[],
                };
                for (index, value) in items.iter().enumerate() {
                    self.step()?;
                    let key = repeat
                        .key
                        .as_ref()
                        .and_then(|k| match value.get(k.as_str()) {
                            Some(Value::String(s)) => Some(s.clone()),
                            Some(Value::Null) | None => None,
                            Some(other) => Some(other.to_string()),
                        });
                    self.scopes.push(Scope {
                        alias: &repeat.alias,
                        value,
                    });
                    let rendered =
                        self.children(&e.children, path, &mut children, Some((index, key)));
                    self.scopes.pop();
                    rendered?;
                }
            }
            None => self.children(&e.children, path, &mut children, item)?,
        }
        Ok(Some(ViewNode::Element {
            tag: e.tag.name().to_owned(),
            attrs,
            events: e.events.iter().map(|(k, _)| *k).collect(),
            children,
        }))
    }

    fn children(
        &mut self,
        nodes: &'d [Node],
        path: &mut Vec<u32>,
        out: &mut Vec<ViewNode>,
        item: Option<(usize, Option<String>)>,
    ) -> Result<(), RenderError> {
        for n in nodes {
            let index = u32::try_from(out.len()).unwrap_or(u32::MAX);
            path.push(index);
            let rendered = match n {
                Node::Element(child) => self.element(child, path, item.clone()),
                Node::Text(pieces) => self
                    .count()
                    .and_then(|()| self.charged_text(pieces))
                    .map(|t| Some(ViewNode::Text(t))),
            };
            path.pop();
            if let Some(node) = rendered? {
                out.push(node);
            }
        }
        Ok(())
    }
}

/// Patches that turn `old` into `new` (`path` is where they are; `out` collects them).
pub fn diff(old: &ViewNode, new: &ViewNode, path: &mut Vec<u32>, out: &mut Vec<ViewPatch>) {
    match (old, new) {
        (ViewNode::Text(a), ViewNode::Text(b)) => {
            if a != b {
                out.push(ViewPatch::SetText {
                    path: path.clone(),
                    text: b.clone(),
                });
            }
        }
        (
            ViewNode::Element {
                tag: ta,
                attrs: aa,
                events: ea,
                children: ca,
            },
            ViewNode::Element {
                tag: tb,
                attrs: ab,
                events: eb,
                children: cb,
            },
        ) if ta == tb && ea == eb => {
            for (name, value) in ab {
                if aa.iter().find(|(n, _)| n == name).map(|(_, v)| v) != Some(value) {
                    out.push(ViewPatch::SetAttr {
                        path: path.clone(),
                        name: name.clone(),
                        value: value.clone(),
                    });
                }
            }
            for (name, _) in aa {
                if !ab.iter().any(|(n, _)| n == name) {
                    out.push(ViewPatch::RemoveAttr {
                        path: path.clone(),
                        name: name.clone(),
                    });
                }
            }
            let common = ca.len().min(cb.len());
            for (i, (a, b)) in ca.iter().zip(cb).enumerate() {
                path.push(u32::try_from(i).unwrap_or(u32::MAX));
                diff(a, b, path, out);
                path.pop();
            }
            for i in (common..ca.len()).rev() {
                out.push(ViewPatch::Remove {
                    path: path.clone(),
                    index: u32::try_from(i).unwrap_or(u32::MAX),
                });
            }
            for (i, node) in cb.iter().enumerate().skip(common) {
                out.push(ViewPatch::Insert {
                    path: path.clone(),
                    index: u32::try_from(i).unwrap_or(u32::MAX),
                    node: node.clone(),
                });
            }
        }
        _ => out.push(ViewPatch::Replace {
            path: path.clone(),
            node: new.clone(),
        }),
    }
}

/// Applies `patches` to a surface's copy of a tree.
///
/// # Errors
/// [`RenderError::BadPatch`] for a patch addressing a node that does not exist (the tree is
/// left as the earlier patches made it).
pub fn apply(tree: &mut Option<ViewNode>, patches: &[ViewPatch]) -> Result<(), RenderError> {
    for p in patches {
        match p {
            ViewPatch::Replace { path, node } if path.is_empty() => *tree = Some(node.clone()),
            ViewPatch::Replace { path, node } => *at(tree, path)? = node.clone(),
            ViewPatch::SetText { path, text } => match at(tree, path)? {
                ViewNode::Text(t) => t.clone_from(text),
                ViewNode::Element { .. } => return Err(bad("SetText on an element")),
            },
            ViewPatch::SetAttr { path, name, value } => match at(tree, path)? {
                ViewNode::Element { attrs, .. } => {
                    match attrs.iter_mut().find(|(n, _)| n == name) {
                        Some((_, v)) => v.clone_from(value),
                        None => attrs.push((name.clone(), value.clone())),
                    }
                }
                ViewNode::Text(_) => return Err(bad("SetAttr on text")),
            },
            ViewPatch::RemoveAttr { path, name } => match at(tree, path)? {
                ViewNode::Element { attrs, .. } => attrs.retain(|(n, _)| n != name),
                ViewNode::Text(_) => return Err(bad("RemoveAttr on text")),
            },
            ViewPatch::Insert { path, index, node } => match at(tree, path)? {
                ViewNode::Element { children, .. } if (*index as usize) <= children.len() => {
                    children.insert(*index as usize, node.clone());
                }
                _ => return Err(bad("Insert out of range")),
            },
            ViewPatch::Remove { path, index } => match at(tree, path)? {
                ViewNode::Element { children, .. } if (*index as usize) < children.len() => {
                    children.remove(*index as usize);
                }
                _ => return Err(bad("Remove out of range")),
            },
            _ => return Err(bad("an unknown patch")),
        }
    }
    Ok(())
}

fn bad(what: &str) -> RenderError {
    RenderError::BadPatch(what.into())
}

/// The node at `path` (child indices from the root).
fn at<'t>(tree: &'t mut Option<ViewNode>, path: &[u32]) -> Result<&'t mut ViewNode, RenderError> {
    let mut node = tree.as_mut().ok_or_else(|| bad("no tree yet"))?;
    for i in path {
        node = match node {
            ViewNode::Element { children, .. } => children
                .get_mut(*i as usize)
                .ok_or_else(|| bad("a path past the children"))?,
            ViewNode::Text(_) => return Err(bad("a path through text")),
        };
    }
    Ok(node)
}

/// The tag of the template element, for surfaces that map tags to their own vocabulary.
pub fn tag(name: &str) -> Option<Tag> {
    Tag::ALL.into_iter().find(|t| t.name() == name)
}
