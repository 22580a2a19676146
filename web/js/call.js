// A call in a room, shared by one2one.html and room.html: join the room's
// signaling, publish camera+microphone over WHIP as app=<room>,
// stream=<display>, and play every other publishing member over WHEP.
import { params, streamUrls, whipPublish, whepPlay, camera, summary, log } from './rtc.js';
import { Signaling } from './signal.js';

const randomName = () => Math.random().toString(16).slice(2, 8);

/**
 * Starts the page's call with at most `max` members (counting this one);
 * `tiles` is the element players are added to. Fills #room and #display
 * from the query (`room`, `display`) and starts when asked or on
 * `?autostart=true`.
 */
export function setUp({ max, tiles }) {
  const $ = (id) => document.getElementById(id);
  $('room').value = params.get('room') || 'live';
  $('display').value = params.get('display') || randomName();
  const call = { sig: null, self: null, peers: new Map() };

  function removePeer(display) {
    const p = call.peers.get(display);
    if (!p) return;
    call.peers.delete(display);
    p.tile.remove();
    p.session?.close();
    log(`${display} left`);
  }

  async function play(room, display) {
    if (call.peers.has(display)) return;
    const tile = document.createElement('div');
    tile.className = 'tile';
    tile.dataset.display = display;
    tile.innerHTML = '<video autoplay playsinline muted controls></video><span></span>';
    tile.querySelector('span').textContent = display;
    tiles.append(tile);
    const peer = { tile, session: null };
    call.peers.set(display, peer);
    try {
      peer.session = await whepPlay(streamUrls(room, display).whep);
      tile.querySelector('video').srcObject = peer.session.stream;
      log(`playing ${display}`);
    } catch (e) {
      log(`cannot play ${display}: ${e.message}`);
    }
  }

  async function leave() {
    for (const d of [...call.peers.keys()]) removePeer(d);
    call.sig?.close();
    call.sig = null;
    if (call.self) {
      call.self.stream.getTracks().forEach((t) => t.stop());
      await call.self.close();
      call.self = null;
    }
  }

  async function start() {
    await leave();
    const room = $('room').value.trim();
    const display = $('display').value.trim();
    try {
      const sig = await Signaling.connect(room, display);
      call.sig = sig;
      sig.onnotify = (msg) => {
        if (msg.event === 'leave' && msg.peer) removePeer(msg.peer.display);
        if (msg.event === 'publish' && msg.peer?.publishing && msg.peer.display !== display) play(room, msg.peer.display);
        $('members').textContent = (msg.participants ?? []).map((p) => p.display).join(', ');
      };
      sig.onclose = () => log('signaling closed');
      const joined = await sig.send({ action: 'join', room, display });
      if (joined.participants.length > max) {
        log(`room ${room} is full: ${joined.participants.length - 1} already in it`);
        await leave();
        return;
      }
      const media = await camera();
      $('self').srcObject = media;
      call.self = await whipPublish(streamUrls(room, display).whip, media);
      await sig.send({ action: 'publish', room, display });
      log(`joined ${room} as ${display}`);
      $('members').textContent = joined.participants.map((p) => p.display).join(', ');
      for (const p of joined.participants) {
        if (p.display !== display && p.publishing) play(room, p.display);
      }
    } catch (e) {
      log(`call failed: ${e.message ?? e}`);
    }
  }

  $('form').onsubmit = (e) => { e.preventDefault(); start(); };
  $('leave').onclick = leave;
  window.addEventListener('pagehide', () => { leave(); });
  // What tests read: this member's publish and each peer's received figures.
  window.snapshot = async () => {
    const peers = {};
    for (const [d, p] of call.peers) peers[d] = p.session ? await summary(p.session.pc) : { state: 'new' };
    return { joined: !!call.sig, self: call.self ? await summary(call.self.pc) : null, peers };
  };
  if (params.get('autostart') === 'true') start();
  return call;
}
