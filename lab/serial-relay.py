#!/usr/bin/env python3
"""The wire between a simulated BMC and its VM's serial port.

    serial-relay.py LISTEN_PORT TARGET_PORT     (both on 127.0.0.1)

ipmi_sim connects its SOL "serial port" once at start and, after a
disconnect, only every 10 s. A VM behind it comes and goes with power on/off,
and QEMU's telnet serial server drops output while nobody is connected. This
relay stands in for the physical wire: it accepts the BMC on LISTEN_PORT and
keeps it, and connects to the VM's serial server on TARGET_PORT whenever one
is up (retrying every 50 ms), passing bytes both ways unchanged (telnet
commands such as IAC BREAK included). Bytes for a side that is not connected
are dropped, as on a wire with nothing plugged in. Stop it with SIGTERM.
"""

import selectors
import signal
import socket
import sys
import time

RETRY = 0.05


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: serial-relay.py LISTEN_PORT TARGET_PORT")
    listen_port, target_port = int(sys.argv[1]), int(sys.argv[2])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", listen_port))
    server.listen(4)
    sel = selectors.DefaultSelector()
    sel.register(server, selectors.EVENT_READ, "accept")
    peers = {"bmc": None, "vm": None}

    def drop(side):
        s = peers[side]
        if s is not None:
            sel.unregister(s)
            s.close()
            peers[side] = None

    def attach(side, s):
        drop(side)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(True)
        peers[side] = s
        sel.register(s, selectors.EVENT_READ, side)

    next_try = 0.0
    while True:
        now = time.monotonic()
        if peers["vm"] is None and now >= next_try:
            try:
                attach("vm", socket.create_connection(("127.0.0.1", target_port), timeout=1))
            except OSError:
                next_try = now + RETRY
        timeout = None if peers["vm"] else max(0.0, next_try - time.monotonic())
        for key, _ in sel.select(timeout):
            if key.data == "accept":
                conn, _ = server.accept()
                attach("bmc", conn)  # a reconnecting BMC replaces the old link
                continue
            side = key.data
            if peers[side] is not key.fileobj:
                continue  # replaced or dropped earlier in this round
            other = "vm" if side == "bmc" else "bmc"
            try:
                data = key.fileobj.recv(4096)
            except OSError:
                data = b""
            if not data:
                drop(side)
                continue
            if peers[other] is not None:
                try:
                    peers[other].sendall(data)
                except OSError:
                    drop(other)


if __name__ == "__main__":
    main()
