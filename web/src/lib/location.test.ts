import { describe, expect, it } from "vitest";
import { consoleSocketUrl, parseConsoleLocation, withoutFragment } from "./location";

describe("console location", () => {
  it("reads the id from the query and the token from the fragment", () => {
    expect(parseConsoleLocation("https://gw.example/console/?id=c-1#token=abc%2Fdef")).toEqual({ id: "c-1", token: "abc/def", kind: null });
  });

  it("says what is missing", () => {
    expect(() => parseConsoleLocation("https://gw.example/console/#token=x")).toThrow(/no session id/);
    expect(() => parseConsoleLocation("https://gw.example/console/?id=1")).toThrow(/no token/);
  });

  it("drops the fragment for the address bar", () => {
    expect(withoutFragment("https://gw.example/console/?id=1#token=secret")).toBe("https://gw.example/console/?id=1");
  });

  it("builds ws:// or wss:// on the page's origin", () => {
    expect(consoleSocketUrl("http://127.0.0.1:8080/console/?id=1", "a b", "t&x")).toBe("ws://127.0.0.1:8080/console/ws/a%20b?token=t%26x");
    expect(consoleSocketUrl("https://gw.example/console/?id=1", "7", "t")).toBe("wss://gw.example/console/ws/7?token=t");
  });
});
