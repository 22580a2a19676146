// One TCP port for everything, with UDP blocked: the HTTP server (the
// pages), the HTTP API (WHIP/WHEP) and WebRTC over TCP share one port
// (`http_api.listen` = `rtc_server.tcp.listen` = `http_server.listen`), the
// answer offers UDP and TCP candidates (`protocol all`), and UDP to the RTC
// port is blackholed inside the test's network namespace (a policy-routing
// rule: `ip rule ... ipproto udp dport PORT blackhole`; iptables/nft are not
// installed and tc actions cannot load here). Headless Chromium publishes
// from a page served by that port and another page plays; both must select
// a TCP pair to that same port, and the player's framesDecoded must grow.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, test } from 'node:test';

import { Server, build, launchChromium, openPage } from './sfu.mjs';

const CONNECT_MS = 25_000;
const SAMPLE_GAP_MS = 4_000;

let server;
let browser;
let rulePriority;

function ip(args) {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}`.trim() };
}

// Blackholes UDP to `port` (loopback included): the rule must come before
// the `local` table's, which moves from priority 0 to 100 (added there
// first, so local delivery never lacks a rule).
function blockUdp(port) {
  if (ip(['rule', 'show', 'priority', '0']).out.includes('lookup local')) {
    const add = ip(['rule', 'add', 'priority', '100', 'lookup', 'local']);
    assert.ok(add.ok, `ip rule add priority 100 lookup local: ${add.out} (run inside scripts/netns as root)`);
    ip(['rule', 'del', 'priority', '0']);
  }
  rulePriority = 10 + (port % 80);
  const r = ip(['rule', 'add', 'priority', String(rulePriority), 'ipproto', 'udp', 'dport', String(port), 'blackhole']);
  assert.ok(r.ok, `cannot block UDP to ${port}: ${r.out} (run inside scripts/netns as root)`);
}

before(async () => {
  build();
  server = await Server.start({
    workers: 2,
    apiOnHttp: true,
    rtcServer: 'tcp { enabled on; listen 127.0.0.1:{http}; } protocol all;',
  });
  blockUdp(server.ports.rtc);
  browser = await launchChromium();
});

after(async () => {
  if (rulePriority) ip(['rule', 'del', 'priority', String(rulePriority)]);
  if (browser) await browser.close().catch(() => {});
  if (server) {
    const code = await server.stop();
    if (code !== 0 && code !== 'SIGTERM') console.error(`shardsfu exit ${code}\n${server.logTail()}`);
  }
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function snapshot(page) {
  try {
    return await page.evaluate(() => window.snapshot());
  } catch (e) {
    return { error: `snapshot failed: ${e}` };
  }
}

async function describe(pages, headline) {
  const parts = [headline];
  for (const [name, p] of Object.entries(pages)) parts.push(`${name}: ${JSON.stringify(await snapshot(p))}`);
  try { parts.push(`server totals: ${JSON.stringify(await server.totals())}`); } catch (e) { parts.push(`totals: ${e}`); }
  parts.push(server.logTail());
  return parts.join('\n');
}

async function open(kind, stream) {
  const page = await (await browser.newContext()).newPage();
  // Same origin: the page, its API calls and the media all go to one port.
  await openPage(page, `${server.http}/${kind}.html?api=${encodeURIComponent(server.http)}&app=live&stream=${stream}`, server);
  return page;
}

async function waitConnected(pages) {
  const deadline = Date.now() + CONNECT_MS;
  while (Date.now() < deadline) {
    const snaps = await Promise.all(Object.values(pages).map(snapshot));
    if (snaps.every((s) => s.connectionState === 'connected')) return;
    if (snaps.some((s) => s.error || s.connectionState === 'failed')) break;
    await sleep(250);
  }
  assert.fail(await describe(pages, `not connected within ${CONNECT_MS / 1000} s with UDP blocked`));
}

const decoded = (s) => s.stats?.['inbound-rtp/video']?.framesDecoded ?? 0;

test('UDP blocked: Chromium publishes and plays over WebRTC over TCP on the port that serves the page and the API', { timeout: 120_000 }, async () => {
  const stream = `oneport${Date.now()}`;
  const pages = { publisher: await open('whip', stream) };
  await waitConnected(pages);
  pages.player = await open('whep', stream);
  await waitConnected(pages);

  const deadline = Date.now() + 8_000;
  let first = await snapshot(pages.player);
  while (Date.now() < deadline && !(decoded(first) > 0)) {
    await sleep(250);
    first = await snapshot(pages.player);
  }
  await sleep(SAMPLE_GAP_MS);
  const second = await snapshot(pages.player);
  if (!(decoded(first) > 0 && decoded(second) > decoded(first))) {
    assert.fail(await describe(pages, `framesDecoded ${decoded(first)} -> ${decoded(second)}`));
  }
  const snaps = await Promise.all(Object.values(pages).map(snapshot));
  const remotes = snaps.map((s) => s.stats?.transport?.selectedPair?.remote);
  assert.ok(remotes.every((r) => r && r.protocol === 'tcp' && r.port === server.ports.http),
    `selected pairs should be TCP to the page's port ${server.ports.http}: ${JSON.stringify(remotes)}`);
  const t = await server.totals();
  assert.ok(t.tcp_connections >= 2 && t.tcp_frames_in > 0 && t.udp_packets_in === 0,
    `server totals: ${JSON.stringify(t)}\n${server.logTail()}`);
  console.log(`framesDecoded ${decoded(first)} -> ${decoded(second)}; pairs ${JSON.stringify(remotes)}; ` +
    `tcp_connections ${t.tcp_connections}, frames in ${t.tcp_frames_in}, out ${t.tcp_frames_out}, udp in ${t.udp_packets_in}`);
  for (const p of [pages.player, pages.publisher]) assert.equal(await p.evaluate(() => window.hangUp()), 200);
});
