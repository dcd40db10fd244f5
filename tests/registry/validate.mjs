// Validates a server.json (the official MCP registry's description of this server) against the
// registry's JSON Schema, offline, plus the publishing rules the schema only describes in prose.
//
//   node validate.mjs --schema SCHEMA.json [--version X.Y.Z] [--release] server.json
//
// --version   the crate's version: server.json and its package entries must carry it
// --release   placeholders (an all-zero fileSha256) are errors, not warnings
// Exits non-zero when invalid.

import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import Ajv from "ajv";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const { values: args, positionals } = parseArgs({
  options: { schema: { type: "string" }, version: { type: "string" }, release: { type: "boolean", default: false } },
  allowPositionals: true,
});
const file = positionals[0];
if (!args.schema || !file) {
  console.error("usage: node validate.mjs --schema SCHEMA.json [--version X.Y.Z] [--release] server.json");
  process.exit(2);
}

const schema = JSON.parse(await readFile(args.schema, "utf8"));
const doc = JSON.parse(await readFile(file, "utf8"));
const errors = [];
const warnings = [];

// The registry publishes draft-07 schemas so far; its drafts have used 2020-12.
const Validator = String(schema.$schema ?? "").includes("2020-12") ? Ajv2020 : Ajv;
// strict: false because the registry's schema carries OpenAPI's `example` keyword.
const ajv = new Validator({ strict: false, allErrors: true });
addFormats(ajv);
if (!ajv.validate(schema, doc)) {
  for (const e of ajv.errors) errors.push(`${e.instancePath || "/"} ${e.message}${e.params ? ` ${JSON.stringify(e.params)}` : ""}`);
}

// The document must name the schema it is checked against, or the check proves nothing.
if (schema.$id && doc.$schema !== schema.$id) errors.push(`$schema is ${doc.$schema}, but the schema checked is ${schema.$id}`);

// Rules the registry enforces at publish time that the schema states only in prose.
const range = /[\^~<>=*\s]|(^|\.)[xX](\.|$)|^latest$/;
if (range.test(String(doc.version))) errors.push(`version ${doc.version} must be one specific version`);
if (args.version && doc.version !== args.version) errors.push(`version ${doc.version} is not the crate's ${args.version}`);
for (const [i, remote] of (doc.remotes ?? []).entries()) {
  for (const header of remote.headers ?? []) {
    if (/^(authorization|x-api-key)$/i.test(header.name) && header.isSecret !== true) {
      errors.push(`remotes[${i}] header ${header.name} carries a credential: mark it isSecret`);
    }
  }
  for (const name of String(remote.url).match(/\{(\w+)\}/g) ?? []) {
    if (!remote.variables?.[name.slice(1, -1)]) errors.push(`remotes[${i}].url uses ${name} but declares no such variable`);
  }
}
for (const [i, pkg] of (doc.packages ?? []).entries()) {
  if (pkg.registryType !== "mcpb") continue;
  if (!/^https:\/\/.+\.mcpb$/.test(pkg.identifier)) errors.push(`packages[${i}].identifier must be the https URL of the .mcpb release asset`);
  if (pkg.version && pkg.version !== doc.version) errors.push(`packages[${i}].version ${pkg.version} != server version ${doc.version}`);
  if (/^0{64}$/.test(pkg.fileSha256 ?? "")) {
    (args.release ? errors : warnings).push(`packages[${i}].fileSha256 is a placeholder: set it to the sha256 scripts/bundle.sh prints for the released .mcpb`);
  }
}

// The publisher's namespace is not known until someone publishes (tests/registry/README.md).
const owner = [doc.name, ...(doc.packages ?? []).map((p) => p.identifier)].filter((v) => /\bOWNER\b/.test(String(v)));
for (const value of owner) {
  (args.release ? errors : warnings).push(`${value} names the placeholder OWNER: use the GitHub user or organisation that publishes`);
}

for (const w of warnings) console.log(`warning: ${w}`);
if (errors.length) {
  console.log(`${file}: INVALID against ${schema.$id ?? args.schema}`);
  for (const e of errors) console.log(`  - ${e}`);
  process.exit(1);
}
console.log(
  `${file}: valid against ${schema.$id ?? args.schema} — ${doc.name} ${doc.version}, ` +
    `${doc.remotes?.length ?? 0} remote(s), ${doc.packages?.length ?? 0} package(s)`,
);
