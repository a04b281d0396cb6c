import { describe, expect, it } from "vitest";
import { XK_Return, XK_Tab, keysymFor, textToKeysyms, typeKeysyms } from "./paste";

describe("paste as keystrokes", () => {
  it("maps ASCII and Latin-1 to themselves, other characters to Unicode keysyms", () => {
    expect(textToKeysyms("aZ0 ~").keysyms).toEqual([0x61, 0x5a, 0x30, 0x20, 0x7e]);
    expect(keysymFor("é".codePointAt(0)!)).toBe(0xe9);
    expect(keysymFor("€".codePointAt(0)!)).toBe(0x010020ac);
    expect(keysymFor("😀".codePointAt(0)!)).toBe(0x0101f600);
  });

  it("types line ends as one Return each and tabs as Tab", () => {
    expect(textToKeysyms("a\r\nb\nc\rd\te").keysyms).toEqual([0x61, XK_Return, 0x62, XK_Return, 0x63, XK_Return, 0x64, XK_Tab, 0x65]);
  });

  it("skips control characters that have no key and counts them", () => {
    expect(textToKeysyms("a\u0001b\u007f").keysyms).toEqual([0x61, 0x62]);
    expect(textToKeysyms("a\u0001b\u007f").skipped).toBe(2);
  });

  it("presses and releases each key in order", async () => {
    const sent: [number, boolean][] = [];
    const typed = await typeKeysyms(textToKeysyms("Hi\n").keysyms, (k, d) => sent.push([k, d]), 0);
    expect(typed).toBe(3);
    expect(sent).toEqual([
      [0x48, true],
      [0x48, false],
      [0x69, true],
      [0x69, false],
      [XK_Return, true],
      [XK_Return, false],
    ]);
  });

  it("stops when aborted", async () => {
    const ctl = new AbortController();
    const sent: number[] = [];
    const typed = await typeKeysyms([1, 2, 3, 4], (k, d) => {
      if (d) sent.push(k);
      if (k === 2) ctl.abort();
    }, 1, ctl.signal);
    expect(typed).toBe(2);
    expect(sent).toEqual([1, 2]);
  });
});
