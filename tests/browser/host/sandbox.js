// The sandbox proxy of a web host (MCP Apps spec, "Sandbox proxy"): served from an origin other
// than the host's, with the CSP built from the UI resource's `_meta.ui.csp` as an HTTP header
// (serve.mjs). It writes the view's HTML into an inner iframe, which inherits that CSP, and relays
// JSON-RPC messages both ways, keeping the `ui/notifications/sandbox-*` ones for itself.
"use strict";

(() => {
  const PROXY_READY = "ui/notifications/sandbox-proxy-ready";
  const RESOURCE_READY = "ui/notifications/sandbox-resource-ready";

  if (window.top === window) throw new Error("sandbox.html only runs inside a host's iframe");
  // The host's origin, from the referrer its iframe navigation sent; messages from anyone else are dropped.
  const hostOrigin = document.referrer ? new URL(document.referrer).origin : null;
  if (!hostOrigin) throw new Error("no referrer: cannot tell which host embeds this sandbox");

  const inner = document.createElement("iframe");
  inner.setAttribute("sandbox", "allow-scripts allow-same-origin allow-forms");
  inner.title = "MCP App view";
  document.body.append(inner);

  window.addEventListener("message", (event) => {
    if (event.source === window.parent) {
      if (event.origin !== hostOrigin) return;
      const message = event.data;
      if (message?.method === RESOURCE_READY) {
        const { html, sandbox, permissions } = message.params ?? {};
        if (typeof sandbox === "string") inner.setAttribute("sandbox", sandbox);
        if (permissions?.clipboardWrite) inner.setAttribute("allow", "clipboard-write");
        // document.write keeps the view in this origin and under this page's CSP.
        const doc = inner.contentDocument;
        doc.open();
        doc.write(html);
        doc.close();
      } else {
        inner.contentWindow?.postMessage(message, "*");
      }
    } else if (event.source === inner.contentWindow) {
      window.parent.postMessage(event.data, hostOrigin);
    }
  });

  window.parent.postMessage({ jsonrpc: "2.0", method: PROXY_READY, params: {} }, hostOrigin);
})();
