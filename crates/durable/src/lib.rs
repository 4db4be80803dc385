//! # sandframe-durable
//!
//! The one way sandframe writes a file that must survive a crash whole or not at all: the
//! home's records, grants, quarantines, the audit anchor, stored values. Each write is a
//! temporary file in the same directory with a random name (`.<name>.<16 hex>.tmp`),
//! created exclusively with its final mode (so a secret is never readable by others, not
//! even for a moment), written, `fsync`ed, renamed over the target, and the directory
//! `fsync`ed. Two writers of one name never share a temporary file, and a reader sees the old
//! bytes or the new, never a mix.
//!
//! Why not `cap-tempfile`: its `TempFile` creates the file with mode 0666 less the umask and
//! changes it afterwards (a window in which another user can open a secret), and on Linux it
//! names an `O_TMPFILE` through `/proc/self/fd`, so every write fails where `/proc` is not
//! mounted.
//!
//! - [`replace`] replaces the file (or creates it).
//! - [`create_new`] creates it only if it does not exist yet (a synced temporary file
//!   hard-linked into place), so two racing writers cannot both win.
//!
//! - [`HomeLock`] is the home's one-writer-at-a-time lock, for writes that must see what
//!   is on disk now (an audit log's tail, a read-modify-write).
//!
//! Every path is relative to a cap-std [`Dir`]: nothing here can reach outside it.
//!
//! Not covered: a cache whose records are authenticated (the runtime's artifacts) needs no
//! `fsync`, since a torn record fails its MAC and is rebuilt; it writes with a plain rename.

mod lock;

pub use lock::{DEFAULT_WAIT, HomeGuard, HomeLock};

use std::io::{self, Write as _};

use cap_std::fs::{Dir, OpenOptions, OpenOptionsExt as _};

/// Writes `bytes` to `name` in `dir`, replacing it, durably; the file is created with `mode`
/// (Unix permission bits less the process's umask, e.g. `0o600` for a secret) before any
/// byte is written.
///
/// # Errors
/// The I/O error of the step that failed; the old file, if any, is then unchanged, and no
/// temporary file is left behind.
pub fn replace(dir: &Dir, name: &str, bytes: &[u8], mode: u32) -> io::Result<()> {
    let tmp = write_temp(dir, name, bytes, mode)?;
    if let Err(e) = dir.rename(&tmp, dir, name) {
        let _ = dir.remove_file(&tmp);
        return Err(e);
    }
    sync_dir(dir)
}

/// Writes `bytes` to `name` in `dir` only if `name` does not exist yet, whole or not at all;
/// returns whether this call made it (`false`: it existed, and is unchanged).
///
/// # Errors
/// The I/O error of the step that failed; no temporary file is left behind.
pub fn create_new(dir: &Dir, name: &str, bytes: &[u8], mode: u32) -> io::Result<bool> {
    let tmp = write_temp(dir, name, bytes, mode)?;
    let linked = dir.hard_link(&tmp, dir, name);
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

/// A temporary file beside `name`, created exclusively with `mode`, holding `bytes`, synced;
/// returns its name. On an error it is removed.
fn write_temp(dir: &Dir, name: &str, bytes: &[u8], mode: u32) -> io::Result<String> {
    let mut r = [0u8; 8];
    getrandom::fill(&mut r).map_err(|e| io::Error::other(format!("random: {e}")))?;
    let tmp = format!("{}{name}.{}{TEMP_SUFFIX}", TEMP_PREFIX, hex::encode(r));
    let written = (|| {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true).mode(mode);
        let mut f = dir.open_with(&tmp, &options)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    match written {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = dir.remove_file(&tmp);
            Err(e)
        }
    }
}

const TEMP_PREFIX: &str = ".";
const TEMP_SUFFIX: &str = ".tmp";

/// Removes what a crash between a temporary file's creation and its rename may have left of
/// writes to `name` (so that an uninstall leaves nothing of an app behind).
///
/// # Errors
/// If the directory cannot be listed; files that cannot be removed are skipped.
pub fn remove_leftovers(dir: &Dir, name: &str) -> io::Result<()> {
    let prefix = format!("{TEMP_PREFIX}{name}.");
    for entry in dir.entries()? {
        let file = entry?.file_name();
        let Some(file) = file.to_str() else { continue };
        if let Some(rest) = file.strip_prefix(&prefix)
            && let Some(hex) = rest.strip_suffix(TEMP_SUFFIX)
            && hex.len() == 16
            && hex.bytes().all(|b| b.is_ascii_hexdigit())
        {
            let _ = dir.remove_file(file);
        }
    }
    Ok(())
}

/// Makes the directory's entries durable (a rename or a new link is in the directory).
///
/// # Errors
/// If the directory cannot be opened or synced.
pub fn sync_dir(dir: &Dir) -> io::Result<()> {
    dir.open(".")?.sync_all()
}
