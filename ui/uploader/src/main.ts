// The upload view: connects to the host (MCP Apps), takes files from the picker or a drop, uploads
// each through the server's tools, and tells the model what was uploaded.

import {
  App,
  applyDocumentTheme,
  applyHostFonts,
  applyHostStyleVariables,
  type McpUiHostContext,
} from "@modelcontextprotocol/ext-apps";
import { version } from "../package.json";
import { type UploaderOptions, UploadFailure, readOptions, resultText } from "./contract";
import { FileRow, copyText } from "./row";
import { type Failed, type Uploaded, modelSummary } from "./snippets";
import { putFile } from "./transfer";
import { eachLimited, uploadFile } from "./upload";
import "./style.css";

/** PUTs at once: enough to overlap latency, few enough not to starve the host's tab. */
const PARALLEL_UPLOADS = 3;
/** Processing a large image can take a while; the SDK's default request timeout is 60 s. */
const TOOL_TIMEOUT_MS = 180_000;

const input = document.querySelector<HTMLInputElement>("#file-input")!;
const drop = document.querySelector<HTMLLabelElement>("#drop")!;
const list = document.querySelector<HTMLUListElement>("#files")!;
const status = document.querySelector<HTMLParagraphElement>("#status")!;
const target = document.querySelector<HTMLParagraphElement>("#target")!;

let options: UploaderOptions = {};
const uploaded: Uploaded[] = [];
const failed: Failed[] = [];
let active = 0;

const app = new App({ name: "s3-upload-mcp uploader", version }, {}, { autoResize: true });

function applyContext(ctx: McpUiHostContext) {
  if (ctx.theme) applyDocumentTheme(ctx.theme);
  if (ctx.styles?.variables) applyHostStyleVariables(ctx.styles.variables);
  if (ctx.styles?.css?.fonts) applyHostFonts(ctx.styles.css.fonts);
}

function showOptions() {
  const parts = [options.prefix ? `into “${options.prefix}/”` : "into the default folder"];
  if (options.format) parts.push(`as ${options.format}`);
  if (options.widths?.length) parts.push(`with widths ${options.widths.join(", ")}`);
  target.textContent = `Images are optimised and published ${parts.join(" ")}.`;
}

// Handlers go in before connect(): the host sends tool input and result right after the handshake.
app.addEventListener("hostcontextchanged", applyContext);
app.addEventListener("toolinput", ({ arguments: args }) => {
  options = { ...readOptions(args), ...options };
  showOptions();
});
app.addEventListener("toolresult", (result) => {
  if (result.isError) {
    status.textContent = resultText(result);
    return;
  }
  // The server's echo of the options it will apply wins over the raw arguments.
  options = { ...options, ...readOptions(result.structuredContent) };
  showOptions();
});
app.addEventListener("toolcancelled", () => {
  status.textContent = "The open_uploader call was cancelled; uploads still work.";
});
app.onteardown = async () => ({});

async function tellModel() {
  const { text, structured } = modelSummary(uploaded, failed);
  const caps = app.getHostCapabilities();
  try {
    // Context for the model's next turn without starting one; hosts keep only the last update.
    if (caps?.updateModelContext) {
      await app.updateModelContext({ content: [{ type: "text", text }], structuredContent: structured });
    } else if (caps?.message) {
      await app.sendMessage({ role: "user", content: [{ type: "text", text }] });
    }
  } catch (e) {
    status.textContent = `Uploaded, but the host did not take the summary for the model: ${(e as Error).message}`;
  }
}

async function uploadAll(files: File[]) {
  if (!files.length) return;
  const rows = files.map((file) => ({ file, row: new FileRow(file) }));
  // Newest batch first, each batch in the order the files were chosen.
  list.prepend(...rows.map(({ row }) => row.element));
  active += rows.length;
  status.textContent = `Uploading ${active} file${active === 1 ? "" : "s"}…`;
  const host = {
    callTool: (name: string, args: Record<string, unknown>) =>
      app.callServerTool({ name, arguments: args }, { timeout: TOOL_TIMEOUT_MS }),
    put: putFile,
  };
  await eachLimited(rows, PARALLEL_UPLOADS, async ({ file, row }) => {
    try {
      const outcome = await uploadFile(host, file, options, (step) => row.step(step));
      uploaded.push({ filename: file.name, outcome });
      row.done(outcome, copyText);
    } catch (e) {
      // Tool errors carry the server's message; anything else (host or transport) its own.
      const message = e instanceof UploadFailure ? e.message : `Could not upload: ${(e as Error).message}`;
      failed.push({ filename: file.name, error: message });
      row.failed(message);
    } finally {
      active -= 1;
    }
  });
  if (active === 0) {
    status.textContent = `${uploaded.length} uploaded${failed.length ? `, ${failed.length} failed` : ""}.`;
    await tellModel();
  }
}

function enable() {
  input.disabled = false;
  drop.classList.remove("disabled");
  input.addEventListener("change", () => {
    void uploadAll([...(input.files ?? [])]);
    input.value = ""; // choosing the same file again is a new upload
  });
  // Accept drops anywhere in the view, not only on the drop zone.
  document.addEventListener("dragover", (e) => {
    e.preventDefault();
    drop.classList.add("dragging");
  });
  document.addEventListener("dragleave", (e) => {
    if (!e.relatedTarget) drop.classList.remove("dragging");
  });
  document.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("dragging");
    void uploadAll([...(e.dataTransfer?.files ?? [])]);
  });
}

showOptions();
if (window.parent === window) {
  // Opened directly, not by a host: there is no server to talk to.
  status.textContent = "This view runs inside an MCP Apps host (Claude, ChatGPT, VS Code…), opened by open_uploader.";
} else {
  app
    .connect()
    .then(() => {
      const ctx = app.getHostContext();
      if (ctx) applyContext(ctx);
      enable();
      status.textContent = "";
    })
    .catch((e: Error) => {
      status.textContent = `Could not connect to the host: ${e.message}`;
    });
}
