//! [`HomeConfig`]: the trust store and the security definitions a front end keeps in the home
//! (the `sandframe` command does), sealed in the home's state (kind `config`: `trust.toml`,
//! `definitions.pub`, `definitions.signed`), read and changed under the home lock, so that no
//! front end writes the home itself and no hand edit of the home changes what is trusted.
//! Each is also written out as a file of that name, for people to read: a view, never read
//! back (one that differs from the sealed value is reported).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cap_std::fs::Dir;
use sandframe_core::HomeState as _;
use sandframe_durable::HomeLock;
use sandframe_gateway::{Anchor, FileAnchor, Migration, SealedState};
use sandframe_package::{PublicKey, TrustStore};
use sandframe_validate::Validator;

use crate::error::{HomeError, HostError, hold, home_err};
use crate::home::write_durably;
use crate::keys::HomeKeys;
use crate::{Host, HostBuilder};

/// The sealed state's kind of configuration values.
pub(crate) const CONFIG_KIND: &str = "config";
/// Marks an older home's configuration files as carried over (once).
const CARRIED: &str = "carried-over";

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
    anchor: Arc<dyn Anchor>,
    state: SealedState,
}

impl std::fmt::Debug for HomeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HomeConfig")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl HomeConfig {
    /// The configuration of the home at `path` (created if missing), with the default anchor
    /// beside it (`<home>.audit-anchor`).
    ///
    /// # Errors
    /// [`HostError::Home`] if the home cannot be created or opened; the anchor's and the
    /// sealed state's errors.
    pub fn open(path: impl AsRef<Path>) -> Result<HomeConfig, HostError> {
        let anchor = Arc::new(FileAnchor::open(&crate::builder::default_anchor(
            path.as_ref(),
        ))?);
        HomeConfig::open_with_anchor(path, anchor)
    }

    /// The configuration of the home at `path`, whose anchor is `anchor` (give the host the
    /// same one: [`HomeConfig::builder`] does).
    ///
    /// # Errors
    /// As [`HomeConfig::open`].
    pub fn open_with_anchor(
        path: impl AsRef<Path>,
        anchor: Arc<dyn Anchor>,
    ) -> Result<HomeConfig, HostError> {
        let path = path.as_ref().to_path_buf();
        std::fs::create_dir_all(&path).map_err(home_err("create the home"))?;
        let home = Dir::open_ambient_dir(&path, cap_std::ambient_authority())
            .map_err(home_err("open the home"))?;
        let lock = HomeLock::open(&home, path.display().to_string())
            .map_err(home_err("open the home for its lock"))?;
        let held = hold(&lock)?;
        let secret = anchor.home_secret()?;
        let state =
            crate::home::open_state(&home, &anchor, HomeKeys::derive(&secret).state, &lock, None)?;
        let config = HomeConfig {
            path,
            home,
            lock: lock.clone(),
            anchor,
            state,
        };
        if secret.migration != Migration::Done {
            config.carry_over()?;
        }
        drop(held);
        Ok(config)
    }

    /// A home made before its state was sealed kept these as plain files: they are carried
    /// into the sealed state once (what they say was never authenticated; nothing else is
    /// there to trust instead), in one commit, before the host marks the move done.
    fn carry_over(&self) -> Result<(), HostError> {
        // Once: files planted later, while the host has not finished the home's move yet,
        // are never carried.
        if self.state.contains(CONFIG_KIND, CARRIED) {
            return Ok(());
        }
        let mut found = Vec::new();
        for name in [TRUST_FILE, DEFINITIONS_KEY_FILE, DEFINITIONS_FILE] {
            if !self.state.contains(CONFIG_KIND, name)
                && let Some(bytes) = self.file(name)?
            {
                found.push((name, bytes));
            }
        }
        let mut items: Vec<(&str, &str, Option<&[u8]>)> = found
            .iter()
            .map(|(n, b)| (CONFIG_KIND, *n, Some(b.as_slice())))
            .collect();
        items.push((CONFIG_KIND, CARRIED, Some(b"1")));
        self.state.set_many(&items)?;
        if found.is_empty() {
            return Ok(());
        }
        tracing::warn!(
            files = ?found.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            "an older home's trust files were carried into its sealed state as they were; check them with `sandframe trust list`"
        );
        Ok(())
    }

    /// The home's directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's bytes, or `None` if it does not exist or is not a regular file of at most
    /// 4 MiB (never through a symlink, never waiting on a FIFO: a view planted as one must not
    /// hang a front end holding the home lock).
    fn file(&self, name: &str) -> Result<Option<Vec<u8>>, HostError> {
        Ok(crate::home::read_regular(&self.home, name, 4 << 20))
    }

    /// The sealed value of `name` (what other processes committed included). Its file in the
    /// home is only a view: one that differs is reported, never read.
    fn read(&self, name: &str) -> Result<Option<Vec<u8>>, HostError> {
        self.state.refresh()?;
        let sealed = self.state.get(CONFIG_KIND, name);
        if let Ok(view) = self.file(name)
            && view != sealed
        {
            tracing::warn!(
                home_file = name,
                "{name} in the home differs from the sealed value, which is the one in force: it was changed outside sandframe and is not read (change it with the `sandframe` command)"
            );
        }
        Ok(sealed)
    }

    /// Commits `name`'s new value, then writes its view.
    fn write(&self, name: &str, bytes: &[u8]) -> Result<(), HostError> {
        self.state.set_many(&[(CONFIG_KIND, name, Some(bytes))])?;
        write_durably(&self.home, name, bytes)
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
                    "the sealed trust store of {} ({e}; trust the publishers again)",
                    self.path.display()
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
        self.write(TRUST_FILE, text.as_bytes())?;
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
                        "the sealed definitions key of {} ({e}; set the signer again with its next definitions)",
                        self.path.display()
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
        // One commit: a crash never leaves a new key beside the old key's definitions.
        let mut items = vec![(CONFIG_KIND, DEFINITIONS_FILE, Some(signed))];
        if let Some((_, text)) = new_key {
            items.push((CONFIG_KIND, DEFINITIONS_KEY_FILE, Some(text)));
        }
        self.state.set_many(&items)?;
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
        let mut b = Host::builder()
            .home(&self.path)
            .anchor(Arc::clone(&self.anchor))
            .trust(self.trust()?);
        if let Some((key, signed)) = self.definitions()? {
            b = b.definitions_key(key);
            if let Some(signed) = signed {
                b = b.definitions(signed);
            }
        }
        // The host follows what other processes change here while it runs.
        b.followed = Some(crate::revalidate::Followed {
            trust: self.state.get(CONFIG_KIND, TRUST_FILE),
            key: self.state.get(CONFIG_KIND, DEFINITIONS_KEY_FILE),
            definitions: self.state.get(CONFIG_KIND, DEFINITIONS_FILE),
        });
        Ok(b)
    }
}
