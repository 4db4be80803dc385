//! Consent: the question the gateway asks the embedder when an app requests a capability, and
//! its answer.

#[cfg(feature = "origin")]
use crate::OriginPattern;
use crate::{AppId, Capability};

/// A question for the embedder: may `app` have `capability`?
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsentRequest {
    /// The app asking.
    pub app: AppId,
    /// The app's display name from its manifest (untrusted text: escape it when shown).
    pub app_name: String,
    /// The capability asked for (always one the manifest declared).
    pub capability: Capability,
    /// The manifest's reason for it (untrusted text: escape it when shown).
    pub reason: String,
    /// For a scoped capability (`net:fetch`), what a grant would reach: the origins the
    /// manifest declares that the host's policy allows, in A-labels, exactly as they are
    /// matched. Show them: a grant covers these and nothing else. Empty for the others.
    #[cfg(feature = "origin")]
    pub scope: Vec<OriginPattern>,
}

/// The embedder's answer to a [`ConsentRequest`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConsentDecision {
    /// Grant the capability; the grant persists until revoked.
    Grant,
    /// Refuse it.
    Deny,
}

/// Decides capability requests that neither host policy nor a stored grant answers.
///
/// `decide` may block for as long as a person takes to answer: the gateway always calls it off
/// the app's logic thread, answers the guest "pending" at once, and delivers the decision later
/// as an event.
///
/// ```
/// use sandframe_core::{Consent, ConsentDecision, ConsentRequest, DenyAll};
/// let req = ConsentRequest {
///     app: "com.example.app".parse()?,
///     app_name: "Example".into(),
///     capability: "user:readProfile".parse()?,
///     reason: "show your name".into(),
///     # #[cfg(feature = "origin")]
///     scope: vec![],
/// };
/// assert_eq!(DenyAll.decide(&req), ConsentDecision::Deny);
/// # Ok::<(), sandframe_core::Error>(())
/// ```
pub trait Consent: Send + Sync {
    /// Answers one request.
    fn decide(&self, request: &ConsentRequest) -> ConsentDecision;
}

/// A [`Consent`] that refuses everything: the safe default for a host with no one to ask.
#[derive(Clone, Copy, Debug, Default)]
pub struct DenyAll;

impl Consent for DenyAll {
    fn decide(&self, _request: &ConsentRequest) -> ConsentDecision {
        ConsentDecision::Deny
    }
}
