//! The profile example: a tap asks for `user:readProfile`; the answer comes at once (a grant
//! already stored, or host policy) or later as an `sf.consent` event (a person was asked).
//! Granted, it reads the profile and greets the user by name.

use sandframe_sdk::capability::{self, Status};
use sandframe_sdk::serde_json::{Value, json};
use sandframe_sdk::{Event, Result, call_json, ui};

fn greet() -> Result<()> {
    let profile: Value = call_json("user.getProfile", &json!({}))?;
    let name = profile.get("name").and_then(Value::as_str).unwrap_or("");
    ui::set_data(&json!({ "status": "Granted", "name": name }))
}

fn init() -> Result<()> {
    ui::set_data(&json!({ "status": "Tap to ask for your profile", "name": "" }))
}

fn on_ask(_: &Event) -> Result<()> {
    match capability::request("user:readProfile")? {
        Status::Granted => greet(),
        Status::Pending => ui::set_data(&json!({ "status": "Waiting for your answer…" })),
        Status::Denied => ui::set_data(&json!({ "status": "Denied", "name": "" })),
    }
}

fn on_consent(event: &Event) -> Result<()> {
    if event.detail.get("granted") == Some(&Value::Bool(true)) {
        greet()
    } else {
        ui::set_data(&json!({ "status": "Denied", "name": "" }))
    }
}

sandframe_sdk::app! {
    init: init,
    handlers: { "onAsk" => on_ask, "sf.consent" => on_consent },
}
