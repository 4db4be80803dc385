//! Capabilities (`namespace:name`) and the grants that give them to an app, with where each
//! grant came from.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[cfg(feature = "origin")]
use crate::OriginPattern;
use crate::id::truncate;
use crate::{AppId, Error};

/// A capability name such as `user:readProfile` or `storage:local`.
///
/// The form is `<namespace>:<name>`: the namespace is 1..=32 bytes of `a-z0-9` starting with a
/// letter, the name 1..=48 bytes of ASCII letters and digits starting with a letter. Which
/// capabilities exist, and which API needs which, is the gateway's business; this type only
/// guarantees the name is well formed.
///
/// ```
/// use sandframe_core::Capability;
/// let cap: Capability = "user:readProfile".parse()?;
/// assert_eq!(cap.namespace(), "user");
/// assert!("user:read profile".parse::<Capability>().is_err());
/// # Ok::<(), sandframe_core::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Capability(String);

impl Capability {
    /// Read and write the app's own storage namespace.
    pub const STORAGE_LOCAL: &'static str = "storage:local";
    /// Read the user's public profile.
    pub const USER_READ_PROFILE: &'static str = "user:readProfile";
    /// Send view data to the render side.
    pub const UI_RENDER: &'static str = "ui:render";
    /// Reach the network origins the manifest lists (and the grant covers): `net.fetch`.
    pub const NET_FETCH: &'static str = "net:fetch";

    /// Longest accepted capability name, in bytes.
    pub const MAX_LEN: usize = 81;

    /// Parses and validates a capability name.
    ///
    /// # Errors
    /// [`Error::Invalid`] saying which rule the string breaks.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let invalid = |reason: &str| Error::Invalid {
            what: "capability",
            reason: format!(
                "{:?} {reason}; write namespace:name, e.g. storage:local",
                truncate(s)
            ),
        };
        let (ns, name) = s.split_once(':').ok_or_else(|| invalid("has no ':'"))?;
        if !ident(ns, 32, |b| b.is_ascii_lowercase() || b.is_ascii_digit()) {
            return Err(invalid(
                "has a bad namespace (1..=32 of a-z0-9, starting with a letter)",
            ));
        }
        if !ident(name, 48, |b| b.is_ascii_alphanumeric()) {
            return Err(invalid(
                "has a bad name (1..=48 ASCII letters and digits, starting with a letter)",
            ));
        }
        Ok(Capability(s.to_owned()))
    }

    /// The whole name, e.g. `user:readProfile`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before `:`, e.g. `user`.
    pub fn namespace(&self) -> &str {
        self.0.split_once(':').map_or("", |(ns, _)| ns)
    }
}

/// `s` is 1..=max bytes, starts with an ASCII letter and every byte passes `ok`.
pub(crate) fn ident(s: &str, max: usize, ok: impl Fn(u8) -> bool) -> bool {
    let b = s.as_bytes();
    matches!(b.first(), Some(f) if f.is_ascii_alphabetic())
        && b.len() <= max
        && b.iter().all(|&c| ok(c))
}

impl FromStr for Capability {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Capability::parse(s)
    }
}

impl TryFrom<String> for Capability {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        Capability::parse(&s)
    }
}

impl From<Capability> for String {
    fn from(c: Capability) -> String {
        c.0
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Capability({})", self.0)
    }
}

/// Who decided a [`Grant`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum GrantSource {
    /// Host policy granted it without asking anyone.
    Policy,
    /// The embedder's [`crate::Consent`] granted it (usually a person).
    Consent,
    /// The host application granted it directly through its API.
    Host,
}

/// A capability given to one app at run time.
///
/// The manifest is an upper bound: a grant exists only for a capability the app declared, and
/// an update that declares new capabilities starts with no grant for them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    app: AppId,
    capability: Capability,
    source: GrantSource,
    granted_at_unix_ms: u64,
    /// For a scoped capability, what the grant reaches (`net:fetch`: origins); empty for the
    /// others. Stored grants from before scopes read as empty.
    #[cfg(feature = "origin")]
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    scope: Vec<OriginPattern>,
}

impl Grant {
    /// Records that `app` holds `capability`, decided by `source` at `granted_at_unix_ms`.
    pub fn new(
        app: AppId,
        capability: Capability,
        source: GrantSource,
        granted_at_unix_ms: u64,
    ) -> Self {
        Grant {
            app,
            capability,
            source,
            granted_at_unix_ms,
            #[cfg(feature = "origin")]
            scope: Vec::new(),
        }
    }

    /// The same grant, reaching `scope` (see [`Grant::scope`]).
    #[cfg(feature = "origin")]
    #[must_use]
    pub fn with_scope(mut self, scope: Vec<OriginPattern>) -> Self {
        self.scope = scope;
        self
    }

    /// What the grant reaches, for a scoped capability such as `net:fetch` (the origins
    /// consented to); empty for an unscoped one. A scoped grant never reaches past it, even
    /// when an update of the app declares more.
    #[cfg(feature = "origin")]
    pub fn scope(&self) -> &[OriginPattern] {
        &self.scope
    }
    /// The app holding the grant.
    pub fn app(&self) -> &AppId {
        &self.app
    }
    /// The capability granted.
    pub fn capability(&self) -> &Capability {
        &self.capability
    }
    /// Who decided.
    pub fn source(&self) -> GrantSource {
        self.source
    }
    /// When, in milliseconds since the Unix epoch.
    pub fn granted_at_unix_ms(&self) -> u64 {
        self.granted_at_unix_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_names_are_checked() {
        for ok in ["storage:local", "user:readProfile", "ui:render", "x1:y2"] {
            assert_eq!(Capability::parse(ok).unwrap().as_str(), ok);
        }
        for bad in [
            "",
            "storage",
            ":local",
            "storage:",
            "Storage:local",
            "storage:lo cal",
            "storage:local:x",
            "1storage:local",
            "storage:1local",
            "storage:lo\0cal",
            "storage:lócal",
        ] {
            assert!(Capability::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
