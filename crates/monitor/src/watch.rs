//! One launched app's watch: the counters, windows and baselines the rules run over, and the
//! verdicts they reach.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sandframe_core::{
    Alert, AppId, AppMonitor, AuditOutcome, AuditRecord, DenyReason, Layer, MonitorEvent, TrapKind,
    Verdict,
};

use crate::Clock;
use crate::quarantine::Quarantined;
use crate::rule::Rule;
use crate::{History, Shared, rule};

/// The most severe verdict an instance has reached, as a byte.
pub(crate) struct Standing;

impl Standing {
    pub(crate) const ALLOW: u8 = 0;
    const THROTTLE: u8 = 2;
    const TERMINATE: u8 = 3;

    fn of(v: Verdict) -> u8 {
        match v {
            Verdict::Allow => 0,
            Verdict::Warn => 1,
            Verdict::Throttle => 2,
            Verdict::Terminate => 3,
            Verdict::Quarantine => 4,
        }
    }
}

/// Checks the call-rate window every this many calls.
pub(crate) const CHECK_EVERY: u64 = 1024;

/// One launched app's watch.
pub(crate) struct AppWatch {
    pub(crate) shared: Arc<Shared>,
    pub(crate) app: AppId,
    pub(crate) history: Arc<History>,
    /// Allowed calls since launch. Written by the app's logic thread only (load and store,
    /// no read-modify-write): a call from another thread could at worst lose a count.
    pub(crate) calls: AtomicU64,
    pub(crate) standing: AtomicU8,
    pub(crate) slow: Mutex<Slow>,
}

/// Everything but the call counter: touched once per event, denial or storage write.
pub(crate) struct Slow {
    /// A raw reading of the monitor's clock.
    pub(crate) window_start: u64,
    pub(crate) window_calls_at: u64,
    pub(crate) window_capability: u64,
    pub(crate) window_rate: u64,
    pub(crate) window_malformed: u64,
    pub(crate) window_writes: u64,
    pub(crate) window_write_bytes: u64,
    pub(crate) window_quota: u64,
    pub(crate) window_fetches: u64,
    pub(crate) window_fetch_bytes: u64,
    pub(crate) window_fetch_refused: u64,
    /// The APIs refused for a capability or by policy: one bit per API name's hash.
    pub(crate) denied_apis: u64,
    pub(crate) calls_at_event_start: u64,
    pub(crate) events: u64,
    pub(crate) calls_avg: f64,
    pub(crate) fuel_avg: f64,
    pub(crate) hot_events: u32,
    pub(crate) growth_events: u32,
    pub(crate) grew: bool,
    pub(crate) pages: u32,
    pub(crate) trapped: bool,
    /// Times each rule fired in this instance (indexed as [`rule::ALL`]).
    pub(crate) fired: [u32; rule::ALL.len()],
}

impl Slow {
    pub(crate) fn new(now: u64) -> Slow {
        Slow {
            window_start: now,
            window_calls_at: 0,
            window_capability: 0,
            window_rate: 0,
            window_malformed: 0,
            window_writes: 0,
            window_write_bytes: 0,
            window_quota: 0,
            window_fetches: 0,
            window_fetch_bytes: 0,
            window_fetch_refused: 0,
            denied_apis: 0,
            calls_at_event_start: 0,
            events: 0,
            calls_avg: 0.0,
            fuel_avg: 0.0,
            hot_events: 0,
            growth_events: 0,
            grew: false,
            pages: 0,
            trapped: false,
            fired: [0; rule::ALL.len()],
        }
    }

    /// Starts a new window once the current one is over.
    fn roll(&mut self, window: Duration, calls: u64, clock: &Clock) {
        // A raw reading (the counter itself, ~8 ns) scaled only for the comparison.
        let now = clock.raw();
        let elapsed = clock.delta_as_nanos(self.window_start, now);
        if u128::from(elapsed) >= window.as_nanos() {
            self.window_start = now;
            self.window_calls_at = calls;
            self.window_capability = 0;
            self.window_rate = 0;
            self.window_malformed = 0;
            self.window_writes = 0;
            self.window_write_bytes = 0;
            self.window_quota = 0;
            self.window_fetches = 0;
            self.window_fetch_bytes = 0;
            self.window_fetch_refused = 0;
        }
    }
}

/// A rule that fired: its id, the verdict it asks for, and what it saw.
pub(crate) struct Fired {
    pub(crate) rule: &'static str,
    pub(crate) verdict: Verdict,
    pub(crate) evidence: String,
}

impl AppWatch {
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, Slow> {
        // A poisoned lock (a panic elsewhere while holding it) still holds valid counters.
        self.slow
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The call-rate check, every [`CHECK_EVERY`] calls.
    fn check_calls(&self, calls: u64) -> Verdict {
        let rules = &self.shared.rules;
        let fired = {
            let mut s = self.lock();
            s.roll(rules.window, calls, &self.shared.clock);
            let in_window = calls.saturating_sub(s.window_calls_at);
            (in_window > rules.max_calls_per_window).then(|| {
                // Counted afresh from here, so a throttled app is judged again a window later.
                s.window_calls_at = calls;
                escalating(
                    &mut s,
                    Rule::CallRate,
                    format!(
                        "{in_window} calls in under {:?} (limit {})",
                        rules.window, rules.max_calls_per_window
                    ),
                )
            })
        };
        fired.map_or(Verdict::Allow, |f| self.fire(f))
    }

    fn slow_event(&self, event: &MonitorEvent<'_>) -> Verdict {
        let rules = &self.shared.rules;
        let calls = self.calls.load(Ordering::Relaxed);
        let mut fired = Vec::new();
        {
            let mut s = self.lock();
            match *event {
                MonitorEvent::Denied { api, reason } => match reason {
                    DenyReason::Capability | DenyReason::Policy => {
                        s.window_capability += 1;
                        s.denied_apis |= 1 << (fnv(api) % 64);
                        let distinct = s.denied_apis.count_ones();
                        if s.window_capability > rules.max_capability_denials_per_window
                            || distinct > rules.max_denied_apis
                        {
                            let evidence = format!(
                                "{} calls refused for a missing capability or by policy in this \
                                 window, {distinct} distinct APIs refused since launch (limits {} \
                                 and {})",
                                s.window_capability,
                                rules.max_capability_denials_per_window,
                                rules.max_denied_apis
                            );
                            fired.push(once(
                                &mut s,
                                Rule::CapabilityProbe,
                                Verdict::Terminate,
                                evidence,
                            ));
                        }
                    }
                    DenyReason::RateLimit | DenyReason::InFlight => {
                        s.window_rate += 1;
                        if s.window_rate > rules.max_rate_denials_per_window {
                            let evidence = format!(
                                "{} calls over their rate limit in under {:?} (limit {})",
                                s.window_rate, rules.window, rules.max_rate_denials_per_window
                            );
                            s.window_rate = 0;
                            fired.push(Some(escalating(&mut s, Rule::RateHits, evidence)));
                        }
                    }
                    _ => {
                        s.window_malformed += 1;
                        if s.window_malformed > rules.max_malformed_per_window {
                            let evidence = format!(
                                "{} malformed or oversized calls in under {:?} (limit {})",
                                s.window_malformed, rules.window, rules.max_malformed_per_window
                            );
                            fired.push(once(&mut s, Rule::Malformed, Verdict::Terminate, evidence));
                        }
                    }
                },
                MonitorEvent::MemoryGrown { pages } => {
                    s.grew = true;
                    s.pages = pages;
                }
                MonitorEvent::Trap { kind } => {
                    s.trapped = true;
                    if kind != TrapKind::Terminated {
                        // Counted in the strikes, across this app's processes.
                        let n = self.shared.quarantine.trap(&self.app);
                        self.history.traps_in_a_row.store(n, Ordering::Relaxed);
                        if n >= rules.max_traps_in_a_row {
                            let evidence = format!(
                                "{n} traps in a row with no clean event between (last: {kind:?}; \
                                 limit {})",
                                rules.max_traps_in_a_row
                            );
                            fired.push(once(&mut s, Rule::Traps, Verdict::Quarantine, evidence));
                        }
                    }
                }
                MonitorEvent::AppError { .. } => {}
                MonitorEvent::StorageWrite { bytes } => {
                    s.roll(rules.window, calls, &self.shared.clock);
                    s.window_writes += 1;
                    s.window_write_bytes = s.window_write_bytes.saturating_add(bytes);
                    if s.window_writes > rules.max_writes_per_window
                        || s.window_write_bytes > rules.max_write_bytes_per_window
                    {
                        let evidence = format!(
                            "{} writes, {} bytes in under {:?} (limits {} and {})",
                            s.window_writes,
                            s.window_write_bytes,
                            rules.window,
                            rules.max_writes_per_window,
                            rules.max_write_bytes_per_window
                        );
                        fired.push(once(
                            &mut s,
                            Rule::StorageFlood,
                            Verdict::Terminate,
                            evidence,
                        ));
                    }
                }
                MonitorEvent::QuotaHit => {
                    s.roll(rules.window, calls, &self.shared.clock);
                    s.window_quota += 1;
                    if s.window_quota > rules.max_quota_hits_per_window {
                        let evidence = format!(
                            "{} writes refused by the storage quota in under {:?} (limit {})",
                            s.window_quota, rules.window, rules.max_quota_hits_per_window
                        );
                        fired.push(once(
                            &mut s,
                            Rule::StorageQuota,
                            Verdict::Terminate,
                            evidence,
                        ));
                    }
                }
                MonitorEvent::FetchSent | MonitorEvent::FetchBytes { .. } => {
                    s.roll(rules.window, calls, &self.shared.clock);
                    match *event {
                        MonitorEvent::FetchBytes { bytes } => {
                            s.window_fetch_bytes = s.window_fetch_bytes.saturating_add(bytes);
                        }
                        _ => s.window_fetches += 1,
                    }
                    if s.window_fetches > rules.max_fetches_per_window
                        || s.window_fetch_bytes > rules.max_fetch_bytes_per_window
                    {
                        let evidence = format!(
                            "{} requests sent, {} answer bytes received in under {:?} (limits {} and {})",
                            s.window_fetches,
                            s.window_fetch_bytes,
                            rules.window,
                            rules.max_fetches_per_window,
                            rules.max_fetch_bytes_per_window
                        );
                        s.window_fetches = 0;
                        s.window_fetch_bytes = 0;
                        fired.push(Some(escalating(&mut s, Rule::NetFlood, evidence)));
                    }
                }
                MonitorEvent::FetchRefused => {
                    s.roll(rules.window, calls, &self.shared.clock);
                    s.window_fetch_refused += 1;
                    if s.window_fetch_refused > rules.max_refused_fetches_per_window {
                        let evidence = format!(
                            "{} requests refused for where they go in under {:?} (limit {})",
                            s.window_fetch_refused,
                            rules.window,
                            rules.max_refused_fetches_per_window
                        );
                        fired.push(once(&mut s, Rule::NetProbe, Verdict::Terminate, evidence));
                    }
                }
                MonitorEvent::EventHandled {
                    fuel_used,
                    fuel_budget,
                } => self.event_end(&mut s, calls, fuel_used, fuel_budget, &mut fired),
                // A call reaches here only from `observe`'s fast path, never.
                _ => {}
            }
        }
        fired
            .into_iter()
            .flatten()
            .map(|f| self.fire(f))
            .max()
            .unwrap_or(Verdict::Allow)
    }

    /// The per-event rules: fuel, memory, traps, anomalies, and the call-rate window.
    fn event_end(
        &self,
        s: &mut Slow,
        calls: u64,
        fuel_used: u64,
        fuel_budget: u64,
        fired: &mut Vec<Option<Fired>>,
    ) {
        let rules = &self.shared.rules;
        // Calls, checked at every event's end as well as every 1,024 calls.
        let in_window = calls.saturating_sub(s.window_calls_at);
        if in_window > rules.max_calls_per_window {
            s.window_calls_at = calls;
            let evidence = format!(
                "{in_window} calls in under {:?} (limit {})",
                rules.window, rules.max_calls_per_window
            );
            fired.push(Some(escalating(s, Rule::CallRate, evidence)));
        }
        s.roll(rules.window, calls, &self.shared.clock);
        // Fuel.
        let hot = u128::from(fuel_used) * 100
            >= u128::from(fuel_budget) * u128::from(rules.hot_fuel_percent)
            && fuel_budget > 0;
        s.hot_events = if hot {
            s.hot_events.saturating_add(1)
        } else {
            0
        };
        if s.hot_events >= rules.max_hot_events {
            let evidence = format!(
                "{} events in a row burnt at least {}% of their fuel (limit {})",
                s.hot_events, rules.hot_fuel_percent, rules.max_hot_events
            );
            fired.push(once(s, Rule::FuelBurn, Verdict::Terminate, evidence));
        }
        // Memory.
        s.growth_events = if s.grew {
            s.growth_events.saturating_add(1)
        } else {
            0
        };
        s.grew = false;
        if s.growth_events >= rules.max_growth_events && s.pages >= rules.creep_floor_pages {
            let evidence = format!(
                "memory grew in {} events in a row, to {} pages (limits {} events, floor {} pages)",
                s.growth_events, s.pages, rules.max_growth_events, rules.creep_floor_pages
            );
            fired.push(once(s, Rule::MemoryCreep, Verdict::Terminate, evidence));
        }
        // Traps: a clean event ends a run of them (not a clean `sf_init`, a watch's first
        // event: an app whose every event traps is in a run however often it relaunches).
        if !s.trapped && s.events > 0 && self.history.traps_in_a_row.swap(0, Ordering::Relaxed) > 0
        {
            self.shared.quarantine.clean(&self.app);
        }
        s.trapped = false;
        // Anomalies against the app's own moving averages.
        let event_calls = calls.saturating_sub(s.calls_at_event_start);
        s.calls_at_event_start = calls;
        s.events += 1;
        if s.events > rules.warmup_events {
            let factor = rules.anomaly_factor as f64;
            if event_calls >= rules.anomaly_min_calls && event_calls as f64 > factor * s.calls_avg {
                let evidence = format!(
                    "{event_calls} calls in one event against a moving average of {:.0}",
                    s.calls_avg
                );
                fired.push(once(s, Rule::CallAnomaly, Verdict::Warn, evidence));
            }
            if fuel_used >= rules.anomaly_min_fuel && fuel_used as f64 > factor * s.fuel_avg {
                let evidence = format!(
                    "{fuel_used} fuel in one event against a moving average of {:.0}",
                    s.fuel_avg
                );
                fired.push(once(s, Rule::FuelAnomaly, Verdict::Warn, evidence));
            }
        }
        // Exponential moving averages (weight 1/16), seeded by the first event.
        if s.events == 1 {
            s.calls_avg = event_calls as f64;
            s.fuel_avg = fuel_used as f64;
        } else {
            s.calls_avg += (event_calls as f64 - s.calls_avg) / 16.0;
            s.fuel_avg += (fuel_used as f64 - s.fuel_avg) / 16.0;
        }
    }

    /// Applies a fired rule: escalates a terminate to a quarantine after repeated
    /// terminations, raises the alert, audits the verdict, stores a quarantine. Returns the
    /// verdict, or `Allow` if the instance already stands at it or worse.
    fn fire(&self, fired: Fired) -> Verdict {
        let rules = &self.shared.rules;
        let Fired {
            rule,
            mut verdict,
            mut evidence,
        } = fired;
        let current = self.standing.load(Ordering::Acquire);
        if current >= Standing::TERMINATE
            || (verdict == Verdict::Throttle && current >= Standing::THROTTLE)
        {
            // A stopped instance raises nothing new; a throttled one is not throttled twice.
            return Verdict::Allow;
        }
        if verdict == Verdict::Terminate {
            // The monitor's own verdicts only, over the window, in every process on the home.
            let n = self
                .shared
                .quarantine
                .termination(&self.app, rules.quarantine_window);
            if n >= rules.quarantine_after {
                verdict = Verdict::Quarantine;
                evidence.push_str(&format!(
                    "; terminated {n} times within {:?} (limit {}), so quarantined",
                    rules.quarantine_window, rules.quarantine_after
                ));
            }
        }
        self.standing
            .fetch_max(Standing::of(verdict), Ordering::AcqRel);
        if verdict == Verdict::Quarantine {
            let record = Quarantined {
                app: self.app.as_str().to_owned(),
                rule: rule.to_owned(),
                evidence: evidence.clone(),
                unix_ms: std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            };
            if let Err(e) = self.shared.quarantine.add(&record, &self.app) {
                // Still stopped now; only the restart-proof record is missing.
                evidence.push_str(&format!("; the quarantine could not be stored: {e}"));
            }
        }
        self.shared.alerts.alert(&Alert {
            app: &self.app,
            rule,
            verdict,
            evidence: &evidence,
        });
        if let Some(audit) = &self.shared.audit {
            let detail = format!("{}: {evidence}", verdict.name());
            let recorded = audit.record(
                &AuditRecord::new(
                    Layer::Monitor,
                    "verdict",
                    rule,
                    if verdict == Verdict::Warn {
                        AuditOutcome::Allowed
                    } else {
                        AuditOutcome::Denied
                    },
                )
                .app(Some(&self.app))
                .detail(&detail),
            );
            if recorded.is_err() {
                tracing::error!(
                    target: "sandframe::monitor",
                    app = self.app.as_str(),
                    rule,
                    "a verdict could not be audited"
                );
            }
        }
        verdict
    }
}

/// FNV-1a of an API name: which bit of `denied_apis` it sets.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A rule that fires once per instance with a fixed verdict.
fn once(s: &mut Slow, rule: Rule, verdict: Verdict, evidence: String) -> Option<Fired> {
    let n = s.fired.get_mut(rule as usize)?;
    *n = n.saturating_add(1);
    (*n == 1).then_some(Fired {
        rule: rule.id(),
        verdict,
        evidence,
    })
}

/// A rule that throttles the first time and terminates the next.
fn escalating(s: &mut Slow, rule: Rule, evidence: String) -> Fired {
    let n = s.fired.get_mut(rule as usize).map_or(1, |n| {
        *n = n.saturating_add(1);
        *n
    });
    Fired {
        rule: rule.id(),
        verdict: if n == 1 {
            Verdict::Throttle
        } else {
            Verdict::Terminate
        },
        evidence,
    }
}

impl AppMonitor for AppWatch {
    #[inline]
    fn observe(&self, event: &MonitorEvent<'_>) -> Verdict {
        if let MonitorEvent::Call { .. } = event {
            let n = self.calls.load(Ordering::Relaxed).wrapping_add(1);
            self.calls.store(n, Ordering::Relaxed);
            if !n.is_multiple_of(CHECK_EVERY) {
                return Verdict::Allow;
            }
            return self.check_calls(n);
        }
        self.slow_event(event)
    }
}
