//! The render side (issue #8): a `ui.setData` round trip — patch bytes sent to the render
//! thread, applied to the data model, the view re-rendered and diffed, and the patches applied
//! by the surface — for a small patch (one counter) and a 256 KiB patch (a list of 1,000
//! items), beside the baseline of only parsing the same patch as JSON and the same render work
//! on the caller's thread (no hop to the render thread and back), in the same run.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // a bench: failing loudly is the point

use std::sync::{Arc, Mutex};

use criterion::{Criterion, criterion_group, criterion_main};
use sandframe_core::AppId;
use sandframe_core::Surface;
use sandframe_package::template::Template;
use sandframe_render::{HtmlSurface, RenderSide, View};

const TEMPLATE: &str = r#"<view>
  <text>Count: {{count}}</text>
  <list items="{{items}}" key="id" as="item">
    <view class="{{item.state}}"><text>{{item.title}}</text><button bind:tap="onTap">x</button></view>
  </list>
</view>"#;

fn patches() -> Vec<(&'static str, Vec<u8>, Vec<u8>)> {
    let small = |n: u32| format!("{{\"count\": {n}}}").into_bytes();
    let big = |n: u32| {
        let items: Vec<_> = (0..1000)
            .map(|i| {
                serde_json::json!({
                    "id": i,
                    "title": format!("item {i} {n} {}", "x".repeat(200)),
                    "state": if (i + n).is_multiple_of(2) { "open" } else { "done" },
                })
            })
            .collect();
        serde_json::to_vec(&serde_json::json!({ "items": items })).unwrap()
    };
    let (b0, b1) = (big(0), big(1));
    assert!(
        b0.len() > 200 << 10 && b0.len() <= 256 << 10,
        "{}",
        b0.len()
    );
    vec![
        ("small (one counter)", small(1), small(2)),
        ("256 KiB (1,000 items)", b0, b1),
    ]
}

fn round_trip(c: &mut Criterion) {
    let surface = Arc::new(Mutex::new(HtmlSurface::new("assets/")));
    let side = RenderSide::spawn(surface).unwrap();
    let app: AppId = "com.example.bench".parse().unwrap();
    side.open(&app, Template::parse(TEMPLATE).unwrap()).unwrap();
    let mut g = c.benchmark_group("set_data_round_trip");
    for (name, a, b) in patches() {
        g.bench_function(format!("baseline: serde_json parse, {name}"), |bench| {
            bench.iter(|| serde_json::from_slice::<serde_json::Value>(&a).unwrap())
        });
        // The render work alone, on the caller's thread: data model, render, diff, surface.
        let mut view = View::new(Template::parse(TEMPLATE).unwrap());
        let mut alone = HtmlSurface::new("assets/");
        alone.apply(&app, &view.render().unwrap()).unwrap();
        let mut flip = false;
        g.bench_function(
            format!("render work alone (no thread hop), {name}"),
            |bench| {
                bench.iter(|| {
                    flip = !flip;
                    let p = view.set_data(if flip { &a } else { &b }).unwrap();
                    alone.apply(&app, &p).unwrap();
                })
            },
        );
        // Alternate two patches so every round trip changes the view.
        let mut flip = false;
        g.bench_function(
            format!("sandframe: setData -> render -> diff -> surface, {name}"),
            |bench| {
                bench.iter(|| {
                    flip = !flip;
                    let p = if flip { a.clone() } else { b.clone() };
                    side.set_data_and_wait(&app, p).unwrap();
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, round_trip);
criterion_main!(benches);
