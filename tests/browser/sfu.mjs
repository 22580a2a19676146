// Starting the real shardsfu binary for a browser test (as tests/common/mod.rs
// and tests/peers/sfu.py do): everything on 127.0.0.1 with free ports,
// `workers 2`, `candidate 127.0.0.1`, and this folder's www/ served by the
// server's http_server so that pages come from http://127.0.0.1:<http port>/.
import { spawn, spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(here, '..', '..');
export const WWW = path.join(here, 'www');

const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const CHROMIUM_FLAGS = [
  // Playwright adds --headless and a new empty --user-data-dir of its own.
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
  '--allow-loopback-in-peer-connection',
  '--autoplay-policy=no-user-gesture-required',
];

// Debian's Chromium ($CHROMIUM_BIN), headless, with a fake camera, no
// background traffic, and candidates on loopback (the namespace has only lo).
export function launchChromium(extraArgs = []) {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: [...CHROMIUM_FLAGS, ...extraArgs], timeout: 30_000 });
}

export function binary() {
  return process.env.SHARDSFU_BIN || path.join(ROOT, 'target', 'debug', 'shardsfu');
}

// Builds the debug binary (offline: the namespace has no network) unless SHARDSFU_BIN is set.
export function build() {
  if (process.env.SHARDSFU_BIN) return;
  const r = spawnSync('cargo', ['build', '--offline', '--quiet', '-p', 'shardsfu', '--bin', 'shardsfu'],
    { cwd: ROOT, stdio: 'inherit', timeout: 1_200_000 });
  if (r.status !== 0) throw new Error(`cargo build failed (${r.status ?? r.signal})`);
}

// The first port of the kernel's ephemeral range (32768 by default).
function ephemeralLow() {
  try {
    return Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').split(/\s+/)[0]) || 32768;
  } catch {
    return 32768;
  }
}

const given = new Set();

// Whether `port` is free for TCP and UDP on 127.0.0.1 right now.
async function tryPort(port) {
  const tcp = await new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
  if (!tcp) return false;
  return new Promise((resolve) => {
    const u = dgram.createSocket('udp4');
    u.once('error', () => { u.close(); resolve(false); });
    u.bind(port, '127.0.0.1', () => u.close(() => resolve(true)));
  });
}

// A port free for TCP and UDP on 127.0.0.1 (bounded tries), from below the
// kernel's ephemeral range: a port from that range could be handed to a
// client socket between this probe and the server's bind.
export async function freePort() {
  const low = 10000;
  const high = Math.max(ephemeralLow(), low + 1000);
  for (let i = 0; i < 200; i++) {
    const p = low + Math.floor(Math.random() * (high - low));
    if (given.has(p) || !(await tryPort(p))) continue;
    given.add(p);
    return p;
  }
  throw new Error(`no free port on 127.0.0.1 in ${low}..${high} after 200 tries`);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** How long a page may take to load. Loading a page is not what any test
 * here measures, and a CI run once took over 10 s for the first page of a
 * fresh browser (start and new page already ~2.8 s, ten times the usual). */
export const PAGE_LOAD_MS = 30_000;

/** Navigates `page` to `url`; a failure names the URL, the time spent and
 * the tail of `server`'s log (if given), so a slow machine can be told from
 * a server that did not answer. Returns goto()'s response. */
export async function openPage(page, url, server) {
  const t0 = Date.now();
  try {
    return await page.goto(url, { timeout: PAGE_LOAD_MS });
  } catch (e) {
    const log = server ? `\n${server.logTail()}` : '';
    throw new Error(`loading ${url} failed after ${Date.now() - t0} ms: ${e.message}${log}`);
  }
}

function canConnect(port, host = '127.0.0.1') {
  return new Promise((resolve) => {
    const c = net.connect({ host, port });
    c.setTimeout(200);
    c.once('connect', () => { c.destroy(); resolve(true); });
    c.once('error', () => resolve(false));
    c.once('timeout', () => { c.destroy(); resolve(false); });
  });
}

export class Server {
  // rtc: added to the default vhost's rtc { }; rtcServer: to rtc_server { },
  // where `{rtc}` stands for the RTC port and `{http}` for the HTTP server's
  // (e.g. for the TCP listener); vhost: more directives of the default
  // vhost; dir: http_server.dir, or null for none (the pages compiled into
  // the binary); apiOnHttp: the HTTP API listens on the HTTP server's port
  // too (one site, as in SRS); ipv6: everything on [::1] instead of 127.0.0.1;
  // host: another IPv4 loopback address for everything (e.g. 127.0.0.2, one
  // per cluster node); extra: more top-level directives (e.g. cluster { }).
  static async start({ workers = 2, rtc = '', rtcServer = '', vhost = '', dir = WWW, apiOnHttp = false, ipv6 = false, host = '127.0.0.1', extra = '' } = {}) {
    // Chromium gathers no candidate on ::1, so IPv6 tests use a ULA address
    // the test's namespace puts on a veth pair ($SHARDSFU_TEST_IPV6).
    const v6 = process.env.SHARDSFU_TEST_IPV6 || '::1';
    const ip = ipv6 ? `[${v6}]` : host;
    const s = new Server();
    s.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shardsfu-browser-'));
    s.ports = {};
    for (const k of ['rtmp', 'api', 'http', 'rtc']) s.ports[k] = await freePort();
    if (apiOnHttp) s.ports.api = s.ports.http;
    s.api = `http://${ip}:${s.ports.api}`;
    s.http = `http://${ip}:${s.ports.http}`;
    const conf = [
      `listen ${ipv6 ? '127.0.0.1' : host}:${s.ports.rtmp};`, 'max_connections 1000;', 'daemon off;',
      // stop() sends SIGTERM: drain for at most 1 s (SRS's default is 3.2 s).
      'grace_final_wait 1000;',
      'srs_log_tank console;', `workers ${workers};`,
      `http_server { enabled on; listen ${ip}:${s.ports.http}; ${dir === null ? '' : `dir ${dir};`} }`,
      `http_api { enabled on; listen ${ip}:${s.ports.api}; }`,
      `rtc_server { enabled on; listen ${ip}:${s.ports.rtc}; candidate ${ipv6 ? v6 : host}; ${rtcServer.replaceAll('{rtc}', s.ports.rtc).replaceAll('{http}', s.ports.http)} }`,
      `vhost __defaultVhost__ { rtc { enabled on; ${rtc} } ${vhost} }`, extra, '',
    ].join('\n');
    fs.writeFileSync(path.join(s.dir, 'test.conf'), conf);
    const env = Object.fromEntries(Object.entries(process.env)
      .filter(([k]) => !k.startsWith('SRS_') && k !== 'CANDIDATE'));
    env.RUST_LOG ??= 'info,rtc_dtls=error';
    env.NO_COLOR ??= '1';
    s.log = '';
    s.child = spawn(binary(), ['-c', path.join(s.dir, 'test.conf')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    s.exited = new Promise((resolve) => s.child.once('exit', (code, sig) => resolve(code ?? sig)));
    for (const p of [s.child.stdout, s.child.stderr]) p.on('data', (d) => { s.log += d.toString(); });
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (s.child.exitCode !== null) throw new Error(`shardsfu exited early (${s.child.exitCode}):\n${s.logTail()}`);
      // Listening is not enough: one shard's port may answer before the
      // other shards have bound theirs. Wait for `ready`.
      if (await s.ready()) return s;
      if (Date.now() > deadline) { await s.stop(); throw new Error(`shardsfu did not listen on ${s.api}:\n${s.logTail()}`); }
      await sleep(50);
    }
  }

  // Whether the API answers and every shard has bound its sockets.
  async ready() {
    try {
      const r = await fetch(`${this.api}/api/v1/summaries`, { signal: AbortSignal.timeout(2000) });
      return r.ok && ((await r.json()).data?.ready ?? true);
    } catch {
      return false;
    }
  }

  logTail(lines = 40) {
    const tail = this.log.replace(/\x1b\[[0-9;]*m/g, '').split('\n').filter(Boolean).slice(-lines);
    return `--- shardsfu log (last ${tail.length} lines) ---\n${tail.join('\n')}\n--- end of log ---`;
  }

  async totals() {
    const r = await fetch(`${this.api}/api/v1/summaries`, { signal: AbortSignal.timeout(5000) });
    return (await r.json()).data?.totals ?? {};
  }

  // SIGTERM, then SIGKILL after 5 s; resolves to the exit code or signal.
  async stop() {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGTERM');
      const killer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
      await this.exited;
      clearTimeout(killer);
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
    return this.child.exitCode ?? this.child.signalCode;
  }
}

// A real redis-server on a free loopback port, no persistence (for the
// cluster tests); stop() kills it.
export class Redis {
  static async start() {
    const r = new Redis();
    r.port = await freePort();
    r.child = spawn('redis-server', ['--port', `${r.port}`, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    r.exited = new Promise((resolve) => r.child.once('exit', resolve));
    const deadline = Date.now() + 5000;
    while (!(await canConnect(r.port))) {
      if (Date.now() > deadline) { await r.stop(); throw new Error(`redis-server did not listen on ${r.port}`); }
      await sleep(50);
    }
    return r;
  }

  async stop() {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
  }
}
