//! The storage contract: per-app namespaces of JSON values, quotas, and read-only shares.

use crate::{AppId, Error};

/// How much of its quota an app uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Number of keys stored.
    pub keys: u64,
    /// Bytes counted against the quota.
    pub bytes: u64,
    /// The quota, in bytes.
    pub quota_bytes: u64,
}

/// The shares one app takes part in, from either side.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShareList {
    /// What the app shares: (its key, the reader).
    pub given: Vec<(String, AppId)>,
    /// What is shared with it: (the owner, the owner's key).
    pub received: Vec<(AppId, String)>,
}

/// Per-app key/value namespaces.
///
/// Keys are opaque strings from the guest. An implementation guarantees that no key reaches
/// outside its app's namespace, that an acknowledged write is durable, and that
/// [`Storage::wipe`] leaves nothing of the app behind. Data crosses apps only through an
/// explicit share, read-only, which the owner can revoke.
pub trait Storage: Send + Sync {
    /// Reads `key` of `app`.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a bad key, [`Error::Integrity`] if the stored value was tampered
    /// with or copied from elsewhere, I/O errors.
    fn get(&self, app: &AppId, key: &str) -> Result<Option<Vec<u8>>, Error>;

    /// Writes `key` of `app`; returns only once the write is durable.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a bad key, [`Error::Limit`] for a value over the size cap,
    /// [`Error::Quota`] when the app's quota would be exceeded, I/O errors.
    fn set(&self, app: &AppId, key: &str, value: &[u8]) -> Result<(), Error>;

    /// Removes `key`; returns whether it existed.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a bad key, I/O errors.
    fn remove(&self, app: &AppId, key: &str) -> Result<bool, Error>;

    /// Lists the app's keys, sorted.
    ///
    /// # Errors
    /// I/O or integrity errors.
    fn list(&self, app: &AppId) -> Result<Vec<String>, Error>;

    /// Reports the app's usage.
    ///
    /// # Errors
    /// I/O errors.
    fn usage(&self, app: &AppId) -> Result<Usage, Error>;

    /// Lets `reader` read `owner`'s `key`, read-only, until revoked.
    ///
    /// # Errors
    /// [`Error::NotFound`] if the key does not exist, I/O errors.
    fn share(&self, owner: &AppId, key: &str, reader: &AppId) -> Result<(), Error>;

    /// Revokes a share; returns whether it existed.
    ///
    /// # Errors
    /// I/O errors.
    fn unshare(&self, owner: &AppId, key: &str, reader: &AppId) -> Result<bool, Error>;

    /// The shares `app` takes part in, as owner and as reader.
    ///
    /// # Errors
    /// I/O errors, or a damaged share record.
    fn shares_of(&self, app: &AppId) -> Result<ShareList, Error>;

    /// Reads a key `owner` shared with `reader`.
    ///
    /// # Errors
    /// [`Error::Denied`] when no share grants it, plus the errors of [`Storage::get`].
    fn get_shared(
        &self,
        reader: &AppId,
        owner: &AppId,
        key: &str,
    ) -> Result<Option<Vec<u8>>, Error>;

    /// Lowers `app`'s byte quota to `bytes` (the manifest's limit, already clamped to the
    /// host's cap); never raises it past the implementation's own cap. The default ignores it.
    fn limit(&self, app: &AppId, bytes: u64) {
        let _ = (app, bytes);
    }

    /// Deletes everything of `app`: values, key material, shares both ways.
    ///
    /// # Errors
    /// I/O errors; a failed wipe must be retried, and is safe to retry.
    fn wipe(&self, app: &AppId) -> Result<(), Error>;
}
