// Chromium over IPv6 only: a server listening on one IPv6 address alone
// (signaling, the pages, RTC UDP) with that address as its candidate; the
// embedded whip.html publishes and whep.html plays, both loaded from
// http://[addr]:<port>/. The player decodes video and receives audio, and the
// API lists the sessions with IPv6 client addresses.
//
// Chromium gathers no ICE candidate on ::1, so the address is a ULA
// (fd00::1) on a veth pair this test creates inside its network namespace
// (scripts/netns: nothing leaves it), unless $SHARDSFU_TEST_IPV6 names one.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, test } from 'node:test';

import { Server, build, launchChromium, openPage } from './sfu.mjs';

const MEDIA_MS = 30_000;
let server;
let browser;

// fd00::1 on a veth pair (v6a <-> v6b) in this namespace, once, and
// fd00::2 on the other end: Chromium gathers two host candidates, and the
// pair it nominates may be one whose datagrams reach another shard than the
// one its session sits on (its DTLS started there). Before `sfu::routes`,
// 2 runs in 5 lost all media that way (packets_unknown_source).
function ulaAddress() {
  if (process.env.SHARDSFU_TEST_IPV6) return;
  const sh = 'ip link show v6a >/dev/null 2>&1 || { ip link add v6a type veth peer name v6b && '
    + 'ip link set v6a up && ip link set v6b up && ip addr add fd00::1/64 dev v6a nodad && ip addr add fd00::2/64 dev v6b nodad; }';
  const r = spawnSync('sh', ['-c', sh], { stdio: 'inherit', timeout: 10_000 });
  assert.equal(r.status, 0, 'cannot make the veth pair (run inside scripts/netns)');
  process.env.SHARDSFU_TEST_IPV6 = 'fd00::1';
}

before(async () => {
  build();
  ulaAddress();
  server = await Server.start({ workers: 2, dir: null, ipv6: true });
  // Not localhost, so not a secure context without this (getUserMedia needs one).
  browser = await launchChromium([`--unsafely-treat-insecure-origin-as-secure=${server.http},${server.api}`]);
});

after(async () => {
  if (browser) await browser.close().catch(() => {});
  if (server) await server.stop();
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function open(pagePath) {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const logs = [];
  page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
  await openPage(page, `${server.http}${pagePath}`, server);
  return { ctx, page, logs, name: pagePath };
}

async function waitFor(p, what, ok) {
  const deadline = Date.now() + MEDIA_MS;
  let s;
  while (Date.now() < deadline) {
    s = await p.page.evaluate(() => window.snapshot()).catch((e) => ({ error: String(e) }));
    if (ok(s)) return s;
    await sleep(500);
  }
  const totals = await server.totals().catch((e) => String(e));
  assert.fail(`${p.name}: ${what} not within ${MEDIA_MS / 1000} s; last ${JSON.stringify(s)}\n` +
    `server totals: ${JSON.stringify(totals)}\n` +
    `console: ${p.logs.slice(-10).join(' | ')}\n${server.logTail(20)}`);
}

test('Chromium publishes and plays over IPv6 only', { timeout: 120_000 }, async () => {
  assert.match(server.http, /^http:\/\/\[[0-9a-f:]+\]:/);
  const stream = `v6${Date.now()}`;
  const pub = await open(`/players/whip.html?autostart=true&stream=${stream}`);
  const play = await open(`/players/whep.html?autostart=true&stream=${stream}`);
  try {
    await waitFor(pub, 'publishing', (s) => s.state === 'connected');
    await waitFor(play, '60 frames and audio', (s) => (s.video?.frames ?? 0) >= 60 && s.video.width > 0 && (s.audio?.packets ?? 0) > 50);
    const r = await fetch(`${server.api}/api/v1/clients`, { signal: AbortSignal.timeout(5000) });
    const ips = (await r.json()).clients.map((c) => c.ip);
    assert.ok(ips.length >= 2 && ips.every((ip) => ip.includes(':')), `client addresses: ${ips}`);
    // Whether this run needed a route depends on the kernel's hash of the
    // nominated pairs; say what happened.
    const t = await server.totals();
    console.log(`packets routed between shards: ${t.packets_routed}, unknown source: ${t.packets_unknown_source}`);
  } finally {
    for (const p of [pub, play]) await p.ctx.close().catch(() => {});
  }
});
