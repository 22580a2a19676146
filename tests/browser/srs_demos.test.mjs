// SRS's own call pages (ossrs/signaling's www/demos one2one.html and
// room.html, vendored unchanged in www/srs-demos/) against shardsfu's
// built-in signaling (/sig/v1/rtc on the HTTP server's port, where the
// pages look for it) and its legacy /rtc/v1/publish|play API. The pages
// take `?host=127.0.0.1:<api port>` (their documented way to name the SRS
// server; the SDK's default is port 1985). Every page is its own browser
// context with Chromium's fake camera and microphone.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Server, build, launchChromium } from './sfu.mjs';

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

// Opens `page` (one2one or room) as `display` in `room`, recording the
// signaling messages it receives and its console.
async function openDemo(page, room, display) {
  const ctx = await browser.newContext();
  const p = await ctx.newPage();
  // Only loopback: the pages load an image from ossrs.net.
  await p.route((url) => url.hostname !== '127.0.0.1', (r) => r.abort());
  const peer = { ctx, page: p, display, sig: [], logs: [] };
  p.on('console', (m) => peer.logs.push(`${m.type()}: ${m.text()}`));
  p.on('pageerror', (e) => peer.logs.push(`pageerror: ${e}`));
  p.on('websocket', (ws) => {
    ws.on('framereceived', (f) => {
      try { peer.sig.push(JSON.parse(f.payload)); } catch { peer.sig.push(f.payload); }
    });
  });
  const host = `127.0.0.1:${server.ports.api}`;
  peer.url = `${server.http}/srs-demos/${page}.html?autostart=true&room=${room}&display=${display}&host=${host}`;
  await p.goto(peer.url, { timeout: 10_000 });
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
  try { parts.push(`server totals: ${JSON.stringify(await server.totals())}`); } catch (e) { parts.push(`totals: ${e}`); }
  parts.push(server.logTail());
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
