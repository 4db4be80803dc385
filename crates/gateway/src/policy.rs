//! Host policy: allow and deny lists of APIs and of network origins (host-wide and per app),
//! capabilities granted or refused without asking, and rate limits.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use sandframe_core::{AppId, Capability, OriginPattern};

/// A rate: `burst` calls at once, then one more every `period`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Calls allowed back to back (at least 1).
    pub burst: u32,
    /// Time to earn one more call (at least 1 ns).
    pub period: Duration,
}

impl Rate {
    /// `burst` at once, then `per_second` a second.
    pub fn per_second(burst: u32, per_second: u32) -> Rate {
        Rate {
            burst,
            period: Duration::from_nanos(1_000_000_000 / u64::from(per_second.max(1))),
        }
    }

    /// No practical limit (benchmarks, trusted embedders).
    pub fn unlimited() -> Rate {
        Rate {
            burst: u32::MAX,
            period: Duration::from_nanos(1),
        }
    }
}

/// The default rate of every API: bursts of 1,000, then 10,000 a second.
pub const DEFAULT_RATE: Rate = Rate {
    burst: 1_000,
    period: Duration::from_micros(100),
};
/// The default rate of an app under a throttle verdict: bursts of 10, then 10 a second.
pub const DEFAULT_SLOW_RATE: Rate = Rate {
    burst: 10,
    period: Duration::from_millis(100),
};
/// `capability.request` asks a person: bursts of 4, then one every 10 seconds.
pub const CONSENT_RATE: Rate = Rate {
    burst: 4,
    period: Duration::from_secs(10),
};

/// What the host allows, whatever the app's grants.
///
/// Checked per call after the capability check: an API on a deny list (host-wide or the
/// app's) is `denied`; with an allow list, so is every API not on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    deny: BTreeSet<String>,
    allow_only: Option<BTreeSet<String>>,
    app_deny: BTreeMap<AppId, BTreeSet<String>>,
    app_allow_only: BTreeMap<AppId, BTreeSet<String>>,
    auto_grant: BTreeSet<Capability>,
    never_grant: BTreeSet<Capability>,
    deny_origins: Vec<OriginPattern>,
    allow_only_origins: Option<Vec<OriginPattern>>,
    app_deny_origins: BTreeMap<AppId, Vec<OriginPattern>>,
    app_allow_only_origins: BTreeMap<AppId, Vec<OriginPattern>>,
}

impl Default for Policy {
    /// Every API allowed; `ui:render` and `storage:local` granted without asking to apps that
    /// declare them (like a mini-program platform's defaults); everything else needs consent.
    fn default() -> Self {
        let mut auto_grant = BTreeSet::new();
        for c in [Capability::UI_RENDER, Capability::STORAGE_LOCAL] {
            if let Ok(c) = Capability::parse(c) {
                auto_grant.insert(c);
            }
        }
        Policy {
            deny: BTreeSet::new(),
            allow_only: None,
            app_deny: BTreeMap::new(),
            app_allow_only: BTreeMap::new(),
            auto_grant,
            never_grant: BTreeSet::new(),
            deny_origins: Vec::new(),
            allow_only_origins: None,
            app_deny_origins: BTreeMap::new(),
            app_allow_only_origins: BTreeMap::new(),
        }
    }
}

impl Policy {
    /// The default policy (see [`Policy::default`]).
    pub fn new() -> Policy {
        Policy::default()
    }

    /// Denies `api` to every app.
    pub fn deny_api(mut self, api: &str) -> Policy {
        self.deny.insert(api.to_owned());
        self
    }

    /// Allows only `apis` (host-wide); every other API is denied.
    pub fn allow_only<'a>(mut self, apis: impl IntoIterator<Item = &'a str>) -> Policy {
        self.allow_only = Some(apis.into_iter().map(str::to_owned).collect());
        self
    }

    /// Denies `api` to `app`.
    pub fn deny_api_for(mut self, app: &AppId, api: &str) -> Policy {
        self.app_deny
            .entry(app.clone())
            .or_default()
            .insert(api.to_owned());
        self
    }

    /// Allows `app` only `apis`.
    pub fn allow_only_for<'a>(
        mut self,
        app: &AppId,
        apis: impl IntoIterator<Item = &'a str>,
    ) -> Policy {
        self.app_allow_only
            .insert(app.clone(), apis.into_iter().map(str::to_owned).collect());
        self
    }

    /// Grants `capability` without asking to every app that declares it.
    pub fn grant_without_asking(mut self, capability: Capability) -> Policy {
        self.never_grant.remove(&capability);
        self.auto_grant.insert(capability);
        self
    }

    /// Never grants `capability` (requests answer `denied`; stored grants are ignored).
    pub fn never_grant(mut self, capability: Capability) -> Policy {
        self.auto_grant.remove(&capability);
        self.never_grant.insert(capability);
        self
    }

    /// Denies every origin `origin` overlaps, to every app (see [`Policy::narrow_origins`]).
    pub fn deny_origin(mut self, origin: OriginPattern) -> Policy {
        self.deny_origins.push(origin);
        self
    }

    /// Allows only origins inside `origins` (host-wide).
    pub fn allow_only_origins(
        mut self,
        origins: impl IntoIterator<Item = OriginPattern>,
    ) -> Policy {
        self.allow_only_origins = Some(origins.into_iter().collect());
        self
    }

    /// Denies every origin `origin` overlaps, to `app`.
    pub fn deny_origin_for(mut self, app: &AppId, origin: OriginPattern) -> Policy {
        self.app_deny_origins
            .entry(app.clone())
            .or_default()
            .push(origin);
        self
    }

    /// Allows `app` only origins inside `origins`.
    pub fn allow_only_origins_for(
        mut self,
        app: &AppId,
        origins: impl IntoIterator<Item = OriginPattern>,
    ) -> Policy {
        self.app_allow_only_origins
            .insert(app.clone(), origins.into_iter().collect());
        self
    }

    /// The part of `declared` (a manifest's origins) that policy leaves `app`: a declared
    /// pattern is kept only if it lies inside every allow list that applies, and it is dropped
    /// whole if any deny entry overlaps it (a deny of `https://a.cdn.example.com` drops a
    /// declared `https://*.cdn.example.com`: a pattern is never half granted).
    pub fn narrow_origins(&self, app: &AppId, declared: &[OriginPattern]) -> Vec<OriginPattern> {
        let overlaps = |p: &OriginPattern, list: &[OriginPattern]| {
            list.iter().any(|d| p.within(d) || d.within(p))
        };
        let inside = |p: &OriginPattern, list: Option<&Vec<OriginPattern>>| {
            list.is_none_or(|l| l.iter().any(|a| p.within(a)))
        };
        let app_deny = self
            .app_deny_origins
            .get(app)
            .map_or(&[][..], Vec::as_slice);
        declared
            .iter()
            .filter(|p| {
                !overlaps(p, &self.deny_origins)
                    && !overlaps(p, app_deny)
                    && inside(p, self.allow_only_origins.as_ref())
                    && inside(p, self.app_allow_only_origins.get(app))
            })
            .cloned()
            .collect()
    }

    /// Whether policy lets `app` call `api`.
    pub fn allows(&self, app: &AppId, api: &str) -> bool {
        let listed = |set: Option<&BTreeSet<String>>| set.is_some_and(|s| s.contains(api));
        !self.deny.contains(api)
            && !listed(self.app_deny.get(app))
            && self.allow_only.as_ref().is_none_or(|s| s.contains(api))
            && self.app_allow_only.get(app).is_none_or(|s| s.contains(api))
    }

    /// Whether `capability` is granted without asking.
    pub fn auto_grants(&self, capability: &str) -> bool {
        self.auto_grant.iter().any(|c| c.as_str() == capability)
    }

    /// Whether `capability` is never granted.
    pub fn never_grants(&self, capability: &str) -> bool {
        self.never_grant.iter().any(|c| c.as_str() == capability)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_combine() {
        let a: AppId = "com.example.a".parse().unwrap();
        let b: AppId = "com.example.b".parse().unwrap();
        let p = Policy::new()
            .deny_api("log")
            .deny_api_for(&a, "random.bytes")
            .allow_only_for(&b, ["clock.now"]);
        assert!(!p.allows(&a, "log"));
        assert!(!p.allows(&a, "random.bytes"));
        assert!(p.allows(&a, "clock.now"));
        assert!(p.allows(&b, "clock.now"));
        assert!(!p.allows(&b, "random.bytes"));
        let only = Policy::new().allow_only(["clock.now"]);
        assert!(!only.allows(&a, "log"));
        assert!(Policy::new().auto_grants("ui:render"));
        let never = Policy::new().never_grant("ui:render".parse().unwrap());
        assert!(!never.auto_grants("ui:render"));
        assert!(never.never_grants("ui:render"));
    }
}
