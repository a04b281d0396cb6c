import { describe, expect, it } from "vitest";
import { ControlError, describeClose, encodeClientMessage, parseServerMessage } from "./control";

describe("parseServerMessage", () => {
  it("reads hello", () => {
    const m = parseServerMessage(
      '{"type":"hello","kind":"sol","view_only":true,"idle_timeout_s":900,"max_duration_s":28800,"reconnect_token":"r1","extra":1}',
    );
    expect(m).toEqual({
      type: "hello",
      kind: "sol",
      view_only: true,
      idle_timeout_s: 900,
      max_duration_s: 28800,
      reconnect_token: "r1",
    });
  });

  it("reads idle_warning and closed", () => {
    expect(parseServerMessage('{"type":"idle_warning","closes_in_s":60}')).toEqual({ type: "idle_warning", closes_in_s: 60 });
    expect(parseServerMessage('{"type":"max_duration_warning","closes_in_s":42}')).toEqual({ type: "max_duration_warning", closes_in_s: 42 });
    expect(parseServerMessage('{"type":"closed","reason":"killed","detail":"by alice"}')).toEqual({
      type: "closed",
      reason: "killed",
      detail: "by alice",
    });
    expect(parseServerMessage('{"type":"closed","reason":"idle","detail":""}')).toEqual({ type: "closed", reason: "idle", detail: undefined });
    // A reason this page does not know yet is kept, not rejected.
    expect(parseServerMessage('{"type":"closed","reason":"maintenance"}')).toEqual({ type: "closed", reason: "maintenance", detail: undefined });
  });

  it("takes a desktop session's hello (an RFB stream like VNC)", () => {
    const m = parseServerMessage('{"type":"hello","kind":"desktop","view_only":false,"idle_timeout_s":900,"max_duration_s":3600,"reconnect_token":"r"}');
    expect(m).toMatchObject({ type: "hello", kind: "desktop" });
  });

  it("says what is wrong with bad frames", () => {
    expect(() => parseServerMessage("not json")).toThrow(/not JSON/);
    expect(() => parseServerMessage("[1]")).toThrow(/not a JSON object/);
    expect(() => parseServerMessage('{"type":"nope"}')).toThrow(/unknown control message type "nope"/);
    expect(() => parseServerMessage('{"type":"hello","kind":"rdp","view_only":false,"idle_timeout_s":1,"max_duration_s":1,"reconnect_token":"x"}')).toThrow(
      /unknown kind "rdp"/,
    );
    expect(() => parseServerMessage('{"type":"hello","kind":"vnc","view_only":"no","idle_timeout_s":1,"max_duration_s":1,"reconnect_token":"x"}')).toThrow(
      /"view_only" must be a boolean/,
    );
    expect(() => parseServerMessage('{"type":"idle_warning","closes_in_s":"60"}')).toThrow(ControlError);
    expect(() => parseServerMessage('{"type":"max_duration_warning"}')).toThrow(/"closes_in_s" must be a number/);
    expect(() => parseServerMessage('{"type":"closed"}')).toThrow(/"reason" must be a string/);
  });
});

describe("encodeClientMessage", () => {
  it("encodes the two client messages", () => {
    expect(JSON.parse(encodeClientMessage({ type: "activity" }))).toEqual({ type: "activity" });
    expect(JSON.parse(encodeClientMessage({ type: "break" }))).toEqual({ type: "break" });
  });
});

describe("describeClose", () => {
  it("prefers the gateway's closed message", () => {
    expect(describeClose(4008, "", { type: "closed", reason: "idle" }, true)).toMatch(/without input/);
    expect(describeClose(1000, "", { type: "closed", reason: "target_closed", detail: "EOF" }, true)).toBe(
      "the server's console closed the connection (EOF)",
    );
  });

  it("shows an unknown reason as it is", () => {
    expect(describeClose(1000, "", { type: "closed", reason: "maintenance" }, true)).toBe("the session ended (maintenance)");
  });

  it("names each close code", () => {
    expect(describeClose(4001, "", null, false)).toMatch(/^refused: .*already used or expired/);
    expect(describeClose(4008, "", null, true)).toMatch(/without input/);
    expect(describeClose(4009, "", null, true)).toMatch(/maximum session duration/);
    expect(describeClose(4010, "", null, true)).toMatch(/by an operator/);
    expect(describeClose(4011, "", null, false)).toMatch(/^refused: .*no free console session/);
    expect(describeClose(1000, "bye", null, true)).toBe("closed (bye)");
    expect(describeClose(1011, "", null, true)).toBe("closed with code 1011");
  });

  it("tells a refused upgrade from a lost connection", () => {
    expect(describeClose(1006, "", null, false)).toMatch(/could not connect/);
    expect(describeClose(1006, "", null, true)).toBe("connection lost");
  });
});
