//! # sandframe-durable
//!
//! The one way sandframe writes a file that must survive a crash whole or not at all: the
//! home's records, grants, quarantines, the audit anchor, stored values. Each write is a
//! temporary file in the same directory (an unnamed `O_TMPFILE` on Linux, else a random
//! name, through `cap-tempfile`), written, `fsync`ed, renamed over the target, and the
//! directory `fsync`ed. Two writers of one name never share a temporary file, and a reader
//! sees the old bytes or the new, never a mix.
//!
//! - [`replace`] replaces the file (or creates it).
//! - [`create_new`] creates it only if it does not exist yet (a synced temporary file
//!   hard-linked into place), so two racing writers cannot both win.
//!
//! Every path is relative to a cap-std [`Dir`]: nothing here can reach outside it.
//!
//! Not covered: a cache whose records are authenticated (the runtime's artifacts) needs no
//! `fsync`, since a torn record fails its MAC and is rebuilt; it writes with a plain rename.

use std::io::{self, Write as _};

use cap_std::fs::{Dir, OpenOptions, OpenOptionsExt as _, Permissions, PermissionsExt as _};
use cap_tempfile::TempFile;

/// Writes `bytes` to `name` in `dir`, replacing it, durably; the file gets `mode` (Unix
/// permission bits, e.g. `0o600` for a secret), set before any byte is written.
///
/// # Errors
/// The I/O error of the step that failed; the old file, if any, is then unchanged, and no
/// temporary file is left behind.
pub fn replace(dir: &Dir, name: &str, bytes: &[u8], mode: u32) -> io::Result<()> {
    let mut tmp = TempFile::new(dir)?;
    tmp.as_file()
        .set_permissions(Permissions::from_mode(mode))?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.replace(name)?;
    sync_dir(dir)
}

/// Writes `bytes` to `name` in `dir` only if `name` does not exist yet, whole or not at all;
/// returns whether this call made it (`false`: it existed, and is unchanged).
///
/// # Errors
/// The I/O error of the step that failed; no temporary file is left behind.
pub fn create_new(dir: &Dir, name: &str, bytes: &[u8], mode: u32) -> io::Result<bool> {
    let mut r = [0u8; 8];
    getrandom::fill(&mut r).map_err(|e| io::Error::other(format!("random: {e}")))?;
    let tmp = format!(".{name}.{}.tmp", hex::encode(r));
    let linked = (|| {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true).mode(mode);
        let mut f = dir.open_with(&tmp, &options)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        dir.hard_link(&tmp, dir, name)
    })();
    let _ = dir.remove_file(&tmp);
    match linked {
        Ok(()) => {
            sync_dir(dir)?;
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// Makes the directory's entries durable (a rename or a new link is in the directory).
///
/// # Errors
/// If the directory cannot be opened or synced.
pub fn sync_dir(dir: &Dir) -> io::Result<()> {
    dir.open(".")?.sync_all()
}
