import { describe, expect, it } from "vitest";
import { Utf8Stream, encodeUtf8 } from "./utf8";

describe("Utf8Stream", () => {
  it("joins characters split across frames at every possible cut", () => {
    const text = "a€b😀c ä 日本";
    const bytes = encodeUtf8(text);
    for (let cut1 = 0; cut1 <= bytes.length; cut1++) {
      for (let cut2 = cut1; cut2 <= bytes.length; cut2++) {
        const s = new Utf8Stream();
        const out = s.push(bytes.slice(0, cut1)) + s.push(bytes.slice(cut1, cut2)) + s.push(bytes.slice(cut2)) + s.end();
        expect(out).toBe(text);
      }
    }
  });

  it("one byte per frame", () => {
    const bytes = encodeUtf8("→ok😀");
    const s = new Utf8Stream();
    const parts = Array.from(bytes, (b) => s.push(Uint8Array.of(b)));
    expect(parts.join("")).toBe("→ok😀");
    // Nothing is shown until the last byte of a character arrives.
    expect(parts.slice(0, 3)).toEqual(["", "", "→"]);
  });

  it("turns invalid bytes into U+FFFD instead of stopping", () => {
    const s = new Utf8Stream();
    expect(s.push(Uint8Array.of(0x61, 0xff, 0x62))).toBe("a\uFFFDb");
    expect(s.push(Uint8Array.of(0xe2, 0x82))).toBe("");
    expect(s.end()).toBe("\uFFFD");
  });
});
