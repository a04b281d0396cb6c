// "Paste as keystrokes": BMC consoles have no clipboard, so text is typed as
// X11 keysyms (RFB KeyEvent). Pure mapping here; the VNC view sends the keys.

export const XK_BackSpace = 0xff08;
export const XK_Tab = 0xff09;
export const XK_Return = 0xff0d;
export const XK_Escape = 0xff1b;

/**
 * X11 keysym for one Unicode code point: Latin-1 printable characters are
 * their own keysym, other characters use the Unicode keysym range
 * 0x01000000 + code point (X11 keysymdef.h convention). Control characters
 * that have a key map to it; others have none (null).
 */
export function keysymFor(codePoint: number): number | null {
  switch (codePoint) {
    case 0x0a:
    case 0x0d:
      return XK_Return;
    case 0x09:
      return XK_Tab;
    case 0x08:
      return XK_BackSpace;
    case 0x1b:
      return XK_Escape;
  }
  if ((codePoint >= 0x20 && codePoint <= 0x7e) || (codePoint >= 0xa0 && codePoint <= 0xff)) return codePoint;
  if (codePoint < 0x20 || (codePoint >= 0x7f && codePoint < 0xa0)) return null;
  if (codePoint > 0x10ffff) return null;
  return 0x01000000 + codePoint;
}

export interface PasteKeys {
  keysyms: number[];
  /** Characters that have no key (other control characters), skipped. */
  skipped: number;
}

/** The keysyms to type for `text`; CR LF counts as one Return. */
export function textToKeysyms(text: string): PasteKeys {
  const keysyms: number[] = [];
  let skipped = 0;
  const normalized = text.replace(/\r\n/g, "\n");
  for (const ch of normalized) {
    const k = keysymFor(ch.codePointAt(0)!);
    if (k === null) skipped++;
    else keysyms.push(k);
  }
  return { keysyms, skipped };
}

/**
 * Types `keysyms` one at a time (press, release) with `delayMs` between
 * characters, so slow BMC keyboards do not drop keys. Resolves when done or
 * when `signal` aborts.
 */
export async function typeKeysyms(
  keysyms: number[],
  sendKey: (keysym: number, down: boolean) => void,
  delayMs: number,
  signal?: AbortSignal,
): Promise<number> {
  let typed = 0;
  for (const k of keysyms) {
    if (signal?.aborted) break;
    sendKey(k, true);
    sendKey(k, false);
    typed++;
    if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
  }
  return typed;
}
