// A TCP relay in front of ironrack whose connections the test can cut, to
// make a real network blip (the browser sees the WebSocket drop, code 1006).
import { createServer, connect } from "node:net";

export async function startRelay(targetHost, targetPort) {
  const pairs = new Set();
  const server = createServer((client) => {
    const upstream = connect(targetPort, targetHost);
    const pair = [client, upstream];
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return {
    base: `http://127.0.0.1:${server.address().port}`,
    /** Drops every open connection (resets, no close handshake). */
    cutAll() {
      const n = pairs.size;
      for (const [a, b] of pairs) {
        a.resetAndDestroy();
        b.resetAndDestroy();
      }
      pairs.clear();
      return n;
    },
    close: () => new Promise((r) => server.close(r)),
  };
}
