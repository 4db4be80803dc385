// The simulator page. It runs no code of the mini-app: the view arrives as HTML the render
// side already escaped, and everything else is set with textContent.
"use strict";
(function () {
  const token = new URLSearchParams(location.search).get("t") || "";
  const $ = (id) => document.getElementById(id);
  let consentId = null;

  function post(path, body) {
    return fetch(path, {
      method: "POST",
      headers: { "content-type": "application/json", "x-sandframe-token": token },
      body: JSON.stringify(body),
    }).then((r) => r.json()).catch(() => ({}));
  }

  function text(el, value) { el.textContent = value == null ? "" : String(value); }

  function list(el, items, line) {
    el.replaceChildren();
    for (const item of items || []) {
      const li = document.createElement("li");
      const [content, cls] = line(item);
      li.textContent = content;
      if (cls) li.className = cls;
      el.appendChild(li);
    }
  }

  function showState(s) {
    text($("app"), s.app || "no app yet");
    text($("status"), s.status || "");
    text($("data"), s.data == null ? "" : JSON.stringify(s.data, null, 2));
    const info = s.info || {};
    const grants = info.grants || [];
    list($("caps"), info.capabilities, (c) => [
      c.capability + (grants.includes(c.capability) ? "  granted" : "") + "  (" + c.reason + ")",
    ]);
    text($("storage"), info.storage_bytes == null ? "" :
      info.storage_bytes + " of " + info.storage_quota_bytes + " bytes");
    list($("alerts"), s.alerts, (a) => [a.rule + " → " + a.verdict + " (" + a.evidence + ")"]);
    list($("network"), (s.network || []).slice().reverse(), (n) => [
      new Date(n.unix_ms).toLocaleTimeString() + "  " + n.method + " " + n.url + "  " +
        (n.status != null ? n.status : n.reason) + "  ↓" + n.bytes_out + " B ↑" + n.bytes_in +
        " B  " + n.ms.toFixed(1) + " ms",
      n.outcome === "allowed" ? "" : "denied",
    ]);
    list($("audit"), (s.audit || []).slice().reverse(), (r) => [
      r.layer + " " + r.action + " " + r.subject + " " + r.outcome + (r.detail ? " — " + r.detail : ""),
      r.outcome === "allowed" ? "" : "denied",
    ]);
  }

  function showFindings(findings) {
    const box = $("findings");
    box.hidden = !findings || findings.length === 0;
    list($("findings-list"), findings, (f) => {
      const l = f.location || {};
      const at = [l.file, l.line, l.column].filter((x) => x != null).join(":");
      return [(f.code || "") + " " + (at ? at + " " : "") + f.message];
    });
  }

  function showConsent(c) {
    const dialog = $("consent");
    if (!c) {
      consentId = null;
      if (dialog.open) dialog.close();
      return;
    }
    consentId = c.id;
    text($("consent-text"), c.app_name + " asks for " + c.capability);
    text($("consent-reason"), c.reason);
    list($("consent-origins"), c.origins, (o) => [
      "reaches " + o + (o.startsWith("http://") ? "  (plain http: not encrypted)" : ""),
    ]);
    if (!dialog.open) dialog.showModal();
  }

  function answer(granted) {
    if (consentId == null) return;
    post("/consent", { id: consentId, granted: granted });
    $("consent").close();
  }

  const events = new EventSource("/events?t=" + encodeURIComponent(token));
  events.addEventListener("update", (e) => {
    const u = JSON.parse(e.data);
    if ("view" in u) {
      // Escaped by the render side; the page's CSP allows no inline script either way.
      $("screen").innerHTML = u.view;
    }
    if ("state" in u) showState(u.state);
    if ("findings" in u) showFindings(u.findings);
    if ("consent" in u) showConsent(u.consent);
  });

  function target(el, kind) {
    const node = el.closest("[data-sf-path]");
    if (!node || !$("screen").contains(node)) return null;
    const kinds = (node.getAttribute("data-sf-events") || "").split(" ");
    return kinds.includes(kind) ? node : null;
  }

  $("screen").addEventListener("click", (e) => {
    const node = target(e.target, "tap");
    if (node) post("/event", { path: node.getAttribute("data-sf-path"), kind: "tap" });
  });
  $("screen").addEventListener("change", (e) => {
    const node = target(e.target, "input");
    if (node) post("/event", { path: node.getAttribute("data-sf-path"), kind: "input", value: e.target.value });
  });
  $("consent-allow").addEventListener("click", () => answer(true));
  $("consent-deny").addEventListener("click", () => answer(false));
  $("show").addEventListener("click", () => post("/lifecycle", { show: true }));
  $("hide").addEventListener("click", () => post("/lifecycle", { show: false }));
})();
