//! Any bytes as a `ui.setData` patch, applied in turn to a view with bindings, conditions,
//! keyed lists and inputs: never a panic; a refused patch changes nothing; an accepted one
//! keeps the view within its limits, and its patches bring the previous tree to the new one.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sandframe_package::template::Template;
use sandframe_render::view::{View, apply};

const TEMPLATE: &str = r#"<view class="page">
  <text>{{title}} {{count}}</text>
  <view sf:if="{{!done}}"><text>{{a.b.c}}</text></view>
  <list items="{{todos}}" key="id" as="todo">
    <button bind:tap="onToggle">{{todo.title}}</button>
  </list>
  <input value="{{draft}}" placeholder="New item" bind:input="onDraft"/>
</view>"#;

fn template() -> &'static Template {
    static T: OnceLock<Template> = OnceLock::new();
    T.get_or_init(|| Template::parse(TEMPLATE).expect("the fuzz template parses"))
}

fuzz_target!(|data: &[u8]| {
    let mut view = View::new(template().clone());
    let first = view.render().expect("the fuzz template renders with no data");
    let mut tree = None;
    apply(&mut tree, &first).expect("the first render's patches apply to nothing");
    // The input as up to four patches, split at 0xFF bytes (never in UTF-8 JSON).
    for patch in data.split(|b| *b == 0xFF).take(4) {
        let before = view.data().clone();
        match view.set_data(patch) {
            Ok(patches) => {
                apply(&mut tree, &patches).expect("a view's own patches apply");
                assert_eq!(tree.as_ref(), view.tree(), "patches reach the view's tree");
            }
            Err(_) => assert_eq!(view.data(), &before, "a refused patch changed the data"),
        }
    }
});
