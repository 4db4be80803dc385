//! Invariant 11 through the real engine: fuel bounds an event's time. Bulk operations and grows
//! are priced by the bytes or elements they touch, before they run; host calls by their host
//! time. Every runaway (`sandframe_testkit::runaway`) is stopped by its event budget while a
//! neighbour on the same runtime is served. These tests assert fuel, never wall time (the
//! stop times are in `cargo xtask bench runaway`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // a test: failing loudly is the point

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sandframe_core::{ApiError, Gateway, GatewaySession, TrapKind};
use sandframe_gateway::MinimalGateway;
use sandframe_runtime::price::{self, Bulk};
use sandframe_runtime::{
    AppInstance, DEFAULT_FUEL_PER_EVENT, MemoryArtifacts, Prepared, Runtime, RuntimeConfig,
    RuntimeError,
};
use sandframe_testkit::runaway::{self, MEMORY_PAGES, TABLE_ELEMENTS};
use sandframe_testkit::{CLOCK_APP, verified};

fn runtime(fuel_per_event: u64) -> Runtime {
    Runtime::new(
        RuntimeConfig {
            fuel_per_event,
            // Fuel alone ends these events: the deadline (tests/deadline.rs) is out of the way.
            event_deadline: Duration::from_secs(600),
            ..RuntimeConfig::default()
        },
        [7; 32],
        Arc::new(MemoryArtifacts::default()),
    )
}

fn launch_with(rt: &Runtime, prepared: &Prepared, session: Box<dyn GatewaySession>) -> AppInstance {
    let (app, code) = rt.launch(prepared, session).unwrap();
    assert_eq!(code, 0, "sf_init failed");
    app
}

fn launch(rt: &Runtime, id: &str, wat: &str) -> AppInstance {
    let prepared = rt.prepare(&verified(id, wat)).unwrap();
    let session = MinimalGateway
        .open(prepared.context(), sandframe_core::EventSender::none())
        .unwrap();
    launch_with(rt, &prepared, session)
}

fn trapped(r: Result<i32, RuntimeError>) -> TrapKind {
    match r {
        Err(RuntimeError::Trapped { kind, .. }) => kind,
        other => panic!("expected a trap, got {other:?}"),
    }
}

/// Fuel one event of `app` burnt.
fn spent(app: &mut AppInstance) -> (Result<i32, RuntimeError>, u64) {
    let before = app.fuel_left();
    let r = app.event(b"{}");
    (r, before - app.fuel_left())
}

#[test]
fn every_runaway_is_stopped_by_its_event_budget_while_a_neighbour_is_served() {
    let rt = runtime(DEFAULT_FUEL_PER_EVENT);
    let mut neighbour = launch(&rt, "com.example.neighbour", CLOCK_APP);
    for case in runaway::runaways() {
        let mut app = launch(&rt, &case.id(), &case.wat);
        let (r, used) = spent(&mut app);
        assert_eq!(trapped(r), TrapKind::FuelExhausted, "{}", case.name);
        assert_eq!(
            used, DEFAULT_FUEL_PER_EVENT,
            "{}: the whole budget and no more",
            case.name
        );
        assert!(
            matches!(
                app.event(b"{}"),
                Err(RuntimeError::Stopped(TrapKind::FuelExhausted))
            ),
            "{}: stays stopped",
            case.name
        );
        assert_eq!(
            neighbour.event(b"{}").unwrap(),
            i32::from(b'{'),
            "{}: the neighbour was not served",
            case.name
        );
    }
}

/// A module whose `sf_event` runs `body` once and returns 0.
fn once(memory: &str, extra: &str, body: &str) -> String {
    format!(
        r#"(module
  (memory (export "memory") {memory})
  (table $t {TABLE_ELEMENTS} {TABLE_ELEMENTS} funcref)
  (table $g 0 {TABLE_ELEMENTS} funcref)
  (func $f (result i32) i32.const 1)
  (elem declare func $f)
  {extra}
  (func (export "sf_init") (result i32) i32.const 0)
  (func (export "sf_event") (param i32) (result i32) {body} i32.const 0))"#
    )
}

/// The dynamic price of `units` units of `op`.
fn dynamic(op: Bulk, units: u64) -> u64 {
    let (n, shift) = price::bulk(op);
    (units * n) >> shift
}

#[test]
fn each_bulk_operation_is_charged_for_its_length() {
    let rt = runtime(DEFAULT_FUEL_PER_EVENT);
    // 1 MiB memories: an initial memory past that is paid at launch, and the short budget
    // below must still pay for sf_init.
    let full = "16 16".to_owned();
    let bytes = 16 * 65536;
    let init_bytes = bytes - 1024;
    let elements = u64::from(TABLE_ELEMENTS);
    let elems: String = (0..TABLE_ELEMENTS).map(|_| " $f").collect();
    let data = format!("(data $d \"{}\")", "a".repeat(init_bytes as usize));
    let cases = [
        (
            "memory.fill",
            once(
                &full,
                "",
                &format!("(memory.fill (i32.const 0) (i32.const 7) (i32.const {bytes}))"),
            ),
            dynamic(Bulk::MemoryFill, bytes),
        ),
        (
            "memory.copy",
            once(
                &full,
                "",
                &format!(
                    "(memory.copy (i32.const 0) (i32.const 1) (i32.const {}))",
                    bytes - 1
                ),
            ),
            dynamic(Bulk::MemoryCopy, bytes - 1),
        ),
        (
            "memory.init",
            once(
                &full,
                &data,
                &format!("(memory.init $d (i32.const 0) (i32.const 0) (i32.const {init_bytes}))"),
            ),
            dynamic(Bulk::MemoryInit, init_bytes),
        ),
        (
            "memory.grow",
            once(
                &format!("1 {MEMORY_PAGES}"),
                "",
                &format!("(drop (memory.grow (i32.const {})))", MEMORY_PAGES - 1),
            ),
            dynamic(Bulk::MemoryGrow { mem: 0 }, u64::from(MEMORY_PAGES)),
        ),
        (
            "table.fill",
            once(
                "1 1",
                "",
                &format!("(table.fill $t (i32.const 0) (ref.func $f) (i32.const {elements}))"),
            ),
            dynamic(Bulk::TableFill, elements),
        ),
        (
            "table.copy",
            once(
                "1 1",
                "",
                &format!(
                    "(table.copy $t $t (i32.const 0) (i32.const 1) (i32.const {}))",
                    elements - 1
                ),
            ),
            dynamic(Bulk::TableCopy, elements - 1),
        ),
        (
            "table.init",
            once(
                "1 1",
                &format!("(elem $e func{elems})"),
                &format!("(table.init $t $e (i32.const 0) (i32.const 0) (i32.const {elements}))"),
            ),
            dynamic(Bulk::TableInit, elements),
        ),
        (
            "table.grow",
            once(
                "1 1",
                "",
                &format!("(drop (table.grow $g (ref.null func) (i32.const {elements})))"),
            ),
            dynamic(Bulk::TableGrow, elements),
        ),
    ];
    let nothing = {
        let mut app = launch(&rt, "com.example.nothing", &once("1 1", "", ""));
        spent(&mut app).1
    };
    for (name, wat, price) in cases {
        assert!(price > 10_000, "{name}: a price worth testing ({price})");
        assert!(
            price < DEFAULT_FUEL_PER_EVENT,
            "{name} at its maximum fits one default event"
        );
        let id = format!("com.example.once.{}", name.replace('.', "-"));
        let mut app = launch(&rt, &id, &wat);
        let (r, used) = spent(&mut app);
        assert_eq!(r.unwrap(), 0, "{name}");
        assert!(
            used >= nothing + price,
            "{name}: {used} points, the length alone costs {price}"
        );
        // The static part of the op and its block is small beside the length's price.
        assert!(
            used <= nothing + price + 1_000,
            "{name}: {used} for {price}"
        );

        // A budget one point short of the price: the op never runs, the event stops on fuel.
        let short = runtime(price);
        let mut app = launch(&short, &id, &wat);
        let memory = app.memory_bytes();
        assert_eq!(trapped(app.event(b"{}")), TrapKind::FuelExhausted, "{name}");
        assert_eq!(app.memory_bytes(), memory, "{name}: nothing grew");
    }
}

#[test]
fn an_initial_memory_past_the_free_mib_is_paid_at_launch() {
    // The kernel zeroes a fresh page on its first touch: a 16 MiB initial memory costs about
    // 10 ms once, so it is touched and paid at launch, not left to the first event.
    let rt = runtime(DEFAULT_FUEL_PER_EVENT);
    let pages = u64::from(MEMORY_PAGES);
    let big = once(&format!("{pages} {pages}"), "", "");
    let mut app = launch(&rt, "com.example.bigmemory", &big);
    let at_launch = sandframe_runtime::DEFAULT_FUEL_PER_LIFETIME - app.fuel_left();
    let charge = dynamic(
        Bulk::MemoryGrow { mem: 0 },
        pages - price::FREE_INITIAL_MEMORY / 65536,
    );
    assert!(
        at_launch >= charge && at_launch < charge + 1_000,
        "{at_launch} vs {charge}"
    );
    // The first event then pays only for itself.
    let (r, used) = spent(&mut app);
    r.unwrap();
    assert!(used < 1_000, "{used}");
    // Touching pages at launch keeps what the data segments put there.
    let data = r#"(module (memory (export "memory") 32 32)
  (data (i32.const 1572864) "Z") (data (i32.const 2093056) "Q")
  (func (export "sf_init") (result i32) i32.const 0)
  (func (export "sf_event") (param i32) (result i32)
    (i32.add (i32.load8_u (i32.const 1572864)) (i32.load8_u (i32.const 2093056)))))"#;
    let mut app = launch(&rt, "com.example.datamemory", data);
    assert_eq!(app.event(b"{}").unwrap(), i32::from(b'Z') + i32::from(b'Q'));
    // A small memory is free.
    let small = launch(&rt, "com.example.smallmemory", &once("16 16", "", ""));
    assert!(sandframe_runtime::DEFAULT_FUEL_PER_LIFETIME - small.fuel_left() < 1_000);

    // A budget that cannot pay for the memory: sf_init never runs.
    let short = runtime(charge);
    let prepared = short
        .prepare(&verified("com.example.bigmemory", &big))
        .unwrap();
    let session = MinimalGateway
        .open(prepared.context(), sandframe_core::EventSender::none())
        .unwrap();
    assert!(matches!(
        short.launch(&prepared, session),
        Err(RuntimeError::Trapped {
            kind: TrapKind::FuelExhausted,
            ..
        })
    ));
}

#[test]
fn a_grow_of_nothing_and_a_failing_grow_are_cheap_or_bounded() {
    let rt = runtime(DEFAULT_FUEL_PER_EVENT);
    let cost = |id: &str, body: &str| {
        let mut app = launch(&rt, id, &once(&format!("1 {MEMORY_PAGES}"), "", body));
        let (r, used) = spent(&mut app);
        (r.unwrap(), used)
    };
    let (_, nothing) = cost("com.example.grow.none", "");
    let (_, zero) = cost(
        "com.example.grow.zero",
        "(drop (memory.grow (i32.const 0)))",
    );
    assert!(
        zero <= nothing + price::BULK + 10,
        "grow 0: {zero} vs {nothing}"
    );
    // A grow past the maximum fails (-1) without work, and pays only the fixed part.
    let (_, huge) = cost(
        "com.example.grow.huge",
        "(drop (memory.grow (i32.const -1)))",
    );
    assert!(huge <= nothing + price::BULK + 10, "{huge}");
    let (_, over) = cost(
        "com.example.grow.over",
        &format!("(drop (memory.grow (i32.const {MEMORY_PAGES})))"),
    );
    assert!(over <= nothing + price::BULK + 10, "{over}");
    // One page short of the cap succeeds and pays the whole new size.
    let (_, full) = cost(
        "com.example.grow.full",
        &format!("(drop (memory.grow (i32.const {})))", MEMORY_PAGES - 1),
    );
    let cap = dynamic(Bulk::MemoryGrow { mem: 0 }, u64::from(MEMORY_PAGES));
    assert!(full >= nothing + cap, "{full} vs {cap}");
}

#[test]
fn a_bulk_operation_also_pays_for_the_block_before_it() {
    // The block's static cost is folded into the bulk charge: the 2,000 operators before a
    // zero-length fill are charged, not lost.
    let rt = runtime(DEFAULT_FUEL_PER_EVENT);
    let fill = "(memory.fill (i32.const 0) (i32.const 0) (i32.const 0))";
    let before: String = (0..1000).map(|_| "(drop (i32.const 1))").collect();
    let mut plain = launch(&rt, "com.example.block.plain", &once("1 1", "", fill));
    let mut padded = launch(
        &rt,
        "com.example.block.padded",
        &once("1 1", "", &format!("{before} {fill}")),
    );
    let plain = spent(&mut plain).1;
    let padded = spent(&mut padded).1;
    assert!(padded >= plain + 2_000, "{padded} vs {plain}");
}

#[test]
fn an_out_of_bounds_length_is_priced_at_the_cap_and_traps_out_of_bounds() {
    // memory.fill of 4 GiB: priced as the 16 MiB the memory can hold, then traps on bounds.
    let rt = runtime(DEFAULT_FUEL_PER_EVENT);
    let mut app = launch(
        &rt,
        "com.example.oob",
        &once(
            &format!("{MEMORY_PAGES} {MEMORY_PAGES}"),
            "",
            "(memory.fill (i32.const 0) (i32.const 0) (i32.const -1))",
        ),
    );
    let (r, used) = spent(&mut app);
    assert_eq!(trapped(r), TrapKind::OutOfBounds);
    let cap = dynamic(Bulk::MemoryFill, u64::from(MEMORY_PAGES) * 65536);
    assert!(used >= cap && used < cap + 1_000, "{used} vs {cap}");
}

#[test]
fn loads_calls_and_divisions_cost_their_listed_price() {
    let rt = runtime(DEFAULT_FUEL_PER_EVENT);
    let n = 1000;
    let cost = |id: &str, op: &str| {
        let body = format!(
            "(local $i i32) (loop $l {op}
               (local.set $i (i32.add (local.get $i) (i32.const 1)))
               (br_if $l (i32.lt_u (local.get $i) (i32.const {n}))))"
        );
        let wat = format!(
            r#"(module (memory (export "memory") 1 1) (type $u (func (result i32)))
  (table 1 1 funcref) (func $f (result i32) i32.const 1) (elem (i32.const 0) func $f)
  (func (export "sf_init") (result i32) i32.const 0)
  (func (export "sf_event") (param i32) (result i32) {body} i32.const 0))"#
        );
        let mut app = launch(&rt, id, &wat);
        spent(&mut app).1
    };
    let base = cost("com.example.price.base", "");
    let per = |id: &str, op: &str, extra: u64| {
        let used = cost(id, op);
        assert!(
            used >= base + n * extra,
            "{id}: {used} vs {base} + {n} × {extra}"
        );
    };
    per(
        "com.example.price.load",
        "(drop (i32.load (i32.const 8)))",
        price::MEMORY_ACCESS + 2,
    );
    per(
        "com.example.price.call",
        "(drop (call $f))",
        price::CALL + 2,
    );
    per(
        "com.example.price.indirect",
        "(drop (call_indirect (type $u) (i32.const 0)))",
        price::CALL_INDIRECT + 2,
    );
    per(
        "com.example.price.div",
        "(drop (i32.div_u (local.get $i) (i32.const 3)))",
        price::DIVISION + 3,
    );
}

/// A gateway session whose every call takes `delay` of host time, counting its calls.
struct Slow(Duration, Arc<AtomicU64>);

impl GatewaySession for Slow {
    fn call(&mut self, _: &[u8], _: &[u8], response: &mut Vec<u8>) -> Result<(), ApiError> {
        self.1.fetch_add(1, Ordering::Relaxed);
        std::thread::sleep(self.0);
        response.clear();
        Ok(())
    }
}

/// Calls API `api` (written at offset 0) once per event, or in a loop forever.
fn caller(api: &str, forever: bool) -> String {
    let call = format!(
        "(drop (call $call (i32.const 0) (i32.const {}) (i32.const 0) (i32.const 0)))",
        api.len()
    );
    let body = if forever {
        format!("(loop $l {call} (br $l))")
    } else {
        call
    };
    format!(
        r#"(module
  (import "sandframe_v1" "call" (func $call (param i32 i32 i32 i32) (result i64)))
  (memory (export "memory") 1 1)
  (data (i32.const 0) "{api}")
  (func (export "sf_init") (result i32) i32.const 0)
  (func (export "sf_event") (param i32) (result i32) {body} i32.const 0))"#
    )
}

#[test]
fn an_embedders_api_is_charged_its_host_time_capped() {
    let rt = runtime(DEFAULT_FUEL_PER_EVENT);
    let calls = Arc::new(AtomicU64::new(0));
    let run = |id: &str, wat: &str, delay: Duration| {
        let prepared = rt.prepare(&verified(id, wat)).unwrap();
        calls.store(0, Ordering::Relaxed);
        let mut app = launch_with(&rt, &prepared, Box::new(Slow(delay, calls.clone())));
        spent(&mut app)
    };
    let delay = Duration::from_millis(1);
    let (r, used) = run("com.example.slow", &caller("user.getProfile", false), delay);
    r.unwrap();
    let host = delay.as_micros() as u64 * price::HOST_POINTS_PER_MICROSECOND;
    assert!(
        used >= host,
        "{used} points for {delay:?} of host time ({host})"
    );

    // A call far slower than the cap is charged the cap, not its time.
    let (r, used) = run(
        "com.example.slower",
        &caller("user.getProfile", false),
        Duration::from_millis(6),
    );
    r.unwrap();
    let cap = price::HOST_CHARGE_CAP_MICROSECONDS * price::HOST_POINTS_PER_MICROSECOND;
    assert!(
        used >= cap && used < cap + 10_000,
        "{used} vs the cap {cap}"
    );

    // A loop of slow calls ends on fuel after as many calls as the budget pays for.
    let (r, used) = run(
        "com.example.slowloop",
        &caller("user.getProfile", true),
        delay,
    );
    assert_eq!(trapped(r), TrapKind::FuelExhausted);
    assert_eq!(used, DEFAULT_FUEL_PER_EVENT);
    let n = calls.load(Ordering::Relaxed);
    assert!(
        n >= 1 && n <= DEFAULT_FUEL_PER_EVENT / host + 1,
        "{n} calls of {delay:?}"
    );
}

#[test]
fn built_in_apis_have_fixed_prices_paid_before_they_run() {
    let rt = runtime(DEFAULT_FUEL_PER_EVENT);
    let calls = Arc::new(AtomicU64::new(0));
    for (api, fixed) in [
        ("clock.now", 0),
        ("storage.get", price::STORAGE_READ),
        ("storage.set", price::STORAGE_WRITE),
        ("ui.setData", price::QUEUED),
    ] {
        // A session that takes 3 ms: a fixed price ignores the host's time.
        let id = format!("com.example.fixed.{}", api.replace('.', "-").to_lowercase());
        let prepared = rt.prepare(&verified(&id, &caller(api, false))).unwrap();
        let session = Slow(Duration::from_millis(3), calls.clone());
        let mut app = launch_with(&rt, &prepared, Box::new(session));
        let (r, used) = spent(&mut app);
        r.unwrap();
        let least = price::CALL_FUEL + api.len() as u64 + fixed;
        assert!(
            used >= least && used < least + 100,
            "{api}: {used} vs {least}"
        );

        // A budget that cannot pay the price: the API never runs.
        if fixed > 0 {
            let short = runtime(fixed);
            let prepared = short.prepare(&verified(&id, &caller(api, false))).unwrap();
            let before = calls.load(Ordering::Relaxed);
            let mut app = launch_with(
                &short,
                &prepared,
                Box::new(Slow(Duration::ZERO, calls.clone())),
            );
            assert_eq!(trapped(app.event(b"{}")), TrapKind::FuelExhausted, "{api}");
            assert_eq!(calls.load(Ordering::Relaxed), before, "{api} ran unpaid");
        }
    }
}
