//! API names as a guest writes them, the ABI's numbered error codes, and the error a host API
//! answers with.

use std::borrow::Cow;
use std::fmt;

use crate::Error;
use crate::capability::ident;
use crate::id::truncate;

/// An API name such as `clock.now`, `storage.get` or `ui.setData`.
///
/// Two to four dot-separated segments, each 1..=32 ASCII letters and digits starting with a
/// lowercase letter; at most [`ApiName::MAX_LEN`] bytes.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiName(String);

impl ApiName {
    /// Longest accepted API name, in bytes.
    pub const MAX_LEN: usize = 64;

    /// Parses and validates an API name.
    ///
    /// # Errors
    /// [`Error::Invalid`] saying which rule the string breaks.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let segments = s.split('.').count();
        let ok = s.len() <= Self::MAX_LEN
            && (2..=4).contains(&segments)
            && s.split('.').all(|seg| {
                seg.starts_with(|c: char| c.is_ascii_lowercase())
                    && ident(seg, 32, |b| b.is_ascii_alphanumeric())
            });
        if ok {
            Ok(ApiName(s.to_owned()))
        } else {
            Err(Error::Invalid {
                what: "API name",
                reason: format!(
                    "{:?} is not 2..=4 dot-separated identifiers (e.g. storage.get)",
                    truncate(s)
                ),
            })
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ApiName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ApiName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiName({})", self.0)
    }
}

/// The error codes of host ABI v1, numbered once here (and in `docs/abi.md`).
///
/// A failed `call` returns the negated code; the pending bytes are a JSON object
/// `{"code": <name>, "message": <text>}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The app lacks the capability, or policy forbids the API.
    Denied = 1,
    /// A rate limit or in-flight limit was hit; retry later.
    RateLimited = 2,
    /// A request, response or value is larger than allowed.
    TooLarge = 3,
    /// The request is malformed (bad UTF-8, bad JSON, bad pointer or length).
    BadRequest = 4,
    /// No API has that name.
    UnknownApi = 5,
    /// The API exists but cannot serve now.
    Unavailable = 6,
    /// A storage quota was hit.
    Quota = 7,
    /// The host failed; the app did nothing wrong.
    Internal = 8,
}

impl ErrorCode {
    /// Every code, in numeric order.
    pub const ALL: [ErrorCode; 8] = [
        ErrorCode::Denied,
        ErrorCode::RateLimited,
        ErrorCode::TooLarge,
        ErrorCode::BadRequest,
        ErrorCode::UnknownApi,
        ErrorCode::Unavailable,
        ErrorCode::Quota,
        ErrorCode::Internal,
    ];

    /// The positive number of this code (the ABI returns it negated).
    pub const fn number(self) -> i32 {
        self as i32
    }

    /// The code for a positive number, if there is one.
    pub fn from_number(n: i32) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.number() == n)
    }

    /// The name used in JSON error bodies, e.g. `"denied"`.
    pub const fn name(self) -> &'static str {
        match self {
            ErrorCode::Denied => "denied",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::UnknownApi => "unknown_api",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Quota => "quota",
            ErrorCode::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A failed API call as the guest sees it: a code and a message.
///
/// Messages must never carry host secrets, paths or other apps' data.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    code: ErrorCode,
    message: Cow<'static, str>,
}

impl ApiError {
    /// An error with `code` and a message for the mini-app author.
    pub fn new(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        ApiError {
            code,
            message: message.into(),
        }
    }
    /// The code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }
    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError::new(e.code(), e.to_string())
    }
}

/// An API the host registers with the gateway (a custom one, or the implementation of a
/// table API whose layer the host supplies, such as `storage.get`). It lives in the contracts
/// so that a layer serving APIs (storage, the network) implements it without depending on
/// the gateway.
///
/// The gateway has already checked the capability, policy, rate and sizes, and that the
/// request is JSON, when `call` runs; it audits the outcome afterwards. `call` runs on the
/// app's logic thread: it must not block for long. An API whose answer takes time answers
/// at once (say `{"status": "pending"}`) and posts the result as an event later, through
/// [`Api::call_posting`]'s `events`, as consent does.
pub trait Api: Send + Sync {
    /// Serves one call, writing the JSON response into `response` (cleared already).
    ///
    /// # Errors
    /// An [`ApiError`] the guest sees.
    fn call(
        &self,
        app: &crate::AppContext,
        request: &[u8],
        response: &mut Vec<u8>,
    ) -> Result<(), ApiError>;

    /// [`Api::call`], with the sender of the app's events, for an API that answers later:
    /// what it posts reaches the app as an event on its logic thread. The gateway calls this
    /// one; by default it is `call`.
    ///
    /// # Errors
    /// An [`ApiError`] the guest sees.
    fn call_posting(
        &self,
        app: &crate::AppContext,
        request: &[u8],
        response: &mut Vec<u8>,
        events: &crate::EventSender,
    ) -> Result<(), ApiError> {
        let _ = events;
        self.call(app, request, response)
    }

    /// [`Api::call_posting`], with what the app's grant of the API's capability reaches: for a
    /// scoped capability (`net:fetch`), the origins granted that the manifest still declares;
    /// empty for the others. An API that serves a scoped capability must keep inside `scope`.
    /// The gateway calls this one; by default it is `call_posting`.
    ///
    /// # Errors
    /// An [`ApiError`] the guest sees.
    #[cfg(feature = "origin")]
    fn call_scoped(
        &self,
        app: &crate::AppContext,
        scope: &[crate::OriginPattern],
        request: &[u8],
        response: &mut Vec<u8>,
        events: &crate::EventSender,
    ) -> Result<(), ApiError> {
        let _ = scope;
        self.call_posting(app, request, response, events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_distinct() {
        for (i, c) in ErrorCode::ALL.iter().enumerate() {
            assert_eq!(c.number(), i as i32 + 1);
            assert_eq!(ErrorCode::from_number(c.number()), Some(*c));
        }
        assert_eq!(ErrorCode::from_number(0), None);
        assert_eq!(ErrorCode::from_number(9), None);
    }

    #[test]
    fn api_names_are_checked() {
        for ok in [
            "clock.now",
            "ui.setData",
            "storage.shared.get",
            "acme.pay.v2.go",
        ] {
            assert!(ApiName::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "clock",
            ".now",
            "clock.",
            "Clock.now",
            "clock.now!",
            "a.b.c.d.e",
            "clock..now",
            "clock.1now",
        ] {
            assert!(ApiName::parse(bad).is_err(), "{bad:?}");
        }
    }
}
