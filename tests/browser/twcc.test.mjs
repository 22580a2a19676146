// A headless Chromium publisher's congestion control ramps up only when the
// server gives it transport-cc feedback: with `twcc on`, getStats()
// candidate-pair availableOutgoingBitrate climbs above 800 kbps within 12 s;
// with `twcc off` (no transport-cc negotiated, no REMB) it stays lower.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Server, build, launchChromium, openPage } from './sfu.mjs';

const RAMP_MS = 12_000;
const TARGET_BPS = 800_000;

let browser;

before(async () => {
  build();
  browser = await launchChromium();
});

after(async () => {
  if (browser) await browser.close().catch(() => {});
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Publishes from a fresh page to a server with `rtc`; returns the highest
 * availableOutgoingBitrate seen within RAMP_MS of connecting, and a trace. */
async function ramp(rtc) {
  const server = await Server.start({ workers: 2, rtc });
  const ctx = await browser.newContext();
  try {
    const page = await ctx.newPage();
    const url = `${server.http}/whip.html?api=${encodeURIComponent(server.api)}&app=live&stream=bwe`;
    await openPage(page, url, server);
    const connectBy = Date.now() + 20_000;
    let snap = await page.evaluate(() => window.snapshot());
    while (snap.connectionState !== 'connected' && Date.now() < connectBy) {
      await sleep(200);
      snap = await page.evaluate(() => window.snapshot());
    }
    assert.equal(snap.connectionState, 'connected', `publisher (${rtc}) did not connect: ${JSON.stringify(snap)}\n${server.logTail()}`);
    const trace = [];
    let best = 0;
    const until = Date.now() + RAMP_MS;
    while (Date.now() < until) {
      await sleep(500);
      snap = await page.evaluate(() => window.snapshot());
      const bps = snap.stats?.transport?.selectedPair?.availableOutgoingBitrate ?? 0;
      trace.push(Math.round(bps / 1000));
      best = Math.max(best, bps);
      if (best > TARGET_BPS * 1.5) break;
    }
    const totals = await server.totals();
    return { best, trace, feedback: totals.twcc_feedback_sent, log: server.logTail() };
  } finally {
    await ctx.close().catch(() => {});
    await server.stop();
  }
}

test('availableOutgoingBitrate climbs above 800 kbps with twcc on, not with twcc off', { timeout: 120_000 }, async () => {
  const on = await ramp('twcc on;');
  const off = await ramp('twcc off;');
  const summary = `twcc on: max ${Math.round(on.best / 1000)} kbps, trace ${on.trace.join(' ')} (feedback packets ${on.feedback}); `
    + `twcc off: max ${Math.round(off.best / 1000)} kbps, trace ${off.trace.join(' ')}`;
  console.log(summary);
  assert.ok(on.feedback > 0, `no transport-cc feedback sent: ${summary}\n${on.log}`);
  assert.ok(on.best > TARGET_BPS, `with twcc on the estimate stayed at or below 800 kbps: ${summary}\n${on.log}`);
  assert.ok(off.best < on.best, `twcc off ramped as high as twcc on: ${summary}`);
});
