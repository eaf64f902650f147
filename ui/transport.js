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

function httpTransport() {
  async function call(method, path, body) {
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
        throw new EngineError("signed_out", "This page is signed out: open the link printed by `redline daemon` or `redline demo` again.", 401);
      }
      throw engineError(parsed, response.status);
    }
    return parsed;
  }
  const enc = encodeURIComponent;
  return {
    inApp: false,
    status: () => call("GET", "/api/v1/status"),
    refresh: () => call("POST", "/api/v1/refresh"),
    listKeys: () => call("GET", "/api/v1/keys"),
    addKey: (request) => call("POST", "/api/v1/keys", request),
    testKey: (id) => call("POST", `/api/v1/keys/${enc(id)}/test`),
    rotateKey: (id, secret, verify) => call("POST", `/api/v1/keys/${enc(id)}/rotate`, { secret, verify }),
    rollbackKey: (id) => call("POST", `/api/v1/keys/${enc(id)}/rollback`),
    removeKey: (id) => call("DELETE", `/api/v1/keys/${enc(id)}`),
    settings: () => call("GET", "/api/v1/settings"),
    saveSettings: (changes) => call("PUT", "/api/v1/settings", changes),
    toolSetup: (id, shell) => call("GET", `/api/v1/keys/${enc(id)}/setup?shell=${enc(shell)}`),
    providers: () => call("GET", "/api/v1/providers"),
    throttles: (limit) => call("GET", `/api/v1/throttles?limit=${enc(limit)}`),
    history: (account, range) => call("GET", `/api/v1/history?account=${enc(account)}&range=${enc(range)}`),
    autostart: async () => null,
    setAutostart: async () => {
      throw new EngineError("app_only", "Only the desktop app can start at login.");
    },
    /** Calls `onStatus(status)` now and on every change; `onConnection(ok)` when the link drops or returns. */
    subscribe(onStatus, onConnection) {
      const source = new EventSource("/api/v1/events");
      source.addEventListener("status", (event) => {
        onConnection(true);
        onStatus(JSON.parse(event.data));
      });
      source.addEventListener("error", () => onConnection(false));
      return () => source.close();
    },
  };
}

function tauriTransport(tauri) {
  async function call(command, args = {}) {
    try {
      return await tauri.invoke(command, args);
    } catch (error) {
      throw engineError(typeof error === "string" ? safeParse(error) : error);
    }
  }
  return {
    inApp: true,
    status: () => call("get_status"),
    refresh: () => call("refresh"),
    listKeys: () => call("list_keys"),
    addKey: (request) => call("add_key", { request }),
    testKey: (id) => call("test_key", { id }),
    rotateKey: (id, secret, verify) => call("rotate_key", { id, secret, verify }),
    rollbackKey: (id) => call("rollback_key", { id }),
    removeKey: (id) => call("remove_key", { id }),
    settings: () => call("get_settings"),
    saveSettings: (changes) => call("save_settings", { changes }),
    toolSetup: (id, shell) => call("tool_setup", { id, shell }),
    providers: () => call("list_providers"),
    throttles: (limit) => call("list_throttles", { limit }),
    history: (account, range) => call("get_history", { account, range }),
    autostart: () => call("get_autostart"),
    setAutostart: (enabled) => call("set_autostart", { enabled }),
    subscribe(onStatus, onConnection) {
      let stopped = false;
      const pull = () =>
        call("get_status").then(
          (status) => {
            onConnection(true);
            if (!stopped) onStatus(status);
          },
          () => onConnection(false),
        );
      const handler = tauri.transformCallback(() => pull());
      const listening = tauri.invoke("plugin:event|listen", {
        event: "status-changed",
        target: { kind: "Any" },
        handler,
      });
      pull();
      return () => {
        stopped = true;
        listening.then((id) => tauri.invoke("plugin:event|unlisten", { event: "status-changed", eventId: id }));
      };
    },
  };
}

function safeParse(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export const transport = window.__TAURI_INTERNALS__ ? tauriTransport(window.__TAURI_INTERNALS__) : httpTransport();
