//! Any bytes as a guest's ABI call through the real door: a relay mini-app, installed and
//! running in a real host (real gateway, storage on real files, the render side), takes the
//! event bytes as `[api length][api name][request]` and passes them to `sandframe_v1.call`,
//! then reads the answer back. Every built-in API (`clock.now`, `random.bytes`, `log`,
//! `storage.*`, `ui.setData`) gets hostile names and requests: never a panic, never a trap in
//! the host, and the neighbour-facing host keeps answering.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sandframe_core::AppId;
use sandframe_host::Host;

/// The relay: event byte 0 is the API name's length (0..=255, the ABI refuses over 64), the
/// name follows, the rest is the request; the answer is read into memory and the call's result
/// returned (wrapped to i32).
const RELAY: &str = r#"(module
  (import "sandframe_v1" "call" (func $call (param i32 i32 i32 i32) (result i64)))
  (import "sandframe_v1" "read" (func $read (param i32 i32) (result i32)))
  (memory (export "memory") 4 4)
  (func (export "sf_init") (result i32) i32.const 0)
  (func (export "sf_event") (param $len i32) (result i32) (local $n i32) (local $r i64)
    (if (i32.eqz (local.get $len)) (then (return (i32.const 0))))
    (drop (call $read (i32.const 0) (local.get $len)))
    ;; the name ends within this input: nothing is read from an earlier one
    (local.set $n (i32.load8_u (i32.const 0)))
    (if (i32.ge_u (local.get $n) (local.get $len))
      (then (local.set $n (i32.sub (local.get $len) (i32.const 1)))))
    (local.set $r (call $call
      (i32.const 1) (local.get $n)
      (i32.add (i32.const 1) (local.get $n))
      (i32.sub (local.get $len) (i32.add (i32.const 1) (local.get $n)))))
    (drop (call $read (i32.const 131072) (i32.const 65536)))
    (i32.wrap_i64 (local.get $r))))"#;

const MANIFEST_CAPS: &str = "[[capabilities]]\nname = \"storage:local\"\nreason = \"fuzz\"\n\
[[capabilities]]\nname = \"storage:share\"\nreason = \"fuzz\"\n\
[[capabilities]]\nname = \"ui:render\"\nreason = \"fuzz\"\n";

struct Fixture {
    host: Host,
    app: AppId,
    _dir: tempfile::TempDir,
}

/// The monitor stays quiet (`quiet_rules`): a fuzzer is a call flood by nature, and a terminate
/// verdict is the host working; this target is about the door, not the monitor.
fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary home");
        let host = Host::builder()
            .home(dir.path().join("home"))
            .trust(sandframe_testkit::trust())
            .threads(1)
            .idle_timeout(None)
            // Hundreds of thousands of relayed writes at 1M points each: no lifetime limit.
            .runtime(sandframe_runtime::RuntimeConfig {
                fuel_per_lifetime: u64::MAX,
                ..sandframe_runtime::RuntimeConfig::default()
            })
            .rules(sandframe_testkit::quiet_rules())
            .build()
            .expect("a host");
        let app: AppId = "com.example.relay".parse().expect("an app id");
        let package = sandframe_testkit::sign(
            &sandframe_testkit::manifest(app.as_str(), MANIFEST_CAPS),
            wat::parse_str(RELAY).expect("the relay assembles"),
        );
        host.install(&package).expect("the relay installs");
        for cap in ["storage:local", "storage:share", "ui:render"] {
            host.grant(&app, &cap.parse().expect("a capability"))
                .expect("granted");
        }
        host.launch(&app).expect("the relay launches");
        Fixture {
            host,
            app,
            _dir: dir,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    // Any answer is fine (a success length or a negated error code); a trap or a host error
    // is not: the relay itself never traps, so one would be the host's fault.
    match f.host.dispatch(&f.app, data) {
        Ok(_) => {}
        Err(e) => panic!("the host failed a relayed call: {e}"),
    }
});
