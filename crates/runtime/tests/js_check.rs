//! `Runtime::check_script`: a JS app's script parsed by the engine inside the sandbox, as
//! `sandframe pack` and `dev` run it.

#![allow(clippy::unwrap_used, clippy::panic)] // a test: failing loudly is the point

use std::sync::Arc;

use sandframe_runtime::js::ScriptProblem;
use sandframe_runtime::{MemoryArtifacts, Runtime, RuntimeConfig};

fn runtime() -> Runtime {
    Runtime::new(
        RuntimeConfig::default(),
        [7; 32],
        Arc::new(MemoryArtifacts::default()),
    )
}

#[test]
fn a_syntax_error_has_its_line_and_column_and_a_good_script_passes() {
    let rt = runtime();
    assert_eq!(
        rt.check_script("Page({ data: { n: 1 }, onTap() { this.setData({ n: 2 }); } });")
            .unwrap(),
        Ok(())
    );
    // Its launch code calls an API the check does not serve: not a problem of its form.
    assert_eq!(
        rt.check_script("Page({ onLoad() { sf.storage.get('k'); } });")
            .unwrap(),
        Ok(())
    );
    match rt
        .check_script("Page({\n  onTap() {\n    let x = ;\n  },\n});\n")
        .unwrap()
    {
        Err(ScriptProblem::Syntax {
            line,
            column,
            message,
        }) => {
            assert_eq!((line, column), (3, 13), "{message}");
            assert!(message.starts_with("SyntaxError"), "{message}");
        }
        other => panic!("not a syntax error: {other:?}"),
    }
    // Hostile input is answered, never a panic: deep nesting, a top level that never returns.
    match rt.check_script(&"[".repeat(100_000)).unwrap() {
        Err(ScriptProblem::TooDeep) => {}
        other => panic!("deep nesting: {other:?}"),
    }
    match rt.check_script("for (;;) {}").unwrap() {
        Err(ScriptProblem::Stopped(kind)) => {
            assert!(kind.contains("Fuel") || kind.contains("Deadline"), "{kind}");
        }
        other => panic!("a loop at the top level: {other:?}"),
    }
}
