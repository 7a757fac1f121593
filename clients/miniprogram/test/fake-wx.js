// A fake `wx` for one simulated device (one user of one mini-program), backed by the real
// WeChat simulator (`wxlogin simulate`) and real HTTP:
//
// - `wx.login`        → the simulator's `POST /sim/login` (a fresh code; may rotate the key)
// - `wx.checkSession` → `POST /sim/check-session` (success while the device's key is live)
// - `wx.getUserInfo`  → `POST /sim/user-info` (encryptedData sealed with the current key)
// - `wx.request`      → node's http module; `success` fires for any HTTP status and `fail` only
//                       on a transport error, as in WeChat; `dataType: "json"` (the default)
//                       parses the body when it is JSON, else leaves the text
// - storage           → an in-memory map of JSON strings (pass the same map to a new fake to
//                       "relaunch" the app); `failStorage` makes setStorageSync throw, and
//                       `failStorageRead` getStorageSync
// - `getAccountInfoSync` → `{miniProgram: {appId}}`; `showLoading` / `hideLoading` are logged
//
// Callbacks fire asynchronously, as WeChat's do. Every call is counted (`calls`) and logged in
// order (`events`), with each request's method, path, status, Authorization header and body.
'use strict';

const http = require('node:http');

/** One HTTP exchange with JSON in and out, for the fake and for the tests. */
function httpJson(method, url, { body, headers = {}, form } = {}) {
  const target = new URL(url);
  if (target.hostname !== '127.0.0.1') throw new Error(`the tests talk to loopback only, not ${url}`);
  let payload;
  headers = { ...headers };
  if (form !== undefined) {
    payload = new URLSearchParams(form).toString();
    headers['content-type'] = 'application/x-www-form-urlencoded';
  } else if (body !== undefined) {
    payload = typeof body === 'string' ? body : JSON.stringify(body);
    if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
      headers['content-type'] = 'application/json';
    }
  }
  return new Promise((resolve, reject) => {
    const request = http.request(target, { method, headers, agent: false }, (response) => {
      const chunks = [];
      response.on('data', (chunk) => chunks.push(chunk));
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json = null;
        try {
          json = text ? JSON.parse(text) : null;
        } catch (_) {}
        // Header names as the server spelled them, like WeChat's `res.header`.
        const rawHeaders = {};
        for (let i = 0; i < response.rawHeaders.length; i += 2) {
          rawHeaders[response.rawHeaders[i]] = response.rawHeaders[i + 1];
        }
        resolve({ status: response.statusCode, headers: response.headers, rawHeaders, text, body: json });
      });
      response.on('error', reject);
    });
    request.on('error', reject);
    if (payload !== undefined) request.write(payload);
    request.end();
  });
}

function queryString(data) {
  return Object.entries(data)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(typeof v === 'object' ? JSON.stringify(v) : v)}`)
    .join('&');
}

/**
 * @param {object} o
 * @param {string} o.sim     the simulator's base URL
 * @param {string} o.appid   the mini-program
 * @param {string} o.user    the simulated person (a handle)
 * @param {Map}   [o.storage] storage to start from (a relaunch keeps it)
 */
function createFakeWx({ sim, appid, user, storage = new Map() }) {
  const calls = { login: 0, checkSession: 0, getUserInfo: 0, request: 0 };
  const events = [];
  const requests = [];
  const later = (fn) => setTimeout(fn, 0);
  const callback = (o, name, value) => {
    if (o[name]) o[name](value);
    if (o.complete) o.complete(value);
  };
  const device = (path) => httpJson('POST', `${sim}${path}`, { body: { appid, user } });

  const fake = {
    calls,
    events,
    requests,
    storage,
    failStorage: false,
    failStorageRead: false,
    /** The openid of the last `wx.login`. */
    openid: undefined,

    login(o = {}) {
      calls.login++;
      events.push('login');
      device('/sim/login').then(
        (r) => {
          if (r.status !== 200) return callback(o, 'fail', { errMsg: `login:fail ${r.text}` });
          fake.openid = r.body.openid;
          callback(o, 'success', { code: r.body.code, errMsg: 'login:ok' });
        },
        (e) => callback(o, 'fail', { errMsg: `login:fail ${e.message}` }),
      );
    },

    checkSession(o = {}) {
      calls.checkSession++;
      events.push('checkSession');
      device('/sim/check-session').then(
        (r) =>
          r.status === 200 && r.body.valid
            ? callback(o, 'success', { errMsg: 'checkSession:ok' })
            : callback(o, 'fail', { errMsg: 'checkSession:fail session time out, need relogin' }),
        (e) => callback(o, 'fail', { errMsg: `checkSession:fail ${e.message}` }),
      );
    },

    getUserInfo(o = {}) {
      calls.getUserInfo++;
      events.push('getUserInfo');
      device('/sim/user-info').then(
        (r) => {
          if (r.status !== 200) return callback(o, 'fail', { errMsg: `getUserInfo:fail ${r.text}` });
          const { encryptedData, iv, rawData, signature } = r.body;
          callback(o, 'success', { userInfo: JSON.parse(rawData), rawData, signature, encryptedData, iv, errMsg: 'getUserInfo:ok' });
        },
        (e) => callback(o, 'fail', { errMsg: `getUserInfo:fail ${e.message}` }),
      );
    },

    request(o) {
      calls.request++;
      const method = (o.method || 'GET').toUpperCase();
      let url = o.url;
      let body;
      const headers = { ...(o.header || {}) };
      if (o.data !== undefined && o.data !== null) {
        if (method === 'GET' && typeof o.data === 'object') {
          url += (url.includes('?') ? '&' : '?') + queryString(o.data);
        } else {
          body = o.data;
        }
      }
      const path = new URL(url).pathname;
      const auth = Object.entries(headers).find(([k]) => k.toLowerCase() === 'authorization');
      // The body as it went over the wire (JSON drops undefined fields).
      const sent = body === undefined || typeof body === 'string' ? body : JSON.parse(JSON.stringify(body));
      const record = { method, path, status: undefined, authorization: auth ? auth[1] : undefined, body: sent };
      requests.push(record);
      httpJson(method, url, { body, headers }).then(
        (r) => {
          record.status = r.status;
          events.push(`${method} ${path} ${r.status}`);
          const json = (o.dataType || 'json') === 'json';
          let data = r.text;
          if (json) {
            try {
              data = JSON.parse(r.text);
            } catch (_) {}
          }
          later(() =>
            callback(o, 'success', { data, statusCode: r.status, header: r.rawHeaders, cookies: [], errMsg: 'request:ok' }),
          );
        },
        (e) => {
          record.status = 'fail';
          events.push(`${method} ${path} fail`);
          later(() => callback(o, 'fail', { errMsg: `request:fail ${e.message}` }));
        },
      );
      return { abort() {} };
    },

    getStorageSync(key) {
      if (fake.failStorageRead) throw new Error('getStorageSync:fail storage is broken');
      // WeChat answers "" for a missing key.
      return storage.has(key) ? JSON.parse(storage.get(key)) : '';
    },
    setStorageSync(key, value) {
      if (fake.failStorage) throw new Error('setStorageSync:fail exceed storage max size 10MB');
      storage.set(key, JSON.stringify(value));
    },
    removeStorageSync(key) {
      if (fake.failStorage) throw new Error('removeStorageSync:fail storage is broken');
      storage.delete(key);
    },

    showLoading() {
      events.push('showLoading');
    },
    hideLoading() {
      events.push('hideLoading');
    },

    getAccountInfoSync() {
      return { miniProgram: { appId: appid, envVersion: 'develop', version: '' } };
    },

    /** Requests to `path` (optionally only those that ended with `status`). */
    requestsTo(path, status) {
      return requests.filter((r) => r.path === path && (status === undefined || r.status === status));
    },
  };
  return fake;
}

/** `wx.getUserInfo` as a promise: a fetcher for `client.decrypt`. */
function getUserInfo(fake) {
  return () => new Promise((resolve, reject) => fake.getUserInfo({ success: resolve, fail: reject }));
}

module.exports = { createFakeWx, getUserInfo, httpJson };
