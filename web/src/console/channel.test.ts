import { beforeAll, describe, expect, it } from "vitest";
import { ConsoleChannel, type ChannelHandlers, type SocketLike } from "./channel";
import type { ServerMessage } from "./control";

/** A WebSocket stand-in the test drives by hand (unit test only; the e2e tests use real sockets). */
class FakeSocket implements SocketLike {
  binaryType: BinaryType = "blob";
  readyState = 0;
  sent: (string | Uint8Array)[] = [];
  closedWith: [number | undefined, string | undefined] | null = null;
  onopen: SocketLike["onopen"] = null;
  onmessage: SocketLike["onmessage"] = null;
  onclose: SocketLike["onclose"] = null;
  onerror: SocketLike["onerror"] = null;
  constructor(public protocol = "ironrack.console.v1") {}
  send(data: string | Uint8Array<ArrayBuffer>) {
    this.sent.push(typeof data === "string" ? data : Uint8Array.from(data));
  }
  close(code?: number, reason?: string) {
    this.closedWith = [code, reason];
    this.readyState = 2;
  }
  open() {
    this.readyState = 1;
    this.onopen?.(new Event("open"));
  }
  recv(data: string | ArrayBuffer) {
    this.onmessage?.({ data } as MessageEvent);
  }
  serverClose(code: number, reason = "") {
    this.readyState = 3;
    this.onclose?.({ code, reason } as CloseEvent);
  }
}

function record() {
  const events: unknown[] = [];
  const handlers: ChannelHandlers = {
    open: (p) => events.push(["open", p]),
    control: (m: ServerMessage) => events.push(["control", m]),
    controlError: (e) => events.push(["controlError", e.message]),
    close: (c, r, w) => events.push(["close", c, r, w]),
  };
  return { events, handlers };
}

const bytes = (...b: number[]) => Uint8Array.from(b).buffer;
const tick = () => new Promise((r) => setTimeout(r, 0));

describe("ConsoleChannel", () => {
  it("splits text control frames from binary stream frames and queues early binary", async () => {
    const ws = new FakeSocket();
    const { events, handlers } = record();
    const ch = new ConsoleChannel(ws, handlers);
    expect(ws.binaryType).toBe("arraybuffer");
    ws.open();
    ws.recv('{"type":"hello","kind":"vnc","view_only":false,"idle_timeout_s":900,"max_duration_s":3600,"reconnect_token":"r"}');
    ws.recv(bytes(1, 2));
    ws.recv("garbage");
    ws.recv(bytes(3));
    const got: number[][] = [];
    ch.attach((d) => got.push([...new Uint8Array(d)]));
    expect(got).toEqual([]); // delivered after the caller's setup, not inside attach()
    await tick();
    expect(got).toEqual([[1, 2], [3]]);
    ws.recv(bytes(4));
    expect(got).toEqual([[1, 2], [3], [4]]);
    expect(events[0]).toEqual(["open", "ironrack.console.v1"]);
    expect((events[1] as [string, ServerMessage])[1].type).toBe("hello");
    expect(events[2]).toEqual(["controlError", "control frame is not JSON: garbage"]);
  });

  it("sends control messages only on the control subprotocol", () => {
    const ws = new FakeSocket();
    const ch = new ConsoleChannel(ws, record().handlers);
    ch.sendControl({ type: "break" }); // not open yet: dropped
    ws.open();
    ch.sendControl({ type: "break" });
    ch.sendControl({ type: "activity" });
    ch.sendBinary(Uint8Array.of(0x61));
    expect(ws.sent).toEqual(['{"type":"break"}', '{"type":"activity"}', Uint8Array.of(0x61)]);

    const plain = new FakeSocket("binary");
    const ch2 = new ConsoleChannel(plain, record().handlers);
    plain.open();
    ch2.sendControl({ type: "break" });
    plain.recv('{"type":"idle_warning","closes_in_s":60}');
    expect(plain.sent).toEqual([]);
    expect(ch2.controlled).toBe(false);
  });

  it("reports close once, with whether the socket had opened", () => {
    const ws = new FakeSocket();
    const { events, handlers } = record();
    new ConsoleChannel(ws, handlers);
    ws.serverClose(1006);
    ws.serverClose(1006);
    expect(events).toEqual([["close", 1006, "", false]]);
  });

  it("gives up when no view takes the stream", () => {
    const ws = new FakeSocket();
    new ConsoleChannel(ws, record().handlers);
    ws.open();
    ws.recv(new ArrayBuffer(17 << 20));
    expect(ws.closedWith?.[0]).toBe(1011);
  });
});

describe("RfbRawChannel with noVNC's own Websock", () => {
  // noVNC's Websock reads WebSocket.CONNECTING at import time (Node 20 has no WebSocket).
  beforeAll(() => {
    const g = globalThis as Record<string, unknown>;
    g.WebSocket ??= { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 };
    g.window ??= globalThis; // its logging module reads window.console
  });

  it("is accepted by Websock.attach and carries the RFB stream both ways", async () => {
    // @ts-expect-error: noVNC ships plain JS; its package exports only core/rfb.js, so import the file.
    const { default: Websock } = await import("../../node_modules/@novnc/novnc/core/websock.js");
    const ws = new FakeSocket();
    const ch = new ConsoleChannel(ws, record().handlers);
    ws.open();
    ws.recv('{"type":"hello","kind":"vnc","view_only":false,"idle_timeout_s":900,"max_duration_s":3600,"reconnect_token":"r"}');
    ws.recv(new TextEncoder().encode("RFB 003.008\n").buffer);

    const sock = new Websock();
    let messages = 0;
    let closed: { code: number } | null = null;
    sock.on("message", () => messages++);
    sock.on("close", (e: { code: number }) => (closed = e));
    const raw = ch.rawChannel();
    sock.attach(raw);
    expect(sock.readyState).toBe("open");
    await tick();
    expect(messages).toBe(1);
    expect(sock.rQshiftStr(12)).toBe("RFB 003.008\n");

    sock.sQpushString("RFB 003.008\n");
    sock.flush();
    expect(new TextDecoder().decode(ws.sent[0] as Uint8Array)).toBe("RFB 003.008\n");

    raw.notifyClose(4010, "killed");
    expect(closed).toEqual({ code: 4010, reason: "killed", wasClean: false });
    sock.close();
    expect(ws.closedWith).toEqual([1000, "closed by viewer"]);
  });
});
