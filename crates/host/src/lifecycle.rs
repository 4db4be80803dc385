//! From launch to terminate: launching, dispatching events, show and hide, suspension of
//! idle apps and their relaunch.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use sandframe_core::{AppId, AuditOutcome, AuditRecord, AuditSink as _, Layer, Watch};
use sandframe_runtime::{AppHandle, RuntimeError, Terminator};

use crate::error::{Denied, HomeError, HostError, LayerError, Misuse};
use crate::glue::Enforcer;
use crate::{Host, ON_HIDE, ON_SHOW};

/// The apps this host runs, and those it suspended.
#[derive(Default)]
pub(crate) struct Live {
    pub(crate) running: HashMap<AppId, Running>,
    /// Suspended (idle, or updated while running): relaunched by their next event.
    pub(crate) suspended: HashSet<AppId>,
    /// Being launched right now.
    pub(crate) launching: HashSet<AppId>,
}

/// Ends a launch's claim on its app, however the launch ends.
pub(crate) struct Launching<'a> {
    pub(crate) host: &'a Host,
    pub(crate) app: &'a AppId,
}

impl Drop for Launching<'_> {
    fn drop(&mut self) {
        if let Ok(mut live) = self.host.live.lock() {
            live.launching.remove(self.app);
        }
    }
}

/// A running app.
pub(crate) struct Running {
    pub(crate) handle: AppHandle,
    /// Its last event (or its launch).
    pub(crate) last: Instant,
    /// Shown (`onShow`) rather than hidden (`onHide`).
    pub(crate) shown: bool,
}

impl Host {
    /// Starts an installed app on a logic thread; returns what its `sf_init` returned.
    ///
    /// # Errors
    /// [`Misuse::NotInstalled`], [`Misuse::AlreadyRunning`], [`HomeError::Damaged`] if
    /// the package no longer matches its receipt, or a validation or runtime error.
    pub fn launch(&self, app: &AppId) -> Result<i32, HostError> {
        // The lock guards the table only: verifying and compiling (up to seconds) happen
        // outside it, so a launch never stalls dispatches to running apps. One launch of an
        // app at a time: a second one (e.g. two events at a suspended app) would open the
        // view again over the first one's data.
        {
            let mut live = self.lock_live()?;
            if live.running.contains_key(app) || !live.launching.insert(app.clone()) {
                return Err(HostError::from(Misuse::AlreadyRunning(app.clone())));
            }
        }
        let _launching = Launching { host: self, app };
        let generation = self.generation.load(Ordering::Acquire);
        // Read first: it catches up with the quarantines other processes committed.
        let verified = self.installed_package(app)?;
        if self.monitor.is_quarantined(app) {
            return Err(HostError::from(Denied::Quarantined(app.clone())));
        }
        let prepared = self.runtime.prepare(&verified)?;
        let init = self.launch_verified(app, &verified, prepared)?;
        self.recheck_after_launch(app, generation)?;
        Ok(init)
    }

    /// Launch, with the package read and authenticated.
    fn launch_verified(
        &self,
        app: &AppId,
        verified: &sandframe_validate::VerifiedPackage,
        prepared: sandframe_runtime::Prepared,
    ) -> Result<i32, HostError> {
        if let Some(quota) = prepared.context().limits.storage_quota_bytes {
            self.storage.limit(app, quota);
        }
        // The view opens before sf_init runs, so its first ui.setData has somewhere to go.
        let entry = verified
            .package()
            .manifest()
            .views()
            .first()
            .cloned()
            .unwrap_or_default();
        let template = verified.package().template(&entry).ok_or_else(|| {
            HostError::from(HomeError::Damaged(format!("apps/{app} (no entry view)")))
        })??;
        self.render.open(app, template)?;
        let launched = self.start(app, prepared);
        // A failed launch closes the view it opened (no other launch of the app can be under
        // way: `launch` holds its claim).
        if launched.is_err() {
            self.render.close(app);
        }
        launched
    }

    /// The rest of [`Host::launch`], once the view is open.
    fn start(
        &self,
        app: &AppId,
        mut prepared: sandframe_runtime::Prepared,
    ) -> Result<i32, HostError> {
        let watched = match self.monitor.watch(app) {
            Ok(w) => w,
            Err(sandframe_core::Error::Denied(_)) => {
                return Err(HostError::from(Denied::Quarantined(app.clone())));
            }
            Err(e) => return Err(e.into()),
        };
        let terminator = Terminator::default();
        prepared.set_monitor(Watch::new(Arc::new(Enforcer {
            inner: watched,
            app: app.clone(),
            terminator: terminator.clone(),
            gateway: Arc::clone(&self.gateway),
            net: self.net.clone(),
        })));
        let context = prepared.context().clone();
        let gateway = Arc::clone(&self.gateway);
        let stop = terminator.clone();
        let (handle, code) = self.pool.launch_with(prepared, terminator, move |events| {
            gateway.open(&context, events)
        })?;
        if stop.is_terminated() {
            // The monitor stopped it during sf_init: it is not running.
            self.pool.terminate(handle)?;
            self.cancel_net(app);
            self.record(
                Some(app),
                "launch",
                app.as_str(),
                AuditOutcome::Denied,
                "stopped by a monitor verdict during sf_init",
            )?;
            return Err(if self.monitor.is_quarantined(app) {
                HostError::from(Denied::Quarantined(app.clone()))
            } else {
                HostError::Stopped(RuntimeError::Stopped(sandframe_core::TrapKind::Terminated))
            });
        }
        // `launch` holds the app's `launching` claim: no other launch can have won a race.
        let mut live = self.lock_live()?;
        live.running.insert(
            app.clone(),
            Running {
                handle,
                last: Instant::now(),
                shown: true,
            },
        );
        live.suspended.remove(app);
        drop(live);
        let detail = if code == 0 {
            String::new()
        } else {
            format!("the app's sf_init returned {code}")
        };
        if let Err(e) = self.record(
            Some(app),
            "launch",
            app.as_str(),
            AuditOutcome::Allowed,
            &detail,
        ) {
            // No app runs unaudited.
            let _ = self.terminate(app);
            return Err(e);
        }
        Ok(code)
    }

    pub(crate) fn lock_live(&self) -> Result<std::sync::MutexGuard<'_, Live>, HostError> {
        self.live
            .lock()
            .map_err(|_| HostError::Layer(LayerError::Poisoned("the live apps")))
    }

    /// Delivers an event (`{"handler", "detail"}` JSON) to a running app; a suspended app
    /// is relaunched first.
    ///
    /// # Errors
    /// [`Misuse::NotRunning`], or the runtime's error: a trap stops the instance for good and
    /// frees it (the app is then not running; `launch` starts it afresh, unless quarantined).
    pub fn dispatch(&self, app: &AppId, event: &[u8]) -> Result<i32, HostError> {
        self.deliver(app, event, true)
    }

    /// [`Host::dispatch`]; `audit_refusal`: whether an app's non-zero answer is audited (a
    /// lifecycle event the app has no handler for is not a failure).
    fn deliver(&self, app: &AppId, event: &[u8], audit_refusal: bool) -> Result<i32, HostError> {
        let now = Instant::now();
        self.sweep_now_and_then(now);
        self.revalidate_now_and_then(now);
        let handle = self.resume(app, now)?;
        let result = self.pool.dispatch(handle, event.to_vec());
        // An app error (non-zero) or a trap is audited; the event cannot be undone, so a
        // record that cannot be kept does not change the answer.
        let failure = match &result {
            Ok(0) => None,
            Ok(_) if !audit_refusal => None,
            Ok(code) => Some(format!("the app's sf_event returned {code}")),
            Err(e) => Some(e.to_string()),
        };
        self.free_if_stopped(app, handle, result.as_ref().err());
        if let Some(detail) = failure {
            let _ = self.audit.record(
                &AuditRecord::new(Layer::Runtime, "event", app.as_str(), AuditOutcome::Failed)
                    .app(Some(app))
                    .detail(&detail)
                    .bytes(u32::try_from(event.len()).unwrap_or(u32::MAX), 0),
            );
        }
        Ok(result?)
    }

    /// A trapped or stopped instance never runs again: frees it, so the app can be
    /// relaunched. Only this instance: another dispatch may already have freed it and a
    /// launch started a new one under the same id.
    fn free_if_stopped(&self, app: &AppId, handle: AppHandle, error: Option<&RuntimeError>) {
        if !matches!(
            error,
            Some(RuntimeError::Trapped { .. } | RuntimeError::Stopped(_))
        ) {
            return;
        }
        let freed = self.live.lock().ok().and_then(|mut live| {
            (live.running.get(app).map(|r| r.handle) == Some(handle))
                .then(|| live.running.remove(app))
                .flatten()
        });
        if let Some(r) = freed {
            let _ = self.pool.terminate(r.handle);
            self.cancel_net(app);
            self.render.close(app);
        }
    }

    /// Stops `app`'s requests in flight and drops the answers it holds: its instance is gone
    /// (terminated, suspended, stopped, updated or uninstalled), so no one is left to read them.
    pub(crate) fn cancel_net(&self, app: &AppId) {
        if let Some(net) = &self.net {
            net.cancel(app);
        }
    }

    /// Requests `app` has in flight through `net.fetch` (0 without a network door).
    pub fn requests_in_flight(&self, app: &AppId) -> usize {
        self.net.as_ref().map_or(0, |n| n.in_flight(app))
    }

    /// Answers `app` holds unread (0 without a network door).
    pub fn answers_held(&self, app: &AppId) -> usize {
        self.net.as_ref().map_or(0, |n| n.held(app))
    }

    /// The running app's handle (its last event is `now`); a suspended app is relaunched.
    fn resume(&self, app: &AppId, now: Instant) -> Result<AppHandle, HostError> {
        let suspended = {
            let mut live = self.lock_live()?;
            if let Some(r) = live.running.get_mut(app) {
                r.last = now;
                return Ok(r.handle);
            }
            live.suspended.contains(app)
        };
        if !suspended {
            return Err(HostError::from(Misuse::NotRunning(app.clone())));
        }
        match self.launch(app) {
            Ok(_) => self.handle(app),
            // Another event is relaunching it: wait for that launch to end.
            Err(HostError::Misuse(Misuse::AlreadyRunning(_))) => loop {
                {
                    let live = self.lock_live()?;
                    if let Some(r) = live.running.get(app) {
                        return Ok(r.handle);
                    }
                    if !live.launching.contains(app) {
                        return Err(HostError::from(Misuse::NotRunning(app.clone())));
                    }
                }
                std::thread::sleep(Duration::from_millis(1));
            },
            Err(e) => Err(e),
        }
    }

    fn handle(&self, app: &AppId) -> Result<AppHandle, HostError> {
        self.lock_live()?
            .running
            .get(app)
            .map(|r| r.handle)
            .ok_or_else(|| HostError::from(Misuse::NotRunning(app.clone())))
    }

    /// Waits until the app has handled every event queued for it so far, including the
    /// answers to consent questions still being decided (so this waits for a person asked),
    /// and until the render side has applied every patch those events sent.
    ///
    /// # Errors
    /// [`Misuse::NotRunning`]; the runtime's error if one of those events stopped the app
    /// (its instance is then freed, as [`Host::dispatch`] does).
    pub fn settle(&self, app: &AppId) -> Result<(), HostError> {
        loop {
            while self
                .sandframe
                .as_ref()
                .is_some_and(|g| g.consents_in_flight(app) > 0)
            {
                std::thread::sleep(Duration::from_millis(2));
            }
            let handle = self.handle(app)?;
            if let Err(e) = self.pool.settle(handle) {
                self.free_if_stopped(app, handle, Some(&e));
                return Err(e.into());
            }
            // An answer's handler may have asked again.
            if self
                .sandframe
                .as_ref()
                .is_none_or(|g| g.consents_in_flight(app) == 0)
            {
                break;
            }
        }
        Ok(self.render.sync()?)
    }

    /// Tells a running app it is shown (`onShow`); a suspended app is relaunched first.
    /// Returns the app's answer (an app with no `onShow` handler answers non-zero, which is
    /// not audited as a failure).
    ///
    /// # Errors
    /// As [`Host::dispatch`].
    pub fn show(&self, app: &AppId) -> Result<i32, HostError> {
        self.lifecycle(app, ON_SHOW, true)
    }

    /// Tells a running app it is hidden (`onHide`); a suspended or stopped app is left
    /// alone (`Ok(0)`).
    ///
    /// # Errors
    /// As [`Host::dispatch`].
    pub fn hide(&self, app: &AppId) -> Result<i32, HostError> {
        if !self.lock_live()?.running.contains_key(app) {
            return Ok(0);
        }
        self.lifecycle(app, ON_HIDE, false)
    }

    fn lifecycle(&self, app: &AppId, handler: &str, shown: bool) -> Result<i32, HostError> {
        let event = format!(r#"{{"handler":"{handler}","detail":{{}}}}"#);
        let code = self.deliver(app, event.as_bytes(), false)?;
        if let Some(r) = self.lock_live()?.running.get_mut(app) {
            r.shown = shown;
        }
        Ok(code)
    }

    /// Suspends one running app: its instance is dropped (memory freed), its view and
    /// storage kept; its next event (or [`Host::show`]) relaunches it. Returns whether it
    /// was running.
    ///
    /// # Errors
    /// [`HostError::Layer`] if its logic thread is gone.
    pub fn suspend(&self, app: &AppId) -> Result<bool, HostError> {
        self.suspend_if(app, None)
    }

    /// Suspends `app` if it runs and, with `idle`, has had no event for that long (checked
    /// under the lock, so an event that has just begun is not cut short).
    fn suspend_if(&self, app: &AppId, idle: Option<Duration>) -> Result<bool, HostError> {
        let removed = {
            let mut live = self.lock_live()?;
            // An app with requests in flight is waiting for their answers: not idle.
            let waiting = idle.is_some() && self.net.as_ref().is_some_and(|n| n.in_flight(app) > 0);
            let still_idle = !waiting
                && live
                    .running
                    .get(app)
                    .is_some_and(|r| idle.is_none_or(|idle| r.last.elapsed() >= idle));
            if !still_idle {
                return Ok(false);
            }
            let r = live.running.remove(app);
            if r.is_some() {
                live.suspended.insert(app.clone());
            }
            r
        };
        let Some(r) = removed else {
            return Ok(false);
        };
        self.pool.terminate(r.handle)?;
        self.cancel_net(app);
        self.record(
            Some(app),
            "suspend",
            app.as_str(),
            AuditOutcome::Allowed,
            "",
        )?;
        Ok(true)
    }

    /// Suspends every app idle past the builder's [`HostBuilder::idle_timeout`](crate::HostBuilder::idle_timeout); returns
    /// them. An embedder calls this from a timer; dispatches call it at most once a second.
    ///
    /// # Errors
    /// As [`Host::suspend`].
    pub fn suspend_idle(&self) -> Result<Vec<AppId>, HostError> {
        let Some(idle) = self.idle else {
            return Ok(Vec::new());
        };
        let now = Instant::now();
        let idle_apps: Vec<AppId> = self
            .lock_live()?
            .running
            .iter()
            .filter(|(_, r)| now.saturating_duration_since(r.last) >= idle)
            .map(|(app, _)| app.clone())
            .collect();
        let mut done = Vec::new();
        for app in idle_apps {
            if self.suspend_if(&app, Some(idle))? {
                done.push(app);
            }
        }
        Ok(done)
    }

    /// Runs [`Host::suspend_idle`] if a second has passed since it last ran.
    fn sweep_now_and_then(&self, now: Instant) {
        if self.idle.is_none() {
            return;
        }
        let now = u64::try_from(now.saturating_duration_since(self.started).as_millis())
            .unwrap_or(u64::MAX);
        let last = self.last_sweep_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) < 1000
            || self
                .last_sweep_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        if let Err(e) = self.suspend_idle() {
            tracing::warn!(target: "sandframe::host", error = %e, "an idle sweep failed");
        }
    }

    /// Stops a running app and frees its instance; returns whether it was running.
    ///
    /// # Errors
    /// [`HostError::Layer`] if its logic thread is gone.
    pub fn terminate(&self, app: &AppId) -> Result<bool, HostError> {
        let (handle, suspended) = {
            let mut live = self.lock_live()?;
            (live.running.remove(app), live.suspended.remove(app))
        };
        if suspended {
            // Its view was kept for its relaunch; stopped, it goes.
            self.render.close(app);
            self.record(
                Some(app),
                "terminate",
                app.as_str(),
                AuditOutcome::Allowed,
                "it was suspended",
            )?;
        }
        match handle {
            Some(r) => {
                let was = self.pool.terminate(r.handle);
                // After the instance is gone (it can start no request past this cancel), and
                // even if its logic thread is gone too.
                self.cancel_net(app);
                let was = was?;
                self.render.close(app);
                self.record(
                    Some(app),
                    "terminate",
                    app.as_str(),
                    AuditOutcome::Allowed,
                    "",
                )?;
                Ok(was)
            }
            None => {
                self.cancel_net(app);
                Ok(false)
            }
        }
    }
}
