//! `sandframe run`: the app's view in the terminal, its bound events, its consent prompts.

use std::collections::BTreeSet;
use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sandframe_host::AlertLog;
use sandframe_host::TextSurface;
use sandframe_host::{
    AppId, Consent, ConsentDecision, ConsentRequest, EventKind, SurfaceEvent, ViewNode,
};
use sandframe_host::{Host, HostError};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::CliError;
use crate::home::{host, profile_api, read_input};
use crate::out::{Out, quoted, quoted_label, shown};

/// What `run` was asked.
pub(crate) struct Options {
    pub(crate) app: AppId,
    pub(crate) events: Option<PathBuf>,
    pub(crate) grant: Vec<String>,
    pub(crate) deny_all: bool,
    pub(crate) policy: Option<PathBuf>,
    pub(crate) profile_name: Option<String>,
    pub(crate) net: crate::args::NetArgs,
}

/// A consent policy file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PolicyFile {
    /// Capabilities a prompt is answered yes for.
    #[serde(default)]
    pub(crate) grant: Vec<String>,
    /// Capabilities a prompt is answered no for.
    #[serde(default)]
    pub(crate) deny: Vec<String>,
    /// APIs the app may not call at all.
    #[serde(default)]
    pub(crate) deny_apis: Vec<String>,
}

/// Who answers consent prompts during a run, and what they answered.
pub(crate) struct Answers {
    grant: BTreeSet<String>,
    deny_all: bool,
    policy_grant: BTreeSet<String>,
    policy_deny: BTreeSet<String>,
    /// A person at a terminal, who is asked when nothing else answers.
    person: bool,
    /// What was answered since the last view was printed.
    log: Mutex<Vec<Value>>,
}

impl Answers {
    pub(crate) fn new(
        grant: &[String],
        deny_all: bool,
        policy: &PolicyFile,
        person: bool,
    ) -> Answers {
        Answers {
            grant: grant.iter().cloned().collect(),
            deny_all,
            policy_grant: policy.grant.iter().cloned().collect(),
            policy_deny: policy.deny.iter().cloned().collect(),
            person,
            log: Mutex::new(Vec::new()),
        }
    }

    /// The answers given since the last call.
    pub(crate) fn take(&self) -> Vec<Value> {
        self.log
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default()
    }

    /// The question a person is asked: the app's name and reason are identity text.
    fn prompt(request: &ConsentRequest) -> String {
        // Origins are shown as they are matched (A-labels), one a line; plain http says so.
        let reach: String = request
            .scope
            .iter()
            .map(|o| {
                let warning = if o.is_https() {
                    ""
                } else {
                    "  (plain http: not encrypted, allowed by this host for development)"
                };
                format!("\n  {o}{warning}")
            })
            .collect();
        let reach = if reach.is_empty() {
            reach
        } else {
            format!("\nIt would reach only:{reach}")
        };
        format!(
            "\n{} ({}) asks for {}: {}{reach}\nAllow? [y/N] ",
            quoted(&request.app_name),
            request.app,
            request.capability,
            quoted(&request.reason)
        )
    }

    fn ask_person(request: &ConsentRequest) -> bool {
        let mut stdout = std::io::stdout().lock();
        let _ = write!(stdout, "{}", Answers::prompt(request));
        let _ = stdout.flush();
        drop(stdout);
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
        matches!(line.trim(), "y" | "Y" | "yes")
    }
}

impl Consent for Answers {
    fn decide(&self, request: &ConsentRequest) -> ConsentDecision {
        let cap = request.capability.as_str();
        let (granted, by) = if self.grant.contains(cap) {
            (true, "--grant")
        } else if self.deny_all {
            (false, "--deny-all")
        } else if self.policy_grant.contains(cap) {
            (true, "the policy file")
        } else if self.policy_deny.contains(cap) {
            (false, "the policy file")
        } else if self.person {
            (Answers::ask_person(request), "you")
        } else {
            (
                false,
                "nobody (no terminal to ask): pass --grant CAP, --deny-all or --policy FILE",
            )
        };
        if let Ok(mut log) = self.log.lock() {
            let origins: Vec<String> = request.scope.iter().map(ToString::to_string).collect();
            log.push(json!({
                "capability": cap,
                "granted": granted,
                "answered_by": by,
                "origins": origins,
            }));
        }
        if granted {
            ConsentDecision::Grant
        } else {
            ConsentDecision::Deny
        }
    }
}

/// A host on a terminal surface, with the answers and alerts it reports.
pub(crate) struct Session {
    pub(crate) host: Host,
    pub(crate) surface: Arc<Mutex<TextSurface>>,
    pub(crate) answers: Arc<Answers>,
    pub(crate) alerts: Arc<AlertLog>,
}

impl Session {
    /// Builds the host for a run.
    pub(crate) fn open(
        home: &Path,
        answers: Answers,
        policy: &PolicyFile,
        profile: Arc<dyn sandframe_host::Api>,
        net: sandframe_host::NetConfig,
        origins: &crate::args::NetArgs,
    ) -> Result<Session, CliError> {
        let surface = Arc::new(Mutex::new(TextSurface::new()));
        let answers = Arc::new(answers);
        let alerts = Arc::new(AlertLog::default());
        let mut gateway_policy = sandframe_host::Policy::new();
        for api in &policy.deny_apis {
            gateway_policy = gateway_policy.deny_api(api);
        }
        let gateway_policy = crate::home::origin_policy(origins, gateway_policy)?;
        let host = host(home)?
            .surface(Arc::clone(&surface))
            .consent(answers.clone())
            .alerts(alerts.clone())
            .policy(gateway_policy)
            .api("user.getProfile", Some("user:readProfile"), profile)
            .net(net)
            .build()?;
        Ok(Session {
            host,
            surface,
            answers,
            alerts,
        })
    }

    /// The app's view as terminal text.
    pub(crate) fn text(&self, app: &AppId) -> String {
        self.surface.lock().map(|s| s.text(app)).unwrap_or_default()
    }

    /// Waits for the app to finish what it was given, then prints its view (and what was
    /// answered or alerted meanwhile); `Err` if the sandbox stopped it.
    pub(crate) fn frame(&self, app: &AppId, after: &str, out: &mut Out) -> Result<(), CliError> {
        // Answers of the network come as events: wait for them (within the door's own
        // timeout) before the view is shown.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(65);
        loop {
            let _ = self.host.settle(app);
            if self.host.requests_in_flight(app) == 0 || std::time::Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let settled = self.host.settle(app);
        let view = self.text(app);
        let consents = self.answers.take();
        let alerts = self.alerts.take();
        for c in &consents {
            out.line(format!(
                "consent: {} {} (answered by {})",
                c["capability"].as_str().unwrap_or(""),
                if c["granted"] == Value::Bool(true) {
                    "granted"
                } else {
                    "denied"
                },
                c["answered_by"].as_str().unwrap_or("")
            ));
        }
        for a in &alerts {
            out.line(format!(
                "monitor: {} -> {} ({})",
                a.rule,
                a.verdict,
                shown(&a.evidence)
            ));
        }
        out.line(format!("── {app} · after {after} ──"));
        out.line(view.trim_end());
        out.push(
            "frames",
            json!({ "after": after, "view": view, "consents": consents, "alerts": alerts }),
        );
        settled.map_err(|e| terminated(app, e))
    }
}

/// A host error during a run: a termination by the sandbox becomes exit 4.
fn terminated(app: &AppId, e: HostError) -> CliError {
    match e {
        HostError::Stopped(r) => {
            CliError::Terminated(format!("{app} was terminated by the sandbox: {r}"))
        }
        other => other.into(),
    }
}

/// One scripted event.
#[derive(Debug)]
enum Step {
    Tap(String),
    Input(String, String),
    Lifecycle(bool),
    Handler(Value),
}

fn steps(bytes: &[u8]) -> Result<Vec<Step>, CliError> {
    let bad = |i: usize, why: &str| {
        CliError::Usage(format!(
            "events file, event {i}: {why}; each event is {{\"tap\": \"LABEL or PATH\"}}, \
             {{\"input\": \"PATH\", \"value\": \"…\"}}, {{\"lifecycle\": \"show\"|\"hide\"}} or \
             {{\"handler\": \"NAME\", \"detail\": {{…}}}}"
        ))
    };
    let list: Vec<Value> = serde_json::from_slice(bytes).map_err(|e| {
        CliError::Usage(format!(
            "the events file is not a JSON list of events: {e}; write it as [{{\"tap\": \"LABEL\"}}, …] \
             (docs/cli.md, \"run\")"
        ))
    })?;
    let mut out = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        let step = if let Some(t) = text("tap") {
            Step::Tap(t)
        } else if let Some(t) = text("input") {
            Step::Input(
                t,
                text("value").ok_or_else(|| bad(i, "an input needs a value"))?,
            )
        } else if let Some(l) = text("lifecycle") {
            match l.as_str() {
                "show" => Step::Lifecycle(true),
                "hide" => Step::Lifecycle(false),
                _ => return Err(bad(i, "lifecycle is show or hide")),
            }
        } else if v.get("handler").is_some_and(Value::is_string) {
            Step::Handler(v.clone())
        } else {
            return Err(bad(i, "unknown event"));
        };
        out.push(step);
    }
    Ok(out)
}

/// The elements of a view a person can act on: (path, kind, label).
fn targets(tree: &ViewNode) -> Vec<(Vec<u32>, EventKind, String)> {
    fn label(node: &ViewNode, out: &mut String) {
        match node {
            ViewNode::Text(t) => {
                if !out.is_empty() && !t.trim().is_empty() {
                    out.push(' ');
                }
                out.push_str(t.trim());
            }
            ViewNode::Element {
                attrs, children, ..
            } => {
                if children.is_empty()
                    && let Some((_, v)) = attrs.iter().find(|(n, _)| n == "placeholder")
                {
                    out.push_str(v);
                }
                for c in children {
                    label(c, out);
                }
            }
        }
    }
    fn walk(node: &ViewNode, path: &mut Vec<u32>, out: &mut Vec<(Vec<u32>, EventKind, String)>) {
        if let ViewNode::Element {
            events, children, ..
        } = node
        {
            for kind in events {
                let mut l = String::new();
                label(node, &mut l);
                out.push((path.clone(), *kind, l));
            }
            for (i, c) in children.iter().enumerate() {
                path.push(u32::try_from(i).unwrap_or(u32::MAX));
                walk(c, path, out);
                path.pop();
            }
        }
    }
    let mut out = Vec::new();
    walk(tree, &mut Vec::new(), &mut out);
    out
}

fn path_text(path: &[u32]) -> String {
    let parts: Vec<String> = path.iter().map(u32::to_string).collect();
    parts.join(".")
}

/// Finds the element a scripted event names, by path (`0.2`) or by its label.
fn find(session: &Session, app: &AppId, kind: EventKind, what: &str) -> Result<Vec<u32>, CliError> {
    let surface = session
        .surface
        .lock()
        .map_err(|_| CliError::Internal("the view's lock was poisoned by a panic".into()))?;
    let found = surface.tree(app).map(targets).unwrap_or_default();
    found
        .iter()
        .find(|(p, k, _)| *k == kind && path_text(p) == what)
        .or_else(|| found.iter().find(|(_, k, l)| *k == kind && l == what))
        .map(|(p, _, _)| p.clone())
        .ok_or_else(|| {
            let have: Vec<String> = found
                .iter()
                .filter(|(_, k, _)| *k == kind)
                .map(|(p, _, l)| format!("{} ({})", quoted_label(l), path_text(p)))
                .collect();
            CliError::Usage(format!(
                "no element to {} matches {} in the view; there are: {}",
                kind_name(kind),
                quoted_label(what),
                if have.is_empty() {
                    "none".to_owned()
                } else {
                    have.join(", ")
                }
            ))
        })
}

fn kind_name(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Tap => "tap",
        EventKind::Input => "input",
        _ => "use",
    }
}

/// Delivers one step; returns what to call it in the output.
fn deliver(session: &Session, app: &AppId, step: &Step, out: &mut Out) -> Result<String, CliError> {
    let h = &session.host;
    let (what, result) = match step {
        Step::Tap(t) => {
            let target = find(session, app, EventKind::Tap, t)?;
            let r = h.surface_event(SurfaceEvent {
                app: app.clone(),
                target,
                kind: EventKind::Tap,
                value: None,
            });
            (format!("tap {}", quoted_label(t)), r)
        }
        Step::Input(t, value) => {
            let target = find(session, app, EventKind::Input, t)?;
            let r = h.surface_event(SurfaceEvent {
                app: app.clone(),
                target,
                kind: EventKind::Input,
                value: Some(value.clone()),
            });
            (format!("input {}", quoted_label(t)), r)
        }
        Step::Lifecycle(true) => ("show".to_owned(), h.show(app).map(Some)),
        Step::Lifecycle(false) => ("hide".to_owned(), h.hide(app).map(Some)),
        Step::Handler(v) => {
            let name = v["handler"].as_str().unwrap_or("").to_owned();
            let bytes = serde_json::to_vec(v).unwrap_or_default();
            (
                format!("handler {}", quoted(&name)),
                h.dispatch(app, &bytes).map(Some),
            )
        }
    };
    match result {
        Ok(Some(0)) => {}
        // `what` is escaped already.
        Ok(Some(code)) => out.line(format!("the app answered {code} to {what}")),
        Ok(None) => out.line(format!("{what}: no handler is bound there; dropped")),
        Err(e) => {
            // Show what the app left on screen before saying why it stopped.
            let _ = session.frame(app, &what, out);
            return Err(terminated(app, e));
        }
    }
    Ok(what)
}

/// Taps the element labelled (or at the path) `what` and prints the view after it.
pub(crate) fn script_step(
    session: &Session,
    app: &AppId,
    what: &str,
    out: &mut Out,
) -> Result<(), CliError> {
    let done = deliver(session, app, &Step::Tap(what.to_owned()), out)?;
    session.frame(app, &done, out)
}

/// `sandframe run`.
pub(crate) fn run(home: &Path, o: &Options, out: &mut Out) -> Result<(), CliError> {
    let policy = match &o.policy {
        Some(p) => {
            let text = String::from_utf8(read_input(p)?).map_err(|_| {
                CliError::Usage(format!(
                    "{} is not UTF-8; a policy file is TOML text (docs/cli.md, \"run\")",
                    p.display()
                ))
            })?;
            toml::from_str::<PolicyFile>(&text).map_err(|e| {
                CliError::Usage(format!(
                    "policy file {}: {e}; fix it at the position shown (docs/cli.md, \"run\", \
                         lists its keys)",
                    p.display()
                ))
            })?
        }
        None => PolicyFile::default(),
    };
    let interactive = o.events.is_none() && std::io::stdin().is_terminal() && !out.json();
    let answers = Answers::new(&o.grant, o.deny_all, &policy, interactive);
    let profile = profile_api(o.profile_name.clone());
    let session = Session::open(
        home,
        answers,
        &policy,
        profile,
        crate::home::net_config(&o.net)?,
        &o.net,
    )?;
    let app = &o.app;
    let script = o.events.as_deref().map(read_input).transpose()?;
    let script = script.as_deref().map(steps).transpose()?;
    let spinner = crate::progress::Spinner::start(
        out.json(),
        format!("starting {app} (a first launch compiles its logic)"),
    );
    let launched = session.host.launch(app);
    drop(spinner);
    launched.map_err(|e| terminated(app, e))?;
    out.set("app", app.as_str());
    let result = (|| {
        session.frame(app, "launch", out)?;
        if let Some(script) = &script {
            for step in script {
                let what = deliver(&session, app, step, out)?;
                session.frame(app, &what, out)?;
            }
        } else if interactive {
            interact(&session, app, out)?;
        } else {
            out.line(
                "(no terminal on standard input: not waiting for taps; script a session with \
                 --events FILE)",
            );
        }
        Ok(())
    })();
    let _ = session.host.terminate(app);
    let _ = session.host.flush_audit();
    result
}

/// The interactive loop: numbered targets, a line per action.
fn interact(session: &Session, app: &AppId, out: &mut Out) -> Result<(), CliError> {
    let stdin = std::io::stdin();
    loop {
        let found = session
            .surface
            .lock()
            .ok()
            .and_then(|s| s.tree(app).map(targets))
            .unwrap_or_default();
        for (i, (path, kind, label)) in found.iter().enumerate() {
            out.line(format!(
                "  [{}] {} {} ({})",
                i + 1,
                kind_name(*kind),
                quoted_label(label),
                path_text(path)
            ));
        }
        out.line("number to tap or type, s show, h hide, q quit:");
        let mut line = String::new();
        if stdin.lock().read_line(&mut line).unwrap_or(0) == 0 {
            return Ok(());
        }
        let line = line.trim();
        let step = match line {
            "q" => return Ok(()),
            "s" => Step::Lifecycle(true),
            "h" => Step::Lifecycle(false),
            n => match n
                .parse::<usize>()
                .ok()
                .and_then(|n| found.get(n.wrapping_sub(1)))
            {
                Some((path, EventKind::Tap, _)) => Step::Tap(path_text(path)),
                Some((path, _, _)) => {
                    out.line("value:");
                    let mut value = String::new();
                    let _ = stdin.lock().read_line(&mut value);
                    Step::Input(
                        path_text(path),
                        value.trim_end_matches(['\r', '\n']).to_owned(),
                    )
                }
                None => {
                    out.line(format!("{}: not a choice", quoted(n)));
                    continue;
                }
            },
        };
        let what = deliver(session, app, &step, out)?;
        session.frame(app, &what, out)?;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a test: failing loudly is the point

    use super::*;

    #[test]
    fn the_prompt_lists_each_origin_and_marks_plain_http() {
        let request = ConsentRequest {
            app: "com.example.notes".parse().unwrap(),
            app_name: "Notes\u{1b}[2J".into(),
            capability: "net:fetch".parse().unwrap(),
            reason: "sync".into(),
            scope: vec![
                "https://xn--bcher-kva.example".parse().unwrap(),
                "http://dev.example.com:8080".parse().unwrap(),
            ],
        };
        let text = Answers::prompt(&request);
        assert!(
            text.contains(
                "It would reach only:\n  https://xn--bcher-kva.example\n  http://dev.example.com:8080  (plain http: not encrypted"
            ),
            "{text}"
        );
        // The app's name is identity text, never a terminal escape.
        assert!(!text.contains('\u{1b}'), "{text}");
    }
}
