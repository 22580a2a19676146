// Headless Chromium (Debian's, fake camera) publishes over WHIP from a page
// served by the server's http_server; three other pages play over WHEP. Each
// player's getStats() must show inbound-rtp video framesDecoded growing
// between two samples a few seconds apart. workers 2.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';

import { Server, build } from './sfu.mjs';

const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const CONNECT_MS = 20_000;   // ICE + DTLS to 'connected'
const SAMPLE_GAP_MS = 4_000; // between the two framesDecoded samples
const PLAYERS = 3;
const FLAGS = [
  // Playwright adds --headless and a new empty --user-data-dir of its own.
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
  '--allow-loopback-in-peer-connection',
  '--autoplay-policy=no-user-gesture-required',
];

let server;
let browser;

before(async () => {
  build();
  server = await Server.start({ workers: 2 });
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS, timeout: 30_000 });
});

after(async () => {
  if (browser) await browser.close().catch(() => {});
  if (server) {
    const code = await server.stop();
    // Exits 0 on SIGTERM; anything else is worth seeing.
    if (code !== 0 && code !== 'SIGTERM') console.error(`shardsfu exit ${code}\n${server.logTail()}`);
  }
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function openPeer(page, kind, stream) {
  const url = `${server.http}/${kind}.html?api=${encodeURIComponent(server.api)}&app=live&stream=${stream}`;
  const logs = [];
  page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`pageerror: ${e}`));
  await page.goto(url, { timeout: 10_000 });
  return { page, kind, url, logs };
}

async function snapshot(peer) {
  try {
    return await peer.page.evaluate(() => window.snapshot());
  } catch (e) {
    return { error: `snapshot failed: ${e}` };
  }
}

async function describe(peers, headline) {
  const parts = [headline];
  for (const p of peers) {
    parts.push(`${p.name} (${p.url}):\n  ${JSON.stringify(await snapshot(p))}`);
    if (p.logs.length) parts.push(`  console: ${p.logs.slice(-10).join(' | ')}`);
  }
  try { parts.push(`server totals: ${JSON.stringify(await server.totals())}`); } catch (e) { parts.push(`totals: ${e}`); }
  parts.push(server.logTail());
  return parts.join('\n');
}

async function waitConnected(peers, what) {
  const deadline = Date.now() + CONNECT_MS;
  let pending = peers;
  while (Date.now() < deadline) {
    const snaps = await Promise.all(pending.map(snapshot));
    if (snaps.some((s) => s.error || s.connectionState === 'failed')) break;
    pending = pending.filter((_, i) => snaps[i].connectionState !== 'connected');
    if (!pending.length) return;
    await sleep(200);
  }
  const bad = [];
  for (const p of peers) if ((await snapshot(p)).connectionState !== 'connected') bad.push(p.name);
  if (!bad.length) return;
  assert.fail(await describe(peers, `${what}: ${bad.join(', ')} did not reach connectionState 'connected' within ${CONNECT_MS / 1000} s`));
}

const decoded = (s) => s.stats?.['inbound-rtp/video']?.framesDecoded ?? 0;

// Holds before DTLS and media exist: the page's cross-origin POST gets a 201
// (CORS works), Chromium accepts the answer, and its checks against the
// ICE-lite server succeed.
test('Chromium WHIP and WHEP pages: signaling (CORS) and ICE', { timeout: 60_000 }, async () => {
  const stream = `ice${Date.now()}`;
  const contexts = [];
  try {
    const peers = [];
    for (const kind of ['whip', 'whep']) {
      const ctx = await browser.newContext();
      contexts.push(ctx);
      const p = await openPeer(await ctx.newPage(), kind, stream);
      p.name = kind;
      peers.push(p);
      const deadline = Date.now() + 10_000;
      let s = await snapshot(p);
      while (Date.now() < deadline && !s.error && !['connected', 'completed'].includes(s.iceConnectionState)) {
        await sleep(100);
        s = await snapshot(p);
      }
      if (s.error || !['connected', 'completed'].includes(s.iceConnectionState)) {
        assert.fail(await describe(peers, `${kind} page: iceConnectionState not connected within 10 s`));
      }
    }
    const statuses = [];
    for (const p of peers.reverse()) statuses.push(await p.page.evaluate(() => window.hangUp()));
    assert.deepEqual(statuses, [200, 200], `DELETE of the sessions: ${statuses}\n${server.logTail()}`);
  } finally {
    for (const c of contexts) await c.close().catch(() => {});
  }
});

test('Chromium WHIP publisher reaches 3 Chromium WHEP players (framesDecoded grows)', { timeout: 120_000 }, async () => {
  const stream = `chromium${Date.now()}`;
  const contexts = [];
  try {
    const pubCtx = await browser.newContext();
    contexts.push(pubCtx);
    const pub = await openPeer(await pubCtx.newPage(), 'whip', stream);
    pub.name = 'publisher';
    await waitConnected([pub], 'WHIP publisher');

    const players = [];
    for (let i = 0; i < PLAYERS; i++) {
      const ctx = await browser.newContext();
      contexts.push(ctx);
      const p = await openPeer(await ctx.newPage(), 'whep', stream);
      p.name = `player${i}`;
      players.push(p);
    }
    await waitConnected([pub, ...players], 'WHEP players');

    // A player that just connected waits for its first keyframe (a PLI
    // round trip): give every player up to 5 s to decode its first frame,
    // then require growth between two samples.
    const firstFrameDeadline = Date.now() + 5_000;
    let first = await Promise.all(players.map(snapshot));
    while (Date.now() < firstFrameDeadline && first.some((s) => !(decoded(s) > 0))) {
      await sleep(200);
      first = await Promise.all(players.map(snapshot));
    }
    await sleep(SAMPLE_GAP_MS);
    const second = await Promise.all(players.map(snapshot));
    const lines = players.map((p, i) => `${p.name}: framesDecoded ${decoded(first[i])} -> ${decoded(second[i])}`);
    const stalled = players.filter((_, i) => !(decoded(second[i]) > decoded(first[i]) && decoded(first[i]) > 0));
    if (stalled.length) {
      assert.fail(await describe([pub, ...players],
        `framesDecoded did not grow over ${SAMPLE_GAP_MS / 1000} s for ${stalled.map((p) => p.name).join(', ')}:\n${lines.join('\n')}`));
    }
    console.log(lines.join('\n'));

    const statuses = [];
    for (const p of [...players, pub]) statuses.push(await p.page.evaluate(() => window.hangUp()));
    assert.deepEqual(statuses, statuses.map(() => 200), `DELETE of the sessions: ${statuses}\n${server.logTail()}`);
  } finally {
    for (const c of contexts) await c.close().catch(() => {});
  }
});
