// Following a layer's change feed (GET /collections/{id}/changes, docs/changes.md) in the
// browser. EventSource cannot send the X-OGM-CSRF header the API asks of the session cookie,
// so the stream is read with fetch() and parsed here; a broken stream is opened again with
// Last-Event-ID after a growing pause. Layers beyond the first few streams of a page read the
// JSON pages of the same feed instead (browsers allow six connections per server over
// HTTP/1.1, and a stream holds one for as long as the page is open).

const MAX_PAUSE_MS = 30000;
const POLL_MS = 15000;

// Server-Sent Events from a body reader: calls onEvent({id, data}) per event with data and
// onId(id) for an id without data (the stream's position). Returns when the body ends.
export async function readEvents(body, onEvent, onId, onRetry) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let id = null;
  let data = [];
  const line = (text) => {
    if (text === '') {
      if (data.length) onEvent({ id, data: data.join('\n') });
      else if (id !== null) onId(id);
      id = null;
      data = [];
      return;
    }
    if (text.startsWith(':')) return; // a comment: keep-alive
    const colon = text.indexOf(':');
    const field = colon < 0 ? text : text.slice(0, colon);
    let value = colon < 0 ? '' : text.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') data.push(value);
    else if (field === 'id' && !value.includes('\0')) id = value;
    else if (field === 'retry' && /^\d+$/.test(value)) onRetry(Number(value));
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    const lines = buffer.split(/\r\n|\r|\n/);
    buffer = lines.pop();
    lines.forEach(line);
  }
}

// One layer's feed. `apply(cloudEvent)` gets each change in order; `state(name)` hears
// 'connecting', 'live', 'polling', 'reconnecting' and 'off' (the feed refused: no access any
// more, signed out, or a sender without a feed).
export class LayerFeed {
  constructor(url, headers, apply, state, { stream = true } = {}) {
    this.url = url;
    this.headers = headers;
    this.apply = apply;
    this.state = state;
    this.stream = stream;
    this.last = null;
    this.retry = 2000;
    this.failures = 0;
    this.stopped = false;
    this.controller = null;
    this.opened = 0; // streams opened: one while nothing breaks
  }

  start() {
    this.state('connecting');
    if (this.stream) this.follow();
    else this.poll();
  }

  stop() {
    this.stopped = true;
    if (this.controller) this.controller.abort();
    clearTimeout(this.timer);
  }

  pause() {
    const ms = Math.min(MAX_PAUSE_MS, this.retry * 2 ** Math.min(this.failures, 6));
    this.failures += 1;
    return new Promise((resolve) => { this.timer = setTimeout(resolve, ms * (0.75 + Math.random() / 2)); });
  }

  refused(status) {
    return status === 401 || status === 403 || status === 404 || status === 400;
  }

  async follow() {
    while (!this.stopped) {
      this.controller = new AbortController();
      const headers = this.headers({ Accept: 'text/event-stream' });
      if (this.last !== null) headers['Last-Event-ID'] = this.last;
      try {
        const response = await fetch(this.url, { headers, credentials: 'same-origin', cache: 'no-store', signal: this.controller.signal });
        if (this.refused(response.status)) { this.state('off'); return; }
        if (!response.ok || !response.body) throw new Error(String(response.status));
        this.opened += 1;
        await readEvents(
          response.body,
          (event) => { this.last = event.id ?? this.last; this.failures = 0; this.deliver(event.data); },
          (id) => { this.last = id; this.failures = 0; this.state('live'); },
          (ms) => { this.retry = ms; },
        );
      } catch (error) {
        if (this.stopped) return;
      }
      if (this.stopped) return;
      this.state('reconnecting');
      await this.pause();
    }
  }

  deliver(text) {
    let event;
    try {
      event = JSON.parse(text);
    } catch (error) {
      return; // not a CloudEvent: ignored
    }
    this.deliverObject(event);
  }

  deliverObject(event) {
    try {
      this.apply(event);
    } catch (error) {
      console.error('a change could not be applied', error);
    }
  }

  // The JSON pages: the first asks for the current position (the last page), then every
  // POLL_MS the changes after it, following `next` links.
  async poll() {
    while (!this.stopped) {
      try {
        let url = this.last === null ? `${this.url}?since=0&limit=1` : `${this.url}?since=${this.last}&limit=1000`;
        for (;;) {
          const response = await fetch(url, { headers: this.headers({ Accept: 'application/json' }), credentials: 'same-origin', cache: 'no-store' });
          if (this.refused(response.status)) { this.state('off'); return; }
          if (!response.ok) throw new Error(String(response.status));
          const page = await response.json();
          if (this.last === null) {
            this.last = String(page.currentChange);
            break;
          }
          page.events.forEach((event) => this.deliverObject(event));
          if (page.lastChange !== undefined && page.lastChange !== null) this.last = String(page.lastChange);
          const next = (page.links || []).find((link) => link.rel === 'next');
          if (!next) break;
          url = `${this.url}?since=${this.last}&limit=1000`;
        }
        this.failures = 0;
        this.state('polling');
        await new Promise((resolve) => { this.timer = setTimeout(resolve, POLL_MS); });
      } catch (error) {
        this.state('reconnecting');
        await this.pause();
      }
    }
  }
}
