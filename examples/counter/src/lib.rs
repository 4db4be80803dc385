//! The counter example: every tap on "+1" adds one, "Reset" goes back to zero, and the count
//! survives a relaunch because it lives in the app's storage.

use sandframe_sdk::serde_json::json;
use sandframe_sdk::{Event, Result, storage, ui};

fn count() -> Result<u64> {
    Ok(storage::get("count")?.unwrap_or(0))
}

fn show(count: u64) -> Result<()> {
    ui::set_data(&json!({ "count": count }))
}

fn init() -> Result<()> {
    show(count()?)
}

fn on_increment(_: &Event) -> Result<()> {
    let next = count()? + 1;
    storage::set("count", &next)?;
    show(next)
}

fn on_reset(_: &Event) -> Result<()> {
    storage::set("count", &0u64)?;
    show(0)
}

sandframe_sdk::app! {
    init: init,
    handlers: { "onIncrement" => on_increment, "onReset" => on_reset },
}
