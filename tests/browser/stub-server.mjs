// A stand-in for s3-upload-mcp with the same MCP Apps contract, for testing the view and the test
// host without the Rust build: the official TypeScript server SDK and ext-apps server helpers serve
// `open_uploader`, the `ui://` resource (the committed src/mcp/ui/uploader.html) with its CSP, and
// `create_upload_url` / `upload_image_to_s3`; a tiny store takes the presigned PUT (CORS included)
// and serves what was published. It does not process images: it publishes the bytes it received.
// The browser tests of the real server run against `serve` (scripts/browser-tests.sh).
//
//   node stub-server.mjs [--html PATH]    prints `MCP <url>` once listening; stops on SIGTERM

import { createHash, randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { McpServer } from "@modelcontextprotocol/server";
import { NodeStreamableHTTPServerTransport } from "@modelcontextprotocol/node";
import { RESOURCE_MIME_TYPE, registerAppResource, registerAppTool } from "@modelcontextprotocol/ext-apps/server";
import { z } from "zod";

const { values } = parseArgs({
  options: { html: { type: "string", default: fileURLToPath(new URL("../../src/mcp/ui/uploader.html", import.meta.url)) } },
});
const html = await readFile(values.html, "utf8");
const UI_URI = "ui://s3-upload-mcp/uploader.html";
const MAX_BYTES = 25 * 1024 * 1024;

// --- the store: presigned PUT in, public GET out ----------------------------------------------------
const staged = new Map(); // token -> { contentType, bytes }
const published = new Map(); // key -> { contentType, bytes }
const cors = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "GET, HEAD, PUT",
  "access-control-expose-headers": "etag",
  "access-control-max-age": "600",
};
const s3Error = (res, status, code, message) =>
  res
    .writeHead(status, { ...cors, "content-type": "application/xml" })
    .end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`);

const store = createServer(async (req, res) => {
  const url = new URL(req.url, "http://store");
  if (req.method === "OPTIONS") {
    res.writeHead(204, { ...cors, "access-control-allow-headers": req.headers["access-control-request-headers"] ?? "" });
    return res.end();
  }
  const [, area, ...rest] = url.pathname.split("/");
  const name = decodeURIComponent(rest.join("/"));
  if (req.method === "PUT" && area === "staging" && staged.has(name)) {
    const ticket = staged.get(name);
    // Like signed headers: the PUT must send exactly what the ticket listed, at the signed length.
    const signed =
      (req.headers["content-type"] ?? "") === ticket.contentType &&
      req.headers["if-none-match"] === "*" &&
      Number(req.headers["content-length"]) === ticket.length;
    if (!signed) {
      return s3Error(res, 403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided.");
    }
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    ticket.bytes = Buffer.concat(chunks);
    return res.writeHead(200, { ...cors, etag: `"${createHash("md5").update(ticket.bytes).digest("hex")}"` }).end();
  }
  if ((req.method === "GET" || req.method === "HEAD") && area === "public" && published.has(name)) {
    const object = published.get(name);
    res.writeHead(200, { ...cors, "content-type": object.contentType, "content-length": object.bytes.length });
    return res.end(req.method === "GET" ? object.bytes : undefined);
  }
  return s3Error(res, 404, "NoSuchKey", "The specified key does not exist.");
});
await new Promise((resolve) => store.listen(0, "127.0.0.1", resolve));
const storeOrigin = `http://127.0.0.1:${store.address().port}`;

// --- the MCP server --------------------------------------------------------------------------------
const text = (t) => ({ content: [{ type: "text", text: t }] });
const failure = (t) => ({ ...text(t), isError: true });
const result = (value, summary) => ({ ...text(summary ?? JSON.stringify(value)), structuredContent: value });

/** PNG / JPEG / GIF / WebP by magic number, with the pixel size where it is cheap to read. */
function sniff(bytes) {
  if (bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) {
    return { format: "png", contentType: "image/png", width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
  }
  if (bytes[0] === 0xff && bytes[1] === 0xd8) {
    for (let i = 2; i + 9 < bytes.length; ) {
      const marker = bytes[i + 1];
      const length = bytes.readUInt16BE(i + 2);
      if (marker >= 0xc0 && marker <= 0xc3) {
        return { format: "jpeg", contentType: "image/jpeg", width: bytes.readUInt16BE(i + 7), height: bytes.readUInt16BE(i + 5) };
      }
      i += 2 + length;
    }
    return { format: "jpeg", contentType: "image/jpeg", width: 0, height: 0 };
  }
  if (bytes.subarray(0, 4).toString("latin1") === "GIF8") {
    return { format: "gif", contentType: "image/gif", width: bytes.readUInt16LE(6), height: bytes.readUInt16LE(8) };
  }
  if (bytes.subarray(0, 4).toString("latin1") === "RIFF" && bytes.subarray(8, 12).toString("latin1") === "WEBP") {
    return { format: "webp", contentType: "image/webp", width: 0, height: 0 };
  }
  return null;
}

function mcpServer() {
  const server = new McpServer({ name: "s3-upload-mcp-stub", version: "0.0.0" });

  registerAppResource(server, "uploader", UI_URI, { description: "Upload images from this conversation" }, async () => ({
    contents: [
      {
        uri: UI_URI,
        mimeType: RESOURCE_MIME_TYPE,
        text: html,
        // The PUT goes to the store (connect-src); thumbnails load from the public URLs (img-src).
        _meta: {
          ui: {
            csp: { connectDomains: [storeOrigin], resourceDomains: [storeOrigin] },
            permissions: { clipboardWrite: {} },
            prefersBorder: true,
          },
        },
      },
    ],
  }));

  registerAppTool(
    server,
    "open_uploader",
    {
      description: "Open an upload widget in the chat so the user can pick or drop images and get public URLs.",
      inputSchema: z.object({
        prefix: z.string().optional(),
        format: z.enum(["auto", "webp", "original", "png", "jpeg"]).optional(),
        widths: z.array(z.number().int().positive()).max(8).optional(),
      }),
      _meta: { ui: { resourceUri: UI_URI } },
    },
    async (args) =>
      result(
        { ...args, max_bytes: MAX_BYTES },
        "Opened the image uploader. Clients without MCP Apps: call create_upload_url, PUT the file, then " +
          "upload_image_to_s3 with the staging_key, or pass small images as base64 in upload_image_to_s3's `data`.",
      ),
  );

  server.registerTool(
    "create_upload_url",
    {
      description: "Get a presigned URL to PUT an image to.",
      inputSchema: z.object({ filename: z.string(), content_type: z.string().optional(), bytes: z.number().int().positive() }),
    },
    async ({ filename, content_type, bytes }) => {
      if (content_type && content_type !== "application/octet-stream" && !/^image\/[a-z0-9.+-]+$/i.test(content_type)) {
        return failure(`content_type ${JSON.stringify(content_type)} is not an image type; use e.g. image/png, or leave it out`);
      }
      if (bytes > MAX_BYTES) return failure(`the file is ${bytes} bytes; the limit is ${MAX_BYTES}`);
      const token = `${randomBytes(8).toString("hex")}/${filename.replace(/[^\w.-]+/g, "-")}`;
      const contentType = content_type ?? "application/octet-stream";
      staged.set(token, { contentType, length: bytes });
      const headers = { "content-type": contentType, "if-none-match": "*" };
      return result({
        upload_url: `${storeOrigin}/staging/${encodeURIComponent(token)}?X-Amz-Signature=stub`,
        method: "PUT",
        headers,
        staging_key: `_staging/${token}`,
        expires_at: new Date(Date.now() + 900_000).toISOString(),
        bytes,
        max_bytes: MAX_BYTES,
        curl: "",
      });
    },
  );

  server.registerTool(
    "upload_image_to_s3",
    {
      description: "Publish a staged image and get its public URL.",
      inputSchema: z.object({
        staging_key: z.string(),
        filename: z.string(),
        prefix: z.string().optional(),
        format: z.string().optional(),
        widths: z.array(z.number()).optional(),
      }),
    },
    async ({ staging_key, filename, prefix }) => {
      const ticket = staged.get(staging_key.replace(/^_staging\//, ""));
      if (!ticket?.bytes) return failure(`nothing was uploaded for staging_key ${staging_key}; PUT the file to its upload_url first`);
      const image = sniff(ticket.bytes);
      if (!image) return failure(`${filename} is not an image this server can read (PNG, JPEG, GIF or WebP)`);
      const sha256 = createHash("sha256").update(ticket.bytes).digest("hex");
      const key = `${prefix ? `${prefix}/` : ""}${sha256.slice(0, 12)}.${image.format}`;
      published.set(key, { contentType: image.contentType, bytes: ticket.bytes });
      const url = `${storeOrigin}/public/${key}`;
      return result({
        url,
        bucket: "stub",
        key,
        etag: sha256.slice(0, 32),
        content_type: image.contentType,
        bytes: ticket.bytes.length,
        original_bytes: ticket.bytes.length,
        width: image.width,
        height: image.height,
        format: image.format,
        sha256,
        deduplicated: false,
        resized: false,
        orientation_applied: false,
        encoder: "stub (bytes kept)",
        variants: [],
        html: `<img src="${url}" alt="${filename}" width="${image.width}" height="${image.height}">`,
      });
    },
  );
  return server;
}

// Stateless Streamable HTTP: one server and transport per request, as on Lambda.
const http = createServer(async (req, res) => {
  if (new URL(req.url, "http://mcp").pathname !== "/mcp") return res.writeHead(404).end();
  const server = mcpServer();
  const transport = new NodeStreamableHTTPServerTransport({ sessionIdGenerator: undefined });
  res.on("close", () => void server.close());
  await server.connect(transport);
  await transport.handleRequest(req, res);
});
await new Promise((resolve) => http.listen(0, "127.0.0.1", resolve));
console.log(`MCP http://127.0.0.1:${http.address().port}/mcp`);

const stop = () => {
  http.closeAllConnections();
  store.closeAllConnections();
  http.close();
  store.close();
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
