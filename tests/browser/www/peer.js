// Shared by whip.html and whep.html: one RTCPeerConnection, WHIP/WHEP
// signaling against the API port, and a snapshot of its state and getStats()
// for the playwright test (window.snapshot()).
'use strict';

const params = new URLSearchParams(location.search);
const api = params.get('api');                       // http://127.0.0.1:<api port>
const app = params.get('app') || 'live';
const stream = params.get('stream');
const events = [];                                   // state changes with times
const t0 = performance.now();
let pc = null;
let sessionUrl = null;
let failure = null;

function note(what) {
  events.push(`${((performance.now() - t0) / 1000).toFixed(2)}s ${what}`);
}

function newPeerConnection() {
  // No ICE servers: only loopback exists; the server is ICE-lite.
  pc = new RTCPeerConnection({ iceServers: [] });
  pc.onconnectionstatechange = () => note(`pc:${pc.connectionState}`);
  pc.oniceconnectionstatechange = () => note(`ice:${pc.iceConnectionState}`);
  pc.onicegatheringstatechange = () => note(`gathering:${pc.iceGatheringState}`);
  return pc;
}

async function gathered(limitMs) {
  if (pc.iceGatheringState === 'complete') return;
  await new Promise((resolve) => {
    const timer = setTimeout(resolve, limitMs);
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') { clearTimeout(timer); resolve(); }
    });
  });
}

// kind: 'whip' or 'whep'. Offers, waits for candidates (bounded), POSTs, applies the answer.
async function signal(kind) {
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(5000);
  const url = `${api}/rtc/v1/${kind}/?app=${encodeURIComponent(app)}&stream=${encodeURIComponent(stream)}`;
  const r = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/sdp' },
    body: pc.localDescription.sdp,
  });
  const body = await r.text();
  note(`POST ${kind} -> ${r.status}`);
  if (r.status !== 201) throw new Error(`POST ${url} -> ${r.status}: ${body}`);
  const loc = r.headers.get('Location');
  sessionUrl = loc && (loc.startsWith('http') ? loc : api + loc);
  await pc.setRemoteDescription({ type: 'answer', sdp: body });
}

async function start(kind, setup) {
  try {
    newPeerConnection();
    await setup(pc);
    await signal(kind);
  } catch (e) {
    failure = String(e && e.stack || e);
    note(`error: ${e}`);
  }
}

// What the test reads: states, events, and the counters of getStats().
window.snapshot = async () => {
  const out = {
    error: failure,
    events,
    connectionState: pc && pc.connectionState,
    iceConnectionState: pc && pc.iceConnectionState,
    signalingState: pc && pc.signalingState,
    sessionUrl,
    stats: {},
  };
  if (!pc) return out;
  const report = await pc.getStats();
  const pairs = {};
  report.forEach((s) => {
    if (s.type === 'candidate-pair') pairs[s.id] = s;
  });
  report.forEach((s) => {
    if (s.type === 'outbound-rtp' || s.type === 'inbound-rtp') {
      out.stats[`${s.type}/${s.kind}`] = {
        packetsSent: s.packetsSent, framesEncoded: s.framesEncoded, framesSent: s.framesSent,
        packetsReceived: s.packetsReceived, framesDecoded: s.framesDecoded, framesReceived: s.framesReceived,
        packetsLost: s.packetsLost, nackCount: s.nackCount, pliCount: s.pliCount,
        codec: s.codecId && report.get(s.codecId) && report.get(s.codecId).mimeType,
      };
    } else if (s.type === 'transport') {
      const pair = pairs[s.selectedCandidatePairId];
      const remote = pair && report.get(pair.remoteCandidateId);
      out.stats.transport = {
        dtlsState: s.dtlsState, iceState: s.iceState, dtlsRole: s.dtlsRole,
        selectedPair: pair && { state: pair.state, nominated: pair.nominated,
          requestsSent: pair.requestsSent, responsesReceived: pair.responsesReceived,
          availableOutgoingBitrate: pair.availableOutgoingBitrate,
          remote: remote && { protocol: remote.protocol, port: remote.port, tcpType: remote.tcpType } },
      };
    }
  });
  return out;
};

window.hangUp = async () => {
  let status = null;
  if (sessionUrl) {
    try { status = (await fetch(sessionUrl, { method: 'DELETE' })).status; } catch (e) { status = String(e); }
  }
  if (pc) pc.close();
  return status;
};
