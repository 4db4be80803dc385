//! Hostile JavaScript through the real host: `runtime = "js@1"` apps run on the engine the
//! runtime carries (QuickJS in wasm), under the same sandbox, gateway and monitor as a wasm
//! app, with a neighbour served throughout.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // a test: failing loudly is the point

mod common;

use sandframe_host::{AppId, Host};
use sandframe_testkit::{example, tap};

/// A signed `runtime = "js@1"` package for `app` with `source` as its logic.js; its view
/// shows `{{out}}`.
fn js_package(app: &str, source: &str) -> Vec<u8> {
    js_package_with_views(
        app,
        source,
        &[(
            "index",
            "<view><text>[{{out}}]</text><button bind:tap=\"onTap\">Go</button></view>",
        )],
    )
}

/// [`js_package`] whose manifest lists `views` (name and template), the first the entry.
fn js_package_with_views(app: &str, source: &str, views: &[(&str, &str)]) -> Vec<u8> {
    let names: Vec<String> = views.iter().map(|(name, _)| format!("{name:?}")).collect();
    let manifest = format!(
        "id = \"{app}\"\nname = \"Test\"\nversion = \"1.0.0\"\nviews = [{}]\nruntime = \"js@1\"\n[[capabilities]]\nname = \"ui:render\"\nreason = \"show it\"\n\n[[capabilities]]\nname = \"storage:local\"\nreason = \"keep it\"\n",
        names.join(", ")
    );
    let mut c = sandframe_package::PackageContents::new(manifest.into_bytes());
    c.add_file("logic.js", source.as_bytes().to_vec()).unwrap();
    for (name, template) in views {
        c.add_file(&format!("views/{name}.xml"), template.as_bytes().to_vec())
            .unwrap();
    }
    c.sign(&sandframe_testkit::key()).unwrap()
}

struct World {
    _dir: tempfile::TempDir,
    host: Host,
    neighbour: AppId,
}

fn world() -> World {
    world_with(|b| b)
}

/// A host (one logic thread, so that the neighbour shares it with the hostile app) with the
/// JS counter installed and launched as the neighbour.
fn world_with(
    tune: impl FnOnce(sandframe_host::HostBuilder) -> sandframe_host::HostBuilder,
) -> World {
    let dir = tempfile::tempdir().unwrap();
    let host = tune(common::host_in(dir.path().join("home")).threads(1))
        .build()
        .unwrap();
    let neighbour = host.install(&example("counter-js")).unwrap().app;
    assert_eq!(host.launch(&neighbour).unwrap(), 0);
    World {
        _dir: dir,
        host,
        neighbour,
    }
}

impl World {
    /// Installs and launches `source` as `app`; what `sf_init` answered.
    fn launch(&self, app: &str, source: &str) -> (AppId, i32) {
        self.launch_package(&js_package(app, source))
    }

    fn launch_package(&self, package: &[u8]) -> (AppId, i32) {
        let id = self.host.install(package).unwrap().app;
        let code = self.host.launch(&id).unwrap();
        (id, code)
    }

    /// What the app's view shows between the brackets.
    fn out(&self, app: &AppId) -> String {
        let html = self.host.html(app).unwrap().unwrap_or_default();
        let start = html.find('[').map_or(0, |i| i + 1);
        let end = html.rfind(']').unwrap_or(html.len());
        html.get(start..end).unwrap_or_default().to_owned()
    }

    /// The neighbour still counts, at once.
    fn neighbour_is_served(&self) {
        let before = self.out_count();
        assert_eq!(
            self.host
                .surface_event(tap(&self.neighbour, vec![1]))
                .unwrap(),
            Some(0)
        );
        assert_eq!(self.out_count(), before + 1);
    }

    fn out_count(&self) -> u64 {
        let html = self.host.html(&self.neighbour).unwrap().unwrap();
        let at = html.find("Count: ").unwrap() + 7;
        html[at..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .unwrap()
    }

    fn go(&self, app: &AppId) -> Result<i32, sandframe_host::HostError> {
        self.host
            .dispatch(app, br#"{"handler":"onTap","detail":{}}"#)
    }
}

#[test]
fn a_spinning_handler_is_stopped_and_its_neighbour_is_served() {
    let w = world();
    let (app, code) = w.launch("com.example.spin", "Page({ onTap() { while (true) {} } });");
    assert_eq!(code, 0);
    let e = w.go(&app).expect_err("the spinner ran to its end");
    let text = e.to_string();
    assert!(
        text.contains("FuelExhausted") || text.contains("DeadlineExceeded"),
        "stopped by its budget: {text}"
    );
    w.neighbour_is_served();
    // A spinner in a Promise job is stopped the same way.
    let (app, _) = w.launch(
        "com.example.spinlater",
        "Page({ onTap() { Promise.resolve().then(() => { for (;;) {} }) } });",
    );
    assert!(w.go(&app).is_err());
    w.neighbour_is_served();
}

#[test]
fn deep_recursion_json_and_regex_are_js_errors_not_traps() {
    let w = world();
    let (app, code) = w.launch(
        "com.example.deep",
        r#"
        const tries = {
          recursion() { const f = (n) => f(n + 1) + 1; return f(0); },
          json() { return JSON.parse('['.repeat(100000)); },
          regex() { return new RegExp('('.repeat(30000) + ')'.repeat(30000)).test('a'); },
          getter() { const o = { get x() { return this.x; } }; return o.x; },
          proxy() { const p = new Proxy({}, { get(t, k, r) { return r[k]; } }); return p.x; },
        };
        Page({
          onTap() {
            const out = Object.keys(tries).map((k) => {
              try { tries[k](); return k + ':none'; } catch (e) { return k + ':' + e.name; }
            });
            this.setData({ out: out.join(',') });
          },
          onUncaught() { const f = () => f(); f(); },
        });
        "#,
    );
    assert_eq!(code, 0);
    assert_eq!(w.go(&app).unwrap(), 0, "each recursion was caught in JS");
    let out = w.out(&app);
    for k in ["recursion", "json", "getter", "proxy"] {
        assert!(out.contains(&format!("{k}:RangeError")), "{k}: {out}");
    }
    assert!(out.contains("regex:SyntaxError"), "{out}");
    // Uncaught, it is the handler's error (code 4), and the app lives on.
    assert_eq!(
        w.host
            .dispatch(&app, br#"{"handler":"onUncaught","detail":{}}"#)
            .unwrap(),
        4
    );
    assert_eq!(w.go(&app).unwrap(), 0);
    w.neighbour_is_served();
}

#[test]
fn eval_every_function_constructor_and_import_are_refused() {
    let w = world();
    let (app, code) = w.launch(
        "com.example.evil",
        r#"
        const attempts = {
          eval: () => eval('1 + 1'),
          indirectEval: () => (0, globalThis['ev' + 'al'])('1'),
          Function: () => new Function('return 1')(),
          protoConstructor: () => (function () {}).constructor('return 1')(),
          async: () => Object.getPrototypeOf(async function () {}).constructor('return 1'),
          generator: () => Object.getPrototypeOf(function* () {}).constructor('yield 1'),
          asyncGenerator: () => Object.getPrototypeOf(async function* () {}).constructor('yield 1'),
          reflect: () => Reflect.construct(Function, ['return 1'])(),
        };
        Page({
          data: { out: '' },
          onTap() {
            const out = Object.keys(attempts).map((k) => {
              try { attempts[k](); return k + ':ran'; } catch (e) { return k + ':' + e.name; }
            });
            out.push('instanceof:' + ((() => {}) instanceof Function));
            out.push('setTimeout:' + typeof setTimeout);
            this.setData({ out: out.join(',') });
            import('./other.js').then(
              () => this.setData({ out: this.data.out + ',import:ran' }),
              (e) => this.setData({ out: this.data.out + ',import:refused' }),
            );
          },
        });
        "#,
    );
    assert_eq!(code, 0);
    assert_eq!(w.go(&app).unwrap(), 0);
    let out = w.out(&app);
    assert!(!out.contains(":ran"), "code from a string ran: {out}");
    for k in [
        "eval",
        "indirectEval",
        "Function",
        "protoConstructor",
        "async",
        "generator",
        "asyncGenerator",
        "reflect",
    ] {
        assert!(out.contains(&format!("{k}:EvalError")), "{k}: {out}");
    }
    assert!(out.contains("instanceof:true"), "{out}");
    assert!(out.contains("setTimeout:undefined"), "{out}");
    assert!(out.contains("import:refused"), "{out}");
}

#[test]
fn memory_bombs_are_js_errors_and_garbage_is_collected() {
    let w = world();
    let (app, code) = w.launch(
        "com.example.bomb",
        r#"
        const tries = {
          gigabyteString: () => 'x'.repeat(2 ** 30).length,
          hugeBuffer: () => new Uint8Array(2 ** 31).length,
          growingBuffers: () => { const a = []; for (;;) a.push(new Uint8Array(1 << 20)); },
          doublingString: () => { let s = 'y'; for (;;) s = s + s; },
        };
        Page({
          onTap() {
            const out = Object.keys(tries).map((k) => {
              try { tries[k](); return k + ':none'; } catch (e) { return k + ':' + e.name; }
            });
            this.setData({ out: out.join(',') });
          },
          onGarbage() {
            let kept = 0;
            for (let i = 0; i < 2000; i++) { const o = { a: [i, i + 1], b: 'z' + i, big: new Uint8Array(1 << 16) }; kept += o.a.length; }
            this.setData({ out: 'garbage:' + kept });
          },
        });
        "#,
    );
    assert_eq!(code, 0);
    // Each bomb ends in a JS error (or, at worst, the event's budget): never the host.
    match w.go(&app) {
        Ok(0) => {
            let out = w.out(&app);
            for k in [
                "gigabyteString",
                "hugeBuffer",
                "growingBuffers",
                "doublingString",
            ] {
                assert!(
                    out.contains(&format!("{k}:RangeError"))
                        || out.contains(&format!("{k}:InternalError")),
                    "{k}: {out}"
                );
            }
            // Its memory came back: the app still allocates.
            assert_eq!(
                w.host
                    .dispatch(&app, br#"{"handler":"onGarbage","detail":{}}"#)
                    .unwrap(),
                0
            );
            assert_eq!(w.out(&app), "garbage:4000");
        }
        other => panic!("a memory bomb was not a JS error: {other:?}"),
    }
    w.neighbour_is_served();
}

#[test]
fn a_throwing_handler_is_an_app_error_and_the_app_lives_on() {
    let w = world();
    let (app, code) = w.launch(
        "com.example.thrower",
        r#"
        Page({
          data: { out: 'ready' },
          onTap() { throw new TypeError('bad <b>input</b>'); },
          async onLater() { await null; throw new Error('later'); },
          onFine() { this.setData({ out: 'fine' }); },
        });
        "#,
    );
    assert_eq!(code, 0);
    assert_eq!(w.out(&app), "ready");
    assert_eq!(w.go(&app).unwrap(), 4);
    // An async handler's rejection nobody handles is an app error too.
    assert_eq!(
        w.host
            .dispatch(&app, br#"{"handler":"onLater","detail":{}}"#)
            .unwrap(),
        4
    );
    assert_eq!(
        w.host
            .dispatch(&app, br#"{"handler":"onFine","detail":{}}"#)
            .unwrap(),
        0
    );
    assert_eq!(w.out(&app), "fine");
    w.host.flush_audit().unwrap();
    let failed = w
        .host
        .audit_records(Some(&app))
        .unwrap()
        .into_iter()
        .filter(|r| r.action == "event" && r.outcome == "failed")
        .count();
    assert_eq!(failed, 2, "each failed handler is audited");
    // With its message and where it was thrown, escaped.
    let logged: Vec<String> = w
        .host
        .audit_records(Some(&app))
        .unwrap()
        .into_iter()
        .filter(|r| r.subject == "log" && r.detail.contains("Uncaught"))
        .map(|r| r.detail)
        .collect();
    assert!(
        logged
            .iter()
            .any(|d| d.contains("Uncaught TypeError: bad <b>input</b>") && d.contains("logic.js:")),
        "{logged:?}"
    );
    assert!(
        logged
            .iter()
            .any(|d| d.contains("Uncaught (in promise) Error: later")),
        "{logged:?}"
    );
    assert!(
        logged.iter().all(|d| !d.contains('\n')),
        "escaped: {logged:?}"
    );
}

#[test]
fn an_exception_in_on_launch_stops_the_app_cleanly() {
    let w = world();
    let (app, code) = w.launch(
        "com.example.nolaunch",
        "App({ onLaunch() { throw new Error('no config'); } }); Page({ onTap() { this.setData({ out: 'ran' }); } });",
    );
    assert_eq!(code, 4, "sf_init answers the app error");
    // No handler of an app that did not start runs.
    assert_eq!(w.go(&app).unwrap(), 4);
    assert_ne!(w.out(&app), "ran");
    w.neighbour_is_served();
}

#[test]
fn promises_and_finalizers_that_never_settle_or_never_end_are_bounded() {
    let w = world();
    let (app, code) = w.launch(
        "com.example.promises",
        r#"
        Page({
          onTap() { new Promise(() => {}); this.setData({ out: 'waiting' }); },
          onChain() { const f = () => Promise.resolve().then(f); f(); },
        });
        "#,
    );
    assert_eq!(code, 0);
    assert_eq!(
        w.go(&app).unwrap(),
        0,
        "a promise that never settles costs nothing"
    );
    assert_eq!(w.out(&app), "waiting");
    let e = w
        .host
        .dispatch(&app, br#"{"handler":"onChain","detail":{}}"#)
        .expect_err("an endless chain ran to its end");
    assert!(
        e.to_string().contains("FuelExhausted") || e.to_string().contains("DeadlineExceeded"),
        "{e}"
    );
    w.neighbour_is_served();
    // FinalizationRegistry callbacks are jobs too: run inside the event that freed the
    // object, under its budget.
    let (app, code) = w.launch(
        "com.example.finalize",
        r#"
        const told = new FinalizationRegistry((held) => { getCurrentPages()[0].setData({ out: 'finalized ' + held }); });
        const spin = new FinalizationRegistry(() => { for (;;) {} });
        Page({
          data: { out: 'none' },
          onTap() { let o = {}; told.register(o, 'x'); o = null; },
          onSpin() { let o = {}; spin.register(o, 'y'); o = null; },
        });
        "#,
    );
    assert_eq!(code, 0);
    assert_eq!(w.go(&app).unwrap(), 0);
    assert_eq!(w.out(&app), "finalized x");
    let e = w
        .host
        .dispatch(&app, br#"{"handler":"onSpin","detail":{}}"#)
        .expect_err("a spinning finalizer ran to its end");
    assert!(
        e.to_string().contains("FuelExhausted") || e.to_string().contains("DeadlineExceeded"),
        "{e}"
    );
    w.neighbour_is_served();
}

#[test]
fn a_js_app_flooding_calls_is_stopped_by_the_monitor() {
    let rules = sandframe_host::Rules {
        max_rate_denials_per_window: 200,
        ..sandframe_host::Rules::default()
    };
    let w = world_with(|b| b.rules(rules));
    let (app, code) = w.launch(
        "com.example.jsflood",
        "Page({ onTap() { for (let i = 0; i < 5000; i++) { try { sf.call('clock.now') } catch (e) {} } } });",
    );
    assert_eq!(code, 0);
    let e = w.go(&app).expect_err("the flood ran to its end");
    assert!(
        e.to_string().contains("Terminated"),
        "stopped by the monitor: {e}"
    );
    w.neighbour_is_served();
}

#[test]
fn sf_request_posts_and_reads_json_from_the_apps_own_service_and_is_refused_elsewhere() {
    const NAME: &str = "notes.js.test.example";
    let service = sandframe_testkit::https::LocalService::start(&[NAME]).unwrap();
    let origin = format!("https://{NAME}:{}", service.port());
    let lo: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    let net = sandframe_host::NetConfig::new()
        .without_public_roots()
        .trust_root(service.ca_der())
        .resolver(std::sync::Arc::new(
            sandframe_host::StaticResolver::new().with(NAME, [lo]),
        ))
        .allow_range("127.0.0.1/32".parse().unwrap());
    let w = world_with(|b| b.net(net));
    let manifest = sandframe_testkit::manifest(
        "com.example.jsnotes",
        &format!(
            "runtime = \"js@1\"\n[[capabilities]]\nname = \"ui:render\"\nreason = \"show it\"\n\n[[capabilities]]\nname = \"net:fetch\"\nreason = \"its notes\"\norigins = [\"{origin}\"]\n"
        ),
    );
    let source = format!(
        r#"
        const api = '{origin}/notes';
        Page({{
          data: {{ out: '' }},
          async onTap() {{
            const posted = await sf.request({{ url: api, method: 'POST', data: {{ text: 'from JS' }} }});
            const listed = await sf.request({{ url: api }});
            let refused = 'no';
            try {{ await sf.request({{ url: 'https://elsewhere.example/' }}); }} catch (e) {{ refused = e.code; }}
            this.setData({{ out: posted.statusCode + ',' + listed.statusCode + ',' + listed.data.notes.join('|') + ',' + refused }});
          }},
        }});
        "#
    );
    let mut c = sandframe_package::PackageContents::new(manifest.into_bytes());
    c.add_file("logic.js", source.into_bytes()).unwrap();
    c.add_file(
        "views/index.xml",
        b"<view><text>[{{out}}]</text></view>".to_vec(),
    )
    .unwrap();
    let app = w
        .host
        .install(&c.sign(&sandframe_testkit::key()).unwrap())
        .unwrap()
        .app;
    w.host
        .grant(
            &app,
            &sandframe_host::Capability::NET_FETCH.parse().unwrap(),
        )
        .unwrap();
    assert_eq!(w.host.launch(&app).unwrap(), 0);
    assert_eq!(w.go(&app).unwrap(), 0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while w.out(&app).is_empty() {
        assert!(std::time::Instant::now() < deadline, "no answer shown");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(w.out(&app), "201,200,from JS,denied");
    assert_eq!(service.seen().len(), 2, "only its own origin was reached");
}

const HOME: &str = "<view><text>[{{out}}]</text><button bind:tap=\"onTap\">+</button><button bind:tap=\"onOpen\">Open</button></view>";
const DETAIL: &str = "<view><text>[{{out}}]</text><button bind:tap=\"onBack\">Back</button></view>";

#[test]
fn pages_navigate_between_the_views_the_manifest_lists_and_keep_their_data() {
    let w = world();
    let source = r#"
        Page({
          data: { out: 'home 0', n: 0 },
          onTap() { this.setData({ n: this.data.n + 1, out: 'home ' + (this.data.n + 1) }); },
          onOpen() { sf.navigateTo('/detail?id=7&name=a%20b&__proto__=x'); },
          onNowhere() {
            sf.navigateTo('nope').catch((e) => this.setData({ out: e.errMsg }));
          },
          onRaw() {
            try { sf.call('ui.showView', { view: 'gone' }); } catch (e) { this.setData({ out: e.code + ': ' + e.message }); }
          },
          onDeep() {
            let refused = 0;
            for (let i = 0; i < 12; i++) {
              sf.navigateTo({ url: 'detail?id=' + i, fail: () => { refused += 1; } });
            }
            const pages = getCurrentPages();
            pages[pages.length - 1].setData({ out: `${pages.length} pages, ${refused} refused` });
          },
          onUp() { sf.navigateBack().catch((e) => this.setData({ out: e.errMsg })); },
        });
        Page('detail', {
          data: { out: 'detail' },
          onLoad(q) {
            const own = Object.getPrototypeOf(q) === Object.prototype;
            this.setData({ out: `detail ${q.id} ${q.name} ${getCurrentPages().length} ${own} ${this.route}` });
          },
          onBack() { sf.navigateBack({ delta: 100 }); },
        });
    "#;
    let (app, code) = w.launch_package(&js_package_with_views(
        "com.example.pages",
        source,
        &[("index", HOME), ("detail", DETAIL)],
    ));
    assert_eq!(code, 0);
    assert_eq!(w.out(&app), "home 0");
    let tap_at = |path: Vec<u32>| w.host.surface_event(tap(&app, path)).unwrap();
    assert_eq!(tap_at(vec![1]), Some(0));
    assert_eq!(w.out(&app), "home 1");
    // The Open button opens the detail view with its query (the __proto__ key dropped).
    assert_eq!(tap_at(vec![2]), Some(0));
    assert_eq!(w.out(&app), "detail 7 a b 2 true detail");
    let html = w.host.html(&app).unwrap().unwrap();
    assert!(
        html.contains(">Back<") && !html.contains(">Open<"),
        "{html}"
    );
    // The detail view's own button (path 1) runs the detail page's handler: back home, with
    // the home page's data as it was.
    assert_eq!(tap_at(vec![1]), Some(0));
    assert_eq!(w.out(&app), "home 1");
    assert_eq!(tap_at(vec![1]), Some(0));
    assert_eq!(w.out(&app), "home 2");
    let dispatch = |handler: &str| {
        w.host
            .dispatch(
                &app,
                format!("{{\"handler\":\"{handler}\",\"detail\":{{}}}}").as_bytes(),
            )
            .unwrap()
    };
    // A view the manifest does not list is refused, by the prelude and by the host.
    assert_eq!(dispatch("onNowhere"), 0);
    assert_eq!(
        w.out(&app),
        "navigateTo:fail the manifest lists no view named &quot;nope&quot;; it lists index, detail",
        "refused through the rejection, which the handler catches: no app error"
    );
    assert_eq!(dispatch("onRaw"), 0);
    assert!(
        w.out(&app)
            .starts_with("bad_request: ui.showView: the manifest lists no view named &quot;gone&quot;; it lists [&quot;index&quot;, &quot;detail&quot;]"),
        "{}",
        w.out(&app)
    );
    // At most 10 pages: 9 of the 12 open, 3 are refused.
    assert_eq!(dispatch("onDeep"), 0);
    assert_eq!(w.out(&app), "10 pages, 3 refused");
    // Back 100 pages stops at the entry page, shown with its data (onRaw's text).
    assert_eq!(tap_at(vec![1]), Some(0));
    assert!(w.out(&app).starts_with("bad_request"), "{}", w.out(&app));
    assert_eq!(dispatch("onUp"), 0);
    assert_eq!(
        w.out(&app),
        "navigateBack:fail there is no page to go back to"
    );
    w.neighbour_is_served();
}

#[test]
fn navigation_waits_for_the_entry_page_and_a_view_without_a_page_is_still_one() {
    let w = world();
    // No Page for the entry view. onLaunch tries to navigate before the entry page is
    // there (refused); App's onShow, after it, opens the detail view.
    let source = r#"
        App({
          onLaunch() {
            sf.navigateTo({ url: 'detail', fail: (e) => sf.setStorageSync('launch', e.errMsg) });
          },
          onShow() { if (getCurrentPages().length === 1) sf.navigateTo('detail'); },
        });
        Page('detail', {
          onLoad() { this.setData({ out: 'detail ' + getCurrentPages().length }); },
          onBack() { sf.navigateBack(); },
        });
    "#;
    let (app, code) = w.launch_package(&js_package_with_views(
        "com.example.blank",
        source,
        &[("index", HOME), ("detail", DETAIL)],
    ));
    assert_eq!(code, 0);
    assert_eq!(w.out(&app), "detail 2");
    // Back to the entry view, whose page has no handlers: its buttons are app errors.
    assert_eq!(w.host.surface_event(tap(&app, vec![1])).unwrap(), Some(0));
    let html = w.host.html(&app).unwrap().unwrap();
    assert!(html.contains(">Open<"), "the entry view shows: {html}");
    assert_eq!(w.host.surface_event(tap(&app, vec![2])).unwrap(), Some(4));
    let told = w.host.storage().get(&app, "launch").unwrap().unwrap();
    let told: serde_json::Value = serde_json::from_slice(&told).unwrap();
    assert_eq!(
        told,
        "navigateTo:fail navigateTo runs once the entry page is loaded (in its onLoad, onShow or a handler)"
    );
    w.neighbour_is_served();
}

#[test]
fn a_page_for_a_view_the_manifest_does_not_list_stops_the_app_at_launch() {
    let w = world();
    let (app, code) = w.launch(
        "com.example.ghost",
        "Page({ onTap() {} }); Page('ghost', { onLoad() {} });",
    );
    assert_eq!(code, 4, "sf_init answers the app error");
    w.host.flush_audit().unwrap();
    let said = w
        .host
        .audit_records(Some(&app))
        .unwrap()
        .into_iter()
        .any(|r| r.detail.contains("Page(\\\"ghost\\\", options): the manifest lists no view by that name; it lists index"));
    assert!(said, "the author is told why");
    w.neighbour_is_served();
}
