// Drives Debian's headless Chromium for authd's browser tests (crates/app/tests/it/browser.rs).
//
// Reads one JSON request from stdin:
//   {"javascript": bool, "screenshots": "<dir>", "steps": [step, ...]}
// runs the steps in order in one fresh browser profile (one tab), and writes one JSON line to
// stdout: {"steps": [result, ...], "error": null | "<why the run stopped>", "console": [...],
// "page_errors": [...], "request_failed": [...], "responses": [...]}.
// The test, not this file, decides what to do and what to expect: the steps are plain
// browser actions, so a new scenario needs no change here.
//
// Steps (serde's form of the test's `Step` enum) and their results:
//   {"goto": url}                           -> {"status", "url"}  the main response
//   {"fill": {"selector", "value"}}         -> {}
//   {"submit": selector}                    -> {"status", "url"}  clicks, awaits the navigation
//   {"wait_for_url": prefix}                -> {"url"}            e.g. after a self-submitting form
//   {"eval": expression}                    -> {"value"}          even with JavaScript disabled
//   "read_page"                             -> {"url", "title", "text", "html"}
//   "cookies"                               -> {"cookies"}        the profile's cookies
//   {"screenshot": name}                    -> {"path"}           <screenshots>/<name>.png
//   {"resize": {"width", "height"}}         -> {}                 the viewport (800x600 at first)
// Each response the tab receives is listed with the index of the step that sent its request.

import { chromium } from "playwright-core";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

// Debian's chromium package; playwright-core never downloads a browser of its own.
const CHROMIUM = "/usr/bin/chromium";

// --no-sandbox because the tests may run as root. Without the background-networking flags
// Chromium keeps dialling Google's hosts, which this closed network refuses; QUIC and the
// GPU are of no use to a headless test.
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

// One action may wait this long (a page of authd answers in milliseconds).
const ACTION_TIMEOUT_MS = 10_000;

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

async function runStep(page, step, screenshots) {
  if (step === "read_page") {
    const body = page.locator("body");
    return {
      url: page.url(),
      title: await page.title(),
      text: (await body.count()) ? await body.innerText() : "",
      html: await page.content(),
    };
  }
  if (step === "cookies") {
    return { cookies: await page.context().cookies() };
  }
  if ("goto" in step) {
    const response = await page.goto(step.goto, { waitUntil: "load" });
    return { status: response?.status() ?? null, url: page.url() };
  }
  if ("fill" in step) {
    await page.fill(step.fill.selector, step.fill.value);
    return {};
  }
  if ("submit" in step) {
    const [response] = await Promise.all([
      page.waitForNavigation({ waitUntil: "load" }),
      page.click(step.submit),
    ]);
    return { status: response?.status() ?? null, url: page.url() };
  }
  if ("wait_for_url" in step) {
    await page.waitForURL((url) => url.href.startsWith(step.wait_for_url), {
      waitUntil: "load",
    });
    return { url: page.url() };
  }
  if ("eval" in step) {
    return { value: await page.evaluate(step.eval) };
  }
  if ("resize" in step) {
    await page.setViewportSize(step.resize);
    return {};
  }
  if ("screenshot" in step) {
    const path = join(screenshots, `${step.screenshot}.png`);
    await page.screenshot({ path, fullPage: true });
    return { path };
  }
  throw new Error(`unknown step ${JSON.stringify(step)}`);
}

// Lists every response with the server's own status from Chromium's network layer, which
// sees the answers CORS withholds from the page (Playwright's own response event does not).
async function recordResponses(context, page, report) {
  const network = await context.newCDPSession(page);
  // The two events come from different processes, in either order.
  const requests = new Map();
  const statuses = new Map();
  const record = (requestId) => {
    if (requests.has(requestId) && statuses.has(requestId)) {
      report.responses.push({ ...requests.get(requestId), status: statuses.get(requestId) });
      requests.delete(requestId);
      statuses.delete(requestId);
    }
  };
  network.on("Network.requestWillBeSent", ({ requestId, request }) => {
    const { method, url } = request;
    requests.set(requestId, { method, url, step: report.steps.length });
    record(requestId);
  });
  network.on("Network.responseReceivedExtraInfo", ({ requestId, statusCode }) => {
    statuses.set(requestId, statusCode);
    record(requestId);
  });
  await network.send("Network.enable");
}

async function main() {
  const request = await readStdin();
  const report = {
    steps: [],
    error: null,
    console: [],
    page_errors: [],
    request_failed: [],
    responses: [],
  };
  // A fresh profile per run: no cookie or cache carries over between tests.
  const profile = await mkdtemp(join(tmpdir(), "authd-browser-"));
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: FLAGS,
      javaScriptEnabled: request.javascript !== false,
      viewport: { width: 800, height: 600 },
    });
    const page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(ACTION_TIMEOUT_MS);
    page.on("console", (message) =>
      report.console.push({
        type: message.type(),
        text: message.text(),
        url: message.location().url,
      }),
    );
    page.on("pageerror", (error) => report.page_errors.push(String(error)));
    page.on("requestfailed", (request) =>
      report.request_failed.push({
        method: request.method(),
        url: request.url(),
        failure: request.failure()?.errorText ?? null,
      }),
    );
    await recordResponses(context, page, report);
    for (const step of request.steps) {
      try {
        report.steps.push(await runStep(page, step, request.screenshots));
      } catch (error) {
        report.error = `step ${report.steps.length} ${JSON.stringify(step)}: ${error.message}`;
        break;
      }
    }
  } catch (error) {
    report.error = `browser: ${error.message}`;
  } finally {
    await context?.close().catch(() => {});
    await rm(profile, { recursive: true, force: true });
  }
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

await main();
