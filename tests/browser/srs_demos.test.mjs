// SRS's own call pages (ossrs/signaling's www/demos one2one.html and
// room.html, vendored unchanged in www/srs-demos/) against shardsfu's
// built-in signaling (/sig/v1/rtc on the HTTP server's port, where the
// pages look for it) and its legacy /rtc/v1/publish|play API. The pages
// take `?host=127.0.0.1:<api port>` (their documented way to name the SRS
// server; the SDK's default is port 1985). Every page is its own browser
// context with Chromium's fake camera and microphone.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Redis, Server, build, launchChromium, openPage } from './sfu.mjs';

const FRAMES = 60;          // video frames each player must decode
const MEDIA_MS = 60_000;    // for every page to get there

let server;
let browser;

before(async () => {
  build();
  server = await Server.start({ workers: 2 });
  browser = await launchChromium();
});

after(async () => {
  if (browser) await browser.close().catch(() => {});
  if (server) {
    const code = await server.stop();
    if (code !== 0 && code !== 'SIGTERM') console.error(`shardsfu exit ${code}\n${server.logTail()}`);
  }
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Opens `page` (one2one or room) as `display` in `room` on `srv`, recording
// the signaling messages it receives and its console.
async function openDemo(page, room, display, srv = server) {
  const ctx = await browser.newContext();
  const p = await ctx.newPage();
  // Only loopback: the pages load an image from ossrs.net.
  await p.route((url) => !url.hostname.startsWith('127.'), (r) => r.abort());
  const peer = { ctx, page: p, display, sig: [], logs: [] };
  p.on('console', (m) => peer.logs.push(`${m.type()}: ${m.text()}`));
  p.on('pageerror', (e) => peer.logs.push(`pageerror: ${e}`));
  p.on('websocket', (ws) => {
    ws.on('framereceived', (f) => {
      try { peer.sig.push(JSON.parse(f.payload)); } catch { peer.sig.push(f.payload); }
    });
  });
  const host = `${new URL(srv.api).hostname}:${srv.ports.api}`;
  peer.srv = srv;
  peer.url = `${srv.http}/srs-demos/${page}.html?autostart=true&room=${room}&display=${display}&host=${host}`;
  await openPage(p, peer.url, srv);
  return peer;
}

// Inbound media of every player on the page, by the display it plays
// (one2one has one player, `player`; room.html one per member in `players`).
async function players(peer) {
  try {
    return await peer.page.evaluate(async () => {
      const pcs = [];
      if (window.player?.pc) pcs.push(['player', window.player.pc]);
      for (const [k, o] of Object.entries(window.players ?? {})) pcs.push([k, o.player.pc]);
      const out = {};
      for (const [k, pc] of pcs) {
        if (pc.signalingState === 'closed') continue;
        const s = { connectionState: pc.connectionState, framesDecoded: 0, frameWidth: 0, audioPackets: 0 };
        (await pc.getStats()).forEach((r) => {
          if (r.type !== 'inbound-rtp') return;
          if (r.kind === 'video') { s.framesDecoded = r.framesDecoded ?? 0; s.frameWidth = r.frameWidth ?? 0; }
          if (r.kind === 'audio') s.audioPackets = r.packetsReceived ?? 0;
        });
        out[k] = s;
      }
      return out;
    });
  } catch (e) {
    return { error: `${e}` };
  }
}

const playing = (s) => s && s.framesDecoded >= FRAMES && s.frameWidth > 0 && s.audioPackets > 0;

async function describe(peers, headline) {
  const parts = [headline];
  for (const p of peers) {
    parts.push(`${p.display} (${p.url}):\n  players ${JSON.stringify(await players(p))}`);
    parts.push(`  signaling: ${JSON.stringify(p.sig.slice(-6))}`);
    if (p.logs.length) parts.push(`  console: ${p.logs.slice(-8).join(' | ')}`);
  }
  for (const srv of new Set(peers.map((p) => p.srv))) {
    try { parts.push(`server totals: ${JSON.stringify(await srv.totals())}`); } catch (e) { parts.push(`totals: ${e}`); }
    parts.push(srv.logTail());
  }
  return parts.join('\n');
}

// Waits until each peer plays every display in `expect(peer)`.
async function waitPlaying(peers, expect, what) {
  const deadline = Date.now() + MEDIA_MS;
  let last = [];
  while (Date.now() < deadline) {
    last = await Promise.all(peers.map(players));
    if (peers.every((p, i) => expect(p).every((d) => playing(last[i][d])))) return last;
    await sleep(500);
  }
  assert.fail(await describe(peers, `${what}: not every player decoded ${FRAMES} frames with width > 0 and audio within ${MEDIA_MS / 1000} s`));
}

const notifies = (peer, event) => peer.sig.filter((m) => m?.msg?.action === 'notify' && m.msg.event === event);

test('two one2one.html pages: each decodes the other, and sees it leave', { timeout: 150_000 }, async () => {
  const room = `call${Date.now()}`;
  const peers = [];
  try {
    peers.push(await openDemo('one2one', room, 'alice'));
    peers.push(await openDemo('one2one', room, 'bob'));
    const snaps = await waitPlaying(peers, () => ['player'], 'one2one');
    console.log(`one2one: ${JSON.stringify(snaps)}`);
    const widths = await Promise.all(peers.map((p) => p.page.evaluate(() => document.querySelector('#rtc_media_player').videoWidth)));
    assert.ok(widths.every((w) => w > 0), `the player <video> of each page has a width: ${widths}`);
    const [alice, bob] = peers;
    // The join answer lists both; bob saw alice publish (or found her publishing).
    const join = alice.sig.find((m) => m?.msg?.action === 'join');
    assert.deepEqual(join.msg.self, { display: 'alice', publishing: false });
    assert.equal(notifies(alice, 'join')[0]?.msg.peer.display, 'bob', JSON.stringify(alice.sig));

    await alice.ctx.close();
    peers.shift();
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && !notifies(bob, 'leave').length) await sleep(100);
    const leave = notifies(bob, 'leave')[0];
    assert.ok(leave, await describe([bob], 'bob was not told alice left'));
    assert.equal(leave.msg.peer.display, 'alice');
    assert.deepEqual(leave.msg.participants.map((x) => x.display), ['bob']);
    // The page hides its player on leave.
    assert.equal(await bob.page.evaluate(() => document.querySelector('#player').style.display), 'none');
  } finally {
    for (const p of peers) await p.ctx.close().catch(() => {});
  }
});

test('four room.html pages each decode the other three; a fifth joining late sees all four', { timeout: 240_000 }, async () => {
  const room = `room${Date.now()}`;
  const names = ['a1', 'b2', 'c3', 'd4'];
  const peers = [];
  try {
    for (const n of names) peers.push(await openDemo('room', room, n));
    const others = (p) => names.filter((n) => n !== p.display);
    const snaps = await waitPlaying(peers, others, 'four in a room');
    console.log(`room of four: ${JSON.stringify(snaps.map((s) => Object.fromEntries(Object.entries(s).map(([k, v]) => [k, v.framesDecoded]))))}`);

    const late = await openDemo('room', room, 'e5');
    peers.push(late);
    await waitPlaying([late], () => names, 'the fifth, joining late');
    const join = late.sig.find((m) => m?.msg?.action === 'join');
    assert.deepEqual(join.msg.participants.map((x) => x.display).sort(), [...names, 'e5'].sort());
    assert.ok(join.msg.participants.filter((x) => x.display !== 'e5').every((x) => x.publishing), JSON.stringify(join));
    // The others were told about the fifth.
    for (const p of peers.slice(0, 4)) {
      assert.ok(notifies(p, 'join').some((m) => m.msg.peer.display === 'e5'), `${p.display} saw e5 join`);
    }
  } finally {
    for (const p of peers) await p.ctx.close().catch(() => {});
  }
});

// Rooms across nodes (docs/cluster.md): two nodes on their own loopback
// addresses share a real redis-server; each page talks only to its own
// node (signaling, publish, play), and each node pulls the other's
// publisher from it.
test('one2one.html pages on two cluster nodes call each other', { timeout: 150_000 }, async () => {
  const redis = await Redis.start();
  const nodes = [];
  const peers = [];
  try {
    const cluster = `cluster { enabled on; redis 127.0.0.1:${redis.port}; lease 3; }`;
    for (const host of ['127.0.0.2', '127.0.0.3']) nodes.push(await Server.start({ workers: 2, host, extra: cluster }));
    const room = `xcall${Date.now()}`;
    peers.push(await openDemo('one2one', room, 'alice', nodes[0]));
    peers.push(await openDemo('one2one', room, 'bob', nodes[1]));
    const snaps = await waitPlaying(peers, () => ['player'], 'one2one across nodes');
    console.log(`one2one across nodes: ${JSON.stringify(snaps)}`);
    const [alice, bob] = peers;
    assert.equal(notifies(alice, 'join')[0]?.msg.peer.display, 'bob', JSON.stringify(alice.sig));
    // Each node serves its own member's stream to one pull from the other.
    for (const [i, srv] of nodes.entries()) {
      const c = (await (await fetch(`${srv.api}/api/v1/cluster`)).json()).data;
      assert.equal(c.counters.pulls_active, 1, `node ${i} pulls the other member: ${JSON.stringify(c)}`);
      assert.ok(c.counters.rooms.room_events_received >= 1, JSON.stringify(c.counters));
    }
    await alice.ctx.close();
    peers.shift();
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && !notifies(bob, 'leave').length) await sleep(100);
    assert.equal(notifies(bob, 'leave')[0]?.msg.peer.display, 'alice', await describe([bob], 'bob, on the other node, was not told alice left'));
  } finally {
    for (const p of peers) await p.ctx.close().catch(() => {});
    for (const n of nodes) await n.stop();
    await redis.stop();
  }
});
