//! What the commands print: text for people, or one JSON object with `--json`.

use std::io::Write as _;

use serde_json::{Map, Value};

use crate::CliError;

pub(crate) use sandframe_host::identity_text as shown;

/// Identity text (a name, a reason, a publisher) shown in double quotes: invisible characters
/// and the backslash escaped ([`shown`]), and a `"` inside shown as `\"`, so the text cannot
/// end the quotes early and go on as if the command had said the rest.
pub(crate) fn quoted(s: &str) -> String {
    format!("\"{}\"", shown(s).replace('"', "\\\""))
}

/// A label from an app's view in double quotes: view content, so joiners stay (see
/// [`sandframe_host::terminal_text`]); controls, bidirectional marks, the backslash and `"`
/// are escaped.
pub(crate) fn quoted_label(s: &str) -> String {
    let s = s.replace('\\', "\\\\").replace('"', "\\\"");
    format!("\"{}\"", sandframe_host::terminal_text(&s))
}

/// The command's output so far.
pub(crate) struct Out {
    json: bool,
    fields: Map<String, Value>,
    /// The command printed its one JSON object itself (a server's address as it starts).
    streamed: bool,
}

impl Out {
    pub(crate) fn new(json: bool) -> Out {
        Out {
            json,
            fields: Map::new(),
            streamed: false,
        }
    }

    /// Whether the output is JSON.
    pub(crate) fn json(&self) -> bool {
        self.json
    }

    /// A line for a person (standard output, text mode only). A closed pipe is not an error.
    pub(crate) fn line(&self, text: impl std::fmt::Display) {
        if !self.json {
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout, "{text}");
            let _ = stdout.flush();
        }
    }

    /// A field of the JSON object.
    pub(crate) fn set(&mut self, key: &str, value: impl serde::Serialize) {
        let v = serde_json::to_value(value).unwrap_or(Value::Null);
        self.fields.insert(key.to_owned(), v);
    }

    /// Appends to an array field of the JSON object.
    pub(crate) fn push(&mut self, key: &str, value: impl serde::Serialize) {
        let v = serde_json::to_value(value).unwrap_or(Value::Null);
        match self
            .fields
            .entry(key.to_owned())
            .or_insert_with(|| Value::Array(Vec::new()))
        {
            Value::Array(a) => a.push(v),
            other => *other = Value::Array(vec![v]),
        }
    }

    /// The command printed its JSON object already: `finish_ok` prints nothing more.
    pub(crate) fn streamed(&mut self) {
        self.streamed = true;
    }

    pub(crate) fn finish_ok(self) {
        if self.json && !self.streamed {
            let mut fields = Map::new();
            fields.insert("ok".into(), Value::Bool(true));
            fields.extend(self.fields);
            print_json(&Value::Object(fields));
        }
    }

    pub(crate) fn finish_err(self, e: &CliError) {
        let mut stderr = std::io::stderr().lock();
        match e.report() {
            // Each finding once: the error's own text repeats the first.
            Some(report) => {
                let _ = writeln!(stderr, "error: the package was rejected:");
                for f in report.findings() {
                    let _ = writeln!(stderr, "  {}", shown(&f.to_string()));
                }
            }
            // Line by line, so that a build's output keeps its line breaks (each line escaped).
            None => {
                let text = e.to_string();
                let mut lines = text.lines();
                let _ = writeln!(stderr, "error: {}", shown(lines.next().unwrap_or_default()));
                for line in lines {
                    let _ = writeln!(stderr, "  {}", shown(line));
                }
            }
        }
        let help = e.help();
        if let Some(help) = &help {
            let _ = writeln!(stderr, "help: {}", shown(help));
        }
        if self.json {
            let mut fields = Map::new();
            fields.insert("ok".into(), Value::Bool(false));
            fields.insert("exit".into(), Value::from(e.exit_code()));
            fields.insert("error".into(), Value::String(e.to_string()));
            if let Some(help) = help {
                fields.insert("help".into(), Value::String(help));
            }
            if let Some(report) = e.report() {
                fields.insert(
                    "findings".into(),
                    serde_json::to_value(report.findings()).unwrap_or(Value::Null),
                );
            }
            fields.extend(self.fields);
            print_json(&Value::Object(fields));
        }
    }
}

fn print_json(v: &Value) {
    let mut stdout = std::io::stdout().lock();
    let _ = serde_json::to_writer_pretty(&mut stdout, v);
    let _ = writeln!(stdout);
    let _ = stdout.flush();
}
