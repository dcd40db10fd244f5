// Drives the MCP Apps upload view in headless Chromium, through the minimal web host in host/,
// against a running MCP server (the real `serve`, or stub-server.mjs):
//   - the host lists open_uploader, reads its ui:// resource and loads it in a sandboxed iframe;
//   - two images go in through the file input: both end with URLs that serve the published images,
//     thumbnails that load (bucket origin in the CSP), copy buttons, and a model-context update
//     listing both URLs;
//   - a non-image file shows the server's own error message;
//   - screenshots before, during and after (and the finished view in dark mode).
//
//   node run.mjs --mcp-url URL --screenshots DIR [--chromium PATH] [--image FILE]... [--header 'Name: value']...
//
// Prints `ok - …` / `not ok - …` per check; exits non-zero if any failed.

import { createHash } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { chromium } from "playwright-core";
import { startHost } from "./serve.mjs";

const corpus = fileURLToPath(new URL("../../../shared/corpus/images/", import.meta.url));
const { values: args } = parseArgs({
  options: {
    "mcp-url": { type: "string" },
    screenshots: { type: "string" },
    chromium: { type: "string", default: "/usr/bin/chromium" },
    image: { type: "string", multiple: true, default: [join(corpus, "flowers.jpeg"), join(corpus, "ui-dashboard-light.png")] },
    header: { type: "string", multiple: true, default: [] },
  },
});
if (!args["mcp-url"] || !args.screenshots) {
  console.error("usage: node run.mjs --mcp-url URL --screenshots DIR [--chromium PATH] [--image FILE]... [--header 'Name: value']...");
  process.exit(2);
}
const mcpHeaders = Object.fromEntries(
  args.header.map((h) => {
    const at = h.indexOf(":");
    return [h.slice(0, at).trim(), h.slice(at + 1).trim()];
  }),
);
const TOOL_ARGS = { prefix: "browser-test" };
const TIMEOUT = 60_000;

let failures = 0;
function check(ok, what, detail = "") {
  console.log(`${ok ? "ok" : "not ok"} - ${what}${!ok && detail ? `: ${detail}` : ""}`);
  if (!ok) failures += 1;
  return ok;
}
const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");
const MAGIC = {
  "image/png": (b) => b.subarray(1, 4).toString("latin1") === "PNG",
  "image/jpeg": (b) => b[0] === 0xff && b[1] === 0xd8,
  "image/webp": (b) => b.subarray(8, 12).toString("latin1") === "WEBP",
  "image/gif": (b) => b.subarray(0, 4).toString("latin1") === "GIF8",
};

/** The error the server gives for `file` when an agent uploads it the way the view does. */
async function serverErrorFor(name, type, bytes) {
  const client = new Client({ name: "s3-upload-mcp-browser-test", version: "0.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(args["mcp-url"]), { requestInit: { headers: mcpHeaders } }));
  try {
    const errorText = (r) => (r.content ?? []).filter((b) => b.type === "text").map((b) => b.text).join("\n");
    const ticket = await client.callTool({ name: "create_upload_url", arguments: { filename: name, content_type: type, bytes: bytes.length } });
    if (ticket.isError) return errorText(ticket);
    const { upload_url, headers, staging_key } = ticket.structuredContent;
    const put = await fetch(upload_url, { method: "PUT", headers, body: bytes });
    if (!put.ok) return `PUT failed: HTTP ${put.status}`;
    const upload = await client.callTool({ name: "upload_image_to_s3", arguments: { staging_key, filename: name, ...TOOL_ARGS } });
    return upload.isError ? errorText(upload) : null;
  } finally {
    await client.close();
  }
}

async function main() {
  await mkdir(args.screenshots, { recursive: true });
  const shot = (name) => join(args.screenshots, `uploader-${name}.png`);
  const host = await startHost({ mcpUrl: args["mcp-url"], mcpHeaders });
  // launch() gives every run a fresh temporary profile (it refuses --user-data-dir).
  const browser = await chromium.launch({
    executablePath: args.chromium,
    headless: true,
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync",
    ],
  });
  try {
    const context = await browser.newContext({ viewport: { width: 720, height: 900 }, deviceScaleFactor: 1 });
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: host.sandboxOrigin });
    const page = await context.newPage();
    const consoleErrors = [];
    // A stateless server answers the client's optional GET stream with 405, as the spec allows
    // and the SDK expects; Chromium still logs every 4xx. That one line is the host's, not an error.
    const statelessGet = (m) => m.location().url === `${host.hostOrigin}/mcp` && m.text().includes("status of 405");
    page.on("console", (m) => m.type() === "error" && !statelessGet(m) && consoleErrors.push(`${m.text()} (${m.location().url})`));
    page.on("pageerror", (e) => consoleErrors.push(String(e)));

    await page.goto(host.pageUrl("open_uploader", TOOL_ARGS));
    await page.waitForFunction(() => ["ready", "failed"].includes(window.testHost?.phase), null, { timeout: TIMEOUT });
    const state = () => page.evaluate(() => ({ ...window.testHost, bridge: undefined }));
    const start = await state();
    if (!check(start.phase === "ready", "host lists open_uploader, reads its ui:// resource, the view initializes in the sandbox", start.error)) {
      return;
    }
    check(start.resource.mimeType === "text/html;profile=mcp-app", `resource ${start.resource.uri} is text/html;profile=mcp-app`);
    check(!start.toolResult.isError && (start.toolResult.content ?? []).some((b) => b.type === "text" && b.text), "open_uploader returns a text result for clients without MCP Apps");

    const view = page.frameLocator("#view-sandbox").frameLocator("iframe");
    const target = await view.locator("#target").textContent();
    check(target.includes(TOOL_ARGS.prefix), "the view shows the prefix it got as tool input", target);
    await view.locator("#file-input:enabled").waitFor({ state: "attached", timeout: TIMEOUT });
    await page.locator("#view-sandbox").screenshot({ path: shot("before") });

    // --- two images ------------------------------------------------------------------------------
    await page.evaluate(() => window.testHost.hold("upload_image_to_s3"));
    await view.locator("#file-input").setInputFiles(args.image);
    const rows = view.locator("li.file");
    await page.waitForFunction(() => window.testHost.toolCalls.filter((c) => c.name === "create_upload_url").length >= 2, null, { timeout: TIMEOUT });
    // Both PUTs done, both publish calls held at the host: the view is mid-way.
    await view.locator('li.file[data-state="process"], li.file[data-state="error"]').nth(args.image.length - 1).waitFor({ timeout: TIMEOUT });
    await page.locator("#view-sandbox").screenshot({ path: shot("during") });
    await page.evaluate(() => window.testHost.release("upload_image_to_s3"));
    await view.locator('li.file[data-state="done"], li.file[data-state="error"]').nth(args.image.length - 1).waitFor({ timeout: TIMEOUT });
    await page.waitForFunction(() => window.testHost.modelContext.length > 0 || window.testHost.messages.length > 0, null, { timeout: TIMEOUT });

    const errors = await view.locator("li.file .error").allTextContents();
    check(errors.length === 0, `both images upload (${args.image.map((i) => basename(i)).join(", ")})`, errors.join(" | "));
    const urls = await view.locator("li.file .url").evaluateAll((inputs) => inputs.map((i) => i.value));
    const after = await state();
    const published = after.toolCalls.filter((c) => c.name === "upload_image_to_s3" && c.result && !c.result.isError).map((c) => c.result.structuredContent);
    for (const url of urls) {
      const outcome = published.find((o) => o.url === url);
      const response = await fetch(url);
      const body = Buffer.from(await response.arrayBuffer());
      const type = response.headers.get("content-type") ?? "";
      check(response.status === 200 && type.startsWith("image/"), `GET ${url} → 200 ${type}`, `HTTP ${response.status} ${type}`);
      check(MAGIC[type]?.(body) ?? type === "image/svg+xml", `${basename(url)} is a ${type} file`);
      check(outcome && sha256(body) === outcome.sha256, `${basename(url)} serves the bytes the server reported (sha256)`);
    }
    const thumbs = await view.locator("li.file .thumb img").evaluateAll((imgs) => imgs.map((i) => i.complete && i.naturalWidth > 0));
    check(thumbs.length === args.image.length && thumbs.every(Boolean), "thumbnails load from the bucket (origin declared in the resource's CSP)", JSON.stringify(thumbs));
    const ticketOrigins = after.toolCalls.filter((c) => c.name === "create_upload_url" && c.result && !c.result.isError).map((c) => new URL(c.result.structuredContent.upload_url).origin);
    const connect = after.resource.ui?.csp?.connectDomains ?? [];
    check(ticketOrigins.length > 0 && ticketOrigins.every((o) => connect.includes(o)), "the upload URLs' origin is in the resource's csp.connectDomains", `${ticketOrigins} vs ${connect}`);
    check((await view.locator("li.file .actions button").count()) === 3 * args.image.length, "each upload has copy buttons for URL, <img> and Markdown");
    const copy = view.locator('li.file button[data-copy="markdown"]').first();
    if ((await copy.count()) > 0) {
      await copy.click();
      check((await copy.textContent()) === "Copied", "Copy Markdown copies", await copy.textContent());
    } else {
      check(false, "Copy Markdown copies", "no finished upload to copy from");
    }

    const told = after.modelContext.at(-1) ?? after.messages.at(-1);
    const toldText = (told?.content ?? []).map((b) => b.text ?? "").join("\n");
    check(
      urls.length === args.image.length && urls.every((u) => toldText.includes(u)) && args.image.every((i) => toldText.includes(basename(i))),
      "the model is told each filename and its URL (ui/update-model-context)",
      toldText,
    );
    await page.locator("#view-sandbox").screenshot({ path: shot("after") });
    await page.evaluate(() => window.testHost.setTheme("dark"));
    await view.locator('html[data-theme="dark"]').waitFor({ state: "attached", timeout: TIMEOUT });
    await page.locator("#view-sandbox").screenshot({ path: shot("after-dark") });
    check(true, "the view follows the host's theme (dark)");

    // --- a file that is not an image -------------------------------------------------------------
    const notes = { name: "notes.txt", mimeType: "text/plain", buffer: Buffer.from("not an image\n") };
    const expected = await serverErrorFor(notes.name, notes.mimeType, notes.buffer);
    await view.locator("#file-input").setInputFiles(notes);
    const failed = view.locator('li.file[data-filename="notes.txt"]');
    await failed.locator(".error").waitFor({ timeout: TIMEOUT });
    const shown = await failed.locator(".error").textContent();
    check(expected && shown === expected, "a non-image file shows the server's error message verbatim", `shown ${JSON.stringify(shown)}, server says ${JSON.stringify(expected)}`);
    await page.waitForFunction(() => JSON.stringify(window.testHost.modelContext.at(-1) ?? "").includes("notes.txt"), null, { timeout: TIMEOUT });
    check(true, "the model is told about the failed file too");

    check(consoleErrors.length === 0, "no console errors in host, sandbox or view", consoleErrors.join(" | "));
    check((await rows.count()) === args.image.length + 1, "one row per file");
  } finally {
    await browser.close();
    host.close();
  }
}

try {
  await main();
} catch (e) {
  check(false, "browser session", String(e?.stack ?? e));
}
console.log(`# ${failures ? `${failures} check(s) failed` : "all checks passed"}`);
process.exit(failures ? 1 : 0);
