//! The rules' stable ids (they appear in alerts, audit records and quarantine files), and
//! the [`Rule`] enum the monitor's code names them by.

/// Too many allowed calls in one window: throttle, then terminate.
pub const CALL_RATE: &str = "calls.rate";
/// Calls in one event far above the app's own moving average: warn.
pub const CALL_ANOMALY: &str = "calls.anomaly";
/// Too many calls refused for a missing capability or by policy (probing): terminate.
pub const CAPABILITY_PROBE: &str = "denials.capability";
/// Too many calls refused by rate limits in one window: throttle, then terminate.
pub const RATE_HITS: &str = "denials.rate";
/// Too many malformed or oversized calls in one window: terminate.
pub const MALFORMED: &str = "denials.malformed";
/// Nearly the whole fuel budget burnt in too many events in a row: terminate.
pub const FUEL_BURN: &str = "fuel.burn";
/// Fuel in one event far above the app's own moving average: warn.
pub const FUEL_ANOMALY: &str = "fuel.anomaly";
/// Memory grown in too many events in a row, past a floor: terminate.
pub const MEMORY_CREEP: &str = "memory.creep";
/// Traps in too many launches or events in a row: quarantine.
pub const TRAPS: &str = "traps.repeat";
/// Too many storage writes or bytes written in one window: terminate (a throttled writer
/// would go on wearing the disk at the slow rate).
pub const STORAGE_FLOOD: &str = "storage.flood";
/// Too many writes refused by the storage quota in one window: terminate.
pub const STORAGE_QUOTA: &str = "storage.quota";
/// Too many requests sent, or answer bytes received, through `net.fetch` in one window:
/// throttle, then terminate.
pub const NET_FLOOD: &str = "net.flood";
/// Too many requests refused for where they go (origins not granted, addresses not
/// reachable, redirects off the granted origins) in one window: terminate.
pub const NET_PROBE: &str = "net.probe";
/// A rule, as the monitor's code names it: every place a rule fires names one of these,
/// so a mistyped id is a compile error, never a count against another rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rule {
    /// [`CALL_RATE`].
    CallRate,
    /// [`CALL_ANOMALY`].
    CallAnomaly,
    /// [`CAPABILITY_PROBE`].
    CapabilityProbe,
    /// [`RATE_HITS`].
    RateHits,
    /// [`MALFORMED`].
    Malformed,
    /// [`FUEL_BURN`].
    FuelBurn,
    /// [`FUEL_ANOMALY`].
    FuelAnomaly,
    /// [`MEMORY_CREEP`].
    MemoryCreep,
    /// [`TRAPS`].
    Traps,
    /// [`STORAGE_FLOOD`].
    StorageFlood,
    /// [`STORAGE_QUOTA`].
    StorageQuota,
    /// [`NET_FLOOD`].
    NetFlood,
    /// [`NET_PROBE`].
    NetProbe,
}

impl Rule {
    /// Every rule, in the order of [`ALL`].
    pub const EVERY: [Rule; 13] = [
        Rule::CallRate,
        Rule::CallAnomaly,
        Rule::CapabilityProbe,
        Rule::RateHits,
        Rule::Malformed,
        Rule::FuelBurn,
        Rule::FuelAnomaly,
        Rule::MemoryCreep,
        Rule::Traps,
        Rule::StorageFlood,
        Rule::StorageQuota,
        Rule::NetFlood,
        Rule::NetProbe,
    ];

    /// Its stable id (as in alerts, audit records and quarantine files).
    pub const fn id(self) -> &'static str {
        match self {
            Rule::CallRate => CALL_RATE,
            Rule::CallAnomaly => CALL_ANOMALY,
            Rule::CapabilityProbe => CAPABILITY_PROBE,
            Rule::RateHits => RATE_HITS,
            Rule::Malformed => MALFORMED,
            Rule::FuelBurn => FUEL_BURN,
            Rule::FuelAnomaly => FUEL_ANOMALY,
            Rule::MemoryCreep => MEMORY_CREEP,
            Rule::Traps => TRAPS,
            Rule::StorageFlood => STORAGE_FLOOD,
            Rule::StorageQuota => STORAGE_QUOTA,
            Rule::NetFlood => NET_FLOOD,
            Rule::NetProbe => NET_PROBE,
        }
    }
}

/// Every rule id, in order.
pub const ALL: [&str; 13] = [
    CALL_RATE,
    CALL_ANOMALY,
    CAPABILITY_PROBE,
    RATE_HITS,
    MALFORMED,
    FUEL_BURN,
    FUEL_ANOMALY,
    MEMORY_CREEP,
    TRAPS,
    STORAGE_FLOOD,
    STORAGE_QUOTA,
    NET_FLOOD,
    NET_PROBE,
];
