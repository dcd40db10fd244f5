// What the user copies and what the model is told: text built from upload results.

import type { UploadOutcome } from "./contract";

/** One finished file, as the view and the model see it. */
export interface Uploaded {
  filename: string;
  outcome: UploadOutcome;
}

export interface Failed {
  filename: string;
  error: string;
}

/** "hero banner" from "hero_banner-final.png": readable alt text from a file name. */
export function altText(filename: string): string {
  const base = filename.replace(/^.*[\\/]/, "").replace(/\.[^.]+$/, "");
  return base.replace(/[-_]+/g, " ").replace(/\s+/g, " ").trim() || "image";
}

/** `![alt](url)`; the result's own `markdown` wins when the server sends one. */
export function markdownFor(filename: string, outcome: UploadOutcome): string {
  if (outcome.markdown) return outcome.markdown;
  const alt = altText(filename).replace(/([\\[\]])/g, "\\$1");
  // Parentheses and spaces would end or break the link target.
  const url = outcome.url.replace(/[ ()]/g, (c) => encodeURIComponent(c));
  return `![${alt}](${url})`;
}

/** The result's `<img>` tag; built here only if an older server sent none. */
export function htmlFor(filename: string, outcome: UploadOutcome): string {
  if (outcome.html) return outcome.html;
  const escape = (s: string) =>
    s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);
  return `<img src="${escape(outcome.url)}" alt="${escape(altText(filename))}" width="${outcome.width}" height="${outcome.height}">`;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

/** "1920×1080 · webp · 123.4 KB" */
export function describe(outcome: UploadOutcome): string {
  return `${outcome.width}×${outcome.height} · ${outcome.format} · ${formatBytes(outcome.bytes)}`;
}

/**
 * The model-facing summary: every file this view uploaded (and every failure), so the
 * conversation can go on with the URLs. Sent whole each time: hosts keep only the last update.
 */
export function modelSummary(uploaded: Uploaded[], failed: Failed[]) {
  const lines = [
    `The user uploaded ${uploaded.length} image${uploaded.length === 1 ? "" : "s"} with the s3-upload-mcp uploader` +
      (uploaded.length ? ". Public URLs:" : "."),
    ...uploaded.map(({ filename, outcome }) => `- ${filename} → ${outcome.url} (${describe(outcome)})`),
  ];
  if (failed.length) {
    lines.push(`${failed.length} file${failed.length === 1 ? "" : "s"} failed:`);
    lines.push(...failed.map(({ filename, error }) => `- ${filename}: ${error}`));
  }
  return {
    text: lines.join("\n"),
    structured: {
      uploads: uploaded.map(({ filename, outcome }) => ({
        filename,
        url: outcome.url,
        key: outcome.key,
        width: outcome.width,
        height: outcome.height,
        format: outcome.format,
        bytes: outcome.bytes,
        html: htmlFor(filename, outcome),
        markdown: markdownFor(filename, outcome),
      })),
      failures: failed,
    },
  };
}
