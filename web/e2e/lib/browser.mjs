// Debian's Chromium, headless, driven by playwright-core (no downloaded browser).
import { chromium } from "playwright-core";
import { tempDir } from "./procs.mjs";

export async function launchChromium() {
  const profile = tempDir("chromium");
  const context = await chromium.launchPersistentContext(profile.dir, {
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    viewport: { width: 1024, height: 700 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  return {
    context,
    async close() {
      await context.close();
      profile.remove();
    },
  };
}

/** Opens a console URL and waits for the status line to leave "connecting". */
export async function openConsolePage(context, url) {
  const page = await context.newPage();
  const logs = [];
  page.on("console", (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => logs.push(`pageerror: ${e.message}`));
  await page.goto(url);
  page.logs = logs;
  return page;
}

export async function status(page) {
  return page.evaluate(() => {
    const s = document.getElementById("status");
    return { state: s.dataset.state, text: s.textContent };
  });
}

export async function waitForState(page, state, timeoutMs = 30000) {
  try {
    await page.waitForSelector(`#status[data-state="${state}"]`, { timeout: timeoutMs });
  } catch (e) {
    const s = await status(page).catch(() => null);
    throw new Error(`console page never reached "${state}" (status: ${JSON.stringify(s)}; page log: ${page.logs.join(" | ")})`);
  }
}
