//! Logic threads: a small, fixed pool, each thread owning the stores of many apps.
//!
//! A wasmer `Store` is not `Send`, so an app's instance is created on its logic thread and
//! never leaves it; the host talks to it by messages only. Why a pool and not a thread per
//! app: docs/targets.md's density target (a million live apps) against these machines' limits
//! (`kernel.pid_max` = 32,768 counts every thread; `vm.max_map_count` = 65,530 counts every
//! thread stack and guard page). A thread per app stops well short of the target; a pool of
//! one thread per core costs nothing per idle app. The price is neighbour latency: an app
//! computing on a thread delays the others on that thread by at most its event budget (its
//! CPU deadline, 9 ms by default, or its fuel if that runs out first), which is docs/targets.md's
//! neighbour-isolation bound.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sandframe_core::{EventSender, GatewaySession};

use crate::{AppInstance, Prepared, Runtime, RuntimeError, Terminator};

/// A launched app, as the host holds it: which logic thread owns it, and its number there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AppHandle {
    thread: usize,
    id: u64,
}

enum Command {
    Launch {
        id: u64,
        prepared: Box<Prepared>,
        session: Box<dyn GatewaySession>,
        terminator: Terminator,
        reply: SyncSender<Result<i32, RuntimeError>>,
    },
    Event {
        id: u64,
        json: Vec<u8>,
        reply: SyncSender<Result<i32, RuntimeError>>,
    },
    Terminate {
        id: u64,
        reply: SyncSender<bool>,
    },
    /// Answers once every event queued for the app before it has run (the app is not
    /// called).
    Settle {
        id: u64,
        reply: SyncSender<Result<i32, RuntimeError>>,
    },
    /// A host-initiated event (e.g. a consent decision): delivered like any event, nobody
    /// waits for its result.
    Post {
        id: u64,
        json: Vec<u8>,
    },
    /// Drop every app and end the thread (apps' sessions hold senders of their own, for
    /// posted events, so the channel alone would never disconnect).
    Shutdown,
}

/// The logic threads.
pub struct LogicPool {
    senders: Vec<Sender<Command>>,
    threads: Vec<JoinHandle<()>>,
    next_thread: AtomicUsize,
    next_id: AtomicU64,
    /// Each launched app's stop switch, reachable without waiting for its thread.
    terminators: Mutex<HashMap<u64, Terminator>>,
}

impl std::fmt::Debug for LogicPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogicPool")
            .field("threads", &self.threads.len())
            .finish()
    }
}

fn gone() -> RuntimeError {
    RuntimeError::LogicThreadGone
}

impl LogicPool {
    /// Starts `threads` logic threads (at least one) serving apps of `runtime`.
    ///
    /// # Errors
    /// [`RuntimeError::LogicThreadGone`] if the system refuses a thread.
    pub fn new(runtime: Arc<Runtime>, threads: usize) -> Result<LogicPool, RuntimeError> {
        let mut senders = Vec::new();
        let mut handles = Vec::new();
        for n in 0..threads.max(1) {
            let (tx, rx) = mpsc::channel();
            let rt = Arc::clone(&runtime);
            let handle = std::thread::Builder::new()
                .name(format!("sandframe-logic-{n}"))
                .spawn(move || serve(&rt, &rx))
                .map_err(|_| gone())?;
            senders.push(tx);
            handles.push(handle);
        }
        Ok(LogicPool {
            senders,
            threads: handles,
            next_thread: AtomicUsize::new(0),
            next_id: AtomicU64::new(0),
            terminators: Mutex::new(HashMap::new()),
        })
    }

    /// The number of logic threads.
    pub fn threads(&self) -> usize {
        self.senders.len()
    }

    fn send<T>(
        &self,
        thread: usize,
        make: impl FnOnce(SyncSender<T>) -> Command,
    ) -> Result<T, RuntimeError> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.senders
            .get(thread)
            .ok_or_else(gone)?
            .send(make(reply))
            .map_err(|_| gone())?;
        answer.recv().map_err(|_| gone())
    }

    /// Launches a prepared app on the next logic thread (round robin) and runs its `sf_init`.
    ///
    /// `open` makes the app's gateway session, given the [`EventSender`] that posts events
    /// to the app later (consent decisions).
    ///
    /// # Errors
    /// What `open` or [`Runtime::launch`] returns, or [`RuntimeError::LogicThreadGone`].
    pub fn launch(
        &self,
        prepared: Prepared,
        open: impl FnOnce(EventSender) -> Result<Box<dyn GatewaySession>, sandframe_core::Error>,
    ) -> Result<(AppHandle, i32), RuntimeError> {
        self.launch_with(prepared, Terminator::default(), open)
    }

    /// [`LogicPool::launch`] with a [`Terminator`] the caller made (and may set from anywhere,
    /// e.g. when a monitor's verdict says stop); [`LogicPool::terminate`] sets it too.
    ///
    /// # Errors
    /// As [`LogicPool::launch`].
    pub fn launch_with(
        &self,
        prepared: Prepared,
        terminator: Terminator,
        open: impl FnOnce(EventSender) -> Result<Box<dyn GatewaySession>, sandframe_core::Error>,
    ) -> Result<(AppHandle, i32), RuntimeError> {
        let thread = self.next_thread.fetch_add(1, Ordering::Relaxed) % self.senders.len().max(1);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let sender = self.senders.get(thread).ok_or_else(gone)?.clone();
        // The Launch command goes down the same channel first, so a posted event never
        // overtakes the launch it belongs to.
        let events = EventSender::new(move |json| {
            let _ = sender.send(Command::Post { id, json });
        });
        let session = open(events)?;
        if let Ok(mut t) = self.terminators.lock() {
            t.insert(id, terminator.clone());
        }
        let launched = self
            .send(thread, |reply| Command::Launch {
                id,
                prepared: Box::new(prepared),
                session,
                terminator,
                reply,
            })
            .and_then(|r| r);
        match launched {
            Ok(code) => Ok((AppHandle { thread, id }, code)),
            Err(e) => {
                self.forget(id);
                Err(e)
            }
        }
    }

    /// Delivers one event to a launched app and waits for its answer.
    ///
    /// # Errors
    /// What [`AppInstance::event`] returns; [`RuntimeError::NotRunning`] for an app that was
    /// terminated or never launched.
    pub fn dispatch(&self, app: AppHandle, json: Vec<u8>) -> Result<i32, RuntimeError> {
        self.send(app.thread, |reply| Command::Event {
            id: app.id,
            json,
            reply,
        })?
    }

    /// Waits until every event queued for the app so far (dispatched or posted, e.g. a
    /// consent decision) has run; the app itself is not called.
    ///
    /// # Errors
    /// [`RuntimeError::Stopped`] if one of those events stopped the app (it never runs
    /// again: terminate it); [`RuntimeError::NotRunning`] for an app that was terminated or
    /// never launched; [`RuntimeError::LogicThreadGone`].
    pub fn settle(&self, app: AppHandle) -> Result<(), RuntimeError> {
        self.send(app.thread, |reply| Command::Settle { id: app.id, reply })?
            .map(|_| ())
    }

    /// Stops an app and frees its store and memory; returns whether it was running.
    ///
    /// An app in the middle of an event is stopped at its next host call (its event fails
    /// with [`TrapKind::Terminated`](sandframe_core::TrapKind::Terminated)); one computing
    /// without host calls, when its event fuel runs out. This returns once the store is gone.
    ///
    /// # Errors
    /// [`RuntimeError::LogicThreadGone`].
    pub fn terminate(&self, app: AppHandle) -> Result<bool, RuntimeError> {
        if let Some(t) = self.forget(app.id) {
            t.terminate();
        }
        self.send(app.thread, |reply| Command::Terminate { id: app.id, reply })
    }

    fn forget(&self, id: u64) -> Option<Terminator> {
        self.terminators.lock().ok()?.remove(&id)
    }
}

impl Drop for LogicPool {
    fn drop(&mut self) {
        for s in &self.senders {
            let _ = s.send(Command::Shutdown);
        }
        self.senders.clear();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// An event waiting for its app's turn.
struct Pending {
    json: Vec<u8>,
    /// A [`Command::Settle`] marker: answered in its turn, the app is not called.
    settle: bool,
    /// `None` for a posted event (nobody waits for its result).
    reply: Option<SyncSender<Result<i32, RuntimeError>>>,
    queued: Instant,
}

/// One app on a logic thread: its instance, its queued events, and what its events cost.
struct Slot {
    app: AppInstance,
    queue: VecDeque<Pending>,
    /// Fuel its events are expected to burn: a moving average of what they burnt, starting
    /// at its whole event budget (an app that never ran is assumed to be expensive).
    cost: u64,
}

/// An event that has waited this long runs before any cheaper one (no app starves).
const AGED: Duration = Duration::from_secs(1);

/// One logic thread: owns its apps' instances until told otherwise or the pool is dropped.
///
/// Scheduling: commands are taken off the channel as they come (launch and terminate at
/// once, events into their app's queue); then one event runs, of the app whose events are
/// expected to be cheapest, unless some event has waited [`AGED`] (then the oldest runs).
/// So an app whose events are cheap waits for at most the one event already running, even
/// while expensive apps on its thread have queued many: docs/targets.md's neighbour-isolation
/// bound (one event budget), which plain first-come-first-served misses by the whole queue.
fn serve(runtime: &Runtime, commands: &Receiver<Command>) {
    let mut apps: HashMap<u64, Slot> = HashMap::new();
    // Apps with queued events.
    let mut ready: Vec<u64> = Vec::new();
    loop {
        if ready.is_empty() {
            match commands.recv() {
                Ok(c) => {
                    if !take(runtime, c, &mut apps, &mut ready) {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
        while let Ok(c) = commands.try_recv() {
            if !take(runtime, c, &mut apps, &mut ready) {
                return;
            }
        }
        let Some(at) = pick(&apps, &ready) else {
            continue;
        };
        let id = ready.swap_remove(at);
        let Some(slot) = apps.get_mut(&id) else {
            continue;
        };
        let Some(pending) = slot.queue.pop_front() else {
            continue;
        };
        if !slot.queue.is_empty() {
            ready.push(id);
        }
        if pending.settle {
            if let Some(reply) = pending.reply {
                // A posted event may have stopped the app meanwhile, or a verdict that came
                // after its last event (its terminator is set; it would stop at its next
                // event): say so.
                let stopped = slot.app.stopped().or_else(|| {
                    slot.app
                        .terminator()
                        .is_terminated()
                        .then_some(sandframe_core::TrapKind::Terminated)
                });
                let _ = reply.send(match stopped {
                    Some(kind) => Err(RuntimeError::Stopped(kind)),
                    None => Ok(0),
                });
            }
            continue;
        }
        let before = slot.app.fuel_left();
        let result = slot.app.event(&pending.json);
        let used = before.saturating_sub(slot.app.fuel_left());
        // Moving average, weight 1/4: a change of habit shows within a few events.
        slot.cost = slot.cost - slot.cost / 4 + used / 4;
        match pending.reply {
            Some(reply) => {
                let _ = reply.send(result);
            }
            None => {
                if let Err(e) = result {
                    tracing::warn!(target: "sandframe::runtime", error = %e, "a posted event failed");
                }
            }
        }
    }
}

/// The ready app whose event runs next (its index in `ready`).
fn pick(apps: &HashMap<u64, Slot>, ready: &[u64]) -> Option<usize> {
    let now = Instant::now();
    let head = |id: &u64| apps.get(id).and_then(|s| s.queue.front().map(|p| (s, p)));
    let oldest = ready
        .iter()
        .enumerate()
        .filter_map(|(i, id)| head(id).map(|(_, p)| (i, p.queued)))
        .min_by_key(|(_, queued)| *queued);
    if let Some((i, queued)) = oldest
        && now.saturating_duration_since(queued) >= AGED
    {
        return Some(i);
    }
    ready
        .iter()
        .enumerate()
        .filter_map(|(i, id)| head(id).map(|(s, p)| (i, (s.cost, p.queued))))
        .min_by_key(|(_, key)| *key)
        .map(|(i, _)| i)
}

/// Handles one command; `false` to stop the thread.
fn take(
    runtime: &Runtime,
    command: Command,
    apps: &mut HashMap<u64, Slot>,
    ready: &mut Vec<u64>,
) -> bool {
    let mut queue = |id: u64, json: Vec<u8>, settle: bool, reply| match apps.get_mut(&id) {
        Some(slot) => {
            if slot.queue.is_empty() {
                ready.push(id);
            }
            slot.queue.push_back(Pending {
                json,
                settle,
                reply,
                queued: Instant::now(),
            });
        }
        None => {
            if let Some(reply) = reply {
                let _ = reply.send(Err(RuntimeError::NotRunning));
            }
        }
    };
    match command {
        Command::Launch {
            id,
            prepared,
            session,
            terminator,
            reply,
        } => {
            let launched = runtime.launch_with(&prepared, session, terminator);
            let result = launched.map(|(app, code)| {
                let cost = app.fuel_per_event();
                apps.insert(
                    id,
                    Slot {
                        app,
                        queue: VecDeque::new(),
                        cost,
                    },
                );
                code
            });
            let _ = reply.send(result);
        }
        Command::Event { id, json, reply } => queue(id, json, false, Some(reply)),
        Command::Settle { id, reply } => queue(id, Vec::new(), true, Some(reply)),
        Command::Post { id, json } => queue(id, json, false, None),
        Command::Terminate { id, reply } => {
            let was = match apps.remove(&id) {
                Some(slot) => {
                    ready.retain(|r| *r != id);
                    for p in slot.queue {
                        if let Some(r) = p.reply {
                            let _ = r.send(Err(RuntimeError::NotRunning));
                        }
                    }
                    true
                }
                None => false,
            };
            let _ = reply.send(was);
        }
        Command::Shutdown => return false,
    }
    true
}
