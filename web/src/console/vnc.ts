// VNC view: noVNC's RFB on the binary half of the console WebSocket.
import RFB from "@novnc/novnc";
import type { ConsoleChannel, RfbRawChannel } from "./channel";

export interface VncEvents {
  connected(): void;
  /** noVNC gave up (handshake failure); the text says why. */
  failed(reason: string): void;
}

export class VncView {
  private rfb: RFB;
  private raw: RfbRawChannel;

  constructor(container: HTMLElement, channel: ConsoleChannel, viewOnly: boolean, events: VncEvents) {
    container.replaceChildren();
    this.raw = channel.rawChannel();
    this.rfb = new RFB(container, this.raw, { shared: true });
    this.rfb.scaleViewport = true; // fit the remote screen into the window
    this.rfb.resizeSession = false; // never resize a BMC's or VM's screen
    this.rfb.viewOnly = viewOnly;
    this.rfb.background = "#000";
    this.rfb.addEventListener("connect", () => events.connected());
    this.rfb.addEventListener("securityfailure", (e) => {
      const d = (e as CustomEvent<{ reason?: string }>).detail;
      events.failed(`VNC security failure${d?.reason ? `: ${d.reason}` : ""}`);
    });
  }

  /** Forwards the WebSocket's close so noVNC finishes its state machine. */
  socketClosed(code: number, reason: string) {
    this.raw.notifyClose(code, reason);
  }

  ctrlAltDel() {
    this.rfb.sendCtrlAltDel();
  }

  sendKey(keysym: number, down: boolean) {
    this.rfb.sendKey(keysym, null, down);
  }

  focus() {
    this.rfb.focus({ preventScroll: true });
  }
}
