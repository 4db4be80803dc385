//! Logic threads: a small, fixed pool, each thread owning the stores of many apps.
//!
//! A wasmer `Store` is not `Send`, so an app's instance is created on its logic thread and
//! never leaves it; the host talks to it by messages only. Why a pool and not a thread per
//! app: DESIGN.md's density target (50,000 live apps) against these machines' limits
//! (`kernel.pid_max` = 32,768 counts every thread; `vm.max_map_count` = 65,530 counts every
//! thread stack and guard page). A thread per app stops well short of the target; a pool of
//! one thread per core costs nothing per idle app. The price is neighbour latency: an app
//! computing on a thread delays the others on that thread by at most its event budget (fuel,
//! about 8 ms by default), which is DESIGN.md's neighbour-isolation bound.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

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

/// One logic thread: owns its apps' instances until told otherwise or the pool is dropped.
fn serve(runtime: &Runtime, commands: &Receiver<Command>) {
    let mut apps: HashMap<u64, AppInstance> = HashMap::new();
    while let Ok(command) = commands.recv() {
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
                    apps.insert(id, app);
                    code
                });
                let _ = reply.send(result);
            }
            Command::Event { id, json, reply } => {
                let result = match apps.get_mut(&id) {
                    Some(app) => app.event(&json),
                    None => Err(RuntimeError::NotRunning),
                };
                let _ = reply.send(result);
            }
            Command::Terminate { id, reply } => {
                let _ = reply.send(apps.remove(&id).is_some());
            }
            Command::Shutdown => break,
            Command::Post { id, json } => {
                if let Some(app) = apps.get_mut(&id)
                    && let Err(e) = app.event(&json)
                {
                    tracing::warn!(target: "sandframe::runtime", error = %e, "a posted event failed");
                }
            }
        }
    }
}
