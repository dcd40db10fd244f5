// The test host's two web origins, on loopback:
//   http://127.0.0.1:H   the host page, its bundled script, and /mcp: a proxy to the MCP server
//                        (a web host talks to servers from its backend, so the page needs no CORS
//                        from the server and sends it no browser Origin)
//   http://localhost:S   the sandbox proxy page, with the CSP the UI resource asked for
// Different host names make different origins (and sites), as the spec requires of host and sandbox.

import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = (name) => fileURLToPath(new URL(`host/${name}`, import.meta.url));

/** Hop-by-hop headers and those the proxy must recompute or drop. */
const NOT_FORWARDED = new Set([
  "host", "origin", "referer", "connection", "keep-alive", "content-length", "transfer-encoding",
  "accept-encoding", "content-encoding", "upgrade", "sec-fetch-site", "sec-fetch-mode", "sec-fetch-dest",
]);

/**
 * The sandbox's CSP from `_meta.ui.csp`, as the spec's "CSP Construction from Metadata" writes it:
 * no undeclared origin can be reached, nor `eval` used.
 */
export function cspHeader(csp = {}) {
  // An entry with a quote, semicolon, comma or space could smuggle in a directive or keyword.
  const list = (domains) => (Array.isArray(domains) ? domains.filter((d) => typeof d === "string" && !/[;,'"\s]/.test(d)) : []);
  const resources = list(csp.resourceDomains).join(" ");
  const connect = list(csp.connectDomains).join(" ");
  const frames = list(csp.frameDomains).join(" ");
  const bases = list(csp.baseUriDomains).join(" ");
  return [
    "default-src 'none'",
    `script-src 'self' 'unsafe-inline' ${resources}`,
    `style-src 'self' 'unsafe-inline' ${resources}`,
    `connect-src 'self' ${connect}`,
    `img-src 'self' data: ${resources}`,
    `font-src 'self' ${resources}`,
    `media-src 'self' data: ${resources}`,
    `frame-src ${frames || "'none'"}`,
    "object-src 'none'",
    `base-uri ${bases || "'self'"}`,
  ]
    .map((directive) => directive.trim())
    .join("; ");
}

async function bundleHostScript() {
  const result = await esbuild.build({
    entryPoints: [here("host.js")],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    write: false,
    logLevel: "warning",
  });
  return result.outputFiles[0].contents;
}

function listen(server) {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve(server.address().port));
  });
}

/** Forwards /mcp to the MCP server, streaming the answer (SSE included). */
async function proxyMcp(req, res, mcpUrl, extraHeaders) {
  const headers = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (!NOT_FORWARDED.has(name) && typeof value === "string") headers[name] = value;
  }
  Object.assign(headers, extraHeaders);
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const upstream = await fetch(mcpUrl, {
    method: req.method,
    headers,
    body: chunks.length ? Buffer.concat(chunks) : undefined,
  });
  const answer = {};
  upstream.headers.forEach((value, name) => {
    if (!NOT_FORWARDED.has(name)) answer[name] = value;
  });
  res.writeHead(upstream.status, answer);
  if (upstream.body) Readable.fromWeb(upstream.body).pipe(res);
  else res.end();
}

/**
 * Starts both origins. `mcpUrl` is the server under test; `mcpHeaders` are added to every request
 * to it (e.g. Authorization). Returns their URLs and a close function.
 */
export async function startHost({ mcpUrl, mcpHeaders = {} }) {
  const [hostHtml, hostJs, sandboxHtml, sandboxJs] = await Promise.all([
    readFile(here("host.html")),
    bundleHostScript(),
    readFile(here("sandbox.html")),
    readFile(here("sandbox.js")),
  ]);

  const hostServer = createServer((req, res) => {
    const path = new URL(req.url, "http://host").pathname;
    if (path === "/mcp") {
      proxyMcp(req, res, mcpUrl, mcpHeaders).catch((e) => {
        res.writeHead(502, { "content-type": "text/plain" }).end(`proxy to ${mcpUrl} failed: ${e.message}`);
      });
    } else if (path === "/" || path === "/host.html") {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(hostHtml);
    } else if (path === "/host.js") {
      res.writeHead(200, { "content-type": "text/javascript; charset=utf-8" }).end(hostJs);
    } else {
      res.writeHead(404).end();
    }
  });

  const sandboxServer = createServer((req, res) => {
    const url = new URL(req.url, "http://sandbox");
    if (url.pathname === "/sandbox.html") {
      let csp = {};
      try {
        csp = JSON.parse(url.searchParams.get("csp") ?? "{}");
      } catch {
        // A malformed declaration gets the restrictive default.
      }
      res.writeHead(200, {
        "content-type": "text/html; charset=utf-8",
        "content-security-policy": cspHeader(csp),
        "cache-control": "no-store",
      });
      res.end(sandboxHtml);
    } else if (url.pathname === "/sandbox.js") {
      res.writeHead(200, { "content-type": "text/javascript; charset=utf-8" }).end(sandboxJs);
    } else {
      res.writeHead(404).end();
    }
  });

  const [hostPort, sandboxPort] = await Promise.all([listen(hostServer), listen(sandboxServer)]);
  const hostOrigin = `http://127.0.0.1:${hostPort}`;
  const sandboxOrigin = `http://localhost:${sandboxPort}`;
  return {
    hostOrigin,
    sandboxOrigin,
    /** The host page URL that loads `tool` with `args`. */
    pageUrl(tool, args) {
      const url = new URL("/", hostOrigin);
      url.searchParams.set("sandbox", `${sandboxOrigin}/sandbox.html`);
      url.searchParams.set("tool", tool);
      url.searchParams.set("args", JSON.stringify(args));
      return url.href;
    },
    close() {
      hostServer.closeAllConnections();
      sandboxServer.closeAllConnections();
      hostServer.close();
      sandboxServer.close();
    },
  };
}
