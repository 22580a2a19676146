// The room signaling client: a WebSocket to the server's /sig/v1/rtc,
// speaking ossrs/signaling's protocol — requests {tid, msg}, replies with the
// same tid, and notifications {msg: {action: 'notify', event, ...}}.

const REPLY_MS = 10_000;

/** A connection to the signaling endpoint of the server this page came from. */
export class Signaling {
  /** Opens `ws(s)://<this host>/sig/v1/rtc?room=&display=`. */
  static connect(room, display) {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const q = new URLSearchParams({ room, display });
    const ws = new WebSocket(`${scheme}://${location.host}/sig/v1/rtc?${q}`);
    const sig = new Signaling(ws);
    return new Promise((resolve, reject) => {
      ws.onopen = () => resolve(sig);
      ws.onerror = () => reject(new Error(`cannot open ${ws.url}`));
    });
  }

  constructor(ws) {
    this.ws = ws;
    this.pending = new Map();
    /** Called with each notification's msg. */
    this.onnotify = () => {};
    /** Called once when the socket closes, with its close event. */
    this.onclose = () => {};
    ws.onmessage = (e) => this.receive(e.data);
    ws.onclose = (e) => {
      for (const { reject } of this.pending.values()) reject(new Error(`signaling closed (${e.code} ${e.reason})`));
      this.pending.clear();
      this.onclose(e);
    };
  }

  receive(text) {
    let r;
    try { r = JSON.parse(text); } catch { return; }
    const waiting = r.tid && this.pending.get(r.tid);
    if (!waiting) { if (r.msg) this.onnotify(r.msg); return; }
    this.pending.delete(r.tid);
    clearTimeout(waiting.timer);
    const failed = r.msg?.error ?? (r.msg?.code ? `code ${r.msg.code}` : null);
    if (failed) waiting.reject(new Error(`${r.msg.action ?? 'request'} refused: ${failed}`));
    else waiting.resolve(r.msg);
  }

  /** Sends `msg` and resolves with the reply's msg (rejects on an error reply or after 10 s). */
  send(msg) {
    const tid = Math.random().toString(16).slice(2, 9);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(tid);
        reject(new Error(`no reply to ${msg.action} in ${REPLY_MS} ms`));
      }, REPLY_MS);
      this.pending.set(tid, { resolve, reject, timer });
      this.ws.send(JSON.stringify({ tid, msg }));
    });
  }

  close() { this.ws.close(); }
}
