// One file's journey: ticket from the server, bytes straight to storage, processing by the server.
// Knows the tool contract, not the DOM: progress is reported through a callback.

import type { CallToolResult } from "@modelcontextprotocol/client";
import {
  type StagingTicket,
  type UploadOutcome,
  type UploaderOptions,
  structuredResult,
  uploadArguments,
} from "./contract";

export type Step =
  | { phase: "ticket" }
  | { phase: "transfer"; fraction: number }
  | { phase: "process" };

export interface Host {
  /** A tool call proxied by the host to this server (App.callServerTool). */
  callTool(name: string, args: Record<string, unknown>): Promise<CallToolResult>;
  /** PUT `file` to `url` with exactly `headers`. */
  put(url: string, headers: Record<string, string>, file: Blob, onProgress: (f: number) => void): Promise<void>;
}

/** Uploads one file; resolves with the server's result or rejects with a message to show. */
export async function uploadFile(
  host: Host,
  file: File,
  options: UploaderOptions,
  onStep: (step: Step) => void,
): Promise<UploadOutcome> {
  onStep({ phase: "ticket" });
  const ticket = structuredResult<StagingTicket>(
    "create_upload_url",
    await host.callTool("create_upload_url", {
      filename: file.name,
      // Unknown types are still sent: the server decides what it accepts and says why not.
      content_type: file.type || "application/octet-stream",
      bytes: file.size,
    }),
  );

  onStep({ phase: "transfer", fraction: 0 });
  await host.put(ticket.upload_url, ticket.headers ?? {}, file, (fraction) =>
    onStep({ phase: "transfer", fraction }),
  );

  onStep({ phase: "process" });
  return structuredResult<UploadOutcome>(
    "upload_image_to_s3",
    await host.callTool("upload_image_to_s3", uploadArguments(ticket.staging_key, file.name, options)),
  );
}

/** Runs `task` over `items`, at most `limit` at a time (a few parallel PUTs, not dozens). */
export async function eachLimited<T>(items: T[], limit: number, task: (item: T) => Promise<void>) {
  const queue = [...items];
  const workers = Array.from({ length: Math.min(limit, queue.length) }, async () => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) await task(item);
  });
  await Promise.all(workers);
}
