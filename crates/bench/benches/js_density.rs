//! RSS per live app with 1,000 live: the JS counter (QuickJS heap included) beside the Rust
//! counter, each under 1,000 distinct ids in one host (one logic thread, no idle
//! suspension), each launched and sent one tap. Prints KiB per app, from /proc/self/statm
//! before and after. `cargo bench -p sandframe-bench --bench js_density`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // a bench: failing loudly is the point

mod common;

const APPS: usize = 1000;

/// Resident set size, in KiB (Linux).
fn rss_kib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4
}

fn main() {
    println!("example     apps   KiB per live app");
    for (example, id) in [
        ("counter", "dev.sandframe.counter"),
        ("counter-js", "dev.sandframe.counter-js"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let h = common::host_in(dir.path().join("home"))
            .threads(1)
            .idle_timeout(None)
            // 1,000 first taps in a row write storage faster than the monitor's write-flood
            // rule allows one app; not what this measures.
            .rules(sandframe_host::Rules {
                max_writes_per_window: u64::MAX,
                ..sandframe_host::Rules::default()
            })
            .build()
            .unwrap();
        let packages: Vec<Vec<u8>> = (0..APPS)
            .map(|i| {
                sandframe_testkit::example_patched(example, |m| {
                    m.replace(
                        &format!("id = \"{id}\""),
                        &format!("id = \"dev.sandframe.d{i}\""),
                    )
                })
            })
            .collect();
        let apps: Vec<_> = packages.iter().map(|p| h.install(p).unwrap().app).collect();
        // The first launch compiles (or loads) the module: outside the measure.
        h.launch(&apps[0]).unwrap();
        let before = rss_kib();
        for app in &apps[1..] {
            h.launch(app).unwrap();
            h.surface_event(sandframe_testkit::tap(app, vec![1]))
                .unwrap();
        }
        h.settle(&apps[APPS - 1]).unwrap();
        let after = rss_kib();
        let per = (after.saturating_sub(before)) as f64 / (APPS - 1) as f64;
        println!("{example:11} {APPS:5}   {per:.1}");
    }
}
