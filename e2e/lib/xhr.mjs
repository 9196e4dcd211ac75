// A minimal XMLHttpRequest for Node, built on the global fetch.
//
// dicomweb-client is a browser library: every call does `new XMLHttpRequest()`.
// Node has fetch but no XMLHttpRequest. The npm polyfills (xhr2,
// xmlhttprequest) are unmaintained and re-implement HTTP themselves; this one
// maps the small part of XHR that dicomweb-client uses onto fetch and records
// every exchange, so the report can show which URLs were called with which
// Accept header and what came back.

const READY = { UNSENT: 0, OPENED: 1, HEADERS_RECEIVED: 2, LOADING: 3, DONE: 4 };

/**
 * Returns an XMLHttpRequest class whose exchanges are appended to `log`
 * as { method, url, accept, status, contentType, bytes, ms, error? }.
 */
export function makeXMLHttpRequest(log = []) {
  return class FetchXMLHttpRequest {
    static UNSENT = 0;
    static OPENED = 1;
    static HEADERS_RECEIVED = 2;
    static LOADING = 3;
    static DONE = 4;

    constructor() {
      this.readyState = READY.UNSENT;
      this.status = 0;
      this.statusText = '';
      this.response = null;
      this.responseType = '';
      this.withCredentials = false;
      this.timeout = 0;
      this._headers = new Headers();
      this._responseHeaders = new Headers();
      this._abort = new AbortController();
      this._listeners = {};
    }

    open(method, url, async = true) {
      if (async === false) throw new Error('FetchXMLHttpRequest: synchronous requests are not supported');
      this._method = String(method).toUpperCase();
      this._url = String(url);
      this.readyState = READY.OPENED;
    }

    setRequestHeader(name, value) {
      this._headers.append(name, value);
    }

    getResponseHeader(name) {
      return this._responseHeaders.get(name);
    }

    getAllResponseHeaders() {
      let out = '';
      for (const [k, v] of this._responseHeaders) out += `${k}: ${v}\r\n`;
      return out;
    }

    addEventListener(type, fn) {
      (this._listeners[type] ??= []).push(fn);
    }

    removeEventListener(type, fn) {
      this._listeners[type] = (this._listeners[type] ?? []).filter((f) => f !== fn);
    }

    abort() {
      this._abort.abort();
    }

    get responseText() {
      if (this.responseType !== '' && this.responseType !== 'text') {
        throw new Error(`responseText is not available for responseType ${this.responseType}`);
      }
      return this.response ?? '';
    }

    _emit(type, event = {}) {
      const ev = { type, target: this, ...event };
      this[`on${type}`]?.(ev);
      for (const fn of this._listeners[type] ?? []) fn(ev);
    }

    _setState(state) {
      this.readyState = state;
      this._emit('readystatechange');
    }

    send(body = null) {
      const entry = { method: this._method, url: this._url, accept: this._headers.get('accept') };
      const started = Date.now();
      log.push(entry);
      this._emit('loadstart');
      const signal = this.timeout > 0
        ? AbortSignal.any([this._abort.signal, AbortSignal.timeout(this.timeout)])
        : this._abort.signal;
      (async () => {
        let res;
        try {
          res = await fetch(this._url, { method: this._method, headers: this._headers, body, signal });
          this.status = res.status;
          this.statusText = res.statusText;
          this._responseHeaders = res.headers;
          this._setState(READY.HEADERS_RECEIVED);
          const buf = await res.arrayBuffer();
          entry.status = res.status;
          entry.contentType = res.headers.get('content-type');
          entry.bytes = buf.byteLength;
          this._emit('progress', { lengthComputable: true, loaded: buf.byteLength, total: buf.byteLength });
          this.response = decodeBody(buf, this.responseType, entry);
        } catch (err) {
          entry.error = String(err?.cause?.message ?? err?.message ?? err);
          entry.ms = Date.now() - started;
          this.status = 0;
          this.response = null;
          this._setState(READY.DONE);
          this._emit(err?.name === 'TimeoutError' ? 'timeout' : err?.name === 'AbortError' ? 'abort' : 'error');
          this._emit('loadend');
          return;
        }
        entry.ms = Date.now() - started;
        this._setState(READY.DONE);
        this._emit('load');
        this._emit('loadend');
      })();
    }
  };
}

function decodeBody(buf, responseType, entry) {
  switch (responseType) {
    case 'arraybuffer':
      return buf;
    case 'json': {
      // Like a browser: an unparsable JSON body becomes null.
      const text = new TextDecoder().decode(buf);
      if (text.trim() === '') return null;
      try {
        return JSON.parse(text);
      } catch (err) {
        entry.error = `response is not JSON: ${err.message}`;
        return null;
      }
    }
    case 'blob':
      return new Blob([buf]);
    case '':
    case 'text':
      return new TextDecoder().decode(buf);
    default:
      throw new Error(`FetchXMLHttpRequest: responseType ${responseType} is not supported`);
  }
}

/** Installs the class as globalThis.XMLHttpRequest and returns the log it fills. */
export function installXMLHttpRequest() {
  const log = [];
  globalThis.XMLHttpRequest = makeXMLHttpRequest(log);
  return log;
}
