//! Hostile modules through the real engine: each is stopped or refused, and another app on the
//! same runtime goes on being served.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // a test: failing loudly is the point

use std::sync::Arc;

use sandframe_core::{Gateway, TrapKind};
use sandframe_gateway::MinimalGateway;
use sandframe_runtime::{
    AppInstance, ArtifactStore, MemoryArtifacts, Runtime, RuntimeConfig, RuntimeError,
};
use sandframe_testkit::{verified, verified_with};
use sandframe_validate::{Caps, Validator, VerifiedPackage};

const SECRET: [u8; 32] = [7; 32];

/// An ABI v1 module whose sf_event body is `event` (it may use $call, $read, memory 0..).
fn app(memory: &str, event: &str) -> String {
    format!(
        r#"(module
  (import "sandframe_v1" "call" (func $call (param i32 i32 i32 i32) (result i64)))
  (import "sandframe_v1" "read" (func $read (param i32 i32) (result i32)))
  (memory (export "memory") {memory})
  (data (i32.const 0) "clock.now")
  (data (i32.const 16) "\ff\fe bad utf-8")
  (func $f (param i32) (result i32) (call $f (local.get 0)))
  (func (export "sf_init") (result i32) i32.const 0)
  (func (export "sf_event") (param $len i32) (result i32) {event}))"#
    )
}

/// Fuel alone bounds these events: the CPU deadline (`tests/deadline.rs`) is out of the way,
/// so a spinner stops at its fuel, deterministically.
fn config() -> RuntimeConfig {
    RuntimeConfig {
        event_deadline: std::time::Duration::from_secs(600),
        ..RuntimeConfig::default()
    }
}

fn runtime() -> Runtime {
    Runtime::new(config(), SECRET, Arc::new(MemoryArtifacts::default()))
}

fn launch(rt: &Runtime, pkg: &VerifiedPackage) -> AppInstance {
    let prepared = rt.prepare(pkg).unwrap();
    let session = MinimalGateway
        .open(prepared.context(), sandframe_core::EventSender::none())
        .unwrap();
    let (app, code) = rt.launch(&prepared, session).unwrap();
    assert_eq!(code, 0);
    app
}

/// A well-behaved neighbour: calls clock.now, reads the response, returns its first byte.
fn neighbour(rt: &Runtime) -> AppInstance {
    let wat = app(
        "1 1",
        r#"(drop (call $call (i32.const 0) (i32.const 9) (i32.const 0) (i32.const 0)))
           (drop (call $read (i32.const 100) (i32.const 64)))
           (i32.load8_u (i32.const 100))"#,
    );
    launch(rt, &verified("com.example.neighbour", &wat))
}

fn assert_neighbour_served(n: &mut AppInstance) {
    assert_eq!(
        n.event(b"{}").unwrap(),
        i32::from(b'{'),
        "the neighbour was not served"
    );
}

fn trapped(r: Result<i32, RuntimeError>) -> TrapKind {
    match r {
        Err(RuntimeError::Trapped { kind, .. }) => kind,
        other => panic!("expected a trap, got {other:?}"),
    }
}

#[test]
fn a_good_app_calls_clock_now_through_the_gateway() {
    let rt = runtime();
    let mut n = neighbour(&rt);
    assert_neighbour_served(&mut n);
    assert_neighbour_served(&mut n);
    assert!(n.fuel_left() < sandframe_runtime::DEFAULT_FUEL_PER_LIFETIME);
}

#[test]
fn an_infinite_loop_is_stopped_by_fuel_and_stays_stopped() {
    let rt = runtime();
    let mut n = neighbour(&rt);
    let mut spinner = launch(
        &rt,
        &verified(
            "com.example.spin",
            &app("1 1", "(loop $l (br $l)) i32.const 0"),
        ),
    );
    assert_eq!(trapped(spinner.event(b"{}")), TrapKind::FuelExhausted);
    assert!(matches!(
        spinner.event(b"{}"),
        Err(RuntimeError::Stopped(TrapKind::FuelExhausted))
    ));
    assert_neighbour_served(&mut n);
}

#[test]
fn infinite_recursion_overflows_the_stack_cleanly() {
    let rt = runtime();
    let mut n = neighbour(&rt);
    let mut deep = launch(
        &rt,
        &verified("com.example.deep", &app("1 1", "(call $f (i32.const 1))")),
    );
    assert_eq!(trapped(deep.event(b"{}")), TrapKind::StackOverflow);
    assert_neighbour_served(&mut n);
}

#[test]
fn memory_grows_to_its_declared_maximum_and_no_further() {
    let rt = runtime();
    // Grow by 1 until it fails; return the page count reached.
    let grow = r#"(block $done (loop $more
        (br_if $done (i32.eq (memory.grow (i32.const 1)) (i32.const -1)))
        (br $more)))
      (memory.size)"#;
    let mut a = launch(&rt, &verified("com.example.grow", &app("1 4", grow)));
    assert_eq!(a.event(b"{}").unwrap(), 4);
    assert_eq!(a.memory_bytes(), 4 * 65536);
}

#[test]
fn the_runtime_cap_holds_even_if_validation_was_loosened() {
    // A host raised the validator's memory cap above the runtime's: the tunables still clamp.
    let loose = Validator::new().with_caps(Caps {
        memory_pages: 1000,
        ..Caps::default()
    });
    let rt = Runtime::new(
        RuntimeConfig {
            memory_pages: 8,
            ..config()
        },
        SECRET,
        Arc::new(MemoryArtifacts::default()),
    );
    let grow = r#"(block $done (loop $more
        (br_if $done (i32.eq (memory.grow (i32.const 1)) (i32.const -1)))
        (br $more)))
      (memory.size)"#;
    let mut a = launch(
        &rt,
        &verified_with(&loose, "com.example.bomb", &app("1 1000", grow)),
    );
    assert_eq!(a.event(b"{}").unwrap(), 8);
    // A minimum over the runtime cap does not start at all.
    let big = verified_with(&loose, "com.example.big", &app("9 1000", "i32.const 0"));
    let prepared = rt.prepare(&big).unwrap();
    let session = MinimalGateway
        .open(prepared.context(), sandframe_core::EventSender::none())
        .unwrap();
    assert!(matches!(
        rt.launch(&prepared, session),
        Err(RuntimeError::Instantiate(_))
    ));
}

#[test]
fn a_memory_bomb_in_a_loop_ends_on_fuel() {
    let rt = runtime();
    let mut n = neighbour(&rt);
    let bomb = "(loop $l (drop (memory.grow (i32.const 1))) (br $l)) i32.const 0";
    let mut b = launch(&rt, &verified("com.example.membomb", &app("1 16", bomb)));
    assert_eq!(trapped(b.event(b"{}")), TrapKind::FuelExhausted);
    assert_eq!(b.memory_bytes(), 16 * 65536);
    assert_neighbour_served(&mut n);
}

/// Each case returns what `call` or `read` returned.
fn abi_result(body: &str) -> i32 {
    let rt = runtime();
    let mut a = launch(&rt, &verified("com.example.abi", &app("1 1", body)));
    a.event(b"{\"handler\":\"x\"}").unwrap()
}

#[test]
fn hostile_pointer_length_pairs_are_bad_requests_not_traps() {
    let call = |a: &str, b: &str, c: &str, d: &str| {
        abi_result(&format!(
            "(i32.wrap_i64 (call $call (i32.const {a}) (i32.const {b}) (i32.const {c}) (i32.const {d})))"
        ))
    };
    assert_eq!(call("0xFFFFFFF0", "0x10", "0", "0"), -4, "api past the end");
    assert_eq!(
        call("0", "9", "0xFFFFFFF0", "0x100"),
        -4,
        "request wrapping around"
    );
    assert_eq!(call("-1", "-1", "0", "0"), -4);
    assert_eq!(
        call("0", "9", "-1", "-1"),
        -3,
        "a 4 GiB request is too large"
    );
    assert_eq!(call("65530", "9", "0", "0"), -4, "api straddling the end");
    assert_eq!(call("0", "0", "0", "0"), -4, "empty API name");
    assert_eq!(call("16", "14", "0", "0"), -4, "API name not UTF-8");
    assert_eq!(call("0", "5", "0", "0"), -5, "unknown API clock");
    // read into a bad destination: an error, nothing written.
    let read =
        |p: &str, l: &str| abi_result(&format!("(call $read (i32.const {p}) (i32.const {l}))"));
    assert_eq!(read("-1", "-1"), -4);
    assert_eq!(read("65535", "2"), -4);
    assert_eq!(read("0xFFFFFFF0", "0x100"), -4);
}

#[test]
fn reads_stop_at_the_pending_bytes() {
    // The event is 15 bytes; ask for 1000 twice: 15, then 0.
    let body = r#"(i32.add
        (i32.mul (call $read (i32.const 200) (i32.const 1000)) (i32.const 1000))
        (call $read (i32.const 200) (i32.const 1000)))"#;
    assert_eq!(abi_result(body), 15 * 1000);
    // In chunks: 10 then 5.
    let chunks = r#"(i32.add
        (i32.mul (call $read (i32.const 200) (i32.const 10)) (i32.const 1000))
        (call $read (i32.const 200) (i32.const 10)))"#;
    assert_eq!(abi_result(chunks), 10 * 1000 + 5);
}

#[test]
fn an_error_leaves_a_json_error_pending() {
    // call an API with a bad name, then read the error JSON; return its first byte.
    let body = r#"(drop (call $call (i32.const 16) (i32.const 14) (i32.const 0) (i32.const 0)))
        (drop (call $read (i32.const 300) (i32.const 200)))
        (i32.load8_u (i32.const 300))"#;
    assert_eq!(abi_result(body), i32::from(b'{'));
}

/// An artifact store that lets a test reach in.
#[derive(Default)]
struct Spy(MemoryArtifacts);

impl ArtifactStore for Spy {
    fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.0.get(key)
    }
    fn put(&self, key: &str, record: &[u8]) {
        self.0.put(key, record);
    }
    fn remove(&self, key: &str) {
        self.0.remove(key);
    }
}

#[test]
fn artifacts_are_cached_and_a_tampered_one_is_recompiled() {
    let store = Arc::new(Spy::default());
    let rt = Runtime::new(RuntimeConfig::default(), SECRET, store.clone());
    let pkg = verified("com.example.cache", &app("1 1", "i32.const 0"));
    rt.prepare(&pkg).unwrap();
    // A new process (a fresh runtime on the same store) loads the stored artifact.
    let again = Runtime::new(RuntimeConfig::default(), SECRET, store.clone());
    again.prepare(&pkg).unwrap();
    assert_eq!(
        (rt.compiles(), again.compiles()),
        (1, 0),
        "the stored artifact was reused"
    );

    // Flip one byte of the artifact body: the MAC fails, it is discarded and recompiled.
    let key = rt.artifact_key(pkg.package().logic());
    let mut record = store.get(&key).unwrap();
    let at = record.len() / 2;
    record[at] ^= 0x40;
    store.put(&key, &record);
    let fresh = Runtime::new(RuntimeConfig::default(), SECRET, store.clone());
    let mut a = launch(&fresh, &pkg);
    assert_eq!(fresh.compiles(), 1);
    assert_eq!(a.event(b"{}").unwrap(), 0);
    assert_ne!(
        store.get(&key).unwrap(),
        record,
        "the tampered record was replaced"
    );

    // An artifact MAC'd with another host's secret is foreign: recompiled too.
    let other = Runtime::new(RuntimeConfig::default(), [9; 32], store.clone());
    other.prepare(&pkg).unwrap();
    assert_eq!(other.compiles(), 1);
}

#[test]
fn another_configuration_never_loads_this_artifact() {
    let store = Arc::new(Spy::default());
    let a = Runtime::new(RuntimeConfig::default(), SECRET, store.clone());
    let b = Runtime::new(
        RuntimeConfig {
            memory_pages: 64,
            ..RuntimeConfig::default()
        },
        SECRET,
        store.clone(),
    );
    let pkg = verified("com.example.cfg", &app("1 1", "i32.const 0"));
    assert_ne!(
        a.artifact_key(pkg.package().logic()),
        b.artifact_key(pkg.package().logic())
    );
    a.prepare(&pkg).unwrap();
    b.prepare(&pkg).unwrap();
    assert_eq!((a.compiles(), b.compiles()), (1, 1));
    // Planting a's record under b's key: the MAC covers the key, so it is refused.
    let record = store.get(&a.artifact_key(pkg.package().logic())).unwrap();
    store.put(&b.artifact_key(pkg.package().logic()), &record);
    let b_again = Runtime::new(
        RuntimeConfig {
            memory_pages: 64,
            ..RuntimeConfig::default()
        },
        SECRET,
        store.clone(),
    );
    b_again.prepare(&pkg).unwrap();
    assert_eq!(b_again.compiles(), 1, "the planted record was refused");
}

#[test]
fn relaunching_an_app_reuses_its_loaded_module() {
    // wasmer frees compiled code only with its engine: loading the artifact at every launch
    // would leak code mappings. A relaunch neither compiles nor reloads from the store.
    let store = Arc::new(Spy::default());
    let rt = Runtime::new(RuntimeConfig::default(), SECRET, store.clone());
    let pkg = verified("com.example.relaunch", &app("1 1", "i32.const 0"));
    for _ in 0..50 {
        let mut a = launch(&rt, &pkg);
        assert_eq!(a.event(b"{}").unwrap(), 0);
    }
    assert_eq!(rt.compiles(), 1);
    // Even with the stored record gone, the loaded module serves.
    store.remove(&rt.artifact_key(pkg.package().logic()));
    launch(&rt, &pkg);
    assert_eq!(rt.compiles(), 1);
}

#[test]
fn a_loop_of_host_calls_is_stopped_by_its_event_fuel() {
    // Host time is not metered by wasmer; the ABI prices each call and read in fuel, so a
    // loop of cheap wasm around host calls still ends within its event budget.
    let rt = runtime();
    let mut n = neighbour(&rt);
    for (id, body) in [
        (
            "com.example.callflood",
            "(loop $l (drop (call $call (i32.const 0) (i32.const 9) (i32.const 0) (i32.const 0))) (br $l)) i32.const 0",
        ),
        (
            "com.example.readflood",
            "(loop $l (drop (call $read (i32.const 100) (i32.const 0))) (br $l)) i32.const 0",
        ),
    ] {
        let mut flood = launch(&rt, &verified(id, &app("1 1", body)));
        let before = flood.fuel_left();
        assert_eq!(trapped(flood.event(b"{}")), TrapKind::FuelExhausted, "{id}");
        assert_eq!(
            before - flood.fuel_left(),
            sandframe_runtime::DEFAULT_FUEL_PER_EVENT,
            "{id}: the whole event budget and no more is charged"
        );
        assert_neighbour_served(&mut n);
    }
}

#[test]
fn host_calls_cost_fuel_in_proportion_to_their_bytes() {
    // One clock.now call and one read of its response, against the same module without them.
    let rt = runtime();
    let spent = |id: &str, body: &str| {
        let mut a = launch(&rt, &verified(id, &app("1 1", body)));
        let before = a.fuel_left();
        a.event(b"{}").unwrap();
        before - a.fuel_left()
    };
    let none = spent("com.example.none", "i32.const 0");
    let one = spent(
        "com.example.one",
        "(drop (call $call (i32.const 0) (i32.const 9) (i32.const 0) (i32.const 0))) i32.const 0",
    );
    let read = spent(
        "com.example.read",
        "(drop (call $call (i32.const 0) (i32.const 9) (i32.const 0) (i32.const 0)))
         (drop (call $read (i32.const 100) (i32.const 64))) i32.const 0",
    );
    assert!(
        one - none >= sandframe_runtime::CALL_FUEL + 9,
        "{none} {one}"
    );
    // Compare each against the module without calls (clock.now has a fixed price of 0 beyond
    // CALL_FUEL and its bytes).
    assert!(
        read - none >= sandframe_runtime::CALL_FUEL + 9 + sandframe_runtime::READ_FUEL + 2,
        "{none} {read}"
    );
}

#[test]
fn a_terminator_stops_an_instance_at_its_next_host_call() {
    let rt = runtime();
    let mut a = launch(
        &rt,
        &verified(
            "com.example.stopme",
            &app(
                "1 1",
                "(drop (call $call (i32.const 0) (i32.const 9) (i32.const 0) (i32.const 0))) i32.const 7",
            ),
        ),
    );
    assert_eq!(a.event(b"{}").unwrap(), 7);
    a.terminator().terminate();
    assert!(matches!(
        a.event(b"{}"),
        Err(RuntimeError::Stopped(TrapKind::Terminated))
    ));
    assert_eq!(a.stopped(), Some(TrapKind::Terminated));
}

#[test]
fn a_manifest_fuel_limit_lowers_the_event_budget_and_never_raises_it() {
    let rt = runtime();
    // About 3 operators per iteration: 100,000 iterations burn ~300,000 points.
    let body = "(local $i i32) (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1)))
                 (br_if $l (i32.lt_u (local.get $i) (i32.const 100000)))) i32.const 0";
    let wat = app("1 1", body);
    let with_limit = |id: &str, fuel: u64| {
        let manifest =
            sandframe_testkit::manifest(id, &format!("[limits]\nfuel_per_event = {fuel}\n"));
        let bytes = sandframe_testkit::sign(&manifest, wat::parse_str(&wat).unwrap());
        let pkg = sandframe_testkit::verify(&Validator::new(), &bytes).unwrap();
        let mut a = launch(&rt, &pkg);
        a.event(b"{}")
    };
    assert_eq!(with_limit("com.example.roomy", 1_000_000).unwrap(), 0);
    assert_eq!(
        trapped(with_limit("com.example.tight", 100_000)),
        TrapKind::FuelExhausted
    );
    // A manifest asking for more than the host allows gets the host's cap.
    let rt_small = Runtime::new(
        RuntimeConfig {
            fuel_per_event: 100_000,
            ..config()
        },
        SECRET,
        Arc::new(MemoryArtifacts::default()),
    );
    let manifest = sandframe_testkit::manifest(
        "com.example.greedy",
        "[limits]\nfuel_per_event = 1000000000\n",
    );
    let bytes = sandframe_testkit::sign(&manifest, wat::parse_str(&wat).unwrap());
    let pkg = sandframe_testkit::verify(&Validator::new(), &bytes).unwrap();
    let prepared = rt_small.prepare(&pkg).unwrap();
    assert_eq!(prepared.context().limits.fuel_per_event, Some(100_000));
    let (mut greedy, _) = rt_small
        .launch(
            &prepared,
            MinimalGateway
                .open(prepared.context(), sandframe_core::EventSender::none())
                .unwrap(),
        )
        .unwrap();
    assert_eq!(trapped(greedy.event(b"{}")), TrapKind::FuelExhausted);
}

#[test]
fn a_module_exporting_a_metering_name_is_refused_at_compile() {
    // A guest global named like the stop switch or the points would shadow the metering's
    // own export; the runtime refuses to compile it rather than meter the wrong global.
    let rt = runtime();
    for name in [
        "sandframe_metering_stop",
        "wasmer_metering_remaining_points",
        "wasmer_metering_points_exhausted",
    ] {
        let wat = format!(
            r#"(module
  (memory (export "memory") 1 1)
  (global (export "{name}") (mut i32) (i32.const 0))
  (func (export "sf_init") (result i32) i32.const 0)
  (func (export "sf_event") (param i32) (result i32) i32.const 0))"#
        );
        match rt.prepare(&verified("com.example.shadow", &wat)) {
            Err(RuntimeError::Compile(message)) => {
                assert!(message.contains(name), "{name}: {message}");
            }
            Err(other) => panic!("{name}: {other:?}"),
            Ok(_) => panic!("{name}: compiled"),
        }
    }
}
