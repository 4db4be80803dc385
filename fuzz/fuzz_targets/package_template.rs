//! Any text into the view-template parser: never a panic, and anything accepted is within the
//! template limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sandframe_package::template::{Element, MAX_DEPTH, MAX_NODES, Node, Template};

fn walk(e: &Element, depth: usize, nodes: &mut usize) {
    assert!(depth <= MAX_DEPTH);
    *nodes += 1;
    for c in &e.children {
        match c {
            Node::Element(child) => walk(child, depth + 1, nodes),
            Node::Text(_) => *nodes += 1,
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(t) = Template::parse(text)
    {
        let mut nodes = 0;
        walk(t.root(), 1, &mut nodes);
        assert!(nodes <= MAX_NODES);
    }
});
