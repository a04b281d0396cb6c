// One console WebSocket, split in two: text frames are control messages
// (handled by the page), binary frames are the raw stream (RFB or serial
// bytes), handed to whichever view is attached. Frames that arrive before a
// view attaches are queued, so nothing between "hello" and the view's start
// is lost.

import { parseServerMessage, encodeClientMessage, SUBPROTOCOL, ControlError } from "./control";
import type { ServerMessage, ClientMessage } from "./control";

/** The part of the browser WebSocket we use (a fake in unit tests). */
export interface SocketLike {
  binaryType: BinaryType;
  readonly readyState: number;
  readonly protocol: string;
  send(data: string | Uint8Array<ArrayBuffer>): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: Event) => unknown) | null;
  onmessage: ((ev: MessageEvent) => unknown) | null;
  onclose: ((ev: CloseEvent) => unknown) | null;
  onerror: ((ev: Event) => unknown) | null;
}

export const OPEN = 1;

export interface ChannelHandlers {
  open(protocol: string): void;
  control(msg: ServerMessage): void;
  /** A text frame that is not a valid control message (logged, not fatal). */
  controlError(err: ControlError): void;
  close(code: number, reason: string, wasOpen: boolean): void;
}

export type BinarySink = (data: ArrayBuffer) => void;

/** Queued binary bytes before a view attaches; beyond this the session is broken. */
const MAX_QUEUED_BYTES = 16 << 20;

export class ConsoleChannel {
  private sink: BinarySink | null = null;
  private queue: ArrayBuffer[] = [];
  private queued = 0;
  private wasOpen = false;
  private closed = false;

  constructor(
    readonly ws: SocketLike,
    private handlers: ChannelHandlers,
  ) {
    ws.binaryType = "arraybuffer";
    ws.onopen = () => {
      this.wasOpen = true;
      handlers.open(ws.protocol);
    };
    ws.onmessage = (ev) => this.onMessage(ev.data);
    ws.onclose = (ev) => {
      if (this.closed) return;
      this.closed = true;
      handlers.close(ev.code, ev.reason, this.wasOpen);
    };
    ws.onerror = () => {
      /* always followed by close */
    };
  }

  /** Whether the server agreed to the control subprotocol (else: plain "binary"). */
  get controlled(): boolean {
    return this.ws.protocol === SUBPROTOCOL;
  }

  get isOpen(): boolean {
    return this.ws.readyState === OPEN;
  }

  private onMessage(data: unknown) {
    if (typeof data === "string") {
      if (!this.controlled) return; // a plain-binary peer sends no control frames
      let msg: ServerMessage;
      try {
        msg = parseServerMessage(data);
      } catch (e) {
        if (e instanceof ControlError) this.handlers.controlError(e);
        else throw e;
        return;
      }
      this.handlers.control(msg);
      return;
    }
    if (!(data instanceof ArrayBuffer)) return;
    if (this.sink) {
      this.sink(data);
      return;
    }
    this.queued += data.byteLength;
    if (this.queued > MAX_QUEUED_BYTES) {
      this.close(1011, "console view did not start");
      return;
    }
    this.queue.push(data);
  }

  /**
   * Sends binary frames to `sink` from now on. Queued frames are delivered
   * on the next microtask, after the caller has finished its own setup.
   */
  attach(sink: BinarySink | null) {
    this.sink = sink;
    if (!sink || this.queue.length === 0) return;
    queueMicrotask(() => {
      while (this.sink === sink && this.queue.length > 0) {
        sink(this.queue.shift()!);
      }
      if (this.queue.length === 0) this.queued = 0;
    });
  }

  sendBinary(data: Uint8Array<ArrayBuffer>) {
    if (this.isOpen) this.ws.send(data);
  }

  sendControl(msg: ClientMessage) {
    if (this.isOpen && this.controlled) this.ws.send(encodeClientMessage(msg));
  }

  close(code = 1000, reason = "") {
    if (this.ws.readyState <= OPEN) this.ws.close(code, reason);
  }

  /** A WebSocket look-alike carrying only the binary stream, for noVNC's RFB. */
  rawChannel(): RfbRawChannel {
    return new RfbRawChannel(this);
  }
}

type Handler<E> = ((ev: E) => unknown) | null;

/**
 * What noVNC's Websock.attach() wants (it checks these names exist as own
 * or prototype properties): send, close, binaryType, onerror, onmessage,
 * onopen, protocol, readyState; it also sets onclose. Sends go out as binary
 * frames; only binary frames come in.
 */
export class RfbRawChannel {
  binaryType: BinaryType = "arraybuffer";
  onopen: Handler<Event> = null;
  onerror: Handler<Event> = null;
  onclose: Handler<{ code: number; reason: string; wasClean: boolean }> = null;
  private _onmessage: Handler<{ data: ArrayBuffer }> = null;

  constructor(private channel: ConsoleChannel) {}

  get readyState(): number {
    return this.channel.ws.readyState;
  }

  get protocol(): string {
    return "binary";
  }

  get onmessage(): Handler<{ data: ArrayBuffer }> {
    return this._onmessage;
  }

  set onmessage(h: Handler<{ data: ArrayBuffer }>) {
    this._onmessage = h;
    this.channel.attach(h ? (data) => this._onmessage?.({ data }) : null);
  }

  send(data: ArrayBuffer | ArrayBufferView<ArrayBuffer>) {
    const bytes = ArrayBuffer.isView(data)
      ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
      : new Uint8Array(data);
    this.channel.sendBinary(bytes);
  }

  close() {
    this.channel.close(1000, "closed by viewer");
  }

  /** The page forwards the socket's close here so noVNC ends its state machine. */
  notifyClose(code: number, reason: string) {
    this.onclose?.({ code, reason, wasClean: code === 1000 });
  }
}
