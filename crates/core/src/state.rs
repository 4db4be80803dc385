//! [`HomeState`]: the small security state a host keeps for its apps (install records, grants,
//! quarantines), stored where a home-writer cannot forge, drop or roll it back unnoticed.

use crate::Error;

/// Small named values, grouped by kind (`"grants"`, `"quarantine"`, …), whose every change is
/// committed durably before [`HomeState::set`] returns.
///
/// The default implementation (`sandframe_gateway::SealedState`) MACs each change into a
/// chain whose head lives in the audit anchor, outside the home, so a value written, removed
/// or put back by hand is never read as the host's. Layers keep their persistent security
/// decisions here instead of in files of their own.
pub trait HomeState: Send + Sync {
    /// The value of `name` in `kind`, as of the last change this process saw.
    fn get(&self, kind: &str, name: &str) -> Option<Vec<u8>>;

    /// Whether `kind` holds `name`.
    fn contains(&self, kind: &str, name: &str) -> bool {
        self.get(kind, name).is_some()
    }

    /// Every name in `kind`, sorted.
    fn names(&self, kind: &str) -> Vec<String>;

    /// Sets `name` in `kind` to `value`, or removes it with `None`, durably before returning.
    ///
    /// # Errors
    /// When the change cannot be committed; then it did not happen.
    fn set(&self, kind: &str, name: &str, value: Option<&[u8]>) -> Result<(), Error>;
}
