// The real `ironrack serve` binary (path from IRONRACK_BIN) and a small API client.
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { start, stop, freePort, tempDir, waitFor } from "./procs.mjs";

export const ADMIN_PASSWORD = "e2e-admin-password";
export const PIN = "2468";

export function ironrackBin() {
  const bin = process.env.IRONRACK_BIN;
  if (!bin || !existsSync(bin)) {
    throw new Error(`IRONRACK_BIN must name the ironrack binary (got ${bin ?? "nothing"}); build it with cargo build -p ironrack`);
  }
  return bin;
}

/** Starts `ironrack serve` on a free port; `config` is TOML for --config (e.g. short console timeouts). */
export async function startIronrack({ config } = {}) {
  const bin = ironrackBin();
  const port = await freePort();
  const tmp = tempDir("serve");
  const log = join(tmp.dir, "serve.log");
  const configEnv = {};
  if (config) {
    configEnv.IRONRACK_CONFIG_FILE = join(tmp.dir, "ironrack.toml");
    writeFileSync(configEnv.IRONRACK_CONFIG_FILE, config);
  }
  const child = start(bin, ["serve"], {
    log,
    env: {
      IRONRACK_DATA_DIR: join(tmp.dir, "data"),
      IRONRACK_LISTEN: `127.0.0.1:${port}`,
      IRONRACK_ADMIN_PASSWORD: ADMIN_PASSWORD, // in the environment, never on a command line
      IRONRACK_LOG: "info",
      ...configEnv,
    },
  });
  const base = `http://127.0.0.1:${port}`;
  await waitFor("ironrack serve to answer", async () => {
    if (child.exitCode !== null) throw new Error(`ironrack serve exited with ${child.exitCode}; see ${log}`);
    const r = await fetch(`${base}/api/v1/openapi.json`);
    return r.ok;
  });
  return {
    base,
    log,
    async stop() {
      await stop(child);
      tmp.remove();
    },
  };
}

export class Api {
  constructor(base) {
    this.base = base;
    this.token = null;
  }

  async call(method, path, body, headers = {}) {
    const r = await fetch(`${this.base}/api/v1${path}`, {
      method,
      headers: {
        ...(body ? { "content-type": "application/json" } : {}),
        ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
        ...headers,
      },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await r.text();
    const json = text ? JSON.parse(text) : null;
    if (!r.ok) throw new Error(`${method} ${path} → ${r.status}: ${text}`);
    return json;
  }

  /** Logs in as admin and sets the PIN consoles need. */
  async adminWithPin() {
    const login = await this.call("POST", "/auth/login", { username: "admin", password: ADMIN_PASSWORD });
    this.token = login.token;
    await this.call("PUT", "/me/pin", { pin: PIN, password: ADMIN_PASSWORD });
    return this;
  }

  createServer(name, bmc) {
    return this.call("POST", "/servers", { name, site: "local", macs: [], bmc });
  }

  /** POST /consoles/{id}/viewers → {url, token, expires_at}: a view-only join link. */
  addViewer(consoleId) {
    return this.call("POST", `/consoles/${consoleId}/viewers`, {}, { "X-Ironrack-Pin": PIN });
  }

  /** POST /servers/{id}/console → {id, kind, url, token, ws_url, expires_at}. */
  openConsole(serverId, kind) {
    return this.call("POST", `/servers/${serverId}/console`, { kind }, { "X-Ironrack-Pin": PIN });
  }
}

/** The console page's absolute URL (the API may answer root-relative). */
export function absolute(base, url) {
  return new URL(url, base).toString();
}
