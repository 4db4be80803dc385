//! Progress on long steps (building a Rust app, a first compile at launch): a spinner on
//! standard error naming the step, with its elapsed time, cleared when the step ends. Only on
//! a terminal, and never with `--json`: piped or scripted output carries no progress noise.

use std::io::IsTerminal as _;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// A step in progress; dropping it clears the line.
pub(crate) struct Spinner(ProgressBar);

impl Spinner {
    /// Starts a spinner saying `message`, unless the output is JSON or standard error is not
    /// a terminal.
    pub(crate) fn start(json: bool, message: impl Into<String>) -> Spinner {
        let bar = if json || !std::io::stderr().is_terminal() {
            ProgressBar::hidden()
        } else {
            let bar = ProgressBar::new_spinner();
            if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        };
        bar.set_message(message.into());
        // Drawn at once, so even a short step is named.
        bar.tick();
        Spinner(bar)
    }

    /// Prints `line` on standard error above the spinner.
    pub(crate) fn note(&self, line: &str) {
        self.0.suspend(|| eprintln!("sandframe: {line}"));
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}
