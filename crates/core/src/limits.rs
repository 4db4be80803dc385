//! The resource limits a manifest may ask for (memory, fuel, storage quota), which a host may
//! lower and never raise past its caps.

use serde::{Deserialize, Serialize};

/// Resource limits a manifest asks for; a host may lower them, never raise them past its caps.
///
/// `None` means "the host's default".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Maximum linear memory, in 64 KiB wasm pages.
    pub memory_pages: Option<u32>,
    /// Fuel (metered operators) one event may burn; also the event's deadline.
    pub fuel_per_event: Option<u64>,
    /// Bytes of storage the app may hold.
    pub storage_quota_bytes: Option<u64>,
    /// Milliseconds one `net.fetch` may take, connect to last body byte (the host's timeout,
    /// 60 s by default, when `None`; a manifest may only lower it).
    pub fetch_timeout_ms: Option<u64>,
}

impl Limits {
    /// Each limit the lower of `self` and `caps`; a limit left `None` takes the cap.
    pub fn clamp_to(&self, caps: &Limits) -> Limits {
        fn low<T: Ord + Copy>(a: Option<T>, b: Option<T>) -> Option<T> {
            match (a, b) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        }
        Limits {
            memory_pages: low(self.memory_pages, caps.memory_pages),
            fuel_per_event: low(self.fuel_per_event, caps.fuel_per_event),
            storage_quota_bytes: low(self.storage_quota_bytes, caps.storage_quota_bytes),
            fetch_timeout_ms: low(self.fetch_timeout_ms, caps.fetch_timeout_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamp_never_raises_a_cap() {
        let caps = Limits {
            memory_pages: Some(64),
            fuel_per_event: Some(1_000),
            storage_quota_bytes: None,
            fetch_timeout_ms: None,
        };
        let asked = Limits {
            memory_pages: Some(1_000),
            fuel_per_event: None,
            storage_quota_bytes: Some(5),
            fetch_timeout_ms: Some(250),
        };
        let got = asked.clamp_to(&caps);
        assert_eq!(got.memory_pages, Some(64));
        assert_eq!(got.fuel_per_event, Some(1_000));
        assert_eq!(got.storage_quota_bytes, Some(5));
        assert_eq!(got.fetch_timeout_ms, Some(250));
    }
}
