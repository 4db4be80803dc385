//! [`HomeLock`]: one writer at a time in a home, across threads and processes.
//!
//! An advisory `flock` on the home directory's own file descriptor (`std::fs::File::lock`),
//! so there is no lock file to leave behind or delete: the kernel releases the lock when its
//! holder exits, however it exits (SIGKILL included). Inside one process the lock is
//! reentrant on its thread (a host holding it may flush its audit log, which takes it too)
//! and excludes the process's other threads.
//!
//! Every process that writes a home must take it around each write, and around each
//! read-modify-write, so that what it read is still true when it writes. It is advisory:
//! a process that does not take it (an attacker, an editor) is not stopped by it.

use std::cell::Cell;
use std::fs::{File, TryLockError};
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cap_std::fs::Dir;
use parking_lot::{ReentrantMutex, ReentrantMutexGuard};

/// How long [`HomeLock::hold`] waits for another process by default before giving up.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(30);

/// After this long waiting, [`HomeLock::hold`] says so (a `tracing` warning), once.
const NOTICE_AFTER: Duration = Duration::from_secs(1);

/// The lock on one home: cheap to clone (clones share the one file descriptor and the one
/// in-process lock), so every layer writing the home is given the same one.
#[derive(Clone)]
pub struct HomeLock {
    inner: Arc<Inner>,
}

struct Inner {
    /// The home directory, opened read-only: `flock` works on it as on a file.
    dir: File,
    /// Held by the thread that holds the `flock`; counts how deep it is held.
    held: ReentrantMutex<Cell<u32>>,
    wait: Duration,
    /// What the lock is on, for messages (a path, or a name).
    what: String,
    network: bool,
}

impl std::fmt::Debug for HomeLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HomeLock")
            .field("what", &self.inner.what)
            .finish_non_exhaustive()
    }
}

/// The lock held: released when the last guard of the holding thread is dropped.
#[must_use = "the lock is released when the guard is dropped"]
pub struct HomeGuard<'a> {
    lock: &'a Inner,
    depth: ReentrantMutexGuard<'a, Cell<u32>>,
}

impl std::fmt::Debug for HomeGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HomeGuard")
            .field("what", &self.lock.what)
            .field("depth", &self.depth.get())
            .finish()
    }
}

impl HomeLock {
    /// The lock on `home` (its own descriptor, opened again); `what` names it in messages
    /// (the home's path, say). Waits at most [`DEFAULT_WAIT`] for another process.
    ///
    /// # Errors
    /// If the directory cannot be opened again.
    pub fn open(home: &Dir, what: impl Into<String>) -> io::Result<HomeLock> {
        let dir = home.open(".")?.into_std();
        let network = on_network_filesystem(&dir);
        Ok(HomeLock {
            inner: Arc::new(Inner {
                dir,
                held: ReentrantMutex::new(Cell::new(0)),
                wait: DEFAULT_WAIT,
                what: what.into(),
                network,
            }),
        })
    }

    /// The same lock, waiting at most `wait` for another process in [`HomeLock::hold`].
    /// Only before the lock is shared: a clone keeps the wait it was made with.
    #[must_use]
    pub fn with_wait(self, wait: Duration) -> HomeLock {
        match Arc::try_unwrap(self.inner) {
            Ok(mut inner) => {
                inner.wait = wait;
                HomeLock {
                    inner: Arc::new(inner),
                }
            }
            Err(inner) => HomeLock { inner },
        }
    }

    /// Whether the home is on a network filesystem (NFS, SMB/CIFS, 9p, AFS, Ceph), where
    /// `flock` may not exclude a process on another machine, or (NFS) fail on a directory:
    /// warn the person.
    #[must_use]
    pub fn on_network_filesystem(&self) -> bool {
        self.inner.network
    }

    /// Takes the lock, waiting for another thread of this process or another process (at
    /// most the lock's wait in all, saying so after a second if it is another process). The
    /// thread that holds it may take it again.
    ///
    /// # Errors
    /// [`io::ErrorKind::WouldBlock`] when another thread or process held it for the whole
    /// wait; the I/O error if `flock` fails (on a network filesystem, the message says so).
    pub fn hold(&self) -> io::Result<HomeGuard<'_>> {
        let start = Instant::now();
        let depth = self
            .inner
            .held
            .try_lock_for(self.inner.wait)
            .ok_or_else(|| self.inner.busy("another thread of this process"))?;
        if depth.get() == 0 {
            self.inner.take(start)?;
        }
        depth.set(depth.get().saturating_add(1));
        Ok(HomeGuard {
            lock: &self.inner,
            depth,
        })
    }
}

impl HomeLock {
    /// Takes the lock if no other thread or process holds it, without waiting: `None` if one
    /// does (for a writer that can put its write off, such as an audit frame).
    ///
    /// # Errors
    /// The I/O error if `flock` fails.
    pub fn try_hold(&self) -> io::Result<Option<HomeGuard<'_>>> {
        let Some(depth) = self.inner.held.try_lock() else {
            return Ok(None);
        };
        if depth.get() == 0 {
            match self.inner.dir.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => return Ok(None),
                Err(TryLockError::Error(e)) => return Err(e),
            }
        }
        depth.set(depth.get().saturating_add(1));
        Ok(Some(HomeGuard {
            lock: &self.inner,
            depth,
        }))
    }
}

impl Inner {
    fn busy(&self, who: &str) -> io::Error {
        io::Error::new(
            io::ErrorKind::WouldBlock,
            format!(
                "{who} has been writing {} for {} s; wait for it to finish \
                 (another sandframe command, or a host using the same home), then retry",
                self.what,
                self.wait.as_secs()
            ),
        )
    }

    /// Takes the `flock`, waiting until `start` plus the wait at most.
    fn take(&self, start: Instant) -> io::Result<()> {
        let mut pause = Duration::from_millis(1);
        let mut told = false;
        loop {
            match self.dir.try_lock() {
                Ok(()) => return Ok(()),
                Err(TryLockError::Error(e)) => {
                    // On NFS, Linux emulates flock with a byte-range lock, which a read-only
                    // descriptor (a directory's) cannot take.
                    let hint = if self.network {
                        "; the home is on a network filesystem, where it cannot be locked: keep it on a local disk"
                    } else {
                        ""
                    };
                    return Err(io::Error::new(
                        e.kind(),
                        format!("the home lock on {} cannot be taken: {e}{hint}", self.what),
                    ));
                }
                Err(TryLockError::WouldBlock) => {}
            }
            let waited = start.elapsed();
            if waited >= self.wait {
                return Err(self.busy("another process"));
            }
            if !told && waited >= NOTICE_AFTER {
                told = true;
                tracing::warn!(
                    home = %self.what,
                    "waiting for another process to finish writing the home"
                );
            }
            std::thread::sleep(pause.min(self.wait.saturating_sub(waited)));
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }
}

impl Drop for HomeGuard<'_> {
    fn drop(&mut self) {
        let depth = self.depth.get().saturating_sub(1);
        self.depth.set(depth);
        if depth == 0 {
            // Unlocking a held flock does not fail; if it did, closing the descriptor (when
            // the last clone goes) releases it.
            let _ = self.lock.dir.unlock();
        }
    }
}

#[cfg(target_os = "linux")]
fn on_network_filesystem(dir: &File) -> bool {
    // statfs(2)'s f_type of the filesystems where a lock may not reach other machines.
    const NETWORK: [u64; 8] = [
        0x6969,      // NFS
        0x517B,      // SMB
        0xFF53_4D42, // CIFS
        0xFE53_4D42, // SMB2
        0x0102_1997, // 9p
        0x5346_414F, // AFS
        0x00C3_6400, // Ceph
        0x6B41_4653, // kAFS
    ];
    rustix::fs::fstatfs(dir)
        .map(|s| NETWORK.contains(&(s.f_type as u64)))
        .unwrap_or(false)
}

#[cfg(not(target_os = "linux"))]
fn on_network_filesystem(_dir: &File) -> bool {
    false
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a test: failing loudly is the point

    use super::*;

    fn home() -> (tempfile::TempDir, Dir) {
        let t = tempfile::tempdir().unwrap();
        let d = Dir::open_ambient_dir(t.path(), cap_std::ambient_authority()).unwrap();
        (t, d)
    }

    #[test]
    fn a_second_descriptor_waits_for_the_first_and_gives_up_with_a_clear_error() {
        let (_t, d) = home();
        let a = HomeLock::open(&d, "the test home").unwrap();
        // Another `open` is another descriptor: it excludes `a` as another process would.
        let b = HomeLock::open(&d, "the test home")
            .unwrap()
            .with_wait(Duration::from_millis(200));
        let held = a.hold().unwrap();
        assert!(b.try_hold().unwrap().is_none(), "try_hold never waits");
        assert!(
            a.try_hold().unwrap().is_some(),
            "the holding thread may take it again"
        );
        let e = b.hold().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        assert!(e.to_string().contains("the test home"), "{e}");
        assert!(e.to_string().contains("retry"), "{e}");
        drop(held);
        drop(b.hold().unwrap());
    }

    #[test]
    fn the_holding_thread_may_take_it_again_and_other_threads_wait() {
        let (_t, d) = home();
        let a = HomeLock::open(&d, "home").unwrap();
        let outer = a.hold().unwrap();
        let inner = a.hold().unwrap();
        drop(inner);
        // Still held after the inner guard: another descriptor cannot take it.
        let other = HomeLock::open(&d, "home")
            .unwrap()
            .with_wait(Duration::from_millis(50));
        assert!(other.hold().is_err());
        // Another thread of this process waits until the outer guard goes.
        let a2 = a.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let t = std::thread::spawn(move || {
            let _g = a2.hold().unwrap();
            tx.send(()).unwrap();
        });
        assert!(rx.recv_timeout(Duration::from_millis(100)).is_err());
        drop(outer);
        rx.recv_timeout(Duration::from_secs(10)).unwrap();
        t.join().unwrap();
        assert!(other.hold().is_ok());
    }

    #[test]
    fn another_thread_of_this_process_is_waited_for_at_most_the_wait() {
        let (_t, d) = home();
        let a = HomeLock::open(&d, "home")
            .unwrap()
            .with_wait(Duration::from_millis(100));
        let b = a.clone();
        let (held_tx, held_rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            let _g = b.hold().unwrap();
            held_tx.send(()).unwrap();
            let _ = done_rx.recv();
        });
        held_rx.recv().unwrap();
        let e = a.hold().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        assert!(e.to_string().contains("another thread"), "{e}");
        done_tx.send(()).unwrap();
        t.join().unwrap();
        drop(a.hold().unwrap());
    }
}
