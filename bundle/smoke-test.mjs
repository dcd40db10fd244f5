// Starts an unpacked .mcpb the way Claude Desktop does — the manifest's mcp_config, with
// ${__dirname} and ${user_config.*} substituted — and talks to it over stdio with the official
// TypeScript MCP client: the tools the manifest declares are listed, an image inside the configured
// folder uploads by path and its URL serves it, a file outside that folder is refused.
//
//   node smoke-test.mjs --bundle DIR --image FILE
//
// HOME points at a scratch directory (the server keeps its embedded store under ~), and the
// embedded store gets a free port instead of the fixed 8081 so a running `serve` cannot collide.
// Prints `ok - …` / `not ok - …` per check; exits non-zero if any failed.

import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { basename, join, sep } from "node:path";
import { parseArgs } from "node:util";
import { Client } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";

const { values: args } = parseArgs({ options: { bundle: { type: "string" }, image: { type: "string" } } });
if (!args.bundle || !args.image) {
  console.error("usage: node smoke-test.mjs --bundle DIR --image FILE");
  process.exit(2);
}

let failures = 0;
function check(ok, what, detail = "") {
  console.log(`${ok ? "ok" : "not ok"} - ${what}${!ok && detail ? `: ${detail}` : ""}`);
  if (!ok) failures += 1;
  return ok;
}
const errorText = (r) => (r.content ?? []).filter((b) => b.type === "text").map((b) => b.text).join("\n");

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

/** Claude Desktop's substitution of ${__dirname}, ${HOME}, ${/} and ${user_config.KEY} (defaults included). */
function substitute(value, { dirname, home, userConfig, manifest }) {
  return value.replace(/\$\{([^}]+)\}/g, (whole, name) => {
    if (name === "__dirname") return dirname;
    if (name === "HOME") return home;
    if (name === "/" || name === "pathSeparator") return sep;
    if (name.startsWith("user_config.")) {
      const key = name.slice("user_config.".length);
      const given = userConfig[key] ?? manifest.user_config?.[key]?.default ?? "";
      return substitute(String(given), { dirname, home, userConfig: {}, manifest });
    }
    return whole;
  });
}

const scratch = await mkdtemp(join(tmpdir(), "mcpb-smoke-"));
try {
  const manifest = JSON.parse(await readFile(join(args.bundle, "manifest.json"), "utf8"));
  const home = join(scratch, "home");
  const allowed = join(scratch, "allowed images");
  const outside = join(scratch, "elsewhere");
  await Promise.all([mkdir(home), mkdir(allowed), mkdir(outside)]);
  const inside = join(allowed, basename(args.image));
  await copyFile(args.image, inside);
  await writeFile(join(outside, "outside.png"), await readFile(args.image));

  const context = { dirname: args.bundle, home, manifest, userConfig: { allowed_directory: allowed, store: "embedded" } };
  const config = manifest.server.mcp_config;
  const command = substitute(config.command, context);
  const commandArgs = (config.args ?? []).map((a) => substitute(a, context));
  const env = Object.fromEntries(Object.entries(config.env ?? {}).map(([k, v]) => [k, substitute(v, context)]));
  commandArgs.push("--s3-listen", `127.0.0.1:${await freePort()}`);
  console.log(`# ${command} ${commandArgs.map((a) => JSON.stringify(a)).join(" ")}`);

  const transport = new StdioClientTransport({
    command,
    args: commandArgs,
    env: { PATH: process.env.PATH ?? "", HOME: home, RUST_LOG: "warn", ...env },
    stderr: "pipe",
  });
  let stderr = "";
  transport.stderr?.on("data", (chunk) => (stderr += chunk));
  const client = new Client({ name: "s3-upload-mcp-bundle-smoke", version: "0.0.0" });
  try {
    await client.connect(transport);
    check(true, "the manifest's command starts the server over stdio");

    const { tools } = await client.listTools();
    const listed = tools.map((t) => t.name);
    const declared = (manifest.tools ?? []).map((t) => t.name);
    const missing = declared.filter((name) => !listed.includes(name));
    check(missing.length === 0, `the server lists every tool the manifest declares (${declared.join(", ")})`, `missing ${missing.join(", ")}; listed ${listed.join(", ")}`);

    const upload = await client.callTool({ name: "upload_image_to_s3", arguments: { path: inside, filename: basename(inside) } });
    if (check(!upload.isError, "an image in the configured folder uploads by path", errorText(upload))) {
      const { url } = upload.structuredContent;
      const response = await fetch(url);
      const type = response.headers.get("content-type") ?? "";
      check(response.ok && type.startsWith("image/"), `its URL serves it (${url} → ${response.status} ${type})`);
    }
    const refused = await client.callTool({
      name: "upload_image_to_s3",
      arguments: { path: join(outside, "outside.png"), filename: "outside.png" },
    });
    check(refused.isError === true, "a file outside the configured folder is refused", errorText(refused));
  } finally {
    await client.close();
  }
  if (failures && stderr) console.log(`# server stderr:\n${stderr.replace(/^/gm, "#   ")}`);
} catch (e) {
  check(false, "bundle session", String(e?.stack ?? e));
} finally {
  await rm(scratch, { recursive: true, force: true });
}
process.exit(failures ? 1 : 0);
