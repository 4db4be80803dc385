//! Audit records, borrowed so that writing one allocates nothing, and the sinks and batches
//! every layer writes them through.

use crate::{AppId, Error};

/// The layer that wrote an [`AuditRecord`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Layer {
    /// Package verification and install.
    Validate,
    /// The capability gateway.
    Gateway,
    /// Per-app storage.
    Storage,
    /// Behaviour monitoring.
    Monitor,
    /// The wasm runtime.
    Runtime,
    /// The render side.
    Render,
    /// The host (install, launch, uninstall, key rotation).
    Host,
    /// The network door (`net.fetch`).
    Net,
}

impl Layer {
    /// The layer's name as written in audit logs.
    pub const fn name(self) -> &'static str {
        match self {
            Layer::Validate => "validate",
            Layer::Gateway => "gateway",
            Layer::Storage => "storage",
            Layer::Monitor => "monitor",
            Layer::Runtime => "runtime",
            Layer::Render => "render",
            Layer::Host => "host",
            Layer::Net => "net",
        }
    }
}

/// How the audited action ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuditOutcome {
    /// It was allowed and succeeded.
    Allowed,
    /// It was refused by a check (capability, policy, trust, rate, size).
    Denied,
    /// It was allowed but failed.
    Failed,
}

/// One audit record, borrowed so that writing it allocates nothing.
///
/// Every layer writes these through [`AuditSink`]; the default sink (in `sandframe-gateway`)
/// chains them with a keyed MAC so that an edit, reordering or truncation is detected.
#[derive(Clone, Copy, Debug)]
pub struct AuditRecord<'a> {
    /// The app concerned, if any.
    pub app: Option<&'a AppId>,
    /// The layer writing the record.
    pub layer: Layer,
    /// What was done, e.g. `"call"`, `"install"`, `"verdict"`.
    pub action: &'a str,
    /// What it was done to, e.g. an API name or a capability.
    pub subject: &'a str,
    /// The capability the action needed or concerned (`""` where none).
    pub capability: &'a str,
    /// How it ended.
    pub outcome: AuditOutcome,
    /// Free text for a reader (a reason, a rule id); never secrets.
    pub detail: &'a str,
    /// Time the action took, in nanoseconds (0 where not measured).
    pub latency_ns: u64,
    /// Bytes received from the app (request size), 0 where none.
    pub bytes_in: u32,
    /// Bytes sent to the app (response size), 0 where none.
    pub bytes_out: u32,
    /// When it happened, in Unix milliseconds; 0 lets the sink stamp it (a caller that has
    /// just read the clock passes its reading and saves the sink another read).
    pub unix_ms: u64,
}

impl<'a> AuditRecord<'a> {
    /// A record of `action` on `subject` by `layer`, ending as `outcome`: no app, no
    /// capability, no detail, nothing measured, stamped by the sink. The setters below add
    /// the rest.
    #[must_use]
    pub const fn new(
        layer: Layer,
        action: &'a str,
        subject: &'a str,
        outcome: AuditOutcome,
    ) -> AuditRecord<'a> {
        AuditRecord {
            app: None,
            layer,
            action,
            subject,
            capability: "",
            outcome,
            detail: "",
            latency_ns: 0,
            bytes_in: 0,
            bytes_out: 0,
            unix_ms: 0,
        }
    }

    /// The app concerned.
    #[must_use]
    pub const fn app(mut self, app: Option<&'a AppId>) -> Self {
        self.app = app;
        self
    }

    /// The capability the action needed or concerned.
    #[must_use]
    pub const fn capability(mut self, capability: &'a str) -> Self {
        self.capability = capability;
        self
    }

    /// Free text for a reader (a reason, a rule id); never secrets.
    #[must_use]
    pub const fn detail(mut self, detail: &'a str) -> Self {
        self.detail = detail;
        self
    }

    /// The time the action took, in nanoseconds.
    #[must_use]
    pub const fn latency_ns(mut self, latency_ns: u64) -> Self {
        self.latency_ns = latency_ns;
        self
    }

    /// The request's and the response's sizes, in bytes.
    #[must_use]
    pub const fn bytes(mut self, bytes_in: u32, bytes_out: u32) -> Self {
        self.bytes_in = bytes_in;
        self.bytes_out = bytes_out;
        self
    }

    /// When it happened, in Unix milliseconds (a caller that has just read the clock passes
    /// its reading and saves the sink another read).
    #[must_use]
    pub const fn at(mut self, unix_ms: u64) -> Self {
        self.unix_ms = unix_ms;
        self
    }
}

/// Records from one thread gathered and appended to their sink together (one lock, one
/// append), for hot paths such as a gateway session. Records become part of the sink, in
/// order, at [`AuditBatch::commit`]; until then they are in memory only.
pub trait AuditBatch: Send {
    /// Adds one record to the batch.
    ///
    /// # Errors
    /// When the record cannot be kept (e.g. the sink is known to be failing).
    fn record(&mut self, record: &AuditRecord<'_>) -> Result<(), Error>;

    /// Appends every record gathered so far to the sink, in order.
    ///
    /// # Errors
    /// When the sink cannot take them.
    fn commit(&mut self) -> Result<(), Error>;
}

/// Where every layer writes its audit records.
///
/// # Errors
/// A sink that cannot record must say so: the caller then refuses the audited action rather
/// than perform it unaudited.
///
/// ```
/// use std::sync::Mutex;
/// use sandframe_core::{AuditOutcome, AuditRecord, AuditSink, Error, Layer};
///
/// /// Keeps subjects in memory (a test sink).
/// #[derive(Default)]
/// struct Memory(Mutex<Vec<String>>);
///
/// impl AuditSink for Memory {
///     fn record(&self, r: &AuditRecord<'_>) -> Result<(), Error> {
///         let mut v = self.0.lock().map_err(|_| Error::Unavailable("poisoned".into()))?;
///         v.push(format!("{} {} {:?}", r.action, r.subject, r.outcome));
///         Ok(())
///     }
///     fn flush(&self) -> Result<(), Error> { Ok(()) }
/// }
///
/// let sink = Memory::default();
/// sink.record(&AuditRecord {
///     app: None, layer: Layer::Host, action: "install", subject: "com.example.app",
///     capability: "", outcome: AuditOutcome::Allowed, detail: "", latency_ns: 0, bytes_in: 0,
///     bytes_out: 0, unix_ms: 0,
/// })?;
/// assert_eq!(sink.0.lock().unwrap()[0], "install com.example.app Allowed");
/// # Ok::<(), Error>(())
/// ```
pub trait AuditSink: Send + Sync {
    /// Appends one record. It may be buffered; [`AuditSink::flush`] makes it durable.
    ///
    /// # Errors
    /// When the record cannot be kept.
    fn record(&self, record: &AuditRecord<'_>) -> Result<(), Error>;

    /// Makes every record appended so far durable.
    ///
    /// # Errors
    /// When the records cannot be written out.
    fn flush(&self) -> Result<(), Error>;

    /// A batch for many records from one thread, if the sink offers one (the default does
    /// not: callers then record one at a time).
    fn batch(&self) -> Option<Box<dyn AuditBatch>> {
        None
    }
}
