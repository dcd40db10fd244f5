// Drives s3-upload-mcp over Streamable HTTP with the official MCP TypeScript SDK.
//
//   node ts_client.mjs URL IMAGE [--header 'Name: value']...
//
// Lists tools, uploads IMAGE inline, GETs the returned URL and compares its sha256 with the result.
// Prints one line per check (`ok - …` / `not ok - …`) and exits non-zero if any failed.

import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { basename } from "node:path";

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

let failures = 0;
function check(ok, what, detail = "") {
  if (ok) console.log(`ok - ${what}`);
  else {
    failures += 1;
    console.log(`not ok - ${what}${detail ? `: ${detail}` : ""}`);
  }
  return ok;
}

const errorText = (result) => (result.content ?? []).map((b) => b.text ?? "").join(" ");
const outcomeOf = (result) => result.structuredContent ?? JSON.parse(result.content[0].text);

async function main() {
  const [url, image, ...rest] = process.argv.slice(2);
  if (!url || !image) throw new Error("usage: node ts_client.mjs URL IMAGE [--header 'Name: value']...");
  const headers = {};
  for (let i = 0; i < rest.length; i += 2) {
    if (rest[i] !== "--header") throw new Error(`unknown argument ${rest[i]}`);
    const [name, ...value] = rest[i + 1].split(":");
    headers[name.trim()] = value.join(":").trim();
  }

  const client = new Client({ name: "s3-upload-mcp-ts-test", version: "0.0.0" });
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
  await client.connect(transport);
  try {
    console.log(`# connected: protocol ${transport.protocolVersion}, server ${JSON.stringify(client.getServerVersion())}`);
    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name).sort();
    check(names.includes("upload_image_to_s3") && names.includes("list_s3_buckets"), "tools/list shows upload_image_to_s3 and list_s3_buckets", names.join(", "));

    const bytes = await readFile(image);
    const result = await client.callTool({
      name: "upload_image_to_s3",
      arguments: { data: bytes.toString("base64"), filename: basename(image) },
    });
    if (!check(!result.isError, `upload_image_to_s3 inline ${basename(image)}`, errorText(result))) return;
    const outcome = outcomeOf(result);
    console.log(`# url ${outcome.url} (${outcome.bytes} bytes, ${outcome.width}x${outcome.height} ${outcome.format})`);

    const response = await fetch(outcome.url);
    if (!check(response.ok, `GET ${outcome.url}`, `HTTP ${response.status}`)) return;
    const body = Buffer.from(await response.arrayBuffer());
    const digest = createHash("sha256").update(body).digest("hex");
    check(digest === outcome.sha256, "GET url serves bytes with the result's sha256", `${digest} != ${outcome.sha256}`);
    check(body.length === outcome.bytes, `served size equals result bytes (${body.length})`);
    const contentType = response.headers.get("content-type");
    check(contentType === outcome.content_type, `Content-Type ${contentType}`, `result says ${outcome.content_type}`);
  } finally {
    await client.close();
  }
}

try {
  await main();
} catch (e) {
  check(false, "http session", String(e?.stack ?? e));
}
process.exit(failures ? 1 : 0);
