// A tiny QEMU VM for the VNC test: TCG, 64 MiB, no disk. SeaBIOS and iPXE
// (NIC on restricted user networking: no traffic leaves the VM) print text
// on the VGA screen. VNC on loopback with a password set over QMP (never
// on a command line). QMP also pauses the VM and takes screendumps.
import { connect } from "node:net";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { start, stop, freePort, tempDir, waitFor } from "./procs.mjs";

export class Qmp {
  constructor(path) {
    this.path = path;
    this.buf = "";
    this.waiters = [];
    this.events = []; // asynchronous QMP events (RESET, STOP, ...), in order
  }

  async open() {
    this.sock = await new Promise((resolve, reject) => {
      const s = connect(this.path, () => resolve(s));
      s.once("error", reject);
    });
    this.sock.setEncoding("utf8");
    this.sock.on("data", (d) => {
      this.buf += d;
      let i;
      while ((i = this.buf.indexOf("\n")) >= 0) {
        const line = this.buf.slice(0, i).trim();
        this.buf = this.buf.slice(i + 1);
        if (!line) continue;
        const msg = JSON.parse(line);
        if (msg.event) {
          this.events.push(msg.event);
          continue;
        }
        this.waiters.shift()?.(msg);
      }
    });
    await this.next(); // greeting
    await this.execute("qmp_capabilities");
  }

  next() {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  async execute(command, args) {
    const reply = this.next();
    this.sock.write(JSON.stringify(args ? { execute: command, arguments: args } : { execute: command }) + "\n");
    const msg = await reply;
    if (msg.error) throw new Error(`QMP ${command}: ${msg.error.desc}`);
    return msg.return;
  }

  close() {
    this.sock?.destroy();
  }
}

export async function startVm(vncPassword) {
  const tmp = tempDir("qemu");
  const port = await freePort();
  if (port < 5900) throw new Error(`free port ${port} is below QEMU's VNC base 5900`);
  const display = port - 5900;
  const qmpPath = join(tmp.dir, "qmp.sock");
  const child = start(
    "qemu-system-x86_64",
    [
      "-accel", "tcg",
      "-m", "64",
      "-display", "none",
      "-vnc", `127.0.0.1:${display},password=on`,
      "-netdev", "user,id=n0,restrict=on",
      "-device", "e1000,netdev=n0",
      "-qmp", `unix:${qmpPath},server=on,wait=off`,
    ],
    { log: join(tmp.dir, "qemu.log") },
  );
  const qmp = new Qmp(qmpPath);
  await waitFor("QEMU's QMP socket", async () => {
    if (child.exitCode !== null) throw new Error(`qemu exited: ${readFileSync(join(tmp.dir, "qemu.log"), "utf8")}`);
    await qmp.open();
    return true;
  }, { timeoutMs: 15000 });
  await qmp.execute("set_password", { protocol: "vnc", password: vncPassword });
  return {
    vnc: `127.0.0.1:${port}`,
    pause: () => qmp.execute("stop"),
    /** QMP events seen so far (e.g. "RESET" after Ctrl-Alt-Del). */
    events: () => qmp.events,
    resume: () => qmp.execute("cont"),
    /** QEMU's own view of the screen (PPM via HMP screendump). */
    async screendump() {
      const file = join(tmp.dir, `screen-${Date.now()}.ppm`);
      await qmp.execute("human-monitor-command", { "command-line": `screendump ${file}` });
      return parsePpm(readFileSync(file));
    },
    async stop() {
      qmp.close();
      await stop(child);
      tmp.remove();
    },
  };
}

/** Binary PPM (P6, maxval 255) → {width, height, rgba}. */
export function parsePpm(buf) {
  let pos = 0;
  const token = () => {
    for (;;) {
      while (/\s/.test(String.fromCharCode(buf[pos]))) pos++;
      if (buf[pos] === 0x23) while (buf[pos] !== 0x0a) pos++;
      else break;
    }
    const startPos = pos;
    while (!/\s/.test(String.fromCharCode(buf[pos]))) pos++;
    return buf.subarray(startPos, pos).toString("ascii");
  };
  if (token() !== "P6") throw new Error("not a binary PPM");
  const width = Number(token());
  const height = Number(token());
  const max = Number(token());
  if (max !== 255) throw new Error(`PPM maxval ${max} unsupported`);
  pos++; // one whitespace byte before the raster
  const rgba = new Uint8Array(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    rgba.set(buf.subarray(pos + i * 3, pos + i * 3 + 3), i * 4);
    rgba[i * 4 + 3] = 255;
  }
  return { width, height, rgba };
}
