//! The monitor contract: what each layer reports about an app, the verdicts a monitor can
//! reach, and the alerts it raises.

use std::sync::Arc;

use crate::{AppId, Error};

/// What the monitor decides about an app after an event, from mildest to most severe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verdict {
    /// Nothing to do.
    Allow,
    /// Raise an alert, change nothing.
    Warn,
    /// Swap in slower rate limits.
    Throttle,
    /// Stop the running instance now.
    Terminate,
    /// Stop it, and refuse to launch it again until the host re-enables it.
    Quarantine,
}

impl Verdict {
    /// The verdict's name as written in logs and alerts.
    pub const fn name(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Warn => "warn",
            Verdict::Throttle => "throttle",
            Verdict::Terminate => "terminate",
            Verdict::Quarantine => "quarantine",
        }
    }
}

/// Why the gateway refused a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DenyReason {
    /// The app holds no grant for the capability the API needs.
    Capability,
    /// An allow/deny policy forbids the API.
    Policy,
    /// A rate limit was hit.
    RateLimit,
    /// Too many calls in flight.
    InFlight,
    /// The request or response exceeded its size cap.
    TooLarge,
    /// The API name or request was malformed.
    Malformed,
}

/// Why a guest trapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TrapKind {
    /// Its fuel (per event or per lifetime) ran out.
    FuelExhausted,
    /// It overflowed the wasm stack.
    StackOverflow,
    /// It touched memory or a table out of bounds.
    OutOfBounds,
    /// It executed `unreachable` (a Rust panic, usually).
    Unreachable,
    /// It was stopped by a terminate verdict.
    Terminated,
    /// Its event used more CPU time than the host's per-event deadline (fuel left or not).
    DeadlineExceeded,
    /// Any other trap.
    Other,
}

/// One thing an app did, as the monitor sees it. Borrowed and `Copy`, so observing it
/// allocates nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MonitorEvent<'a> {
    /// The gateway served a call.
    Call {
        /// The API name.
        api: &'a str,
        /// Time spent in the host, in nanoseconds.
        latency_ns: u64,
        /// Request size in bytes.
        request_bytes: u32,
        /// Response size in bytes.
        response_bytes: u32,
    },
    /// The gateway refused a call.
    Denied {
        /// The API name (as the guest sent it, possibly malformed: display escaped).
        api: &'a str,
        /// Why.
        reason: DenyReason,
    },
    /// The runtime finished one event (or `sf_init`), however it ended.
    EventHandled {
        /// Fuel the event burnt.
        fuel_used: u64,
        /// Fuel the event was given.
        fuel_budget: u64,
    },
    /// The guest's memory grew.
    MemoryGrown {
        /// Its size now, in pages.
        pages: u32,
    },
    /// The guest trapped.
    Trap {
        /// How.
        kind: TrapKind,
    },
    /// `sf_init` or `sf_event` returned non-zero.
    AppError {
        /// The value it returned.
        code: i32,
    },
    /// Storage acknowledged a write.
    StorageWrite {
        /// Bytes written.
        bytes: u64,
    },
    /// A storage quota refused a write.
    QuotaHit,
    /// The network door sent a request on its way (`net.fetch`, after its checks).
    FetchSent,
    /// The network door refused a request for where it goes: an origin not granted, an
    /// address not reachable, a redirect off the granted origins (what a prober meets).
    FetchRefused,
    /// Answer bytes the network door received for the app.
    FetchBytes {
        /// Bytes of body.
        bytes: u64,
    },
}

/// Watches every app's behaviour and decides [`Verdict`]s.
pub trait Monitor: Send + Sync {
    /// Starts watching one launched app; the layers of that app share the handle.
    ///
    /// # Errors
    /// [`Error::Denied`] when the app is quarantined and must not launch.
    fn watch(&self, app: &AppId) -> Result<Arc<dyn AppMonitor>, Error>;

    /// Whether the app is quarantined (survives a host restart).
    fn is_quarantined(&self, app: &AppId) -> bool;

    /// Lifts a quarantine: an explicit host decision, audited.
    ///
    /// # Errors
    /// When the quarantine record cannot be changed.
    fn release(&self, app: &AppId) -> Result<(), Error>;
}

/// One app's watch: cheap enough to see every call (no allocation, no global lock).
///
/// The gateway and the runtime observe from the app's logic thread; the host may observe
/// from others (storage written by the host itself, for one).
pub trait AppMonitor: Send + Sync {
    /// Records one event and returns the verdict it leads to: [`Verdict::Allow`] unless a
    /// rule fires *now* (a verdict is returned once, when it is reached, not on every later
    /// event).
    fn observe(&self, event: &MonitorEvent<'_>) -> Verdict;
}

/// A no-op watch: sees nothing, decides nothing.
struct Unwatched;

impl AppMonitor for Unwatched {
    fn observe(&self, _: &MonitorEvent<'_>) -> Verdict {
        Verdict::Allow
    }
}

/// The handle through which the layers serving one launched app report to its monitor: the
/// host puts one in the app's [`AppContext`](crate::AppContext). Cheap to clone; two watches
/// are equal when they are the same handle.
///
/// ```
/// use sandframe_core::{MonitorEvent, Verdict, Watch};
/// let watch = Watch::none();
/// assert_eq!(watch.observe(&MonitorEvent::QuotaHit), Verdict::Allow);
/// ```
#[derive(Clone)]
pub struct Watch(Arc<dyn AppMonitor>);

impl Watch {
    /// A watch that reports to `monitor`.
    pub fn new(monitor: Arc<dyn AppMonitor>) -> Watch {
        Watch(monitor)
    }

    /// A watch that reports nowhere (an app run without a monitor, or a test).
    pub fn none() -> Watch {
        Watch(Arc::new(Unwatched))
    }

    /// Reports one event; returns the verdict it leads to (see [`AppMonitor::observe`]).
    #[inline]
    pub fn observe(&self, event: &MonitorEvent<'_>) -> Verdict {
        self.0.observe(event)
    }
}

impl Default for Watch {
    fn default() -> Watch {
        Watch::none()
    }
}

impl PartialEq for Watch {
    fn eq(&self, other: &Watch) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Watch {}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Watch")
    }
}

/// An alert raised by a monitor rule.
#[derive(Clone, Copy, Debug)]
pub struct Alert<'a> {
    /// The app.
    pub app: &'a AppId,
    /// The rule's stable id, e.g. `"denials.burst"`.
    pub rule: &'a str,
    /// The verdict the rule reached.
    pub verdict: Verdict,
    /// What was seen, for a person (numbers, not guest-supplied text).
    pub evidence: &'a str,
}

/// Where alerts go; the embedder supplies one (default: `tracing` at warn level).
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use sandframe_core::{Alert, AlertSink, Verdict};
///
/// struct Count(AtomicUsize);
/// impl AlertSink for Count {
///     fn alert(&self, _: &Alert<'_>) { self.0.fetch_add(1, Ordering::Relaxed); }
/// }
/// let sink = Count(AtomicUsize::new(0));
/// let app = "com.example.app".parse()?;
/// sink.alert(&Alert { app: &app, rule: "x", verdict: Verdict::Warn, evidence: "" });
/// assert_eq!(sink.0.load(Ordering::Relaxed), 1);
/// # Ok::<(), sandframe_core::Error>(())
/// ```
pub trait AlertSink: Send + Sync {
    /// Delivers one alert. Must not block for long: it runs on the path that raised it.
    fn alert(&self, alert: &Alert<'_>);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_order_by_severity() {
        assert!(Verdict::Allow < Verdict::Warn);
        assert!(Verdict::Warn < Verdict::Throttle);
        assert!(Verdict::Throttle < Verdict::Terminate);
        assert!(Verdict::Terminate < Verdict::Quarantine);
        assert_eq!(Verdict::Allow.max(Verdict::Terminate), Verdict::Terminate);
    }
}
