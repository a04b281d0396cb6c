// Browser tests of the console page against real peers: the ironrack binary
// (API + console gateway), QEMU's VNC server, ipmi_sim's SOL, Chromium.
// Run: IRONRACK_BIN=target/debug/ironrack npm --prefix web run e2e
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { execFileSync } from "node:child_process";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { mkdirSync, writeFileSync } from "node:fs";
import { Api, absolute, startIronrack } from "./lib/ironrack.mjs";
import { launchChromium, openConsolePage, status, waitForState } from "./lib/browser.mjs";
import { startVm } from "./lib/qemu.mjs";
import { decodePng, distinctLevels, litFraction, similarity } from "./lib/image.mjs";
import { freePort, tempDir, waitFor, sleep } from "./lib/procs.mjs";
import { startRelay } from "./lib/proxy.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, "../..");
const outDir = join(here, "out"); // screenshots kept for a human to look at
mkdirSync(outDir, { recursive: true });

let ironrack, api, browser;

before(async () => {
  ironrack = await startIronrack();
  api = await new Api(ironrack.base).adminWithPin();
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await ironrack?.stop();
});

describe("VNC console", () => {
  let vm, relay;
  after(async () => {
    await relay?.close();
    await vm?.stop();
  });

  test("shows the VM's screen (pixels match QEMU's own screendump)", async () => {
    const vncPassword = "vnc-e2e1"; // VNC passwords are 8 characters at most
    vm = await startVm(vncPassword);
    const server = await api.createServer("vnc-e2e", {
      driver: "fake",
      address: "127.0.0.1",
      console: { vnc: vm.vnc, vnc_password: vncPassword },
    });
    const con = await api.openConsole(server.id, "vnc");
    assert.equal(con.kind, "vnc");
    const url = absolute(ironrack.base, con.url);
    assert.match(url, /\/console\/\?id=[^#]+#token=.+/);

    // The page goes through a relay the test can cut, for the reconnect check.
    relay = await startRelay("127.0.0.1", Number(new URL(ironrack.base).port));
    const viaRelay = (u) => {
      const x = new URL(u);
      return `${relay.base}${x.pathname}${x.search}${x.hash}`;
    };
    const page = await openConsolePage(browser.context, viaRelay(url));
    await waitForState(page, "connected");
    // The token left the address bar (and history) once read.
    assert.ok(!page.url().includes("token="), page.url());
    assert.equal(await page.isVisible("#kind"), true);
    assert.equal(await page.textContent("#kind"), "VNC");
    assert.equal(await page.isVisible("#cad"), true);

    // Let SeaBIOS/iPXE write some text, then freeze the VM so the browser
    // and QEMU look at the same picture.
    await waitFor("text on the VM's screen", async () => litFraction(await vm.screendump()) > 0.01, { timeoutMs: 60000 });
    await vm.pause();
    const qemuScreen = await vm.screendump();

    // noVNC may still be drawing the last updates: compare until they agree.
    let last;
    await waitFor(
      "the canvas to match QEMU's screendump",
      async () => {
        const png = await page.locator("#screen canvas").screenshot();
        const canvas = decodePng(png);
        const sim = similarity(canvas, qemuScreen);
        last = { canvas, png, sim, lit: [litFraction(canvas), litFraction(qemuScreen)], levels: distinctLevels(canvas) };
        // Scaling blurs glyph edges, so lit shares differ a little (seen: 0.086 vs 0.067).
        const ratio = last.lit[0] / last.lit[1];
        return sim.agree >= 0.95 && last.levels > 1 && ratio > 0.6 && ratio < 1.6;
      },
      { timeoutMs: 20000, intervalMs: 500 },
    ).catch((e) => {
      if (last) writeFileSync(join(outDir, "vnc-canvas-mismatch.png"), last.png);
      throw new Error(`${e.message}; last comparison ${JSON.stringify({ ...last?.sim, lit: last?.lit, levels: last?.levels })}`);
    });
    writeFileSync(join(outDir, "vnc-canvas.png"), last.png);
    assert.ok(last.canvas.width > 300 && last.canvas.height > 150, `canvas ${last.canvas.width}x${last.canvas.height}`);
    assert.ok(last.sim.inkCells > 10, `only ${last.sim.inkCells} cells with text`);
    await vm.resume();

    // Ctrl-Alt-Del reaches the guest: SeaBIOS's keyboard handler resets the machine.
    const resetsBefore = vm.events().filter((e) => e === "RESET").length;
    await page.click("#cad");
    await waitFor("a guest reset after Ctrl-Alt-Del", () => vm.events().filter((e) => e === "RESET").length > resetsBefore, { timeoutMs: 20000 }).catch(
      (e) => {
        throw new Error(`${e.message}; QMP events: ${vm.events().join(", ")}`);
      },
    );

    // A network blip: the page reconnects by itself with the hello's
    // reconnect token, and the screen comes back.
    const sockets = [];
    page.on("websocket", (ws) => sockets.push(ws.url()));
    assert.ok(relay.cutAll() > 0, "the page had no connection through the relay");
    await waitFor("a new WebSocket after the cut", () => sockets.length > 0, { timeoutMs: 20000 });
    await waitForState(page, "connected");
    assert.ok(!sockets[0].includes(con.token), "reconnect must not reuse the spent token");
    await waitFor("the screen drawn again", async () => distinctLevels(decodePng(await page.locator("#screen canvas").screenshot())) > 1, {
      timeoutMs: 20000,
    });

    // The same link a second time is refused, and the page says so.
    const again = await openConsolePage(browser.context, url);
    await waitForState(again, "closed");
    const s = await status(again);
    assert.match(s.text, /used or expired/, s.text);
    await again.close();
    await page.close();
  });
});

describe("idle timeout and token expiry", () => {
  let vm, short, capped;
  after(async () => {
    await short?.stop();
    await capped?.stop();
    await vm?.stop();
  });

  test("the page warns with a countdown, Stay connected postpones, then the session closes as idle; an expired link is refused", async () => {
    // Its own ironrack with short console timeouts: warn 8 s before an idle close at 12 s.
    // Tokens live 4 s here, for the expiry check at the end.
    short = await startIronrack({
      config: 'console_idle_timeout = "12s"\nconsole_idle_warning = "8s"\nconsole_token_ttl = "4s"\n',
    });
    const api2 = await new Api(short.base).adminWithPin();
    vm = await startVm("idle-e2e");
    const server = await api2.createServer("idle-e2e", { driver: "fake", address: "127.0.0.1", console: { vnc: vm.vnc, vnc_password: "idle-e2e" } });
    const con = await api2.openConsole(server.id, "vnc");
    const page = await openConsolePage(browser.context, absolute(short.base, con.url));
    const sent = [];
    page.on("websocket", (ws) => ws.on("framesent", (f) => typeof f.payload === "string" && sent.push(f.payload)));
    await waitForState(page, "connected");

    await page.waitForSelector("#idle-banner:not([hidden])", { timeout: 30000 });
    const countdown = Number(await page.textContent("#idle-countdown"));
    assert.ok(countdown > 0 && countdown <= 8, `countdown ${countdown}`);
    await page.click("#stay");
    assert.equal(await page.isVisible("#idle-banner"), false);
    await waitFor("the activity message", () => sent.includes('{"type":"activity"}'), { timeoutMs: 5000 });
    // The gateway counted it: a second warning comes (the first one is given once per idle stretch).
    await page.waitForSelector("#idle-banner:not([hidden])", { timeout: 30000 });
    await waitForState(page, "closed");
    const s = await status(page);
    assert.equal(s.text, "closed: closed after a period without input");
    assert.equal(await page.isVisible("#idle-banner"), false);
    assert.equal(await page.isVisible("#reconnect"), false, "an idle-closed session cannot be resumed");
    await page.close();

    // A console link opened after its token expired is refused.
    const late = await api2.openConsole(server.id, "vnc");
    await sleep(6000); // past the 4 s token lifetime
    const expired = await openConsolePage(browser.context, absolute(short.base, late.url));
    await waitForState(expired, "closed");
    assert.match((await status(expired)).text, /used or expired/);
    await expired.close();
  });

  test("the page warns before the maximum duration (input does not postpone it), then the session closes", async () => {
    // Sessions last 10 s here, warned 6 s ahead; the idle timeout stays far away.
    capped = await startIronrack({ config: 'console_max_duration = "10s"\nconsole_idle_warning = "6s"\n' });
    const api3 = await new Api(capped.base).adminWithPin();
    vm ??= await startVm("idle-e2e"); // the idle test's VM, unless run alone
    const server = await api3.createServer("maxdur-e2e", { driver: "fake", address: "127.0.0.1", console: { vnc: vm.vnc, vnc_password: "idle-e2e" } });
    const con = await api3.openConsole(server.id, "vnc");
    const page = await openConsolePage(browser.context, absolute(capped.base, con.url));
    await waitForState(page, "connected");
    await page.waitForSelector("#max-banner:not([hidden])", { timeout: 30000 });
    const countdown = Number(await page.textContent("#max-countdown"));
    assert.ok(countdown > 0 && countdown <= 6, `countdown ${countdown}`);
    assert.equal(await page.isVisible("#idle-banner"), false, "not an idle warning");
    // Typing is input, but the maximum duration does not move.
    await page.click("#screen");
    await page.keyboard.type("abc");
    assert.equal(await page.isVisible("#max-banner"), true);
    await waitForState(page, "closed");
    assert.equal((await status(page)).text, "closed: the maximum session duration was reached");
    assert.equal(await page.isVisible("#max-banner"), false);
    await page.close();
  });
});

describe("serial console (SOL through ipmi_sim)", () => {
  let bmcDir, serialServer, serialSock;
  after(async () => {
    serialSock?.destroy();
    serialServer?.close();
    if (bmcDir) {
      execFileSync("bash", [join(repo, "lab/bmcs.sh"), "stop", "--dir", bmcDir.dir], { stdio: "ignore" });
      bmcDir.remove();
    }
  });

  test("shows what the host writes (UTF-8 split across frames), sends typed keys and breaks, and a view-only viewer cannot type", async () => {
    // The host's serial port: ipmi_sim connects to us.
    serialServer = createServer();
    const accepted = new Promise((resolve) => serialServer.once("connection", resolve));
    await new Promise((r) => serialServer.listen(0, "127.0.0.1", r));
    const solPort = serialServer.address().port;
    const received = [];
    bmcDir = tempDir("bmc");
    const bmcPort = await freePort(); // UDP port chosen like the TCP one; bmcs.sh fails loudly if taken
    execFileSync("bash", [join(repo, "lab/bmcs.sh"), "start", "1", "--base-port", String(bmcPort), "--dir", bmcDir.dir, "--sol-port", String(solPort)]);
    serialSock = await accepted;
    serialSock.on("data", (d) => received.push(d));

    const server = await api.createServer("sol-e2e", {
      driver: "ipmi",
      address: "127.0.0.1",
      port: bmcPort,
      username: "ADMIN",
      password: "password",
    });
    const con = await api.openConsole(server.id, "sol");
    assert.equal(con.kind, "sol");
    const page = await openConsolePage(browser.context, absolute(ironrack.base, con.url));
    const controlSent = [];
    page.on("websocket", (ws) => ws.on("framesent", (f) => typeof f.payload === "string" && controlSent.push(f.payload)));
    await waitForState(page, "connected");
    assert.equal(await page.textContent("#kind"), "serial");
    assert.equal(await page.isVisible("#break"), true);

    // Browser → host first: typed keys, including a non-ASCII one, reach the
    // serial port. This also shows the SOL payload is active (the gateway
    // activates it as the viewer connects; output before that is not kept).
    await page.click("#screen .xterm");
    await page.keyboard.type("root ä");
    await page.keyboard.press("Enter");
    await waitFor("typed keys on the serial port", () => Buffer.concat(received).toString("utf8").includes("root ä\r"), { timeoutMs: 20000 }).catch((e) => {
      throw new Error(`${e.message}; serial side got ${JSON.stringify(Buffer.concat(received).toString("utf8"))}`);
    });

    // Host → browser: write a line byte by byte with pauses, so multi-byte
    // characters (€ is 3 bytes, 😀 4) arrive split over several SOL packets
    // and WebSocket frames.
    const line = "boot: grüße € 😀 ok";
    for (const b of Buffer.from(line + "\r\n", "utf8")) {
      serialSock.write(Buffer.of(b));
      await sleep(15);
    }
    const rows = () => page.evaluate(() => Array.from(document.querySelectorAll(".xterm-rows > div"), (r) => r.textContent).join("\n"));
    await waitFor(`"${line}" in the terminal`, async () => (await rows()).includes(line), { timeoutMs: 20000 }).catch(async (e) => {
      throw new Error(`${e.message}; terminal shows: ${JSON.stringify(await rows())}`);
    });
    assert.ok(!(await rows()).includes("\uFFFD"), "a replacement character means a split character was decoded early");

    // "Send break" sends the control message; the break itself is checked on
    // the serial side below.
    await page.click("#break");
    await waitFor("the break control message", () => controlSent.includes('{"type":"break"}'), { timeoutMs: 5000 });

    // A second viewer joins view-only: sees the output, cannot type.
    const viewerLink = await api.addViewer(con.id);
    const viewer = await openConsolePage(browser.context, absolute(ironrack.base, viewerLink.url));
    await waitForState(viewer, "connected");
    assert.equal(await viewer.isVisible("#view-only"), true);
    assert.equal(await viewer.isVisible("#break"), false);
    serialSock.write("second line for both\r\n");
    const viewerRows = () => viewer.evaluate(() => Array.from(document.querySelectorAll(".xterm-rows > div"), (r) => r.textContent).join("\n"));
    await waitFor("output in the view-only page", async () => (await viewerRows()).includes("second line for both"), { timeoutMs: 20000 });
    await waitFor("output in the first page", async () => (await rows()).includes("second line for both"), { timeoutMs: 20000 });
    const before = Buffer.concat(received).length;
    await viewer.click("#screen .xterm");
    await viewer.keyboard.type("ignored");
    // Then a key from the full viewer: once it arrives, the view-only keys would have too.
    await page.click("#screen .xterm");
    await page.keyboard.type("Z");
    await waitFor("the full viewer's key", () => Buffer.concat(received).subarray(before).includes("Z"), { timeoutMs: 20000 });
    const all = Buffer.concat(received);
    // The break arrives as telnet IAC BRK (ff f3); in this setup it came with
    // the next keystroke's packet, so it may land on either side of `before`.
    const brk = Buffer.of(0xff, 0xf3);
    assert.ok(all.includes(brk), `no break on the serial port (${all.toString("hex")})`);
    const after = Buffer.from(all.subarray(before).toString("latin1").replace("\xff\xf3", ""), "latin1");
    assert.equal(after.toString("utf8"), "Z", `keys typed in the view-only page reached the serial port (${after.toString("hex")})`);
    await viewer.close();
    await page.close();
  });
});
