//! The render side: data patches to minimal view patches, surface events to the bound
//! handler, hostile data that never becomes markup or a terminal escape, limits, and a render
//! thread serving two apps apart.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // a test: failing loudly is the point

use std::sync::{Arc, Mutex};

mod look_alike;

use proptest::prelude::*;
use sandframe_core::{AppId, EventKind, Surface, SurfaceEvent, ViewNode, ViewPatch};
use sandframe_package::template::Template;
use sandframe_render::view::{MAX_RENDERED_NODES, apply, diff};
use sandframe_render::{HtmlSurface, RecordingSurface, RenderError, RenderSide, TextSurface, View};

const HELLO: &str = r#"<view class="page">
  <text>Hello from a sandboxed mini-app!</text>
  <text>Taps: {{taps}}</text>
  <button bind:tap="onTap">Tap me</button>
</view>"#;

const TODO: &str = r#"<view>
  <text sf:if="{{!todos}}">Nothing to do</text>
  <list items="{{todos}}" key="id" as="todo">
    <view class="{{todo.state}}"><text>{{todo.title}}</text><button bind:tap="onToggle">done</button></view>
  </list>
  <input value="{{draft}}" placeholder="New" bind:input="onDraft"/>
</view>"#;

fn view(t: &str) -> View {
    View::new(Template::parse(t).unwrap())
}

fn app(s: &str) -> AppId {
    s.parse().unwrap()
}

fn texts(node: &ViewNode, out: &mut Vec<String>) {
    match node {
        ViewNode::Text(t) => out.push(t.clone()),
        ViewNode::Element { children, .. } => children.iter().for_each(|c| texts(c, out)),
    }
}

#[test]
fn set_data_becomes_the_smallest_patch_and_events_find_their_handler() {
    let mut v = view(HELLO);
    let first = v.render().unwrap();
    assert!(matches!(first.as_slice(), [ViewPatch::Replace { path, .. }] if path.is_empty()));
    let patches = v.set_data(br#"{"taps": 3}"#).unwrap();
    assert_eq!(
        patches,
        [ViewPatch::SetText {
            path: vec![1, 0],
            text: "Taps: 3".into()
        }]
    );
    // Setting the same value again changes nothing on screen.
    assert!(v.set_data(br#"{"taps": 3}"#).unwrap().is_empty());
    assert_eq!(v.handler(&[2], EventKind::Tap).unwrap().handler, "onTap");
    assert!(v.handler(&[1], EventKind::Tap).is_none());
    assert!(v.handler(&[2], EventKind::Input).is_none());
}

#[test]
fn lists_conditions_and_inputs() {
    let mut v = view(TODO);
    v.render().unwrap();
    let mut t = Vec::new();
    texts(v.tree().unwrap(), &mut t);
    assert_eq!(t, ["Nothing to do"]);
    let patches = v
        .set_data(br#"{"todos": [{"id": "a", "title": "milk", "state": "open"}, {"id": 7, "title": "eggs"}]}"#)
        .unwrap();
    assert!(!patches.is_empty());
    let mut t = Vec::new();
    texts(v.tree().unwrap(), &mut t);
    assert_eq!(t, ["milk", "done", "eggs", "done"]);
    // The second item's button: list at 0 (the condition hid the text), item view 1, button 1.
    let b = v.handler(&[0, 1, 1], EventKind::Tap).unwrap();
    assert_eq!(b.handler, "onToggle");
    assert_eq!(b.item, Some((1, Some("7".into()))));
    // A path change: one attribute and one text, nothing else.
    let patches = v
        .set_data(br#"{"todos.0.state": "closed", "todos.1.title": "bread"}"#)
        .unwrap();
    assert_eq!(patches.len(), 2, "{patches:?}");
    assert_eq!(
        v.handler(&[1], EventKind::Input).unwrap().handler,
        "onDraft"
    );
}

#[test]
fn bad_patches_change_nothing() {
    let mut v = view(TODO);
    v.render().unwrap();
    v.set_data(br#"{"todos": []}"#).unwrap();
    let before = v.data().clone();
    for bad in [
        &br#"[1,2]"#[..],
        br#"not json"#,
        br#"{"a..b": 1}"#,
        br#"{"todos.5": 1}"#,
        br#"{"todos.x": 1}"#,
        br#"{"{{x}}": 1}"#,
        br#"{"": 1}"#,
    ] {
        assert!(
            matches!(v.set_data(bad), Err(RenderError::BadData(_))),
            "{bad:?}"
        );
        assert_eq!(v.data(), &before);
    }
    // Appending is allowed: the index just past the end.
    v.set_data(br#"{"todos.0": {"id": 1, "title": "x"}}"#)
        .unwrap();
    // A list over too many items is refused whole, and the view keeps its last state.
    let many: Vec<_> = (0..MAX_RENDERED_NODES)
        .map(|i| serde_json::json!({"id": i}))
        .collect();
    let patch = serde_json::to_vec(&serde_json::json!({ "todos": many })).unwrap();
    let tree = v.tree().cloned();
    assert!(matches!(v.set_data(&patch), Err(RenderError::TooLarge(_))));
    assert_eq!(v.tree().cloned(), tree);
    let deep = format!("{{\"x\": {}{}}}", "[".repeat(100), "]".repeat(100));
    assert!(matches!(
        v.set_data(deep.as_bytes()),
        Err(RenderError::TooLarge(_))
    ));
    let huge = format!("{{\"x\": \"{}\"}}", "a".repeat(300 << 10));
    assert!(matches!(
        v.set_data(huge.as_bytes()),
        Err(RenderError::TooLarge(_))
    ));
}

/// Strings an attacker would put in view data.
const HOSTILE: [&str; 6] = [
    "<script>alert(1)</script>",
    "\" onload=\"alert(1)",
    "' onerror='alert(1)",
    "javascript:alert(1)",
    "</span><img src=x onerror=alert(1)>",
    "`${alert(1)}`",
];

/// Every tag in our own HTML output: (name, attribute names). Text is escaped, so a raw `<`
/// only ever opens a tag we wrote.
fn tags(html: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for chunk in html.split('<').skip(1) {
        let tag = chunk.split('>').next().unwrap();
        if tag.starts_with('/') {
            continue;
        }
        let mut names = Vec::new();
        let mut rest = tag;
        let name = rest.split(' ').next().unwrap().to_owned();
        rest = &rest[name.len()..];
        // attr="value" pairs; values hold no raw quote.
        while let Some(eq) = rest.find("=\"") {
            names.push(rest[..eq].trim().to_owned());
            let after = &rest[eq + 2..];
            let close = after.find('"').expect("an unterminated attribute value");
            rest = &after[close + 1..];
        }
        assert!(rest.trim().is_empty(), "stray text in a tag: {tag:?}");
        out.push((name, names));
    }
    out
}

#[test]
fn hostile_data_never_becomes_markup_or_a_live_attribute() {
    let mut v = view(
        r#"<view class="{{a}}"><text>{{a}}</text><input value="{{a}}" placeholder="{{a}}" bind:input="h"/><image src="assets/x.png" alt="{{a}}"/><button class="{{a}}" bind:tap="t">{{a}}</button></view>"#,
    );
    let mut html = HtmlSurface::new("/assets/");
    let mut text = TextSurface::new();
    let me = app("com.example.hostile");
    let first = v.render().unwrap();
    html.apply(&me, &first).unwrap();
    text.apply(&me, &first).unwrap();
    for s in HOSTILE
        .iter()
        .chain(&["\u{1b}[2J\u{1b}]0;pwned\u{7}", "a\rb\u{202e}c"])
    {
        let patch = serde_json::to_vec(&serde_json::json!({ "a": s })).unwrap();
        let p = v.set_data(&patch).unwrap();
        html.apply(&me, &p).unwrap();
        text.apply(&me, &p).unwrap();
        let out = html.html(&me);
        let allowed = [
            "class",
            "value",
            "placeholder",
            "type",
            "alt",
            "src",
            "data-sf",
            "data-sf-path",
            "data-sf-events",
        ];
        for (name, attrs) in tags(&out) {
            assert!(
                ["div", "span", "button", "input", "img"].contains(&name.as_str()),
                "element {name} in {out}"
            );
            for a in attrs {
                assert!(allowed.contains(&a.as_str()), "attribute {a} in {out}");
            }
        }
        assert!(!out.to_lowercase().contains("<script"), "{out}");
        // The image's src is only ever the asset path under the base.
        assert!(out.contains("src=\"/assets/assets/x.png\""), "{out}");
        let t = text.text(&me);
        assert!(!t.chars().any(|c| c.is_control() && c != '\n'), "{t:?}");
        assert!(!t.contains('\u{202e}'));
    }
}

#[test]
fn a_render_thread_serves_apps_apart_and_maps_events() {
    let surface = Arc::new(Mutex::new(RecordingSurface::new()));
    let side = RenderSide::spawn(surface.clone()).unwrap();
    let (a, b) = (app("com.example.a"), app("com.example.b"));
    side.open(&a, Template::parse(HELLO).unwrap()).unwrap();
    side.open(&b, Template::parse(TODO).unwrap()).unwrap();
    side.set_data_and_wait(&a, br#"{"taps": 1}"#.to_vec())
        .unwrap();
    side.set_data(&b, br#"{"draft": "hi"}"#.to_vec()).unwrap();
    // An unknown path for b is refused and leaves a alone.
    assert!(
        side.set_data_and_wait(&b, br#"{"x.5": 1}"#.to_vec())
            .is_err()
    );
    {
        let s = surface.lock().unwrap();
        let mut t = Vec::new();
        texts(s.tree(&a).unwrap(), &mut t);
        assert_eq!(t[1], "Taps: 1");
        assert!(s.batches.iter().all(|(app, _)| app == &a || app == &b));
    }
    let tap = |app: &AppId, target: Vec<u32>| SurfaceEvent {
        app: app.clone(),
        target,
        kind: EventKind::Tap,
        value: None,
    };
    let json = side.event(tap(&a, vec![2])).unwrap().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(v, serde_json::json!({"handler": "onTap", "detail": {}}));
    // No handler bound there: nothing to forward.
    assert_eq!(side.event(tap(&a, vec![1])).unwrap(), None);
    assert_eq!(side.event(tap(&a, vec![9, 9, 9])).unwrap(), None);
    let input = SurfaceEvent {
        app: b.clone(),
        target: vec![2],
        kind: EventKind::Input,
        value: Some("<b>x</b>".into()),
    };
    let v: serde_json::Value =
        serde_json::from_slice(&side.event(input).unwrap().unwrap()).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"handler": "onDraft", "detail": {"value": "<b>x</b>"}})
    );
    // An app with no view.
    assert!(matches!(
        side.event(tap(&app("com.example.none"), vec![])),
        Err(RenderError::NoView(_))
    ));
    side.close(&a);
    assert!(matches!(
        side.event(tap(&a, vec![2])),
        Err(RenderError::NoView(_))
    ));
}

#[test]
fn a_view_switch_replaces_the_tree_and_its_handlers_and_never_opens_a_view() {
    let surface = Arc::new(Mutex::new(RecordingSurface::new()));
    let side = RenderSide::spawn(surface.clone()).unwrap();
    let a = app("com.example.a");
    side.open(&a, Template::parse(HELLO).unwrap()).unwrap();
    side.set_data(&a, br#"{"taps": 4}"#.to_vec()).unwrap();
    side.show(&a, Template::parse(TODO).unwrap()).unwrap();
    // Queued after the switch: applies to the new view, whose data started empty.
    side.set_data_and_wait(&a, br#"{"draft": "x"}"#.to_vec())
        .unwrap();
    assert_eq!(
        side.data(&a).unwrap(),
        Some(serde_json::json!({"draft": "x"}))
    );
    {
        let s = surface.lock().unwrap();
        let mut t = Vec::new();
        texts(s.tree(&a).unwrap(), &mut t);
        assert_eq!(t, ["Nothing to do"], "the old view's text is gone");
        // The open and the switch each reached the surface as one replace of the root.
        let roots = s
            .batches
            .iter()
            .filter(|(app, p)| {
                app == &a
                    && matches!(p.as_slice(), [ViewPatch::Replace { path, .. }] if path.is_empty())
            })
            .count();
        assert_eq!(roots, 2, "the open and the switch each send the whole tree");
    }
    let tap = |target: Vec<u32>| SurfaceEvent {
        app: a.clone(),
        target,
        kind: EventKind::Tap,
        value: None,
    };
    // The old view's button (node 2, bound to onTap) is the new view's input: no tap handler.
    assert_eq!(side.event(tap(vec![2])).unwrap(), None);
    // A switch for an app with no open view (never opened, or closed) opens nothing.
    let b = app("com.example.b");
    side.show(&b, Template::parse(HELLO).unwrap()).unwrap();
    side.close(&a);
    side.show(&a, Template::parse(HELLO).unwrap()).unwrap();
    side.sync().unwrap();
    assert_eq!(side.data(&b).unwrap(), None);
    assert_eq!(side.data(&a).unwrap(), None);
    let s = surface.lock().unwrap();
    assert!(s.tree(&b).is_none() && s.tree(&a).is_none());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Whatever the data goes from and to, the patches diff gives take the old tree to the
    /// new one exactly.
    #[test]
    fn patches_take_the_old_tree_to_the_new_one(
        before in prop::collection::vec(("[a-z<\"]{0,6}", any::<bool>(), "[a-z]{0,3}"), 0..8),
        after in prop::collection::vec(("[a-z<\"]{0,6}", any::<bool>(), "[a-z]{0,3}"), 0..8),
        draft in proptest::option::of("[a-z]{0,5}"),
    ) {
        let data = |items: &[(String, bool, String)]| {
            let todos: Vec<_> = items
                .iter()
                .enumerate()
                .map(|(i, (title, open, state))| {
                    serde_json::json!({"id": i, "title": title, "state": if *open { state.clone() } else { String::new() }})
                })
                .collect();
            serde_json::to_vec(&serde_json::json!({"todos": todos, "draft": draft})).unwrap()
        };
        let mut v = view(TODO);
        let mut tree = None;
        apply(&mut tree, &v.render().unwrap()).unwrap();
        apply(&mut tree, &v.set_data(&data(&before)).unwrap()).unwrap();
        prop_assert_eq!(tree.as_ref(), v.tree());
        let old = v.tree().cloned().unwrap();
        let p = v.set_data(&data(&after)).unwrap();
        apply(&mut tree, &p).unwrap();
        prop_assert_eq!(tree.as_ref(), v.tree());
        let mut again = Vec::new();
        diff(&old, v.tree().unwrap(), &mut Vec::new(), &mut again);
        prop_assert_eq!(again, p);
    }
}

/// A long string repeated by a list, or a long list of hidden items, is refused by the
/// render's byte and step budgets, not paid for in host memory or render-thread time.
#[test]
fn amplification_through_lists_is_bounded() {
    let mut v = view(r#"<view><list items="{{xs}}"><text>{{s}}</text></list></view>"#);
    v.render().unwrap();
    let s = "a".repeat(200 << 10);
    v.set_data(&serde_json::to_vec(&serde_json::json!({ "s": s })).unwrap())
        .unwrap();
    let xs: Vec<u32> = (0..1000).collect();
    let patch = serde_json::to_vec(&serde_json::json!({ "xs": xs })).unwrap();
    assert!(matches!(v.set_data(&patch), Err(RenderError::TooLarge(m)) if m.contains("bytes")));

    let mut v = view(r#"<view><list items="{{xs}}"><text sf:if="{{nope}}">x</text></list></view>"#);
    v.render().unwrap();
    let xs = vec![0u8; 100_000];
    let patch = serde_json::to_vec(&serde_json::json!({ "xs": xs })).unwrap();
    assert!(matches!(v.set_data(&patch), Err(RenderError::TooLarge(m)) if m.contains("steps")));
}

#[test]
fn terminal_text_escapes_controls_and_every_bidi_mark() {
    let hostile = "a\u{1b}[31m\u{61c}\u{200f}\u{202e}\u{2067}\r\nz";
    let t = sandframe_render::terminal_text(hostile);
    for c in [
        '\u{1b}', '\u{61c}', '\u{200f}', '\u{202e}', '\u{2067}', '\r', '\n',
    ] {
        assert!(!t.contains(c), "{c:?} reached the terminal: {t:?}");
    }
    assert!(t.starts_with('a') && t.ends_with('z') && t.contains("\\u{61c}"));
}

#[test]
fn identity_text_escapes_every_invisible_and_format_character_and_the_backslash() {
    let all = look_alike::all();
    assert_eq!(
        all.len(),
        3 + 5 + 1 + 1 + 2 + 3 + 1 + 1 + 1 + 2 + 1 + 16 + 240 + 128
    );
    for c in all {
        let shown = sandframe_render::identity_text(&format!("Bank{c}Co"));
        assert_eq!(shown, format!("Bank\\u{{{:x}}}Co", u32::from(c)), "{c:?}");
        assert!(!shown.contains(c), "{c:?} reached the terminal: {shown:?}");
    }
    // A fake escape spelled out by the text cannot pass for a real one.
    assert_eq!(
        sandframe_render::identity_text("Bank\\u{200b}Co"),
        "Bank\\\\u{200b}Co"
    );
    assert_eq!(sandframe_render::identity_text("a\\b"), "a\\\\b");
    // Everything terminal_text escapes, identity text escapes too.
    let hostile = "a\u{1b}[31m\u{61c}\u{200f}\u{202e}\u{2067}\r\n\u{7f}z";
    assert_eq!(
        sandframe_render::identity_text(hostile),
        sandframe_render::terminal_text(hostile)
    );
    // Visible text of every script passes unchanged.
    for plain in ["Hello", "Ωμέγα", "世界", "سلام", "नमस्ते", "😀", "e\u{301}"]
    {
        assert_eq!(sandframe_render::identity_text(plain), plain);
    }
}

#[test]
fn view_content_keeps_the_joiners_that_scripts_and_emoji_need() {
    // Persian needs ZWNJ, Devanagari conjuncts ZWJ/ZWNJ, emoji sequences ZWJ and VS16.
    let words = "می\u{200c}خواهم क्\u{200d}ष 👩\u{200d}💻 ❤\u{fe0f}";
    assert_eq!(sandframe_render::terminal_text(words), words);
    let mut v = view("<view><text>{{a}}</text><button bind:tap=\"t\">{{a}}</button></view>");
    let mut text = TextSurface::new();
    let me = app("com.example.words");
    text.apply(&me, &v.render().unwrap()).unwrap();
    let patch = serde_json::to_vec(&serde_json::json!({ "a": words })).unwrap();
    text.apply(&me, &v.set_data(&patch).unwrap()).unwrap();
    let shown = text.text(&me);
    assert!(shown.contains(&format!("{words}\n")), "{shown:?}");
    assert!(shown.contains(&format!("[{words}]")), "{shown:?}");
    // ...while identity text shows the same joiners escaped.
    assert!(!sandframe_render::identity_text(words).contains('\u{200d}'));
}

/// One mapping from render errors to the ABI codes a guest sees (the host's `ui.setData`
/// answers with it): a full queue asks the app to retry, not to shrink its patch.
#[test]
fn each_render_error_has_one_abi_code() {
    use sandframe_core::{Error, ErrorCode};
    let code = |e: RenderError| Error::from(e).code();
    assert_eq!(code(RenderError::Busy), ErrorCode::RateLimited);
    assert_eq!(code(RenderError::TooLarge("x".into())), ErrorCode::TooLarge);
    assert_eq!(
        code(RenderError::BadData("x".into())),
        ErrorCode::BadRequest
    );
    assert_eq!(code(RenderError::Stopped), ErrorCode::Unavailable);
    assert_eq!(
        code(RenderError::NoView("com.example.a".parse().unwrap())),
        ErrorCode::Unavailable
    );
}
