// The server's tool contract as the view uses it, and the one place tool results are read.
// Field names mirror src/upload (StagingTicket, UploadOutcome) on the Rust side.

import type { CallToolResult } from "@modelcontextprotocol/client";

/** Arguments of `open_uploader`, and the defaults its result may echo back. */
export interface UploaderOptions {
  prefix?: string;
  format?: string;
  widths?: number[];
  /** Largest file the server accepts, when the server says so (open_uploader result). */
  max_bytes?: number;
}

/** structuredContent of `create_upload_url`. */
export interface StagingTicket {
  upload_url: string;
  method: string;
  /** Headers the PUT must carry exactly (e.g. content-type when the URL was signed with one). */
  headers: Record<string, string>;
  staging_key: string;
  expires_at: string;
  max_bytes: number;
}

/** structuredContent of `upload_image_to_s3` (the fields the view shows). */
export interface UploadOutcome {
  url: string;
  key: string;
  bytes: number;
  width: number;
  height: number;
  format: string;
  content_type: string;
  html?: string;
  markdown?: string;
  srcset?: string;
  deduplicated?: boolean;
  warnings?: string[];
}

/** A failure whose message is shown to the user verbatim (the server's or the store's words). */
export class UploadFailure extends Error {
  override name = "UploadFailure";
}

/** The text of a result's text blocks: where a tool that ran and failed puts its message. */
export function resultText(result: CallToolResult): string {
  return (result.content ?? [])
    .map((block) => (block.type === "text" ? block.text : ""))
    .filter(Boolean)
    .join("\n");
}

/** The structured result of a successful call; throws the server's message for `isError`. */
export function structuredResult<T>(tool: string, result: CallToolResult): T {
  if (result.isError) {
    throw new UploadFailure(resultText(result) || `${tool} failed without a message`);
  }
  if (result.structuredContent) return result.structuredContent as T;
  // Servers that predate structured output put the same JSON in the first text block.
  try {
    return JSON.parse(resultText(result)) as T;
  } catch {
    throw new UploadFailure(`${tool} returned no structured result`);
  }
}

/** Reads uploader options from tool arguments or a result, keeping only well-typed fields. */
export function readOptions(value: unknown): UploaderOptions {
  const options: UploaderOptions = {};
  if (typeof value !== "object" || value === null) return options;
  const source = value as Record<string, unknown>;
  if (typeof source.prefix === "string" && source.prefix) options.prefix = source.prefix;
  if (typeof source.format === "string" && source.format) options.format = source.format;
  if (Array.isArray(source.widths) && source.widths.every((w) => Number.isInteger(w) && w > 0)) {
    options.widths = source.widths as number[];
  }
  if (typeof source.max_bytes === "number" && source.max_bytes > 0) options.max_bytes = source.max_bytes;
  return options;
}

/** Arguments of `upload_image_to_s3` for a staged file: options are sent only when set. */
export function uploadArguments(stagingKey: string, filename: string, options: UploaderOptions) {
  const args: Record<string, unknown> = { staging_key: stagingKey, filename };
  if (options.prefix) args.prefix = options.prefix;
  if (options.format) args.format = options.format;
  if (options.widths?.length) args.widths = options.widths;
  return args;
}
