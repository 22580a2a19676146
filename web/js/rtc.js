// shardsfu's browser client: publish and play over WHIP/WHEP (RFC 9725) or
// SRS's legacy JSON API (/rtc/v1/publish/, /rtc/v1/play/), codec choice,
// and a stats summary. No framework; ES module; used by every page here.
import { server } from './server.js';

/** The page's query parameters. */
export const params = new URLSearchParams(location.search);

/** The host part of this page's URL, IPv6 in brackets. */
export const host = location.hostname;

/**
 * The API's origin: `?api=` (a port, host:port or a full origin), else this
 * host with the API port the server is configured with (HTTPS when the page
 * came over HTTPS and the API has HTTPS).
 */
export function apiOrigin() {
  const given = params.get('api');
  const tls = location.protocol === 'https:' && server.https_api_port;
  const scheme = tls ? 'https:' : 'http:';
  if (given) {
    if (/^https?:\/\//.test(given)) return given.replace(/\/$/, '');
    if (/^\d+$/.test(given)) return `${scheme}//${host}:${given}`;
    return `${scheme}//${given}`;
  }
  return `${scheme}//${host}:${tls ? server.https_api_port : server.api_port}`;
}

/** This server's stream URLs for `app`/`stream`, as the index page lists them. */
export function streamUrls(app, stream) {
  const hp = server.http_port === 80 ? '' : `:${server.http_port}`;
  const rp = server.rtmp_port === 1935 ? '' : `:${server.rtmp_port}`;
  const api = apiOrigin();
  return {
    whip: `${api}/rtc/v1/whip/?app=${app}&stream=${stream}`,
    whep: `${api}/rtc/v1/whep/?app=${app}&stream=${stream}`,
    webrtc: `webrtc://${host}/${app}/${stream}`,
    rtmp: `rtmp://${host}${rp}/${app}/${stream}`,
    flv: `http://${host}${hp}/${app}/${stream}.flv`,
    hls: `http://${host}${hp}/${app}/${stream}.m3u8`,
  };
}

/**
 * Offers only `mime` (e.g. `video/VP8`; the server takes H.264 or VP8 and
 * prefers H.264 when both are offered) and its repair formats.
 */
export function preferCodec(transceiver, mime) {
  if (!mime || !transceiver.setCodecPreferences) return;
  const kind = transceiver.receiver.track.kind;
  const caps = RTCRtpReceiver.getCapabilities(kind)?.codecs ?? [];
  const wanted = caps.filter((c) => c.mimeType.toLowerCase() === mime.toLowerCase());
  if (!wanted.length) throw new Error(`this browser has no ${mime}`);
  const repair = caps.filter((c) => /\/(rtx|red|ulpfec|flexfec-03)$/i.test(c.mimeType));
  transceiver.setCodecPreferences([...wanted, ...repair]);
}

async function post(url, body, type, accept) {
  const r = await fetch(url, {
    method: 'POST', body, headers: { 'Content-Type': type, Accept: accept },
    signal: AbortSignal.timeout(10_000),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${r.status} from ${url}: ${text.trim()}`);
  return { text, location: r.headers.get('Location') };
}

/**
 * One WebRTC session: `pc`, the received `stream` (players) and `close()`,
 * which also DELETEs the WHIP/WHEP resource.
 */
class Session {
  constructor(pc, stream, resource) {
    Object.assign(this, { pc, stream, resource });
  }

  async close() {
    this.pc.close();
    if (this.resource) {
      await fetch(this.resource, { method: 'DELETE' }).catch(() => {});
      this.resource = null;
    }
  }
}

// The offer for `media` (a MediaStream to send) or, without one, to receive audio and video.
async function offer(media, codec) {
  const pc = new RTCPeerConnection();
  const received = new MediaStream();
  pc.ontrack = (e) => received.addTrack(e.track);
  if (media) {
    for (const track of media.getTracks()) {
      const t = pc.addTransceiver(track, { direction: 'sendonly', streams: [media] });
      if (track.kind === 'video') preferCodec(t, codec);
    }
  } else {
    pc.addTransceiver('audio', { direction: 'recvonly' });
    preferCodec(pc.addTransceiver('video', { direction: 'recvonly' }), codec);
  }
  await pc.setLocalDescription(await pc.createOffer());
  return { pc, received };
}

function resolveAgainst(base, location) {
  return location ? new URL(location, base).href : null;
}

/** Publishes `media` over WHIP to `url` (the full WHIP endpoint with its query). */
export async function whipPublish(url, media, codec) {
  const { pc } = await offer(media, codec);
  const r = await post(url, pc.localDescription.sdp, 'application/sdp', 'application/sdp');
  await pc.setRemoteDescription({ type: 'answer', sdp: r.text });
  return new Session(pc, media, resolveAgainst(url, r.location));
}

/** Plays over WHEP from `url`. */
export async function whepPlay(url, codec) {
  const { pc, received } = await offer(null, codec);
  const r = await post(url, pc.localDescription.sdp, 'application/sdp', 'application/sdp');
  await pc.setRemoteDescription({ type: 'answer', sdp: r.text });
  return new Session(pc, received, resolveAgainst(url, r.location));
}

async function legacy(api, action, streamurl, media, codec) {
  const { pc, received } = await offer(media, codec);
  const body = JSON.stringify({
    api: `${api}/rtc/v1/${action}/`, streamurl, sdp: pc.localDescription.sdp,
    tid: Math.random().toString(16).slice(2, 9), clientip: null,
  });
  const r = await post(`${api}/rtc/v1/${action}/`, body, 'application/json', 'application/json');
  const json = JSON.parse(r.text);
  if (json.code !== 0) throw new Error(`code ${json.code} from /rtc/v1/${action}/: ${r.text}`);
  await pc.setRemoteDescription({ type: 'answer', sdp: json.sdp });
  return new Session(pc, media ?? received, null);
}

/** Publishes `media` to `webrtc://host/app/stream` through the legacy API at `api`. */
export const legacyPublish = (api, streamurl, media, codec) =>
  legacy(api, 'publish', streamurl, media, codec);

/** Plays `webrtc://host/app/stream` through the legacy API at `api`. */
export const legacyPlay = (api, streamurl, codec) => legacy(api, 'play', streamurl, null, codec);

/** Camera and microphone (fake ones in tests). */
export function camera() {
  return navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 360 } });
}

/**
 * The figures of `pc` the pages show (and tests read through
 * `window.snapshot()`): connection state, per-kind bytes, packets, frames,
 * size, codec.
 */
export async function summary(pc) {
  const out = { state: pc.connectionState, audio: {}, video: {} };
  if (pc.connectionState === 'closed') return out;
  const stats = await pc.getStats();
  const codecs = {};
  stats.forEach((s) => { if (s.type === 'codec') codecs[s.id] = s.mimeType; });
  stats.forEach((s) => {
    if (s.type !== 'inbound-rtp' && s.type !== 'outbound-rtp') return;
    const k = out[s.kind] ?? {};
    k.direction = s.type === 'inbound-rtp' ? 'in' : 'out';
    k.codec = codecs[s.codecId];
    k.bytes = (s.bytesReceived ?? s.bytesSent) || 0;
    k.packets = (s.packetsReceived ?? s.packetsSent) || 0;
    if (s.packetsLost !== undefined) k.lost = s.packetsLost;
    if (s.kind === 'video') {
      k.frames = (s.framesDecoded ?? s.framesEncoded) || 0;
      k.width = s.frameWidth || 0;
      k.height = s.frameHeight || 0;
    }
    out[s.kind] = k;
  });
  return out;
}

/** Shows `summary(pc)` in `el` every second, with bitrates, until the page closes. */
export function showStats(getPc, el) {
  let last = null;
  setInterval(async () => {
    const pc = getPc();
    if (!pc) { el.textContent = 'idle'; return; }
    const s = await summary(pc);
    const now = performance.now();
    const kbps = (k) => (last && s[k].bytes !== undefined
      ? Math.round(((s[k].bytes - (last.s[k].bytes ?? 0)) * 8) / (now - last.at)) : 0);
    const v = s.video;
    el.textContent = [
      `state ${s.state}`,
      `video ${v.codec ?? '-'} ${v.width ?? 0}x${v.height ?? 0} ${kbps('video')} kbit/s, ${v.frames ?? 0} frames, ${v.lost ?? 0} lost`,
      `audio ${s.audio.codec ?? '-'} ${kbps('audio')} kbit/s, ${s.audio.packets ?? 0} packets`,
    ].join(' · ');
    last = { s, at: now };
  }, 1000);
}

/** Writes `msg` to the page's #log element and the console. */
export function log(msg) {
  console.log(msg);
  const el = document.getElementById('log');
  if (el) el.textContent = `${new Date().toLocaleTimeString()} ${msg}\n${el.textContent}`.slice(0, 4000);
}

/**
 * Runs a publisher or player page: the form (#form) starts a session with
 * `open()` (a `Session`), #stop ends it (and stops its tracks), #stats shows
 * its figures, `window.snapshot()` gives them to tests, and
 * `?autostart=true` starts at load. `what` names the action in the log.
 */
export function sessionPage(open, what) {
  const $ = (id) => document.getElementById(id);
  let session = null;
  async function stop() {
    if (!session) return;
    const s = session;
    session = null;
    await s.close();
    s.stream?.getTracks().forEach((t) => t.stop());
    log('stopped');
  }
  async function start() {
    await stop();
    try {
      session = await open();
    } catch (e) {
      log(`${what} failed: ${e.message ?? e}`);
    }
  }
  $('form').onsubmit = (e) => { e.preventDefault(); start(); };
  $('stop').onclick = stop;
  showStats(() => session?.pc, $('stats'));
  window.snapshot = () => (session ? summary(session.pc) : { state: 'idle' });
  if (params.get('autostart') === 'true') start();
}
