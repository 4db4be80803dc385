//! The notes example: its notes live on its own HTTPS service, the one origin its manifest
//! declares. It asks for `net:fetch`, lists the notes, adds one on a tap, and shows what the
//! host says when it tries a site it did not declare.

use sandframe_sdk::capability::{self, Status};
use sandframe_sdk::net::{self, Request};
use sandframe_sdk::serde_json::{Value, json};
use sandframe_sdk::{Event, Result, call_json, ui};

/// The service: the first origin the manifest declares for net:fetch (so the app follows its
/// manifest, whatever port a development service runs on).
fn service() -> Result<String> {
    let list: Value = call_json("capability.list", &json!({}))?;
    let origin = list["declared"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|d| d["capability"] == "net:fetch")
        .and_then(|d| d["origins"][0].as_str())
        .unwrap_or("https://notes.sandframe.test:8443");
    Ok(origin.to_owned())
}

fn status(text: &str) -> Result<()> {
    ui::set_data(&json!({ "status": text }))
}

fn refresh() -> Result<()> {
    net::fetch(&format!("{}/notes", service()?))?;
    status("Loading your notes…")
}

fn init() -> Result<()> {
    ui::set_data(&json!({ "status": "Asking for the network…", "notes": [] }))?;
    match capability::request("net:fetch")? {
        Status::Granted => refresh(),
        Status::Pending => status("Waiting for your answer…"),
        Status::Denied => status("No network: the notes service cannot be reached"),
    }
}

fn on_consent(event: &Event) -> Result<()> {
    if event.detail.get("granted") == Some(&Value::Bool(true)) {
        refresh()
    } else {
        status("No network: the notes service cannot be reached")
    }
}

fn on_add(_: &Event) -> Result<()> {
    let now = sandframe_sdk::now_ms()?;
    let text = format!("A note written at {now} ms");
    net::send(&Request::post_json(
        &format!("{}/notes", service()?),
        &json!({ "text": text }),
    )?)?;
    status("Saving…")
}

fn on_refresh(_: &Event) -> Result<()> {
    refresh()
}

fn on_elsewhere(_: &Event) -> Result<()> {
    // Not an origin the manifest declares: the host refuses it at once.
    match net::fetch("https://elsewhere.example.com/") {
        Ok(_) => status("elsewhere.example.com was reached (it should not have been)"),
        Err(e) => status(&format!("Refused: {}", e.message)),
    }
}

fn on_fetch(event: &Event) -> Result<()> {
    let answer = net::answer(event)?;
    let response = match answer.result {
        Ok(r) => r,
        Err(e) => return status(&format!("The service failed: {}", e.message)),
    };
    if !(200..300).contains(&response.status) {
        net::close(response.id)?;
        return status(&format!("The service answered {}", response.status));
    }
    let body: Value = net::json(response.id)?;
    let notes: Vec<Value> = body["notes"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, n)| json!({ "id": i, "text": n.as_str().unwrap_or("") }))
        .collect();
    let status = match notes.len() {
        1 => "1 note on the service".to_owned(),
        n => format!("{n} notes on the service"),
    };
    ui::set_data(&json!({ "notes": notes, "status": status }))
}

sandframe_sdk::app! {
    init: init,
    handlers: {
        "sf.consent" => on_consent,
        "sf.fetch" => on_fetch,
        "onAdd" => on_add,
        "onRefresh" => on_refresh,
        "onElsewhere" => on_elsewhere,
    },
}
