//! The fuel the examples' handlers burn, per event, through a real host: what a benign app
//! pays under the price table (`docs/engine-notes.md`). Prints one line per event; run it
//! before and after a change to the price table and compare (`cargo xtask bench handler_fuel`).
//! Fuel is deterministic for guest code; host calls add their measured host time, so those
//! lines vary a little from run to run.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // a bench: failing loudly is the point

mod common;
use std::sync::{Arc, Mutex};

use sandframe_core::{AppId, AppMonitor, Error, Monitor, MonitorEvent, Verdict};

/// A monitor that keeps the fuel of every event, in order.
#[derive(Default)]
struct FuelLog(Arc<Mutex<Vec<u64>>>);

impl Monitor for FuelLog {
    fn watch(&self, _: &AppId) -> Result<Arc<dyn AppMonitor>, Error> {
        Ok(Arc::new(FuelLog(Arc::clone(&self.0))))
    }
    fn is_quarantined(&self, _: &AppId) -> bool {
        false
    }
    fn release(&self, _: &AppId) -> Result<(), Error> {
        Ok(())
    }
}

impl AppMonitor for FuelLog {
    fn observe(&self, event: &MonitorEvent<'_>) -> Verdict {
        if let MonitorEvent::EventHandled { fuel_used, .. } = event {
            self.0.lock().unwrap().push(*fuel_used);
        }
        Verdict::Allow
    }
}

fn main() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let dir = tempfile::tempdir().unwrap();
    let h = common::host_in(dir.path().join("home"))
        .monitor(Arc::new(FuelLog(Arc::clone(&log))))
        .threads(1)
        .build()
        .unwrap();
    println!("example  event         fuel");
    for (example, handlers) in [
        ("hello", &["onTap", "onTap"][..]),
        ("counter", &["onIncrement", "onIncrement", "onReset"][..]),
        ("profile", &["onAsk"][..]),
        ("counter-js", &["onIncrement", "onIncrement", "onReset"][..]),
        ("profile-js", &["onAsk"][..]),
    ] {
        let app = h.install(&sandframe_testkit::example(example)).unwrap().app;
        log.lock().unwrap().clear();
        h.launch(&app).unwrap();
        for handler in handlers {
            let event = format!(r#"{{"handler":"{handler}","detail":{{}}}}"#);
            h.dispatch(&app, event.as_bytes()).unwrap();
            h.settle(&app).unwrap();
        }
        let fuel = log.lock().unwrap().clone();
        for (event, fuel) in std::iter::once("sf_init")
            .chain(handlers.iter().copied())
            .zip(fuel)
        {
            println!("{example:8} {event:12} {fuel:>8}");
        }
    }
    // What a JS app's ordinary handlers burn on the engine (docs/js.md sets the JS budget
    // from these): a tap, a list of 1,000 items rendered, a 100 KB JSON answer parsed.
    let app = h.install(&js_work()).unwrap().app;
    log.lock().unwrap().clear();
    h.launch(&app).unwrap();
    let handlers = ["onTap", "onList", "onJson"];
    for handler in handlers {
        let event = format!(r#"{{"handler":"{handler}","detail":{{}}}}"#);
        assert_eq!(h.dispatch(&app, event.as_bytes()).unwrap(), 0, "{handler}");
        h.settle(&app).unwrap();
    }
    let fuel = log.lock().unwrap().clone();
    for (event, fuel) in std::iter::once("sf_init").chain(handlers).zip(fuel) {
        println!("js-work  {event:12} {fuel:>8}");
    }
}

/// A JS app with the ordinary handlers the JS budget is set from.
fn js_work() -> Vec<u8> {
    let manifest = sandframe_testkit::manifest(
        "dev.sandframe.jswork",
        "runtime = \"js@1\"\n[[capabilities]]\nname = \"ui:render\"\nreason = \"r\"\n",
    );
    let mut c = sandframe_package::PackageContents::new(manifest.into_bytes());
    c.add_file(
        "logic.js",
        br#"
        // 100 KB of JSON, as a service would answer (made once, at launch).
        const answer = JSON.stringify(Array.from({ length: 1400 }, (_, i) => ({ id: i, title: 'note number ' + i, done: i % 3 === 0 })));
        Page({
          data: { count: 0, items: [] },
          onTap() { this.setData({ count: this.data.count + 1 }); },
          onList() {
            const items = [];
            for (let i = 0; i < 1000; i++) items.push({ id: i, text: 'item ' + i });
            this.setData({ items });
          },
          onJson() { this.setData({ count: JSON.parse(answer).length }); },
        });
        "#
        .to_vec(),
    )
    .unwrap();
    c.add_file(
        "views/index.xml",
        br#"<view><text>{{count}}</text><list items="{{items}}" key="id" as="item"><text>{{item.text}}</text></list></view>"#.to_vec(),
    )
    .unwrap();
    c.sign(&sandframe_testkit::key()).unwrap()
}
