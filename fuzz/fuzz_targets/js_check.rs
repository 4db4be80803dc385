//! Any bytes as a JS app's `logic.js`, checked as `sandframe pack` checks it: the engine parses
//! and evaluates the script inside the sandbox. Whatever the script, the answer is `Ok`, a
//! syntax error with its position, or the sandbox's stop: never a panic or a trap in the host.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use sandframe_runtime::{MemoryArtifacts, Runtime, RuntimeConfig};

fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        Runtime::new(
            RuntimeConfig::default(),
            [1; 32],
            Arc::new(MemoryArtifacts::default()),
        )
    })
}

fuzz_target!(|data: &[u8]| {
    let source = String::from_utf8_lossy(data);
    if let Ok(Err(sandframe_runtime::js::ScriptProblem::Syntax { line, column, .. })) =
        runtime().check_script(&source)
    {
        assert!(line >= 1 && column >= 1);
    }
});
