//! Where the storage master key comes from.

use cap_std::fs::Dir;
use sandframe_core::Error;
use zeroize::Zeroizing;

/// Supplies the host master key every app's storage key is derived from. The embedder
/// chooses it (a file, a keyring, an HSM-wrapped secret); it is never logged.
pub trait KeySource: Send + Sync {
    /// The 32-byte master key (zeroized when dropped).
    ///
    /// # Errors
    /// When the key cannot be read or made.
    fn master_key(&self) -> Result<Zeroizing<[u8; 32]>, Error>;
}

/// The default [`KeySource`]: a 32-byte file (mode 0600) in a directory the host chooses,
/// created with random bytes on first use. Read at every use, so the process keeps no copy
/// longer than an operation.
pub struct FileKeySource {
    dir: Dir,
    name: String,
}

impl std::fmt::Debug for FileKeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileKeySource")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl FileKeySource {
    /// The key in file `name` of `dir` (created on first use).
    pub fn new(dir: Dir, name: &str) -> FileKeySource {
        FileKeySource {
            dir,
            name: name.to_owned(),
        }
    }
}

fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> Error {
    move |e| {
        Error::Io(std::io::Error::new(
            e.kind(),
            format!("storage key: {what}: {e}"),
        ))
    }
}

impl KeySource for FileKeySource {
    fn master_key(&self) -> Result<Zeroizing<[u8; 32]>, Error> {
        self.master_key_tries(3)
    }
}

impl FileKeySource {
    /// Reads the key, or makes it; a lost race to make it reads the winner's (a bounded number
    /// of times: a key file that exists but cannot be read is an error, not a loop).
    fn master_key_tries(&self, tries: u32) -> Result<Zeroizing<[u8; 32]>, Error> {
        match self.dir.read(&self.name) {
            Ok(bytes) => {
                let bytes = Zeroizing::new(bytes);
                let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                    Error::Integrity("the storage master key file (it must be 32 bytes)")
                })?;
                Ok(Zeroizing::new(key))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // Published whole or not at all; if another thread or process won the race,
                // its key is the key.
                let mut key = Zeroizing::new([0u8; 32]);
                getrandom::fill(&mut key[..])
                    .map_err(|e| Error::Io(std::io::Error::other(format!("storage key: {e}"))))?;
                if crate::publish_new(&self.dir, &self.name, &key[..], 0o600)? {
                    Ok(key)
                } else if tries > 0 {
                    self.master_key_tries(tries - 1)
                } else {
                    Err(Error::Unavailable(
                        "the storage key file exists but cannot be read; check it".into(),
                    ))
                }
            }
            Err(e) => Err(io("read the key")(e)),
        }
    }
}

/// A [`KeySource`] holding the key in memory (tests, or an embedder that unwraps it itself).
pub struct MemoryKeySource(Zeroizing<[u8; 32]>);

impl MemoryKeySource {
    /// A source that always returns `key`.
    pub fn new(key: [u8; 32]) -> MemoryKeySource {
        MemoryKeySource(Zeroizing::new(key))
    }
}

impl std::fmt::Debug for MemoryKeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemoryKeySource(..)")
    }
}

impl KeySource for MemoryKeySource {
    fn master_key(&self) -> Result<Zeroizing<[u8; 32]>, Error> {
        Ok(self.0.clone())
    }
}
