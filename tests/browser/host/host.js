// A minimal MCP Apps web host: the official TypeScript MCP client talks to the server (through the
// test server's same-origin /mcp proxy, as a web host's backend would), and the ext-apps AppBridge
// talks to the view, which runs in a sandbox proxy iframe on another origin (the spec's double
// iframe). Bundled for the browser by serve.mjs. Everything a test needs to see or steer is on
// `window.testHost`.

import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import {
  AppBridge,
  PostMessageTransport,
  RESOURCE_MIME_TYPE,
  buildAllowAttribute,
  getToolUiResourceUri,
  isToolVisibilityModelOnly,
} from "@modelcontextprotocol/ext-apps/app-bridge";

const UI_EXTENSION = "io.modelcontextprotocol/ui";
const params = new URLSearchParams(location.search);
const sandboxUrl = params.get("sandbox");
const toolName = params.get("tool") ?? "open_uploader";
const toolArgs = JSON.parse(params.get("args") ?? "{}");
const hostInfo = { name: "s3-upload-mcp-test-host", version: "0.0.0" };

const gates = new Map();
const host = {
  phase: "starting",
  error: null,
  tool: null,
  resource: null,
  toolResult: null,
  /** Every tools/call the view made: { name, arguments, result } (or error). */
  toolCalls: [],
  /** Every ui/update-model-context the view sent, in order. */
  modelContext: [],
  /** Every ui/message the view sent. */
  messages: [],
  logs: [],
  bridge: null,
  /** Holds the view's calls to `name` until release(name): lets a test see the view mid-upload. */
  hold(name) {
    let release;
    const gate = new Promise((resolve) => (release = resolve));
    gates.set(name, { gate, release });
  },
  release(name) {
    gates.get(name)?.release();
    gates.delete(name);
  },
  async setTheme(theme) {
    document.documentElement.style.colorScheme = theme;
    await host.bridge.sendHostContextChange({ theme });
  },
};
window.testHost = host;

async function main() {
  if (!sandboxUrl) throw new Error("missing ?sandbox=URL of sandbox.html");
  const client = new Client(hostInfo, {
    capabilities: { extensions: { [UI_EXTENSION]: { mimeTypes: [RESOURCE_MIME_TYPE] } } },
  });
  await client.connect(new StreamableHTTPClientTransport(new URL("/mcp", location.href)));

  const { tools } = await client.listTools();
  const tool = tools.find((t) => t.name === toolName);
  if (!tool) throw new Error(`the server lists no ${toolName} tool (tools: ${tools.map((t) => t.name).join(", ")})`);
  host.tool = tool;
  const uri = getToolUiResourceUri(tool);
  if (!uri?.startsWith("ui://")) throw new Error(`${toolName} has no ui:// resource in _meta.ui.resourceUri`);

  // CSP and permissions come from the resources/read content item, the resources/list entry as fallback.
  const { contents } = await client.readResource({ uri });
  const content = contents.find((c) => c.uri === uri) ?? contents[0];
  if (content?.mimeType !== RESOURCE_MIME_TYPE) {
    throw new Error(`${uri} is ${content?.mimeType}, not ${RESOURCE_MIME_TYPE}`);
  }
  const html = "text" in content ? content.text : new TextDecoder().decode(Uint8Array.from(atob(content.blob), (c) => c.charCodeAt(0)));
  let ui = content._meta?.ui;
  if (!ui) {
    const { resources } = await client.listResources();
    ui = resources.find((r) => r.uri === uri)?._meta?.ui;
  }
  host.resource = { uri, mimeType: content.mimeType, bytes: html.length, ui: ui ?? null };

  // The model "calls" the tool while the view loads, as in a chat.
  const toolCall = client.callTool({ name: toolName, arguments: toolArgs });

  const bridge = new AppBridge(
    null,
    hostInfo,
    {
      serverTools: {},
      serverResources: {},
      logging: {},
      openLinks: {},
      updateModelContext: { text: {}, structuredContent: {} },
      message: { text: {} },
      sandbox: { csp: ui?.csp, permissions: ui?.permissions },
    },
    {
      hostContext: {
        theme: "light",
        platform: "web",
        displayMode: "inline",
        availableDisplayModes: ["inline"],
        containerDimensions: { width: 640, maxHeight: 4000 },
        locale: "en-US",
        toolInfo: { tool },
      },
    },
  );
  host.bridge = bridge;

  // Proxy the view's tool calls to the server, refusing tools the spec keeps from apps.
  bridge.oncalltool = async (call, extra) => {
    const listed = tools.find((t) => t.name === call.name);
    if (listed && isToolVisibilityModelOnly(listed)) throw new Error(`${call.name} is not callable by apps`);
    await gates.get(call.name)?.gate;
    const record = { name: call.name, arguments: call.arguments };
    host.toolCalls.push(record);
    try {
      record.result = await client.callTool(call, { signal: extra.mcpReq.signal, timeout: 180_000 });
      return record.result;
    } catch (e) {
      record.error = String(e?.message ?? e);
      throw e;
    }
  };
  bridge.onreadresource = (request) => client.readResource(request);
  bridge.onlistresources = (request) => client.listResources(request);
  bridge.onupdatemodelcontext = async (update) => {
    host.modelContext.push(update);
    return {};
  };
  bridge.onmessage = async (message) => {
    host.messages.push(message);
    return {};
  };
  bridge.onloggingmessage = (entry) => host.logs.push(entry);

  const frame = document.createElement("iframe");
  frame.id = "view-sandbox";
  frame.title = "s3-upload-mcp uploader";
  frame.setAttribute("sandbox", "allow-scripts allow-same-origin allow-forms");
  const allow = buildAllowAttribute(ui?.permissions);
  if (allow) frame.setAttribute("allow", allow);
  bridge.onsizechange = ({ height }) => {
    if (height) frame.style.height = `${height}px`;
  };
  bridge.onsandboxready = () => {
    bridge.sendSandboxResourceReady({ html, csp: ui?.csp, permissions: ui?.permissions });
  };
  bridge.oninitialized = async () => {
    // Nothing goes to the view before it says it is initialized (spec).
    await bridge.sendToolInput({ arguments: toolArgs });
    host.toolResult = await toolCall;
    await bridge.sendToolResult(host.toolResult);
    host.phase = "ready";
  };

  const sandbox = new URL(sandboxUrl);
  sandbox.searchParams.set("csp", JSON.stringify(ui?.csp ?? {}));
  frame.src = sandbox.href;
  document.querySelector("#view").append(frame);
  await bridge.connect(new PostMessageTransport(frame.contentWindow, frame.contentWindow));
}

main().catch((e) => {
  host.phase = "failed";
  host.error = String(e?.stack ?? e);
  document.querySelector("#error").textContent = host.error;
});
