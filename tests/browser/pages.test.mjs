// The pages compiled into the binary (web/), opened by headless Chromium from
// a server with no http_server.dir: whip.html publishes and whep.html plays;
// the legacy-API pages do the same; srs_player.html plays the stream over
// HTTP-FLV and HLS (rtc_to_rtmp on); one2one.html and room.html hold calls
// over the built-in signaling; a file in a configured dir replaces its
// embedded namesake and leaves the rest embedded.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { Server, build, launchChromium, openPage } from './sfu.mjs';

const MEDIA_MS = 30_000; // to reach the frame counts below
const VIDEO_FRAMES = 60;

let server;
let browser;

before(async () => {
  build();
  server = await Server.start({
    workers: 2,
    dir: null,
    rtc: 'rtc_to_rtmp on; pli_for_rtmp 1;',
    vhost: 'http_remux { enabled on; } hls { enabled on; hls_fragment 1; hls_window 10; }',
  });
  browser = await launchChromium();
});

after(async () => {
  if (browser) await browser.close().catch(() => {});
  if (server) await server.stop();
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Opens `page` (a path on the server's HTTP port) in its own browser context.
async function open(pagePath) {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const logs = [];
  page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`pageerror: ${e}`));
  const resp = await openPage(page, `${server.http}${pagePath}`, server);
  assert.equal(resp.status(), 200, `GET ${pagePath}`);
  return { ctx, page, logs, name: pagePath };
}

async function snap(p) {
  try {
    return await p.page.evaluate(() => window.snapshot());
  } catch (e) {
    return { error: String(e) };
  }
}

// Waits until `ok(snapshot)` holds for `p`, or fails with what the page saw.
async function waitFor(p, what, ok) {
  const deadline = Date.now() + MEDIA_MS;
  let s;
  while (Date.now() < deadline) {
    s = await snap(p);
    if (ok(s)) return s;
    await sleep(500);
  }
  assert.fail(`${p.name}: ${what} not within ${MEDIA_MS / 1000} s; last ${JSON.stringify(s)}\n` +
    `console: ${p.logs.slice(-10).join(' | ')}\n${server.logTail(20)}`);
}

const playing = (s) => (s.video?.frames ?? 0) >= VIDEO_FRAMES && s.video.width > 0 && (s.audio?.packets ?? 0) > 50;

test('embedded whip.html publishes, whep.html plays, and srs_player.html plays it over HTTP-FLV and HLS', { timeout: 180_000 }, async () => {
  const stream = `pages${Date.now()}`;
  const opened = [];
  try {
    const pub = await open(`/players/whip.html?autostart=true&stream=${stream}&codec=h264`);
    opened.push(pub);
    await waitFor(pub, 'publishing', (s) => s.state === 'connected' && (s.video?.frames ?? 0) > 30);

    const whep = await open(`/players/whep.html?autostart=true&stream=${stream}`);
    opened.push(whep);
    const w = await waitFor(whep, `${VIDEO_FRAMES} video frames and audio`, playing);
    assert.match(w.video.codec, /H264/i);

    for (const ext of ['flv', 'm3u8']) {
      const p = await open(`/players/srs_player.html?autostart=true&stream=${stream}.${ext}`);
      opened.push(p);
      const s = await waitFor(p, `${ext}: ${VIDEO_FRAMES} frames, a picture and audio`,
        (x) => x.frames >= VIDEO_FRAMES && x.width > 0 && x.audioBytes > 0);
      assert.ok(s.time > 1, `${ext} playback time ${s.time}`);
    }
  } finally {
    for (const p of opened) await p.ctx.close().catch(() => {});
  }
});

test('embedded rtc_publisher.html and rtc_player.html (SRS API) publish and play', { timeout: 120_000 }, async () => {
  const stream = `legacy${Date.now()}`;
  const opened = [];
  try {
    const pub = await open(`/players/rtc_publisher.html?autostart=true&stream=${stream}&codec=vp8`);
    opened.push(pub);
    await waitFor(pub, 'publishing', (s) => s.state === 'connected');
    const play = await open(`/players/rtc_player.html?autostart=true&stream=${stream}`);
    opened.push(play);
    const s = await waitFor(play, `${VIDEO_FRAMES} video frames and audio`, playing);
    assert.match(s.video.codec, /VP8/i);
  } finally {
    for (const p of opened) await p.ctx.close().catch(() => {});
  }
});

test('the index links every page; a configured dir overrides one file and leaves the rest embedded', { timeout: 60_000 }, async () => {
  const index = await open('/');
  try {
    const links = await index.page.evaluate(() => [...document.querySelectorAll('a')].map((a) => a.pathname));
    for (const p of ['/players/whip.html', '/players/whep.html', '/players/rtc_publisher.html',
      '/players/rtc_player.html', '/players/srs_player.html', '/demos/one2one.html', '/demos/room.html']) {
      assert.ok(links.includes(p), `index links ${p}: ${links}`);
    }
    const rtmp = await index.page.textContent('#u-rtmp');
    assert.match(rtmp, /^rtmp:\/\/127\.0\.0\.1:\d+\/live\/livestream$/);
    assert.ok(!rtmp.includes(':1935'), rtmp);
  } finally {
    await index.ctx.close();
  }

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shardsfu-www-'));
  fs.mkdirSync(path.join(dir, 'players'));
  fs.writeFileSync(path.join(dir, 'players', 'whep.html'), '<!doctype html><title>mine</title>');
  const own = await Server.start({ workers: 1, dir });
  try {
    const mine = await fetch(`${own.http}/players/whep.html`);
    assert.equal(await mine.text(), '<!doctype html><title>mine</title>');
    const embedded = await fetch(`${own.http}/players/whip.html`);
    assert.equal(embedded.status, 200);
    assert.match(await embedded.text(), /WHIP publisher/);
    const js = await (await fetch(`${own.http}/js/server.js`)).text();
    assert.ok(js.includes(`api_port: ${own.ports.api}`), js);
    assert.equal((await fetch(`${own.http}/players/nothing.html`)).status, 404);
  } finally {
    await own.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// Every peer of a call page decodes video (frames, a picture) and gets audio.
const callOk = (s, peers) => s.joined && peers.every((d) => {
  const p = s.peers?.[d];
  return p && (p.video?.frames ?? 0) >= VIDEO_FRAMES && p.video.width > 0 && (p.audio?.packets ?? 0) > 20;
});

test('embedded one2one.html: two pages call each other; the one left sees the other leave', { timeout: 120_000 }, async () => {
  const room = `call${Date.now()}`;
  const alice = await open(`/demos/one2one.html?autostart=true&room=${room}&display=alice`);
  const bob = await open(`/demos/one2one.html?autostart=true&room=${room}&display=bob`);
  try {
    await waitFor(alice, 'alice decodes bob', (s) => callOk(s, ['bob']));
    await waitFor(bob, 'bob decodes alice', (s) => callOk(s, ['alice']));
    await bob.ctx.close();
    await waitFor(alice, 'alice sees bob leave', (s) => s.joined && !s.peers?.bob);
  } finally {
    for (const p of [alice, bob]) await p.ctx.close().catch(() => {});
  }
});

test('embedded room.html: four pages see each other, a fifth joining late sees all four', { timeout: 180_000 }, async () => {
  const room = `room${Date.now()}`;
  const names = ['ann', 'ben', 'cat', 'dee'];
  const pages = [];
  try {
    for (const n of names) pages.push(await open(`/demos/room.html?autostart=true&room=${room}&display=${n}`));
    for (const [i, p] of pages.entries()) {
      await waitFor(p, `${names[i]} decodes the others`, (s) => callOk(s, names.filter((x) => x !== names[i])));
    }
    const late = await open(`/demos/room.html?autostart=true&room=${room}&display=dan`);
    pages.push(late);
    await waitFor(late, 'the late joiner decodes all four', (s) => callOk(s, names));
    await waitFor(pages[0], 'ann decodes the late joiner', (s) => callOk(s, ['dan']));
  } finally {
    for (const p of pages) await p.ctx.close().catch(() => {});
  }
});
