//! The surface contract: view trees and patches going out to a display, and taps and inputs
//! coming back.

use serde::{Deserialize, Serialize};

use crate::{AppId, Error};

/// A user event a view element can bind a handler to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum EventKind {
    /// A tap or click (`bind:tap`).
    Tap,
    /// A text input changed (`bind:input`).
    Input,
}

/// A rendered view tree node. Text is plain text: a surface escapes it when it writes markup.
///
/// Exhaustive on purpose: every surface must handle every kind of node, so a new kind is a
/// breaking change that surfaces are made to see.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ViewNode {
    /// An element of the template vocabulary (`view`, `text`, `button`, …).
    Element {
        /// The element name.
        tag: String,
        /// Attributes, in template order, values already interpolated (untrusted text).
        attrs: Vec<(String, String)>,
        /// Events this element has a bound handler for (the handler names stay render-side).
        events: Vec<EventKind>,
        /// Children, in order.
        children: Vec<ViewNode>,
    },
    /// A text node.
    Text(String),
}

/// One change to a surface's view tree. A `path` is child indices from the root.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ViewPatch {
    /// Replace the node at `path` (the empty path is the root).
    Replace {
        /// Where.
        path: Vec<u32>,
        /// The new node.
        node: ViewNode,
    },
    /// Set the text of the text node at `path`.
    SetText {
        /// Where.
        path: Vec<u32>,
        /// The new text.
        text: String,
    },
    /// Set an attribute of the element at `path`.
    SetAttr {
        /// Where.
        path: Vec<u32>,
        /// Attribute name.
        name: String,
        /// New value (untrusted text).
        value: String,
    },
    /// Remove an attribute of the element at `path`.
    RemoveAttr {
        /// Where.
        path: Vec<u32>,
        /// Attribute name.
        name: String,
    },
    /// Insert `node` as child `index` of the element at `path`.
    Insert {
        /// The parent.
        path: Vec<u32>,
        /// Position among its children.
        index: u32,
        /// The new child.
        node: ViewNode,
    },
    /// Remove child `index` of the element at `path`.
    Remove {
        /// The parent.
        path: Vec<u32>,
        /// Position among its children.
        index: u32,
    },
}

/// A user event from a surface, addressed to a node of the tree it was sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SurfaceEvent {
    /// The app whose view it happened in.
    pub app: AppId,
    /// The node, as child indices from the root.
    pub target: Vec<u32>,
    /// What happened.
    pub kind: EventKind,
    /// The input's new value, for [`EventKind::Input`] (untrusted text).
    pub value: Option<String>,
}

/// Where a render side sends its patches: HTML, a terminal, a recorder in tests.
///
/// A surface receives only view trees and patches, never a gateway or storage handle, and
/// must escape every string it writes into a markup or control language.
pub trait Surface: Send {
    /// Applies patches to `app`'s view, in order.
    ///
    /// # Errors
    /// When a patch addresses a node that does not exist, or the output fails.
    fn apply(&mut self, app: &AppId, patches: &[ViewPatch]) -> Result<(), Error>;

    /// Forgets `app`'s view: the app was terminated or uninstalled, and nothing of it may stay
    /// on the surface. A surface that keeps views must implement it (default: keeps nothing).
    fn close(&mut self, _app: &AppId) {}
}
