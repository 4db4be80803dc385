//! The event deadline: a thread that stops a guest whose event has used too much CPU time.
//!
//! Fuel bounds the work an event does, but not its time: a point of fuel costs about 0.5 ns
//! in a plain loop and about 17 ns in a loop of dependent loads that miss the cache
//! (`docs/engine-notes.md`). The deadline bounds the time. While a guest call runs, its
//! instance is *armed* here with its remaining-points global; once the logic thread has
//! spent [`RuntimeConfig::event_deadline`](crate::RuntimeConfig::event_deadline) of CPU time
//! in the call (wall time where the platform has no thread CPU clock), or once the app's
//! [`Terminator`] is set, this thread sets the instance's stop switch (`metering::STOP`). The
//! guest checks it at every function entry and loop iteration and traps as exhausted, and the
//! runtime reports [`TrapKind::DeadlineExceeded`](sandframe_core::TrapKind::DeadlineExceeded)
//! (or `Terminated`). A host call in progress finishes first; the next one checks the switch
//! before it does anything.
//!
//! The switch is separate from the points counter on purpose: the guest updates the counter
//! with a load and a store, and a write from another thread is lost to the guest's own store
//! (measured: zeroing the counter left a loop of cache-missing loads running for 180 ms past a
//! 10 ms deadline). The guest never writes the switch, so one write sticks.
//!
//! Why not wasmer's `experimental-host-interrupt`: it takes the process's SIGUSR1, panics on a
//! stray one, and is marked experimental (`docs/engine-notes.md`). A switch the compiled code
//! polls needs no signal.
//!
//! The thread is started at the first call and sleeps when nothing has been armed for a
//! while, so an idle host spends no CPU on it.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::Terminator;

/// How often an armed call is checked once its deadline may have passed: the deadline's
/// precision.
const TICK: Duration = Duration::from_micros(500);

/// How often the thread looks at the armed calls while any may be running: how soon a
/// terminated app that computes without host calls is stopped, and how late a call armed
/// while the thread waits is first seen (its deadline counts from its arming all the same).
const POLL: Duration = Duration::from_millis(1);

/// How long the thread keeps polling after the last call ended, before it sleeps until an
/// `arm` wakes it (so a busy host does not pay a wake-up per event).
const LINGER: Duration = Duration::from_millis(200);

/// The stop switch of one instance (an `i32` global the metering adds), read by the guest's
/// compiled code and written by the runtime and the watchdog.
///
/// Every access from Rust is atomic, so the watchdog's write never races a plain write. It
/// holds the address only (so that the host functions' environment stays `Send`); it is
/// dereferenced only as [`StopCell::atomic`]'s safety comment allows.
#[derive(Clone, Copy)]
pub(crate) struct StopCell(usize);

impl StopCell {
    /// The cell behind `global`, an `i32` global of the instance's own (defined by the
    /// metering, not imported: the middleware appends it to the module's own globals).
    pub(crate) fn of(store: &mut wasmer::Store, global: &wasmer::Global) -> Option<StopCell> {
        use wasmer::AsStoreMut;
        let extern_ = wasmer::Extern::Global(global.clone());
        if !extern_.is_from_store(store) {
            return None;
        }
        // sandframe builds wasmer with its `sys` backend only, so the unwrap cannot fail.
        let wasmer::sys::vm::VMExtern::Global(handle) = extern_.to_vm_extern().unwrap_sys() else {
            return None;
        };
        let vm = handle.get(store.objects_mut().as_sys());
        if vm.ty().ty != wasmer::Type::I32 || vm.ty().mutability != wasmer::Mutability::Var {
            return None;
        }
        // A `VMGlobalDefinition` holds a `RawValue`, a `repr(C)` union whose every field
        // (the `i32` among them) starts at offset 0, aligned to 16.
        Some(StopCell(vm.vmglobal().as_ptr().cast::<i32>() as usize))
    }

    fn atomic(&self) -> &AtomicI32 {
        // SAFETY: the pointer is to an instance's global definition, inside its `VMContext`,
        // which wasmer allocates once and never moves while the instance lives; a `FuelCell`
        // is held only by that instance's `AppInstance` and its host functions' environment
        // (both dropped with the store), and by the watchdog only between `arm` and the
        // `Armed` guard's drop, while the call runs. It is 16-byte aligned (`RawValue`), so
        // aligned for `AtomicI32`. Guest code only reads it, with plain 4-byte loads, which
        // are atomic on every target wasmer's sys backend supports.
        unsafe { AtomicI32::from_ptr(self.0 as *mut i32) }
    }

    /// Whether the switch is set.
    pub(crate) fn is_set(&self) -> bool {
        self.atomic().load(Ordering::Relaxed) != 0
    }

    /// Clears the switch (before a call, on the instance's own thread).
    pub(crate) fn clear(&self) {
        self.atomic().store(0, Ordering::Relaxed);
    }

    /// Sets the switch: the guest traps at its next check.
    fn set(&self) {
        self.atomic().store(1, Ordering::Relaxed);
    }
}

/// Where the watchdog thread and the logic threads meet.
#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Default)]
struct State {
    armed: Vec<Entry>,
    next_id: u64,
    /// The thread runs (it is started at the first `arm`).
    started: bool,
    /// The thread waits without a timeout: the next `arm` must wake it.
    asleep: bool,
    /// The runtime is gone: the thread ends.
    shutdown: bool,
}

struct Entry {
    id: u64,
    cell: StopCell,
    terminator: Terminator,
    clock: Clock,
    started: Duration,
    /// Wall time at arming: no deadline can pass before `armed_at + limit`.
    armed_at: Instant,
    limit: Duration,
    fired: bool,
}

/// The deadline thread of one runtime.
pub(crate) struct Watchdog {
    shared: Arc<Shared>,
}

impl Default for Watchdog {
    fn default() -> Self {
        Watchdog {
            shared: Arc::new(Shared::default()),
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        let mut state = lock(&self.shared.state);
        state.shutdown = true;
        drop(state);
        self.shared.wake.notify_all();
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // The state is a list and flags, consistent after every statement: a panic elsewhere
    // while holding the lock leaves nothing half-done.
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A call that is being watched; dropping it (when the call has returned) disarms it.
pub(crate) struct Armed<'a> {
    watchdog: &'a Watchdog,
    id: u64,
}

impl Armed<'_> {
    /// Disarms, and says whether the deadline passed while the call ran.
    pub(crate) fn disarm(self) -> bool {
        let fired = self.remove();
        std::mem::forget(self);
        fired
    }

    fn remove(&self) -> bool {
        let mut state = lock(&self.watchdog.shared.state);
        match state.armed.iter().position(|e| e.id == self.id) {
            Some(i) => state.armed.swap_remove(i).fired,
            None => false,
        }
    }
}

impl Drop for Armed<'_> {
    fn drop(&mut self) {
        self.remove();
    }
}

impl Watchdog {
    /// Watches a call about to run on this thread: after `limit` of this thread's CPU time,
    /// or once `terminator` is set, `cell` is set (until the returned guard is dropped, the
    /// watchdog may write it; never after).
    ///
    /// The caller keeps `cell` valid until then (the guard borrows nothing from it, so this
    /// is the caller's promise: it drops the guard before the instance).
    pub(crate) fn arm(
        &self,
        cell: StopCell,
        terminator: &Terminator,
        limit: Duration,
    ) -> Armed<'_> {
        let clock = Clock::current();
        let started = clock.now().unwrap_or_default();
        let armed_at = Instant::now();
        let mut state = lock(&self.shared.state);
        let id = state.next_id;
        state.next_id = state.next_id.wrapping_add(1);
        state.armed.push(Entry {
            id,
            cell,
            terminator: terminator.clone(),
            clock,
            started,
            armed_at,
            limit,
            fired: false,
        });
        if !state.started {
            state.started = true;
            let shared = Arc::clone(&self.shared);
            let spawned = std::thread::Builder::new()
                .name("sandframe-deadline".into())
                .spawn(move || watch(&shared));
            if spawned.is_err() {
                // No thread: fuel alone bounds events, as before. Try again next time.
                state.started = false;
                tracing::warn!(
                    "the deadline thread could not start; events are bounded by fuel only"
                );
            }
        } else if state.asleep {
            state.asleep = false;
            self.shared.wake.notify_one();
        }
        drop(state);
        Armed { watchdog: self, id }
    }
}

/// The watchdog thread's loop.
fn watch(shared: &Shared) {
    let mut state = lock(&shared.state);
    let mut last_busy = Instant::now();
    loop {
        if state.shutdown {
            return;
        }
        let now = Instant::now();
        if state.armed.is_empty() {
            if now.duration_since(last_busy) > LINGER {
                state.asleep = true;
                state = shared
                    .wake
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
                state.asleep = false;
                last_busy = Instant::now();
                continue;
            }
        } else {
            last_busy = now;
        }
        // Sleep until the earliest moment some armed call could be past its deadline (CPU
        // time never runs faster than wall time), or a tick if one already is, and never
        // longer than the poll: a call armed meanwhile is not announced.
        let mut sleep = POLL;
        for entry in &mut state.armed {
            if entry.fired {
                continue;
            }
            if entry.terminator.is_terminated() {
                entry.cell.set();
                continue;
            }
            // A deadline too far to represent never passes.
            let Some(earliest) = entry.armed_at.checked_add(entry.limit) else {
                continue;
            };
            if now < earliest {
                sleep = sleep.min(earliest - now);
                continue;
            }
            // A thread clock that cannot be read falls back to the wall time since arming.
            let used = match entry.clock.now() {
                Some(t) => t.saturating_sub(entry.started),
                None => now.duration_since(entry.armed_at),
            };
            if used >= entry.limit {
                entry.fired = true;
                entry.cell.set();
            } else {
                sleep = sleep.min((entry.limit - used).max(TICK));
            }
        }
        state = shared
            .wake
            .wait_timeout(state, sleep)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
}

/// The CPU-time clock of one thread, or wall time where there is none.
#[derive(Clone, Copy)]
enum Clock {
    #[cfg(target_os = "linux")]
    Thread(libc::clockid_t),
    Wall(Instant),
}

impl Clock {
    /// The calling thread's clock.
    fn current() -> Clock {
        #[cfg(target_os = "linux")]
        {
            thread_local! {
                static CLOCK: Option<libc::clockid_t> = {
                    let mut id: libc::clockid_t = 0;
                    // SAFETY: `pthread_self` is always valid for the calling thread, and `id`
                    // is a valid place for the result; nothing else is touched.
                    let rc = unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut id) };
                    (rc == 0).then_some(id)
                };
            }
            if let Some(id) = CLOCK.with(|c| *c) {
                return Clock::Thread(id);
            }
        }
        Clock::Wall(Instant::now())
    }

    /// Time on this clock: the thread's CPU time, or wall time since the clock was made;
    /// `None` if the system refuses to read it.
    fn now(&self) -> Option<Duration> {
        match self {
            #[cfg(target_os = "linux")]
            Clock::Thread(id) => {
                let mut ts = libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                };
                // SAFETY: `ts` is a valid place for the result. A clock id of a thread that
                // has ended gives EINVAL, never undefined behaviour.
                let rc = unsafe { libc::clock_gettime(*id, &mut ts) };
                if rc != 0 {
                    return None;
                }
                Some(Duration::new(
                    u64::try_from(ts.tv_sec).ok()?,
                    u32::try_from(ts.tv_nsec).ok()?,
                ))
            }
            Clock::Wall(since) => Some(since.elapsed()),
        }
    }
}
