// Where a console page connects: the session id is in the query, the
// one-time token in the fragment (never sent to servers, so it stays out of
// access logs and Referer headers).

export interface ConsoleTarget {
  id: string;
  token: string;
  /** Only for peers without the control subprotocol (development against websockify). */
  kind: string | null;
}

/** Reads id and token; throws an Error that says what is missing. */
export function parseConsoleLocation(href: string): ConsoleTarget {
  const url = new URL(href);
  const id = url.searchParams.get("id");
  if (!id) throw new Error("this console link has no session id (?id=...)");
  const fragment = new URLSearchParams(url.hash.replace(/^#/, ""));
  const token = fragment.get("token");
  if (!token) throw new Error("this console link has no token (#token=...); it may have been opened already");
  return { id, token, kind: url.searchParams.get("kind") };
}

/** The same address without its fragment, for history.replaceState. */
export function withoutFragment(href: string): string {
  const url = new URL(href);
  url.hash = "";
  return url.toString().replace(/#$/, "");
}

/** ws(s)://host/console/ws/<id>?token=<token>, on the page's own origin. */
export function consoleSocketUrl(pageHref: string, id: string, token: string): string {
  const page = new URL(pageHref);
  const scheme = page.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${page.host}/console/ws/${encodeURIComponent(id)}?token=${encodeURIComponent(token)}`;
}
