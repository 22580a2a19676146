// Headless Chromium (Debian's, fake camera) publishes over WHIP from a page
// served by the server's http_server; three other pages play over WHEP. Each
// player's getStats() must show inbound-rtp video framesDecoded growing
// between two samples a few seconds apart. workers 2. The same again over
// WebRTC over TCP, against a server that offers only TCP candidates.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Server, build, launchChromium, openPage } from './sfu.mjs';

const CONNECT_MS = 20_000;   // ICE + DTLS to 'connected'
const SAMPLE_GAP_MS = 4_000; // between the two framesDecoded samples
const PLAYERS = 3;

let server;
let tcpServer;
let browser;

before(async () => {
  build();
  server = await Server.start({ workers: 2 });
  // ICE-TCP only (RFC 6544 passive candidates, RFC 4571 framing), on the RTC port number.
  tcpServer = await Server.start({ workers: 2, rtcServer: 'tcp { enabled on; listen 127.0.0.1:{rtc}; } protocol tcp;' });
  browser = await launchChromium();
});

after(async () => {
  if (browser) await browser.close().catch(() => {});
  for (const srv of [server, tcpServer]) {
    if (!srv) continue;
    const code = await srv.stop();
    // Exits 0 on SIGTERM; anything else is worth seeing.
    if (code !== 0 && code !== 'SIGTERM') console.error(`shardsfu exit ${code}\n${srv.logTail()}`);
  }
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function openPeer(page, kind, stream, srv = server) {
  const url = `${srv.http}/${kind}.html?api=${encodeURIComponent(srv.api)}&app=live&stream=${stream}`;
  const logs = [];
  page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`pageerror: ${e}`));
  await openPage(page, url, srv);
  return { page, kind, url, logs };
}

async function snapshot(peer) {
  try {
    return await peer.page.evaluate(() => window.snapshot());
  } catch (e) {
    return { error: `snapshot failed: ${e}` };
  }
}

async function describe(peers, headline, srv = server) {
  const parts = [headline];
  for (const p of peers) {
    parts.push(`${p.name} (${p.url}):\n  ${JSON.stringify(await snapshot(p))}`);
    if (p.logs.length) parts.push(`  console: ${p.logs.slice(-10).join(' | ')}`);
  }
  try { parts.push(`server totals: ${JSON.stringify(await srv.totals())}`); } catch (e) { parts.push(`totals: ${e}`); }
  parts.push(srv.logTail());
  return parts.join('\n');
}

async function waitConnected(peers, what, srv = server) {
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
  assert.fail(await describe(peers, `${what}: ${bad.join(', ')} did not reach connectionState 'connected' within ${CONNECT_MS / 1000} s`, srv));
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

// One Chromium publisher and PLAYERS Chromium players of a stream on `srv`:
// every player's framesDecoded grows; returns the pages' last snapshots.
async function fanOut(srv, stream) {
  const contexts = [];
  try {
    const pubCtx = await browser.newContext();
    contexts.push(pubCtx);
    const pub = await openPeer(await pubCtx.newPage(), 'whip', stream, srv);
    pub.name = 'publisher';
    await waitConnected([pub], 'WHIP publisher', srv);

    const players = [];
    for (let i = 0; i < PLAYERS; i++) {
      const ctx = await browser.newContext();
      contexts.push(ctx);
      const p = await openPeer(await ctx.newPage(), 'whep', stream, srv);
      p.name = `player${i}`;
      players.push(p);
    }
    await waitConnected([pub, ...players], 'WHEP players', srv);

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
        `framesDecoded did not grow over ${SAMPLE_GAP_MS / 1000} s for ${stalled.map((p) => p.name).join(', ')}:\n${lines.join('\n')}`, srv));
    }
    console.log(lines.join('\n'));
    const snaps = await Promise.all([pub, ...players].map(snapshot));

    const statuses = [];
    for (const p of [...players, pub]) statuses.push(await p.page.evaluate(() => window.hangUp()));
    assert.deepEqual(statuses, statuses.map(() => 200), `DELETE of the sessions: ${statuses}\n${srv.logTail()}`);
    return snaps;
  } finally {
    for (const c of contexts) await c.close().catch(() => {});
  }
}

test('Chromium WHIP publisher reaches 3 Chromium WHEP players (framesDecoded grows)', { timeout: 120_000 }, async () => {
  await fanOut(server, `chromium${Date.now()}`);
});

test('the same over WebRTC over TCP (RFC 6544 passive candidates, RFC 4571 framing)', { timeout: 120_000 }, async () => {
  const snaps = await fanOut(tcpServer, `tcp${Date.now()}`);
  const remotes = snaps.map((s) => s.stats?.transport?.selectedPair?.remote);
  assert.ok(remotes.every((r) => r && r.protocol === 'tcp' && r.port === tcpServer.ports.rtc),
    `every peer's selected pair should be TCP to port ${tcpServer.ports.rtc}: ${JSON.stringify(remotes)}`);
  const t = await tcpServer.totals();
  assert.ok(t.tcp_connections >= 1 + PLAYERS && t.tcp_frames_in > 0 && t.tcp_frames_out > 0 && t.udp_packets_in === 0,
    `server totals: ${JSON.stringify(t)}\n${tcpServer.logTail()}`);
  console.log(`selected pairs: ${JSON.stringify(remotes)}; tcp_connections ${t.tcp_connections}, ` +
    `frames in ${t.tcp_frames_in}, out ${t.tcp_frames_out}, dropped ${t.tcp_dropped}, udp in ${t.udp_packets_in}`);
});
