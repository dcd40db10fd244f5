// One file's row in the list: progress while it travels, then the thumbnail, URL and copy buttons,
// or the error. Built with DOM calls only: file names and messages are never parsed as HTML.

import type { UploadOutcome } from "./contract";
import { describe, formatBytes, htmlFor, markdownFor } from "./snippets";
import type { Step } from "./upload";

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<HTMLElementTagNameMap[K]> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

export class FileRow {
  readonly element: HTMLLIElement;
  private readonly thumb: HTMLDivElement;
  private readonly body: HTMLDivElement;
  private readonly progress: HTMLProgressElement;
  private readonly state: HTMLParagraphElement;

  constructor(private readonly file: File) {
    this.thumb = el("div", { className: "thumb" });
    this.thumb.setAttribute("aria-hidden", "true");
    this.progress = el("progress", { max: 1 });
    this.progress.setAttribute("aria-label", `Upload progress of ${file.name}`);
    this.state = el("p", { className: "state" }, "Waiting…");
    this.body = el(
      "div",
      { className: "body" },
      el("p", { className: "name" }, el("span", {}, file.name), " ", el("span", { className: "muted" }, formatBytes(file.size))),
      this.progress,
      this.state,
    );
    this.element = el("li", { className: "file" }, this.thumb, this.body);
    this.element.dataset.state = "queued";
    this.element.dataset.filename = file.name;
  }

  step(step: Step) {
    this.element.dataset.state = step.phase;
    if (step.phase === "ticket") {
      this.progress.removeAttribute("value"); // indeterminate
      this.state.textContent = "Requesting an upload URL…";
    } else if (step.phase === "transfer") {
      this.progress.value = step.fraction;
      this.state.textContent = `Uploading… ${Math.round(step.fraction * 100)}%`;
    } else {
      this.progress.removeAttribute("value");
      this.state.textContent = "Optimising and publishing…";
    }
  }

  done(outcome: UploadOutcome, copy: (text: string) => Promise<boolean>) {
    this.element.dataset.state = "done";
    const alt = `Uploaded ${this.file.name}`;
    this.thumb.replaceChildren(el("img", { src: outcome.url, alt, loading: "lazy", decoding: "async" }));
    this.thumb.removeAttribute("aria-hidden");

    const url = el("input", { className: "url", type: "text", readOnly: true, value: outcome.url });
    url.setAttribute("aria-label", `Public URL of ${this.file.name}`);
    url.addEventListener("focus", () => url.select());

    const button = (label: string, kind: string, text: string) => {
      const b = el("button", { type: "button", textContent: label });
      b.dataset.copy = kind;
      b.setAttribute("aria-label", `${label} of ${this.file.name}`);
      b.addEventListener("click", async () => {
        const ok = await copy(text);
        b.textContent = ok ? "Copied" : "Press Ctrl+C";
        if (!ok) url.select();
        setTimeout(() => (b.textContent = label), 1500);
      });
      return b;
    };

    const notes = [describe(outcome)];
    if (outcome.deduplicated) notes.push("already uploaded");
    this.body.replaceChildren(
      this.body.firstChild!, // the name line
      url,
      el("p", { className: "muted" }, notes.join(" · ")),
      ...(outcome.warnings ?? []).map((w) => el("p", { className: "warning" }, w)),
      el(
        "div",
        { className: "actions" },
        button("Copy URL", "url", outcome.url),
        button("Copy <img>", "html", htmlFor(this.file.name, outcome)),
        button("Copy Markdown", "markdown", markdownFor(this.file.name, outcome)),
      ),
    );
  }

  failed(message: string) {
    this.element.dataset.state = "error";
    this.thumb.classList.add("failed");
    const error = el("p", { className: "error" }, message);
    error.setAttribute("role", "alert");
    this.body.replaceChildren(this.body.firstChild!, error);
  }
}

/** Copies text; falls back to execCommand where the host grants no clipboard permission. */
export async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = el("textarea", { value: text, readOnly: true });
    area.style.cssText = "position:fixed;opacity:0;pointer-events:none";
    document.body.append(area);
    area.select();
    try {
      return document.execCommand("copy");
    } catch {
      return false;
    } finally {
      area.remove();
    }
  }
}
