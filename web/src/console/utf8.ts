// Serial bytes arrive in arbitrary frames: a multi-byte UTF-8 character may be
// split across two of them. TextDecoder in streaming mode keeps the partial
// sequence until the rest arrives.
export class Utf8Stream {
  private decoder = new TextDecoder("utf-8", { fatal: false });

  /** Decodes one frame; bytes of an unfinished character are held back. */
  push(bytes: Uint8Array): string {
    return this.decoder.decode(bytes, { stream: true });
  }

  /** Flushes what is held back (an unfinished character becomes U+FFFD). */
  end(): string {
    return this.decoder.decode();
  }
}

const encoder = new TextEncoder();

export function encodeUtf8(text: string): Uint8Array<ArrayBuffer> {
  return encoder.encode(text);
}
