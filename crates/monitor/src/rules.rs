//! [`Rules`]: the thresholds of every rule, with their defaults.

use std::time::Duration;

/// The thresholds of every rule; [`Rules::default`] holds the sensible defaults (each field
/// says its own). A limit of `u64::MAX` (or `u32::MAX`) turns its rule off.
#[derive(Clone, Debug, PartialEq)]
pub struct Rules {
    /// The window that rate-type counts are kept over. Default 1 s.
    pub window: Duration,
    /// `calls.rate`: allowed calls per window. Default 100,000.
    pub max_calls_per_window: u64,
    /// `denials.capability`: capability or policy refusals per window. Default 16.
    pub max_capability_denials_per_window: u64,
    /// `denials.capability`: distinct APIs refused for a missing capability or by policy over
    /// one launch (an app retrying one API is not probing; one trying many is). Default 8.
    pub max_denied_apis: u32,
    /// `denials.rate`: rate-limit refusals per window. Default 10,000.
    pub max_rate_denials_per_window: u64,
    /// `denials.malformed`: malformed or oversized calls per window. Default 256.
    pub max_malformed_per_window: u64,
    /// `fuel.burn`: an event that burns at least this share of its budget, in percent, is hot.
    /// Default 90.
    pub hot_fuel_percent: u64,
    /// `fuel.burn`: hot events in a row. Default 8.
    pub max_hot_events: u32,
    /// `memory.creep`: events in a row that grew memory. Default 8.
    pub max_growth_events: u32,
    /// `memory.creep`: the rule fires only once memory is at least this many pages. Default 64
    /// (4 MiB).
    pub creep_floor_pages: u32,
    /// `traps.repeat`: traps (not counting those a terminate verdict caused) with no clean event
    /// between (a launch's `sf_init` does not count as one), across relaunches. Default 3.
    pub max_traps_in_a_row: u32,
    /// `storage.flood`: acknowledged writes per window. Default 200.
    pub max_writes_per_window: u64,
    /// `storage.flood`: bytes written per window. Default 4 MiB.
    pub max_write_bytes_per_window: u64,
    /// `storage.quota`: quota refusals per window. Default 8.
    pub max_quota_hits_per_window: u64,
    /// `net.flood`: requests sent through `net.fetch` per window. Default 100.
    pub max_fetches_per_window: u64,
    /// `net.flood`: answer bytes received per window. Default 64 MiB.
    pub max_fetch_bytes_per_window: u64,
    /// `net.probe`: requests refused for where they go per window. Default 8.
    pub max_refused_fetches_per_window: u64,
    /// `calls.anomaly` and `fuel.anomaly`: events seen before the app's baseline is trusted.
    /// Default 32.
    pub warmup_events: u64,
    /// `calls.anomaly` and `fuel.anomaly`: how many times its moving average an event must
    /// exceed. Default 20.
    pub anomaly_factor: u64,
    /// `calls.anomaly`: calls in one event below this never count as anomalous. Default 5,000.
    pub anomaly_min_calls: u64,
    /// `fuel.anomaly`: fuel in one event below this never counts as anomalous. Default 5,000,000.
    pub anomaly_min_fuel: u64,
    /// Terminate verdicts (by any rule, not the host's own terminations) within
    /// [`Rules::quarantine_window`], across host processes sharing the home's state, after
    /// which a terminate verdict becomes a quarantine. Default 3.
    pub quarantine_after: u32,
    /// The window over which terminate verdicts count toward [`Rules::quarantine_after`].
    /// Default 24 hours.
    pub quarantine_window: Duration,
}

impl Default for Rules {
    fn default() -> Rules {
        Rules {
            window: Duration::from_secs(1),
            max_calls_per_window: 100_000,
            max_capability_denials_per_window: 16,
            max_denied_apis: 8,
            max_rate_denials_per_window: 10_000,
            max_malformed_per_window: 256,
            hot_fuel_percent: 90,
            max_hot_events: 8,
            max_growth_events: 8,
            creep_floor_pages: 64,
            max_traps_in_a_row: 3,
            max_writes_per_window: 200,
            max_write_bytes_per_window: 4 << 20,
            max_quota_hits_per_window: 8,
            max_fetches_per_window: 100,
            max_fetch_bytes_per_window: 64 << 20,
            max_refused_fetches_per_window: 8,
            warmup_events: 32,
            anomaly_factor: 20,
            anomaly_min_calls: 5_000,
            anomaly_min_fuel: 5_000_000,
            quarantine_after: 3,
            quarantine_window: Duration::from_secs(24 * 60 * 60),
        }
    }
}
