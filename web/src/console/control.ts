// Control messages of the "ironrack.console.v1" WebSocket subprotocol
// (CONSOLE_CONTRACT.md): text frames carry JSON, binary frames the raw stream.
// Pure code: parsing, validation and the text shown for each way a session ends.

export const SUBPROTOCOL = "ironrack.console.v1";

/** `desktop` is RFB too: a desktop session shown by its own VNC server. */
export type ConsoleKind = "vnc" | "sol" | "desktop";

/** The contract's reasons; a newer gateway may send others (shown as they are). */
export type CloseReason = "idle" | "max_duration" | "killed" | "target_closed" | "error" | (string & {});

export interface Hello {
  type: "hello";
  kind: ConsoleKind;
  view_only: boolean;
  idle_timeout_s: number;
  max_duration_s: number;
  reconnect_token: string;
}

export interface IdleWarning {
  type: "idle_warning";
  closes_in_s: number;
}

/** The session reaches its maximum duration: input does not postpone it. */
export interface MaxDurationWarning {
  type: "max_duration_warning";
  closes_in_s: number;
}

export interface Closed {
  type: "closed";
  reason: CloseReason;
  detail?: string;
}

export type ServerMessage = Hello | IdleWarning | MaxDurationWarning | Closed;

export type ClientMessage = { type: "activity" } | { type: "break" };

/** A control frame we could not understand; the text says what was wrong. */
export class ControlError extends Error {}

function field<T>(obj: Record<string, unknown>, name: string, type: string): T {
  const v = obj[name];
  if (typeof v !== type) {
    throw new ControlError(`control message "${String(obj.type)}": field "${name}" must be a ${type}, got ${JSON.stringify(v)}`);
  }
  return v as T;
}

/** Parses one text frame from the gateway. Unknown types are an error (the caller logs and ignores them). */
export function parseServerMessage(text: string): ServerMessage {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new ControlError(`control frame is not JSON: ${text.slice(0, 80)}`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new ControlError(`control frame is not a JSON object: ${text.slice(0, 80)}`);
  }
  const obj = raw as Record<string, unknown>;
  switch (obj.type) {
    case "hello": {
      const kind = field<string>(obj, "kind", "string");
      if (kind !== "vnc" && kind !== "sol" && kind !== "desktop") {
        throw new ControlError(`control message "hello": unknown kind "${kind}"`);
      }
      return {
        type: "hello",
        kind,
        view_only: field<boolean>(obj, "view_only", "boolean"),
        idle_timeout_s: field<number>(obj, "idle_timeout_s", "number"),
        max_duration_s: field<number>(obj, "max_duration_s", "number"),
        reconnect_token: field<string>(obj, "reconnect_token", "string"),
      };
    }
    case "idle_warning":
      return { type: "idle_warning", closes_in_s: field<number>(obj, "closes_in_s", "number") };
    case "max_duration_warning":
      return { type: "max_duration_warning", closes_in_s: field<number>(obj, "closes_in_s", "number") };
    case "closed": {
      const reason = field<string>(obj, "reason", "string");
      const detail = obj.detail === undefined || obj.detail === null || obj.detail === "" ? undefined : String(obj.detail);
      return { type: "closed", reason, detail };
    }
    default:
      throw new ControlError(`unknown control message type ${JSON.stringify(obj.type)}`);
  }
}

export function encodeClientMessage(msg: ClientMessage): string {
  return JSON.stringify(msg);
}

const REASON_TEXT: Record<string, string> = {
  idle: "closed after a period without input",
  max_duration: "the maximum session duration was reached",
  killed: "the session was closed by an operator",
  target_closed: "the server's console closed the connection",
  error: "the gateway hit an error",
};

/**
 * What the status line says once the WebSocket is closed. `closed` is the
 * gateway's last control message (if any), `opened` whether the WebSocket was
 * ever open (browsers hide HTTP refusals of the upgrade behind code 1006).
 */
export function describeClose(code: number, wsReason: string, closed: Closed | null, opened: boolean): string {
  const detail = (d: string | undefined) => (d ? ` (${d})` : "");
  if (closed) {
    const text = REASON_TEXT[closed.reason] ?? `the session ended (${closed.reason})`;
    return `${text}${detail(closed.detail)}`;
  }
  switch (code) {
    case 1000:
      return `closed${detail(wsReason)}`;
    case 4001:
      return `refused: this console link is invalid, already used or expired; open a new console${detail(wsReason)}`;
    case 4008:
      return REASON_TEXT.idle;
    case 4009:
      return REASON_TEXT.max_duration;
    case 4010:
      return REASON_TEXT.killed;
    case 4011:
      return `refused: this server's BMC has no free console session; try again later${detail(wsReason)}`;
    case 1006:
      return opened
        ? "connection lost"
        : "could not connect: the console link may be used or expired, or the gateway is unreachable";
    default:
      return `closed with code ${code}${detail(wsReason)}`;
  }
}
