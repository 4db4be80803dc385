//! # sandframe-testkit
//!
//! Helpers for tests and benchmarks of the layers after validation: sign a mini-app around a
//! logic module and mint its `VerifiedPackage` through the real `sandframe_validate::verify`
//! (there is no other way); plus the small pieces several test suites share (a signalling
//! gateway session, a clock app, a file-tree listing). Not published; never a dependency of a
//! shipping crate.

// A test helper fails its test loudly: panicking on a test bug is the point.
#![allow(clippy::panic)]

/// The loopback HTTPS service the network tests run against (`sandframe_net::service`).
pub use sandframe_net::service as https;
pub mod runaway;

use std::collections::BTreeMap;

use sandframe_core::AppId;
use sandframe_package::{PackageContents, SecretKey, TrustStore};
use sandframe_validate::{Context, Installed, ValidateError, Validator, VerifiedPackage};

/// The publisher key every helper signs with (a fixed seed: tests only).
pub fn key() -> SecretKey {
    SecretKey::from_seed(&[1; 32])
}

/// A trust store that trusts [`key`].
pub fn trust() -> TrustStore {
    let mut t = TrustStore::new();
    t.trust(key().public_key(), "testkit");
    t
}

/// A manifest for `id` (version 1.0.0, one view `index`), with `extra` TOML appended.
pub fn manifest(id: &str, extra: &str) -> String {
    format!("id = \"{id}\"\nname = \"Test\"\nversion = \"1.0.0\"\nviews = [\"index\"]\n{extra}")
}

/// A package of `manifest` and `wasm` (plus a one-line `views/index.xml`), signed by [`key`].
///
/// # Panics
/// If the contents break a package rule (a test bug).
pub fn sign(manifest: &str, wasm: Vec<u8>) -> Vec<u8> {
    let mut c = PackageContents::new(manifest.as_bytes().to_vec());
    let built = c
        .add_file("logic.wasm", wasm)
        .and_then(|()| c.add_file("views/index.xml", b"<view/>".to_vec()))
        .and_then(|()| c.sign(&key()));
    match built {
        Ok(bytes) => bytes,
        Err(e) => panic!("testkit: the package does not build: {e}"),
    }
}

/// Verifies `bytes` with `validator`, trusting [`key`], with nothing installed.
///
/// # Errors
/// What `verify` says.
pub fn verify(validator: &Validator, bytes: &[u8]) -> Result<VerifiedPackage, ValidateError> {
    let none: BTreeMap<AppId, Installed> = BTreeMap::new();
    validator.verify(bytes, &Context::new(&trust(), &none))
}

/// A verified package for app `id` whose logic is `wat`, under `validator`.
///
/// # Panics
/// If the WAT does not assemble or the package is rejected (a test bug).
pub fn verified_with(validator: &Validator, id: &str, wat: &str) -> VerifiedPackage {
    let wasm = match wat::parse_str(wat) {
        Ok(w) => w,
        Err(e) => panic!("testkit: the WAT does not assemble: {e}"),
    };
    match verify(validator, &sign(&manifest(id, ""), wasm)) {
        Ok(v) => v,
        Err(e) => panic!("testkit: the package was rejected: {e}"),
    }
}

/// [`verified_with`] the default validator.
pub fn verified(id: &str, wat: &str) -> VerifiedPackage {
    verified_with(&Validator::new(), id, wat)
}

/// A gateway session that answers every call with an empty response and tells the test, once,
/// that the guest made its first call (so a test knows the guest is inside its event).
#[derive(Debug)]
pub struct SignalSession(Option<std::sync::mpsc::Sender<()>>);

impl SignalSession {
    /// A session and the receiver its first call signals.
    pub fn new() -> (SignalSession, std::sync::mpsc::Receiver<()>) {
        let (tx, rx) = std::sync::mpsc::channel();
        (SignalSession(Some(tx)), rx)
    }
}

impl sandframe_core::GatewaySession for SignalSession {
    fn call(
        &mut self,
        _api: &[u8],
        _request: &[u8],
        response: &mut Vec<u8>,
    ) -> Result<(), sandframe_core::ApiError> {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
        response.clear();
        Ok(())
    }
}

/// An ABI v1 app whose every event calls `clock.now`, reads the response to offset 100 and
/// returns its first byte (`{`, 123).
pub const CLOCK_APP: &str = r#"(module
  (import "sandframe_v1" "call" (func $call (param i32 i32 i32 i32) (result i64)))
  (import "sandframe_v1" "read" (func $read (param i32 i32) (result i32)))
  (memory (export "memory") 1 1)
  (data (i32.const 0) "clock.now")
  (func (export "sf_init") (result i32) i32.const 0)
  (func (export "sf_event") (param i32) (result i32)
    (drop (call $call (i32.const 0) (i32.const 9) (i32.const 0) (i32.const 0)))
    (drop (call $read (i32.const 100) (i32.const 64)))
    (i32.load8_u (i32.const 100))))"#;

/// Every path under `root`, relative and sorted, directories with a trailing `/` (empty if
/// `root` does not exist): for tests that check what is left on disk.
///
/// # Panics
/// If the tree cannot be read.
pub fn tree(root: &std::path::Path) -> Vec<String> {
    fn walk(base: &std::path::Path, p: &std::path::Path, out: &mut Vec<String>) {
        let entries = match std::fs::read_dir(p) {
            Ok(e) => e,
            Err(e) => panic!("testkit: cannot list {}: {e}", p.display()),
        };
        for e in entries.flatten() {
            let path = e.path();
            let rel = path
                .strip_prefix(base)
                .map(|r| r.to_string_lossy().into_owned())
                .unwrap_or_default();
            if path.is_dir() {
                out.push(format!("{rel}/"));
                walk(base, &path, out);
            } else {
                out.push(rel);
            }
        }
    }
    let mut out = Vec::new();
    if root.exists() {
        walk(root, root, &mut out);
    }
    out.sort();
    out
}

/// Packs `examples/<name>` from its source directory (a Rust example is built for wasm32 by
/// cargo, as `pack` does) and signs it with [`key`].
///
/// # Panics
/// If the example does not pack (a test bug, or a missing wasm32 target).
pub fn example(name: &str) -> Vec<u8> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name);
    match sandframe_package::source::read_dir_adding_target(&dir, |l| eprintln!("testkit: {l}"))
        .and_then(|c| c.sign(&key()))
    {
        Ok(bytes) => bytes,
        Err(e) => panic!("pack examples/{name}: {e}"),
    }
}

/// [`example`], with `patch` applied to its manifest's text before it is signed (a test
/// names the port its local service runs on, say).
///
/// # Panics
/// As [`example`], or if the patched package breaks a rule.
pub fn example_patched(name: &str, patch: impl FnOnce(&str) -> String) -> Vec<u8> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name);
    let built =
        sandframe_package::source::read_dir_adding_target(&dir, |l| eprintln!("testkit: {l}"))
            .and_then(|c| {
                let manifest = patch(&String::from_utf8_lossy(c.manifest()));
                let mut patched = PackageContents::new(manifest.into_bytes());
                for (path, bytes) in c.files() {
                    patched.add_file(path.as_str(), bytes.to_vec())?;
                }
                patched.sign(&key())
            });
    match built {
        Ok(bytes) => bytes,
        Err(e) => panic!("pack examples/{name}: {e}"),
    }
}

/// `s` as the inside of a WAT string.
fn wat_str(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// A guest for the network tests. Unless `request` (the JSON of a `net.fetch` call) is empty,
/// its `sf_init` asks for `net:fetch` and fetches `request` (refused if the grant is still
/// pending: an `sf.consent` event then fetches it). At every other event it reads answer 1
/// with `net.read` and hands what it got to `ui.setData` (so the view shows the answer's
/// base64 `data` and its `size`). With `flood`, each such event calls `net.fetch` with
/// `request` that many times instead.
pub fn fetch_guest(request: &str, flood: u32) -> String {
    let req = wat_str(request);
    let len = request.len();
    let fetch = format!(
        "(drop (call $call (i32.const 0) (i32.const 9) (i32.const 1024) (i32.const {len})))"
    );
    let init = if request.is_empty() {
        String::new()
    } else {
        format!(
            "(drop (call $call (i32.const 64) (i32.const 18) (i32.const 96) (i32.const 26))) {fetch}"
        )
    };
    let event = if flood > 0 {
        format!(
            "(block $done (loop $next
               (br_if $done (i32.ge_u (local.get $i) (i32.const {flood})))
               {fetch}
               (local.set $i (i32.add (local.get $i) (i32.const 1)))
               (br $next)))"
        )
    } else {
        "(local.set $n (call $call (i32.const 16) (i32.const 8) (i32.const 48) (i32.const 8)))
         (if (i64.ge_s (local.get $n) (i64.const 0))
           (then
             (drop (call $read (i32.const 16384) (i32.const 65536)))
             (drop (call $call (i32.const 32) (i32.const 10) (i32.const 16384)
               (i32.wrap_i64 (local.get $n))))))"
            .to_owned()
    };
    // `{"handler":"sf.consent"…`: byte 15 of the event is `c` for a consent's answer.
    format!(
        r#"(module
  (import "sandframe_v1" "call" (func $call (param i32 i32 i32 i32) (result i64)))
  (import "sandframe_v1" "read" (func $read (param i32 i32) (result i32)))
  (memory (export "memory") 2 2)
  (data (i32.const 0) "net.fetch")
  (data (i32.const 16) "net.read")
  (data (i32.const 32) "ui.setData")
  (data (i32.const 48) "{{\"id\":1}}")
  (data (i32.const 64) "capability.request")
  (data (i32.const 96) "{{\"capability\":\"net:fetch\"}}")
  (data (i32.const 1024) "{req}")
  (func (export "sf_init") (result i32) {init} (i32.const 0))
  (func (export "sf_event") (param $len i32) (result i32)
    (local $i i32) (local $n i64)
    (drop (call $read (i32.const 8192) (i32.const 4096)))
    (if (i32.eq (i32.load8_u (i32.const 8207)) (i32.const 99))
      (then {fetch} (return (i32.const 0))))
    {event}
    (i32.const 0)))"#
    )
}

/// A tap on the node at `target` (child indices from the root) of `app`'s view.
pub fn tap(app: &sandframe_core::AppId, target: Vec<u32>) -> sandframe_core::SurfaceEvent {
    sandframe_core::SurfaceEvent {
        app: app.clone(),
        target,
        kind: sandframe_core::EventKind::Tap,
        value: None,
    }
}

/// An [`AlertSink`](sandframe_core::AlertSink) that records every alert: (app, rule, verdict).
#[derive(Debug, Default)]
pub struct RecordingAlerts(pub std::sync::Mutex<Vec<(String, String, sandframe_core::Verdict)>>);

impl sandframe_core::AlertSink for RecordingAlerts {
    fn alert(&self, a: &sandframe_core::Alert<'_>) {
        if let Ok(mut seen) = self.0.lock() {
            seen.push((a.app.to_string(), a.rule.to_owned(), a.verdict));
        }
    }
}

impl RecordingAlerts {
    /// Every alert so far: (rule, verdict).
    pub fn rules(&self) -> Vec<(String, sandframe_core::Verdict)> {
        self.0
            .lock()
            .map(|seen| seen.iter().map(|(_, r, v)| (r.clone(), *v)).collect())
            .unwrap_or_default()
    }

    /// The alerts about `app`: (rule, verdict).
    pub fn of(&self, app: &str) -> Vec<(String, sandframe_core::Verdict)> {
        self.0
            .lock()
            .map(|seen| {
                seen.iter()
                    .filter(|(a, _, _)| a == app)
                    .map(|(_, r, v)| (r.clone(), *v))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The monitor's rules with every rule off, for tests and benches that flood or trap on
/// purpose and are about another layer (each rule has its own tests in `sandframe-monitor`).
pub fn quiet_rules() -> sandframe_monitor::Rules {
    sandframe_monitor::Rules {
        max_calls_per_window: u64::MAX,
        max_capability_denials_per_window: u64::MAX,
        max_denied_apis: u32::MAX,
        max_rate_denials_per_window: u64::MAX,
        max_malformed_per_window: u64::MAX,
        max_hot_events: u32::MAX,
        max_growth_events: u32::MAX,
        max_traps_in_a_row: u32::MAX,
        max_writes_per_window: u64::MAX,
        max_write_bytes_per_window: u64::MAX,
        max_quota_hits_per_window: u64::MAX,
        anomaly_factor: u64::MAX,
        quarantine_after: u32::MAX,
        ..sandframe_monitor::Rules::default()
    }
}
