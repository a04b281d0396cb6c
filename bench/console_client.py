#!/usr/bin/env python3
"""bench/console.sh's viewer written in Python (CLIENT=python): the kind of
client the issue's figures came from ("measured here with a Python client":
direct ~1,250 MiB/s, websockify ~0.34x direct). Same protocol work as
crates/console/examples/console_load.rs — RFB 3.8 with security None over
TCP or a WebSocket (subprotocol `binary`), full-screen raw updates with
DEPTH requests in flight, or round trips of 1x1 updates — and the same
output line, so the script's tables read either. Standard library only.

  console_client.py throughput --url U --seconds S --depth D --watch server=PID[,proxy=PID]
  console_client.py latency --url U --count N
"""

import argparse
import os
import socket
import struct
import time

HZ = os.sysconf("SC_CLK_TCK")


class Stream:
    """A byte stream over TCP, or over a WebSocket's binary frames."""

    def __init__(self, url):
        if url.startswith("tcp://"):
            self.ws, rest = False, url[len("tcp://"):]
        elif url.startswith("ws://"):
            self.ws, rest = True, url[len("ws://"):]
        else:
            raise SystemExit(f"{url}: use tcp://host:port or ws://host:port/path")
        hostport, _, path = rest.partition("/")
        host, port = hostport.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.pending = bytearray()  # received, not yet parsed (WebSocket)
        self.data = bytearray()  # stream bytes not yet consumed
        self.frame_left = 0
        self.reads = 0
        if self.ws:
            self.sock.sendall(
                (
                    f"GET /{path} HTTP/1.1\r\nHost: {hostport}\r\nUpgrade: websocket\r\n"
                    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: binary\r\n\r\n"
                ).encode()
            )
            head = bytearray()
            while b"\r\n\r\n" not in head:
                chunk = self.sock.recv(4096)
                if not chunk:
                    raise SystemExit("the server closed during the WebSocket handshake")
                head += chunk
            end = head.index(b"\r\n\r\n") + 4
            if not head.startswith(b"HTTP/1.1 101"):
                raise SystemExit(f"upgrade refused: {head.splitlines()[0]!r}")
            self.pending += head[end:]

    def _fill(self):
        chunk = self.sock.recv(1 << 20)
        self.reads += 1
        if not chunk:
            raise SystemExit("the stream ended")
        if not self.ws:
            self.data += chunk
            return
        self.pending += chunk
        while self.pending:
            if self.frame_left:
                n = min(self.frame_left, len(self.pending))
                self.data += self.pending[:n]
                del self.pending[:n]
                self.frame_left -= n
                continue
            if len(self.pending) < 2:
                return
            op, ln = self.pending[0] & 0x0F, self.pending[1] & 0x7F
            hl = 2 + {126: 2, 127: 8}.get(ln, 0)
            if len(self.pending) < hl:
                return
            if ln == 126:
                ln = struct.unpack_from(">H", self.pending, 2)[0]
            elif ln == 127:
                ln = struct.unpack_from(">Q", self.pending, 2)[0]
            if op in (0x8, 0x9, 0xA):  # close, ping, pong: whole or wait
                if len(self.pending) < hl + ln:
                    return
                payload = bytes(self.pending[hl:hl + ln])
                del self.pending[:hl + ln]
                if op == 0x8:
                    raise SystemExit("the server closed the WebSocket")
                if op == 0x9:
                    self._send_frame(0xA, payload)
                continue
            del self.pending[:hl]
            self.frame_left = ln

    def read_exact(self, n):
        while len(self.data) < n:
            self._fill()
        out = bytes(self.data[:n])
        del self.data[:n]
        return out

    def discard(self, n):
        while len(self.data) < n:
            n -= len(self.data)
            self.data.clear()
            self._fill()
        del self.data[:n]

    def _send_frame(self, op, payload):
        mask = b"\x5a\xa5\x3c\xc3"
        n = len(payload)
        head = bytes([0x80 | op])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 1 << 16:
            head += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack(">Q", n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(head + mask + masked)

    def send(self, payload):
        if self.ws:
            self._send_frame(0x2, payload)
        else:
            self.sock.sendall(payload)

    def rfb_handshake(self):
        version = self.read_exact(12)
        if not version.startswith(b"RFB "):
            raise SystemExit(f"not RFB: {version!r}")
        self.send(b"RFB 003.008\n")
        types = self.read_exact(self.read_exact(1)[0])
        if 1 not in types:
            raise SystemExit(f"security None not offered: {list(types)}")
        self.send(b"\x01")
        if self.read_exact(4) != b"\x00\x00\x00\x00":
            raise SystemExit("security result: failed")
        self.send(b"\x01")  # shared
        init = self.read_exact(24)
        self.read_exact(struct.unpack_from(">I", init, 20)[0])
        return struct.unpack_from(">HH", init, 0)


def fbur(w, h):
    return struct.pack(">BBHHHH", 3, 0, 0, 0, w, h)


def family(pid):
    """pid and its descendants."""
    parents = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    parents[int(d)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                pass
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += [c for c, pp in parents.items() if pp == p]
    return out


def usage(pid):
    """(CPU ticks, ns on a CPU, ns runnable waiting) of pid and descendants."""
    ticks = run = wait = 0
    for p in family(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
            for t in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{t}/schedstat") as f:
                    r, w, _ = f.read().split()
                run += int(r)
                wait += int(w)
        except OSError:
            pass
    return ticks, run, wait


def machine():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    steal = v[7] if len(v) > 7 else 0
    total = sum(v[:8])
    return total - idle, steal, total


def throughput(args):
    s = Stream(args.url)
    w, h = s.rfb_handshake()
    update = 4 + 12 + w * h * 4
    req = fbur(w, h)
    for _ in range(max(args.depth, 1)):
        s.send(req)
    s.discard(update)  # warm-up
    s.send(req)
    watched = [("client", os.getpid())]
    for item in filter(None, args.watch.split(",")):
        name, pid = item.split("=")
        watched.append((name, int(pid)))
    before = {name: usage(pid) for name, pid in watched}
    m0 = machine()
    reads0 = s.reads
    t0 = time.monotonic()
    updates = 0
    while time.monotonic() - t0 < args.seconds:
        s.discard(update)
        updates += 1
        s.send(req)
    secs = time.monotonic() - t0
    line = (
        f"throughput_mib_s {updates * update / secs / 1048576:.1f} updates {updates} "
        f"update_bytes {update} seconds {secs:.3f} reads {s.reads - reads0} frames 0"
    )
    for name, pid in watched:
        u1, u0 = usage(pid), before[name]
        line += (
            f" {name}_ticks {u1[0] - u0[0]} {name}_run_us {(u1[1] - u0[1]) // 1000}"
            f" {name}_wait_us {(u1[2] - u0[2]) // 1000}"
        )
    m1 = machine()
    line += (
        f" machine_busy_ticks {m1[0] - m0[0]} machine_steal_ticks {m1[1] - m0[1]}"
        f" machine_total_ticks {m1[2] - m0[2]}"
    )
    print(line)


def latency(args):
    s = Stream(args.url)
    s.rfb_handshake()
    req = fbur(1, 1)
    rtts = []
    for _ in range(args.count):
        t = time.perf_counter_ns()
        s.send(req)
        s.discard(4 + 12 + 4)
        rtts.append((time.perf_counter_ns() - t) / 1000)
    rtts.sort()
    pick = lambda q: rtts[min(len(rtts) - 1, int(len(rtts) * q))]
    print(f"p50 {pick(0.50):.1f} p99 {pick(0.99):.1f} count {len(rtts)}")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("throughput")
    t.add_argument("--url", required=True)
    t.add_argument("--seconds", type=float, default=5)
    t.add_argument("--depth", type=int, default=2)
    t.add_argument("--watch", default="")
    l = sub.add_parser("latency")
    l.add_argument("--url", required=True)
    l.add_argument("--count", type=int, default=20000)
    args = p.parse_args()
    throughput(args) if args.cmd == "throughput" else latency(args)


if __name__ == "__main__":
    main()
