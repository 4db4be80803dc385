//! The home directory's own records: per-app install records, durable writes, the artifact
//! cache and the registry `validate::verify` reads. (The keys live outside it: `keys`.)

use cap_std::fs::Dir;
use sandframe_core::AppId;
use sandframe_package::PublicKey;
use sandframe_runtime::ArtifactStore;
use sandframe_validate::{Installed, Registry};
use serde::{Deserialize, Serialize};

use crate::error::{HostError, home_err};

/// The per-app record kept in the home (`apps/<id>/record.toml`).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Record {
    pub(crate) publisher: String,
    pub(crate) version: Option<String>,
    pub(crate) capabilities: Vec<String>,
}

/// Writes `bytes` to `name` in `dir` durably (`sandframe_durable::replace`, mode 0600).
pub(crate) fn write_durably(dir: &Dir, name: &str, bytes: &[u8]) -> Result<(), HostError> {
    sandframe_durable::replace(dir, name, bytes, 0o600).map_err(home_err(format!("write {name}")))
}

/// The runtime's artifact cache under `artifacts/` (records are MAC'd by the runtime).
pub(crate) struct DiskArtifacts(pub(crate) Dir);

impl ArtifactStore for DiskArtifacts {
    fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.0.read(key).ok()
    }
    fn put(&self, key: &str, record: &[u8]) {
        // A cache: no fsync (a torn or lost record fails its MAC and is recompiled); the
        // rename keeps a reader from seeing a half-written file.
        let tmp = format!("{key}.tmp");
        let written = self
            .0
            .write(&tmp, record)
            .and_then(|()| self.0.rename(&tmp, &self.0, key));
        if written.is_err() {
            let _ = self.0.remove_file(&tmp);
        }
    }
    fn remove(&self, key: &str) {
        let _ = self.0.remove_file(key);
    }
}

/// The home's records, as `validate::verify` reads them.
pub(crate) struct HomeRegistry<'a>(pub(crate) &'a Dir);

impl Registry for HomeRegistry<'_> {
    fn installed(&self, app: &AppId) -> Option<Installed> {
        let text = self.0.read_to_string(format!("{app}/record.toml")).ok()?;
        let r: Record = toml::from_str(&text).ok()?;
        Some(Installed {
            publisher: r.publisher.parse::<PublicKey>().ok()?,
            version: r.version.and_then(|v| v.parse().ok()),
            capabilities: r
                .capabilities
                .iter()
                .filter_map(|c| c.parse().ok())
                .collect(),
        })
    }
}
