// Serial-over-LAN view: xterm.js on the binary half of the console WebSocket.
// Serial bytes are UTF-8 decoded as a stream; keystrokes go out as UTF-8.
import { Terminal } from "@xterm/xterm";
import { FitAddon } from "@xterm/addon-fit";
import "@xterm/xterm/css/xterm.css";
import type { ConsoleChannel } from "./channel";
import { Utf8Stream, encodeUtf8 } from "./utf8";

export class SolView {
  private term: Terminal;
  private fit = new FitAddon();
  private channel: ConsoleChannel | null = null;
  private decoder = new Utf8Stream();

  constructor(container: HTMLElement, viewOnly: boolean, onInput: () => void) {
    container.replaceChildren();
    this.term = new Terminal({
      cursorBlink: true,
      scrollback: 10000,
      disableStdin: viewOnly,
      fontFamily: "ui-monospace, 'DejaVu Sans Mono', monospace",
    });
    this.term.loadAddon(this.fit);
    this.term.open(container);
    this.fit.fit();
    window.addEventListener("resize", () => this.fit.fit());
    this.term.onData((text) => {
      if (viewOnly || !this.channel) return;
      this.channel.sendBinary(encodeUtf8(text));
      onInput();
    });
  }

  /** Starts (or, after a reconnect, resumes) showing `channel`'s stream. */
  attach(channel: ConsoleChannel) {
    const rest = this.decoder.end();
    if (rest) this.term.write(rest);
    this.decoder = new Utf8Stream();
    this.channel = channel;
    channel.attach((data) => this.term.write(this.decoder.push(new Uint8Array(data))));
    this.term.focus();
  }

  focus() {
    this.term.focus();
  }
}
