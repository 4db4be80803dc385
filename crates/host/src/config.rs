//! [`HomeConfig`]: the trust store and the security definitions a front end keeps in the home
//! (the `sandframe` command does: `trust.toml`, `definitions.pub`, `definitions.signed`), read
//! and changed under the home lock, written durably, so that no front end writes the home
//! itself.

use std::path::{Path, PathBuf};

use cap_std::fs::Dir;
use sandframe_durable::HomeLock;
use sandframe_package::{PublicKey, TrustStore};
use sandframe_validate::Validator;

use crate::error::{HomeError, HostError, hold, home_err};
use crate::home::write_durably;
use crate::{Host, HostBuilder};

/// The definitions key and the signed definitions kept under it, if any.
type Kept = (PublicKey, Option<Vec<u8>>);

/// The trust store's file in the home.
pub const TRUST_FILE: &str = "trust.toml";
/// The definitions signer's public key file in the home.
pub const DEFINITIONS_KEY_FILE: &str = "definitions.pub";
/// The accepted signed definitions in the home.
pub const DEFINITIONS_FILE: &str = "definitions.signed";

/// The trust store and security definitions kept in a home, for a front end that keeps its
/// configuration there (an embedder may pass its own to the builder instead).
///
/// ```no_run
/// # fn main() -> Result<(), sandframe_host::HostError> {
/// let config = sandframe_host::HomeConfig::open("/var/lib/app/home")?;
/// let host = config.builder()?.threads(1).build()?;
/// # let _ = host; Ok(()) }
/// ```
pub struct HomeConfig {
    path: PathBuf,
    home: Dir,
    lock: HomeLock,
}

impl std::fmt::Debug for HomeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HomeConfig")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl HomeConfig {
    /// The configuration of the home at `path` (created if missing).
    ///
    /// # Errors
    /// [`HostError::Home`] if the home cannot be created or opened.
    pub fn open(path: impl AsRef<Path>) -> Result<HomeConfig, HostError> {
        let path = path.as_ref().to_path_buf();
        std::fs::create_dir_all(&path).map_err(home_err("create the home"))?;
        let home = Dir::open_ambient_dir(&path, cap_std::ambient_authority())
            .map_err(home_err("open the home"))?;
        let lock = HomeLock::open(&home, path.display().to_string())
            .map_err(home_err("open the home for its lock"))?;
        Ok(HomeConfig { path, home, lock })
    }

    /// The home's directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's bytes, or `None` if it does not exist.
    fn read(&self, name: &str) -> Result<Option<Vec<u8>>, HostError> {
        match self.home.read(name) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(home_err(format!("read {name}"))(e)),
        }
    }

    /// The home's trust store (empty if none was kept yet).
    ///
    /// # Errors
    /// [`HomeError::Damaged`] naming the file if it does not parse; I/O errors.
    pub fn trust(&self) -> Result<TrustStore, HostError> {
        match self.read(TRUST_FILE)? {
            None => Ok(TrustStore::new()),
            Some(bytes) => TrustStore::from_toml(&bytes).map_err(|e| {
                HomeError::Damaged(format!(
                    "{} ({e}; fix it, or move it aside and trust the publishers again)",
                    self.path.join(TRUST_FILE).display()
                ))
                .into()
            }),
        }
    }

    /// Reads the trust store, lets `change` change it, and writes it back durably, all under
    /// the home lock (two front ends changing it at once lose neither change). Returns what
    /// `change` returned.
    ///
    /// # Errors
    /// As [`HomeConfig::trust`]; the write's I/O error (the file is then unchanged).
    pub fn change_trust<R>(
        &self,
        change: impl FnOnce(&mut TrustStore) -> R,
    ) -> Result<R, HostError> {
        let _held = hold(&self.lock)?;
        let mut store = self.trust()?;
        let answer = change(&mut store);
        let text = store.to_toml()?;
        write_durably(&self.home, TRUST_FILE, text.as_bytes())?;
        Ok(answer)
    }

    /// The key the home accepts definitions from, if one was set.
    ///
    /// # Errors
    /// [`HomeError::Damaged`] naming the file if it is not a public key file.
    pub fn definitions_key(&self) -> Result<Option<PublicKey>, HostError> {
        self.read(DEFINITIONS_KEY_FILE)?
            .map(|text| {
                PublicKey::from_file_text(&text).map_err(|e| {
                    HostError::from(HomeError::Damaged(format!(
                        "{} ({e}; set the signer again with its next definitions)",
                        self.path.join(DEFINITIONS_KEY_FILE).display()
                    )))
                })
            })
            .transpose()
    }

    /// A validator with the home's definitions key and accepted definitions.
    ///
    /// # Errors
    /// As [`HomeConfig::definitions_key`]; the kept definitions refused by their key.
    pub fn validator(&self) -> Result<Validator, HostError> {
        let mut v = Validator::new();
        if let Some((key, signed)) = self.definitions()? {
            v = v.with_definitions_key(key);
            if let Some(signed) = signed {
                v.update_definitions(&signed)?;
            }
        }
        Ok(v)
    }

    /// The definitions key, if set, and the definitions accepted under it, if any.
    fn definitions(&self) -> Result<Option<Kept>, HostError> {
        match self.definitions_key()? {
            Some(key) => Ok(Some((key, self.read(DEFINITIONS_FILE)?))),
            None => Ok(None),
        }
    }

    /// Accepts signed definitions and keeps them: checked first (signed by the home's key,
    /// or by `new_key` if given, which then replaces it and starts afresh: the old signer's
    /// version does not bind the new one; newer than what the home holds), and only then
    /// written, the key before the definitions, under the home lock. A refused file changes
    /// nothing. `new_key` is the key and its file's text. Returns the accepted version.
    ///
    /// # Errors
    /// What [`Validator::update_definitions`] refuses ([`HostError::Denied`] for another
    /// signer, [`HostError::Rejected`] for malformed or older definitions,
    /// [`HostError::Misuse`] with no key to check them); I/O errors.
    pub fn update_definitions(
        &self,
        signed: &[u8],
        new_key: Option<(PublicKey, &[u8])>,
    ) -> Result<u64, HostError> {
        let _held = hold(&self.lock)?;
        let current = self.definitions_key()?;
        let mut v = match &new_key {
            Some((k, _)) if current.as_ref() != Some(k) => {
                Validator::new().with_definitions_key(*k)
            }
            _ => self.validator()?,
        };
        let version = v.update_definitions(signed)?;
        if let Some((_, text)) = new_key {
            write_durably(&self.home, DEFINITIONS_KEY_FILE, text)?;
        }
        write_durably(&self.home, DEFINITIONS_FILE, signed)?;
        Ok(version)
    }

    /// A host builder over this home, with its trust store, definitions key and accepted
    /// definitions.
    ///
    /// # Errors
    /// As [`HomeConfig::trust`] and [`HomeConfig::definitions_key`].
    pub fn builder(&self) -> Result<HostBuilder, HostError> {
        let _held = hold(&self.lock)?;
        let mut b = Host::builder().home(&self.path).trust(self.trust()?);
        if let Some((key, signed)) = self.definitions()? {
            b = b.definitions_key(key);
            if let Some(signed) = signed {
                b = b.definitions(signed);
            }
        }
        Ok(b)
    }
}
