// The console page: /console/?id=<id>#token=<token>. Connects by itself,
// shows a VNC screen or a serial terminal depending on the gateway's hello.
import "./console.css";
import { ConsoleChannel } from "./channel";
import { SUBPROTOCOL, describeClose } from "./control";
import type { Closed, ConsoleKind, ServerMessage } from "./control";
import { parseConsoleLocation, consoleSocketUrl, withoutFragment } from "../lib/location";
import { textToKeysyms, typeKeysyms } from "./paste";
import { VncView } from "./vnc";
import { SolView } from "./sol";

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

const ui = {
  status: $("status"),
  kind: $("kind"),
  viewOnly: $("view-only"),
  cad: $<HTMLButtonElement>("cad"),
  pasteToggle: $<HTMLButtonElement>("paste-toggle"),
  brk: $<HTMLButtonElement>("break"),
  reconnect: $<HTMLButtonElement>("reconnect"),
  idleBanner: $("idle-banner"),
  idleCountdown: $("idle-countdown"),
  maxBanner: $("max-banner"),
  maxCountdown: $("max-countdown"),
  stay: $<HTMLButtonElement>("stay"),
  pastePanel: $<HTMLFormElement>("paste-panel"),
  pasteText: $<HTMLTextAreaElement>("paste-text"),
  pasteDelay: $<HTMLInputElement>("paste-delay"),
  pasteProgress: $("paste-progress"),
  screen: $("screen"),
};

function setStatus(state: "connecting" | "connected" | "closed", text: string) {
  ui.status.dataset.state = state;
  ui.status.textContent = text;
}

/** Everything about the session that outlives one WebSocket. */
const session = {
  id: "",
  fallbackKind: null as string | null,
  kind: null as ConsoleKind | null,
  viewOnly: false,
  reconnectToken: null as string | null,
  channel: null as ConsoleChannel | null,
  lastClosed: null as Closed | null,
  /** Why the viewer itself gave up (noVNC handshake failure), shown instead of the close code. */
  failure: null as string | null,
  vnc: null as VncView | null,
  sol: null as SolView | null,
  pasting: null as AbortController | null,
  /** Automatic reconnects since the last hello. */
  autoRetries: 0,
};

const MAX_AUTO_RETRIES = 3;

/** A banner with a countdown to a close (idle, or the maximum duration). */
class Countdown {
  private timer: number | undefined;
  constructor(
    private banner: HTMLElement,
    private count: HTMLElement,
  ) {}

  show(closesInS: number) {
    const deadline = Date.now() + closesInS * 1000;
    const render = () => {
      const left = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
      this.count.textContent = String(left);
      if (left === 0) window.clearInterval(this.timer);
    };
    window.clearInterval(this.timer);
    render();
    this.banner.hidden = false;
    this.timer = window.setInterval(render, 1000);
  }

  hide() {
    window.clearInterval(this.timer);
    this.timer = undefined;
    this.banner.hidden = true;
  }
}

const idleWarning = new Countdown(ui.idleBanner, ui.idleCountdown);
const maxWarning = new Countdown(ui.maxBanner, ui.maxCountdown);

/** The user did something: the gateway counts input as activity, so the warning is moot. */
function userActive() {
  if (!ui.idleBanner.hidden) idleWarning.hide();
}

function startView(kind: ConsoleKind, channel: ConsoleChannel) {
  session.kind = kind;
  const rfb = kind !== "sol";
  ui.kind.textContent = { vnc: "VNC", desktop: "desktop", sol: "serial" }[kind];
  ui.kind.hidden = false;
  ui.viewOnly.hidden = !session.viewOnly;
  ui.cad.hidden = !rfb || session.viewOnly;
  ui.pasteToggle.hidden = !rfb || session.viewOnly;
  ui.brk.hidden = kind !== "sol" || session.viewOnly || !channel.controlled;
  if (rfb) {
    // A new RFB per WebSocket: noVNC's state machine does not restart.
    session.vnc = new VncView(ui.screen, channel, session.viewOnly, {
      connected: () => setStatus("connected", "connected"),
      failed: (reason) => {
        session.failure = reason;
        setStatus("closed", `closed: ${reason}`);
      },
    });
  } else {
    session.sol ??= new SolView(ui.screen, session.viewOnly, userActive);
    session.sol.attach(channel);
    setStatus("connected", "connected");
  }
}

function onControl(channel: ConsoleChannel, msg: ServerMessage) {
  switch (msg.type) {
    case "hello":
      session.autoRetries = 0;
      session.viewOnly = msg.view_only;
      session.reconnectToken = msg.reconnect_token;
      if (session.kind && session.kind !== msg.kind) {
        console.warn(`gateway switched kind from ${session.kind} to ${msg.kind}`);
      }
      startView(msg.kind, channel);
      break;
    case "idle_warning":
      idleWarning.show(msg.closes_in_s);
      break;
    case "max_duration_warning":
      maxWarning.show(msg.closes_in_s);
      break;
    case "closed":
      session.lastClosed = msg;
      break;
  }
}

function connect(token: string) {
  idleWarning.hide();
  session.lastClosed = null;
  session.failure = null;
  ui.reconnect.hidden = true;
  setStatus("connecting", "connecting…");
  // ?kind= marks a plain "binary" peer (websockify during development; it
  // cannot parse a list of subprotocols), else the gateway's control protocol.
  const protocols = session.fallbackKind ? ["binary"] : [SUBPROTOCOL];
  const ws = new WebSocket(consoleSocketUrl(location.href, session.id, token), protocols);
  const channel: ConsoleChannel = new ConsoleChannel(ws, {
    open: () => {
      if (channel.controlled) return; // wait for hello
      // Plain "binary" peer (websockify in development): no hello, kind from the query.
      const kind = session.fallbackKind === "sol" ? "sol" : "vnc";
      startView(kind, channel);
    },
    control: (msg) => onControl(channel, msg),
    controlError: (err) => console.warn(err.message),
    close: (code, reason, wasOpen) => {
      if (session.channel !== channel) return;
      session.vnc?.socketClosed(code, reason);
      idleWarning.hide();
      maxWarning.hide();
      session.pasting?.abort();
      const why = session.failure ?? describeClose(code, reason, session.lastClosed, wasOpen);
      setStatus("closed", `closed: ${why}`);
      // A reconnect token is worth offering unless the gateway ended the session for good.
      const final = session.lastClosed !== null || (code >= 4001 && code <= 4011) || session.failure !== null;
      ui.reconnect.hidden = !session.reconnectToken || final;
      // A network blip (abnormal close of an open socket): retry by itself a few times.
      if (!final && code === 1006 && wasOpen && session.reconnectToken && session.autoRetries < MAX_AUTO_RETRIES) {
        session.autoRetries++;
        setStatus("closed", `closed: ${why}; reconnecting…`);
        window.setTimeout(reconnect, 1000 * session.autoRetries);
      }
    },
  });
  session.channel = channel;
}

function reconnect() {
  const token = session.reconnectToken;
  if (!token) return;
  session.reconnectToken = null; // one use each; the next hello brings a new one
  connect(token);
}

function wireButtons() {
  ui.stay.addEventListener("click", () => {
    session.channel?.sendControl({ type: "activity" });
    idleWarning.hide();
  });
  ui.brk.addEventListener("click", () => {
    session.channel?.sendControl({ type: "break" });
    session.sol?.focus();
  });
  ui.cad.addEventListener("click", () => {
    session.vnc?.ctrlAltDel();
    userActive();
    session.vnc?.focus();
  });
  ui.pasteToggle.addEventListener("click", () => {
    ui.pastePanel.hidden = !ui.pastePanel.hidden;
    ui.pasteToggle.setAttribute("aria-expanded", String(!ui.pastePanel.hidden));
    if (!ui.pastePanel.hidden) ui.pasteText.focus();
  });
  ui.pastePanel.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const vnc = session.vnc;
    if (!vnc || session.pasting) return;
    const { keysyms, skipped } = textToKeysyms(ui.pasteText.value);
    const delay = Math.min(1000, Math.max(0, Number(ui.pasteDelay.value) || 0));
    session.pasting = new AbortController();
    ui.pasteProgress.textContent = `typing ${keysyms.length} keys…`;
    userActive();
    const typed = await typeKeysyms(keysyms, (k, down) => vnc.sendKey(k, down), delay, session.pasting.signal);
    session.pasting = null;
    ui.pasteProgress.textContent =
      `typed ${typed} of ${keysyms.length} keys` + (skipped ? `, skipped ${skipped} characters without a key` : "");
    vnc.focus();
  });
  ui.reconnect.addEventListener("click", reconnect);
  // Keys and clicks on the screen go to the server as input, which restarts
  // its idle timer (not clicks on this page's own controls: hiding the banner
  // on mousedown would also swallow the click on "Stay connected").
  for (const ev of ["keydown", "mousedown", "touchstart", "wheel"]) {
    ui.screen.addEventListener(ev, userActive, { capture: true, passive: true });
  }
}

function main() {
  let target;
  try {
    target = parseConsoleLocation(location.href);
  } catch (e) {
    setStatus("closed", `closed: ${(e as Error).message}`);
    return;
  }
  // The token is single-use: drop it from the address bar and history.
  history.replaceState(null, "", withoutFragment(location.href));
  session.id = target.id;
  session.fallbackKind = target.kind;
  wireButtons();
  connect(target.token);
}

main();
