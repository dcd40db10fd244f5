// Drives s3-upload-mcp over Streamable HTTP with the official MCP TypeScript SDK.
//
//   node ts_client.mjs URL IMAGE [--header 'Name: value']...
//                     [--oauth-client ID:SECRET --oauth-issuer URL --oauth-scope SCOPE]
//                     [--expect-key-prefix PREFIX]
//
// Lists tools, uploads IMAGE inline, GETs the returned URL and compares its sha256 with the result.
// --oauth-client signs in as the SDK does on its own: the server's 401 names its protected resource
// metadata, the SDK reads it, finds the authorization server, gets a client-credentials token for
// the advertised resource, and retries with it. (SDK 1.32's client-credentials flow asks for the
// provider's configured scope, not the challenge's: hence --oauth-scope.)
// Prints one line per check (`ok - …` / `not ok - …`) and exits non-zero if any failed.

import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { basename } from "node:path";

import { ClientCredentialsProvider } from "@modelcontextprotocol/sdk/client/auth-extensions.js";
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
  let authProvider;
  let keyPrefix;
  const oauth = {};
  for (let i = 0; i < rest.length; i += 2) {
    if (rest[i] === "--header") {
      const [name, ...value] = rest[i + 1].split(":");
      headers[name.trim()] = value.join(":").trim();
    } else if (rest[i] === "--oauth-client") {
      [oauth.clientId, oauth.clientSecret] = rest[i + 1].split(":");
    } else if (rest[i] === "--oauth-issuer") {
      oauth.expectedIssuer = rest[i + 1];
    } else if (rest[i] === "--oauth-scope") {
      oauth.scope = rest[i + 1];
    } else if (rest[i] === "--expect-key-prefix") {
      keyPrefix = rest[i + 1];
    } else {
      throw new Error(`unknown argument ${rest[i]}`);
    }
  }

  if (oauth.clientId) authProvider = new ClientCredentialsProvider(oauth);

  const client = new Client({ name: "s3-upload-mcp-ts-test", version: "0.0.0" });
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers }, authProvider });
  await client.connect(transport);
  try {
    console.log(`# connected: protocol ${transport.protocolVersion}, server ${JSON.stringify(client.getServerVersion())}`);
    if (authProvider) {
      const token = authProvider.tokens()?.access_token ?? "";
      const claims = token ? JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString()) : {};
      check(Boolean(token), "signed in from the 401 challenge (protected resource metadata -> token endpoint)");
      console.log(`# token for aud ${JSON.stringify(claims.aud)}, scope ${JSON.stringify(claims.scope)}, sub ${claims.sub}`);
    }
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
    if (keyPrefix) check(outcome.key.startsWith(keyPrefix), `stored under ${keyPrefix}`, outcome.key);

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
