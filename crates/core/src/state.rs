//! [`HomeState`]: the small security state a host keeps for its apps (install records, grants,
//! quarantines), stored where a home-writer cannot forge, drop or roll it back unnoticed.

use crate::Error;

/// How [`HomeState::update`] changes a value: given the stored one (if any), the new one
/// (`None` removes it).
pub type StateChange<'a> = dyn FnMut(Option<&[u8]>) -> Option<Vec<u8>> + 'a;

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

    /// Reads `name` in `kind` as stored now (what other processes committed included), lets
    /// `change` compute its new value (`None` removes it), and commits that, as one step
    /// that no other writer interleaves with. Returns the new value.
    ///
    /// The default reads with [`HomeState::get`] and writes with [`HomeState::set`], which is
    /// one step only for a state no other process shares.
    ///
    /// # Errors
    /// When the change cannot be committed; then it did not happen.
    fn update(
        &self,
        kind: &str,
        name: &str,
        change: &mut StateChange<'_>,
    ) -> Result<Option<Vec<u8>>, Error> {
        let next = change(self.get(kind, name).as_deref());
        self.set(kind, name, next.as_deref())?;
        Ok(next)
    }
}
