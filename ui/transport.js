// How the dashboard talks to the engine. In a browser: the JSON API under /api/v1 and live
// status over server-sent events (the session cookie authenticates both). Inside the desktop
// app: Tauri commands and the `status-changed` event. Both answer with the same JSON, and both
// fail with the same error object, {"error": {"code", "message"}}.

/** An error from the engine, with its stable code and a message that says what to do. */
export class EngineError extends Error {
  constructor(code, message, status = 0) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

/** Reads {"error": {"code"|"type", "message"}}, or says plainly what went wrong. */
export function engineError(body, status = 0) {
  const error = body && typeof body === "object" ? body.error : null;
  if (error && typeof error.message === "string") {
    return new EngineError(error.code || error.type || "error", error.message, status);
  }
  if (typeof body === "string" && body.trim()) {
    return new EngineError("error", body.trim(), status);
  }
  return new EngineError("error", `Redline answered with an unexpected error (HTTP ${status || "?"}). Try again, or restart Redline.`, status);
}

const enc = encodeURIComponent;

/**
 * Every command the page sends, declared once for both transports: the desktop app's Tauri
 * command with its arguments, and the same call to the JSON API (method, path, body). A
 * command without `http` exists only in the app (`appOnly` says what it does).
 */
const COMMANDS = {
  status: () => ({ command: "get_status", http: ["GET", "/api/v1/status"] }),
  refresh: () => ({ command: "refresh", http: ["POST", "/api/v1/refresh"] }),
  listKeys: () => ({ command: "list_keys", http: ["GET", "/api/v1/keys"] }),
  addKey: (request) => ({ command: "add_key", args: { request }, http: ["POST", "/api/v1/keys", request] }),
  testKey: (id) => ({ command: "test_key", args: { id }, http: ["POST", `/api/v1/keys/${enc(id)}/test`] }),
  rotateKey: (id, secret, verify) => ({
    command: "rotate_key",
    args: { id, secret, verify },
    http: ["POST", `/api/v1/keys/${enc(id)}/rotate`, { secret, verify }],
  }),
  rollbackKey: (id) => ({ command: "rollback_key", args: { id }, http: ["POST", `/api/v1/keys/${enc(id)}/rollback`] }),
  removeKey: (id) => ({ command: "remove_key", args: { id }, http: ["DELETE", `/api/v1/keys/${enc(id)}`] }),
  settings: () => ({ command: "get_settings", http: ["GET", "/api/v1/settings"] }),
  saveSettings: (changes) => ({ command: "save_settings", args: { changes }, http: ["PUT", "/api/v1/settings", changes] }),
  toolSetup: (id, shell, tool = "") => ({
    command: "tool_setup",
    args: { id, shell, tool: tool || null },
    http: ["GET", `/api/v1/keys/${enc(id)}/setup?shell=${enc(shell)}${tool ? `&tool=${enc(tool)}` : ""}`],
  }),
  listTools: () => ({ command: "list_tools", http: ["GET", "/api/v1/tools"] }),
  previewConnect: (tool, account) => ({
    command: "preview_connect",
    args: { tool, account },
    http: ["POST", `/api/v1/tools/${enc(tool)}/preview`, { account }],
  }),
  connectTool: (tool, account) => ({
    command: "connect_tool",
    args: { tool, account },
    http: ["POST", `/api/v1/tools/${enc(tool)}/connect`, { account }],
  }),
  disconnectTool: (tool) => ({ command: "disconnect_tool", args: { tool }, http: ["POST", `/api/v1/tools/${enc(tool)}/disconnect`] }),
  providers: () => ({ command: "list_providers", http: ["GET", "/api/v1/providers"] }),
  vocabulary: () => ({ command: "get_vocabulary", http: ["GET", "/api/v1/vocabulary"] }),
  throttles: (limit) => ({ command: "list_throttles", args: { limit }, http: ["GET", `/api/v1/throttles?limit=${enc(limit)}`] }),
  history: (account, range) => ({
    command: "get_history",
    args: { account, range },
    http: ["GET", `/api/v1/history?account=${enc(account)}&range=${enc(range)}`],
  }),
  autostart: () => ({ command: "get_autostart", appOnly: "start at login" }),
  setAutostart: (enabled) => ({ command: "set_autostart", args: { enabled }, appOnly: "start at login" }),
};

/** A transport: each command of COMMANDS sent with `send`, plus what the transport adds. */
function transportOver(send, extra) {
  const transport = { ...extra };
  for (const [name, declare] of Object.entries(COMMANDS)) {
    transport[name] = (...args) => send(declare(...args));
  }
  return transport;
}

function httpTransport() {
  async function send({ http, appOnly }) {
    if (!http) throw new EngineError("app_only", `Only the desktop app can ${appOnly}.`);
    const [method, path, body] = http;
    let response;
    try {
      response = await fetch(path, {
        method,
        credentials: "same-origin",
        headers: body === undefined ? {} : { "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new EngineError("offline", "Redline is not answering. Is `redline daemon` (or the desktop app) still running?");
    }
    const text = await response.text();
    let parsed = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // Plain text (the tool setup snippet).
    }
    if (!response.ok) {
      if (response.status === 401) {
        throw new EngineError("signed_out", "This page is signed out: run `redline dashboard` to open it signed in again (or open the link `redline demo` printed).", 401);
      }
      throw engineError(parsed, response.status);
    }
    return parsed;
  }
  return transportOver(send, {
    inApp: false,
    /**
     * Calls `onStatus(status)` now and on every change; `onConnection(ok)` when the link drops
     * or returns; `onTool(notice)` for each notice of the engine's watch over the tools' files.
     */
    subscribe(onStatus, onConnection, onTool = () => {}) {
      const source = new EventSource("/api/v1/events");
      source.addEventListener("status", (event) => {
        onConnection(true);
        onStatus(JSON.parse(event.data));
      });
      source.addEventListener("tool", (event) => onTool(JSON.parse(event.data)));
      source.addEventListener("error", () => onConnection(false));
      return () => source.close();
    },
  });
}

/** In the app, through Tauri's public JavaScript API (`app.withGlobalTauri` in tauri.conf.json). */
function tauriTransport(tauri) {
  async function send({ command, args = {} }) {
    try {
      return await tauri.core.invoke(command, args);
    } catch (error) {
      throw engineError(typeof error === "string" ? safeParse(error) : error);
    }
  }
  return transportOver(send, {
    inApp: true,
    /**
     * The app says only that the status changed (`status-changed`); the page then pulls it.
     * The tool watch's notices come whole (`tool-notice`).
     */
    subscribe(onStatus, onConnection, onTool = () => {}) {
      let stopped = false;
      const notices = tauri.event.listen("tool-notice", (event) => {
        if (!stopped) onTool(event.payload);
      });
      const pull = () =>
        send(COMMANDS.status()).then(
          (status) => {
            onConnection(true);
            if (!stopped) onStatus(status);
          },
          () => onConnection(false),
        );
      const listening = tauri.event.listen("status-changed", () => pull());
      pull();
      return () => {
        stopped = true;
        listening.then((unlisten) => unlisten());
        notices.then((unlisten) => unlisten());
      };
    },
  });
}

function safeParse(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export const transport = window.__TAURI__ ? tauriTransport(window.__TAURI__) : httpTransport();
