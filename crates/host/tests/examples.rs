//! The Rust example mini-apps, built from source by pack (cargo for wasm32-unknown-unknown,
//! with the SDK), accepted by the validator, installed and driven through a real host.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // a test: failing loudly is the point

mod common;
use sandframe_host::Host;
use sandframe_testkit::{example, tap};

#[test]
fn the_counter_counts_remembers_and_resets() {
    counts_remembers_and_resets("counter");
}

#[test]
fn the_js_counter_counts_remembers_and_resets_as_the_rust_one_does() {
    counts_remembers_and_resets("counter-js");
}

/// The counter's behaviour, whichever language `example` is written in.
fn counts_remembers_and_resets(example_name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let h = common::host_in(dir.path().join("home")).build().unwrap();
    let installed = h.install(&example(example_name)).unwrap();
    let app = installed.app;
    assert_eq!(h.launch(&app).unwrap(), 0);
    let count = |h: &Host| {
        let html = h.html(&app).unwrap().unwrap();
        let at = html.find("Count: ").unwrap_or_else(|| panic!("{html}"));
        html[at + 7..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
    };
    assert_eq!(count(&h), "0");
    for _ in 0..3 {
        assert_eq!(h.surface_event(tap(&app, vec![1])).unwrap(), Some(0));
    }
    assert_eq!(count(&h), "3");
    // Relaunched (and after a host restart), the count is still there.
    h.terminate(&app).unwrap();
    drop(h);
    let h = common::host_in(dir.path().join("home")).build().unwrap();
    assert_eq!(h.launch(&app).unwrap(), 0);
    assert_eq!(count(&h), "3");
    assert_eq!(h.surface_event(tap(&app, vec![2])).unwrap(), Some(0));
    assert_eq!(count(&h), "0");
    // A handler the app does not have: its sf_event answers bad_request (4).
    assert_eq!(h.dispatch(&app, br#"{"handler":"onNothing"}"#).unwrap(), 4);
}

/// Grants every request (a person who always says yes).
struct Yes;

impl sandframe_host::Consent for Yes {
    fn decide(&self, _: &sandframe_host::ConsentRequest) -> sandframe_host::ConsentDecision {
        sandframe_host::ConsentDecision::Grant
    }
}

/// The embedder's profile API.
struct Profile;

impl sandframe_host::Api for Profile {
    fn call(
        &self,
        _: &sandframe_host::AppContext,
        _: &[u8],
        response: &mut Vec<u8>,
    ) -> Result<(), sandframe_host::ApiError> {
        response.extend_from_slice(br#"{"name":"Ada"}"#);
        Ok(())
    }
}

#[test]
fn the_profile_app_asks_and_shows_the_answer() {
    asks_and_shows_the_answer("profile");
}

#[test]
fn the_js_profile_app_asks_and_shows_the_answer_as_the_rust_one_does() {
    asks_and_shows_the_answer("profile-js");
}

/// The profile app's behaviour, whichever language `example` is written in.
fn asks_and_shows_the_answer(example_name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let h = common::host_in(dir.path().join("home"))
        .consent(std::sync::Arc::new(Yes))
        .api(
            "user.getProfile",
            Some("user:readProfile"),
            std::sync::Arc::new(Profile),
        )
        .build()
        .unwrap();
    let app = h.install(&example(example_name)).unwrap().app;
    assert_eq!(h.launch(&app).unwrap(), 0);
    let html = |h: &Host| h.html(&app).unwrap().unwrap();
    assert!(html(&h).contains("Tap to ask"), "{}", html(&h));
    // The button is the second child while no name is shown. The answer is pending (consent
    // is asked off the logic thread) and arrives as an sf.consent event.
    assert_eq!(h.surface_event(tap(&app, vec![1])).unwrap(), Some(0));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !html(&h).contains("Hello, Ada!") {
        assert!(
            std::time::Instant::now() < deadline,
            "no greeting: {}",
            html(&h)
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // The grant is stored: asked again, the answer is immediate.
    assert_eq!(h.surface_event(tap(&app, vec![2])).unwrap(), Some(0));
    assert!(html(&h).contains("Hello, Ada!"));
    assert_eq!(h.grants(&app).unwrap().len(), 1);
}

#[test]
fn the_notes_app_lists_and_adds_notes_on_its_service_and_is_refused_elsewhere() {
    let service = sandframe_testkit::https::LocalService::start(&["notes.sandframe.test"]).unwrap();
    let origin = format!("https://notes.sandframe.test:{}", service.port());
    let lo: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    let net = sandframe_host::NetConfig::new()
        .without_public_roots()
        .trust_root(service.ca_der())
        .resolver(std::sync::Arc::new(
            sandframe_host::StaticResolver::new().with("notes.sandframe.test", [lo]),
        ))
        .allow_range("127.0.0.1/32".parse().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let h = common::host_in(dir.path().join("home"))
        .consent(std::sync::Arc::new(Yes))
        .net(net)
        .build()
        .unwrap();
    let bytes = sandframe_testkit::example_patched("notes", |m| {
        m.replace("https://notes.sandframe.test:8443", &origin)
    });
    let app = h.install(&bytes).unwrap().app;
    let html = |h: &Host| h.html(&app).unwrap().unwrap_or_default();
    let wait_for = |h: &Host, what: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !html(h).contains(what) {
            assert!(
                std::time::Instant::now() < deadline,
                "no {what:?}: {}",
                html(h)
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    };
    // Launch: it asks for net:fetch (the person says yes), then lists the notes.
    assert_eq!(h.launch(&app).unwrap(), 0);
    wait_for(&h, "0 notes on the service");
    let grants = h.grants(&app).unwrap();
    assert_eq!(grants[0].scope()[0].to_string(), origin);
    // Add a note: a POST of JSON, answered with the list.
    assert_eq!(h.surface_event(tap(&app, vec![2])).unwrap(), Some(0));
    wait_for(&h, "1 note on the service");
    assert!(html(&h).contains("A note written at"), "{}", html(&h));
    let seen = service.seen();
    let post = seen.iter().find(|s| s.method == "POST").unwrap();
    assert_eq!(post.path, "/notes");
    assert_eq!(post.headers["content-type"], "application/json");
    // Another site: refused at once, naming why; nothing reached the service for it.
    let before = service.seen().len();
    assert_eq!(h.surface_event(tap(&app, vec![4])).unwrap(), Some(0));
    wait_for(&h, "Refused:");
    assert!(
        html(&h).contains("is not an origin granted to this app"),
        "{}",
        html(&h)
    );
    assert_eq!(service.seen().len(), before);
}
