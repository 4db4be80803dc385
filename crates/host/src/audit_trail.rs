//! The audit trail as the host exposes it: flush, read and verify against the anchor,
//! under the home lock (another process may be writing the same log).

use std::sync::Arc;

use sandframe_core::{AppId, AuditSink as _};
use sandframe_gateway::AuditLog;

use crate::Host;
use crate::error::{HostError, hold};

impl Host {
    /// Makes every audit record so far durable and anchored.
    ///
    /// # Errors
    /// If the log or the anchor cannot be written.
    pub fn flush_audit(&self) -> Result<(), HostError> {
        Ok(self.audit.flush()?)
    }

    /// The audit log (for the embedder's own records: every layer writes through it).
    pub fn audit(&self) -> Arc<AuditLog> {
        Arc::clone(&self.audit)
    }

    /// Flushes the audit log, verifies it on disk against its anchor, and returns its
    /// records (those of `app` alone, if given), oldest first.
    ///
    /// # Errors
    /// [`GatewayError::Tampered`](crate::GatewayError::Tampered) (inside [`HostError::Home`]) with what was found.
    pub fn audit_records(
        &self,
        app: Option<&AppId>,
    ) -> Result<Vec<sandframe_gateway::audit::StoredRecord>, HostError> {
        self.flush_audit()?;
        // Under the lock, against the anchor as it is now: no frame half-written by another
        // process, and what it anchored meanwhile counts.
        let held = hold(&self.lock)?;
        self.anchor.reload()?;
        let mut records = AuditLog::read_file(&self.home, &*self.anchor)?;
        drop(held);
        if let Some(app) = app {
            records.retain(|r| r.app == app.as_str());
        }
        Ok(records)
    }

    /// Flushes the audit log and verifies it on disk against its anchor.
    ///
    /// # Errors
    /// [`GatewayError::Tampered`](crate::GatewayError::Tampered) (inside [`HostError::Home`]) with what was found.
    pub fn verify_audit(&self) -> Result<sandframe_gateway::audit::Verified, HostError> {
        self.flush_audit()?;
        let _held = hold(&self.lock)?;
        self.anchor.reload()?;
        Ok(AuditLog::verify_file(&self.home, &*self.anchor)?)
    }
}
