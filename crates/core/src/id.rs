//! App ids: validated reverse-domain names that are always safe, case-free file names.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Error;

/// A mini-app's identity: a validated reverse-DNS name such as `com.example.counter`.
///
/// The rules, chosen so an id is safe as a file name on every platform and cannot be confused
/// with another id by case or by Unicode look-alikes:
/// - [`AppId::MIN_LEN`]..=[`AppId::MAX_LEN`] bytes, ASCII only;
/// - at least two labels separated by `.`;
/// - each label 1..=63 bytes of `a-z`, `0-9` and `-`, starting with a letter and not ending
///   with `-`.
///
/// An `AppId` can only be made by parsing, so holding one proves the string obeys the rules.
///
/// ```
/// use sandframe_core::AppId;
/// let id: AppId = "com.example.counter".parse()?;
/// assert_eq!(id.as_str(), "com.example.counter");
/// assert!("Com.Example".parse::<AppId>().is_err());
/// assert!("../etc".parse::<AppId>().is_err());
/// # Ok::<(), sandframe_core::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AppId(String);

impl AppId {
    /// Shortest accepted id, in bytes (`a.b`).
    pub const MIN_LEN: usize = 3;
    /// Longest accepted id, in bytes.
    pub const MAX_LEN: usize = 128;
    /// Longest accepted label, in bytes.
    pub const MAX_LABEL_LEN: usize = 63;

    /// Parses and validates an app id.
    ///
    /// # Errors
    /// [`Error::Invalid`] saying which rule the string breaks.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let invalid = |reason: String| Error::Invalid {
            what: "app id",
            reason,
        };
        if s.len() < Self::MIN_LEN || s.len() > Self::MAX_LEN {
            return Err(invalid(format!(
                "{:?} is {} bytes long; an app id is {}..={} bytes",
                truncate(s),
                s.len(),
                Self::MIN_LEN,
                Self::MAX_LEN
            )));
        }
        let mut labels = 0usize;
        for label in s.split('.') {
            labels += 1;
            check_label(label).map_err(|why| {
                invalid(format!(
                    "{:?}: label {labels} {why}; use reverse-DNS like com.example.app",
                    truncate(s)
                ))
            })?;
        }
        if labels < 2 {
            return Err(invalid(format!(
                "{:?} has one label; use reverse-DNS like com.example.app",
                truncate(s)
            )));
        }
        Ok(AppId(s.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn check_label(label: &str) -> Result<(), &'static str> {
    let bytes = label.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
        return Err("is empty");
    };
    if bytes.len() > AppId::MAX_LABEL_LEN {
        return Err("is longer than 63 bytes");
    }
    if !first.is_ascii_lowercase() {
        return Err("must start with a lowercase ASCII letter");
    }
    if *last == b'-' {
        return Err("must not end with '-'");
    }
    if !bytes
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
    {
        return Err("may hold only a-z, 0-9 and '-'");
    }
    Ok(())
}

/// At most 64 characters of an untrusted string, for error messages.
pub(crate) fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

impl FromStr for AppId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        AppId::parse(s)
    }
}

impl TryFrom<String> for AppId {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        AppId::parse(&s)
    }
}

impl From<AppId> for String {
    fn from(id: AppId) -> String {
        id.0
    }
}

impl AsRef<str> for AppId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AppId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for AppId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AppId({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn valid_ids_parse() {
        for ok in ["a.b", "com.example.counter", "io.x-y.z9", "org.a1.b2.c3"] {
            assert_eq!(AppId::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn hostile_ids_are_rejected() {
        let long_label = format!("com.{}", "a".repeat(64));
        let too_long = format!("com.{}", ["abc"; 40].join("."));
        for bad in [
            "",
            "ab",
            "counter",
            "com..example",
            ".com.example",
            "com.example.",
            "com/example",
            "../etc.passwd",
            "com.example\0x",
            "Com.example",
            "com.exAmple",
            "com.1example",
            "com.example-",
            "com.-example",
            "com.ex ample",
            "com.exаmple", // Cyrillic 'а'
            "com.example\u{200b}",
            long_label.as_str(),
            too_long.as_str(),
        ] {
            assert!(AppId::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn serde_validates_on_the_way_in() {
        let id: AppId = serde_json::from_str("\"com.example.app\"").unwrap();
        assert_eq!(id.as_str(), "com.example.app");
        assert!(serde_json::from_str::<AppId>("\"../x\"").is_err());
    }

    proptest! {
        #[test]
        fn accepted_ids_are_safe_file_names(s in "\\PC{0,140}") {
            if let Ok(id) = AppId::parse(&s) {
                prop_assert!(id.as_str().is_ascii());
                prop_assert!(!id.as_str().contains('/'));
                prop_assert!(!id.as_str().contains(".."));
                prop_assert!(id.as_str().len() <= AppId::MAX_LEN);
                prop_assert_eq!(id.as_str().to_ascii_lowercase(), id.as_str());
            }
        }
    }
}
