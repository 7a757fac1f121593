// The SDK against the real `wxlogin serve --test-clock` and `wxlogin simulate` (see harness.js),
// with a fake `wx` per simulated device (fake-wx.js). The simulator rotates the session_key on
// every `wx.login`, so any login between fetching encrypted data and sending it shows.
'use strict';

const assert = require('node:assert/strict');
const { after, before, test } = require('node:test');
const { createFakeWx, getUserInfo, httpJson } = require('./fake-wx');
const { APP_A, APP_B, cleanup, loadSdk, startBackend, startServer, startSimulator } = require('./harness');

let sim;
let server;
let backend;
const { sdk } = loadSdk();

let users = 0;
const gate = { old: undefined, refused: 0, open: undefined, opened: undefined };
const nextUser = () => `sdk-user-${++users}`;

before(async () => {
  sim = await startSimulator();
  server = await startServer(sim);
  // The app's own backend: its own 401s, one that always refuses like wxlogin, and the
  // trusted path (it asks wxlogin itself, with the user's token).
  const relay = async (route, req) => {
    const r = await httpJson('POST', `${server.base}${route}`, {
      body: req.body,
      headers: { authorization: req.headers.authorization },
    });
    const headers = r.headers['www-authenticate'] ? { 'www-authenticate': r.headers['www-authenticate'] } : {};
    return { status: r.status, headers, body: r.body };
  };
  backend = await startBackend(async (req) => {
    switch (req.path) {
      case '/business-401':
        return {
          status: 401,
          headers: { 'www-authenticate': 'Bearer realm="billing", error="insufficient_scope"' },
          body: { error: { code: 'contract_required', message: 'Sign the contract first.' } },
        };
      case '/always-401':
        return {
          status: 401,
          headers: { 'www-authenticate': 'Bearer error="invalid_token"' },
          body: { error: { code: 'invalid_token', message: 'Never.' } },
        };
      case '/gate': {
        // Refuses the token named in `gate.old`; the second such request is held until a
        // request with another token (the replay after the re-login) has been answered.
        if (req.headers.authorization === `Bearer ${gate.old}`) {
          if (++gate.refused === 2) await gate.opened;
          return {
            status: 401,
            headers: { 'www-authenticate': 'Bearer error="invalid_token"' },
            body: { error: { code: 'invalid_token', message: 'Dead.' } },
          };
        }
        gate.open();
        return { status: 200, body: { ok: true } };
      }
      case '/api/phone': {
        const r = await relay('/v1/phone', req);
        return r.status === 200 ? { status: 200, body: { verified: r.body.phone_number } } : r;
      }
      case '/api/decrypt': {
        const r = await relay('/v1/decrypt', req);
        return r.status === 200 ? { status: 200, body: { verified: r.body.data.phoneNumber } } : r;
      }
      default:
        return { status: 404, body: { error: { code: 'not_found', message: 'No such route.' } } };
    }
  });
});

after(cleanup);

/** One phone running the app: a fake `wx` for `user` and a client on it. */
function device(user, { appid = APP_A, storage, options = {}, lib = sdk } = {}) {
  const fake = createFakeWx({ sim: sim.base, appid, user, storage });
  const errors = [];
  const loading = [];
  const client = lib.createClient({
    baseURL: server.base,
    apiBaseURL: backend.base,
    wx: fake,
    onError: (e) => errors.push(e),
    onLoading: (on) => loading.push(on),
    ...options,
  });
  return {
    fake,
    client,
    errors,
    loading,
    /** The stored record, as the SDK wrote it. */
    stored: () => (fake.storage.has('wxlogin') ? JSON.parse(fake.storage.get('wxlogin')) : undefined),
    /** The app killed and started again: same storage, new client and counters. */
    relaunch: (more = {}) => device(user, { appid, storage: fake.storage, options, lib, ...more }),
  };
}

const SESSION = () => ({ url: `${server.base}/v1/session` });
const trail = (fake) => fake.requests.map((r) => `${r.method} ${r.path} ${r.status}`);
/** An object from the SDK's sandbox, as plain JSON (deepEqual also compares prototypes). */
const plain = (x) => JSON.parse(JSON.stringify(x));
const tap = (t, withCode = true) => ({
  detail: { errMsg: 'getPhoneNumber:ok', encryptedData: t.encryptedData, iv: t.iv, ...(withCode ? { code: t.code } : {}) },
});

test('first launch: one wx.login, only the token and its deadline stored, the request carries it', async () => {
  const d = device(nextUser());
  const exchanges = await sim.exchanges();
  const started = Date.now();
  const r = await d.client.request(SESSION());
  assert.equal(r.statusCode, 200);
  assert.equal(r.data.openid, d.fake.openid);
  assert.equal(d.fake.calls.login, 1);
  assert.equal((await sim.exchanges()) - exchanges, 1);
  // The appid comes from wx.getAccountInfoSync(); with two apps served, a login without it fails.
  assert.deepEqual(Object.keys(d.fake.requestsTo('/v1/login')[0].body).sort(), ['appid', 'code']);
  assert.equal(d.fake.requestsTo('/v1/login')[0].body.appid, APP_A);
  assert.equal(r.data.appid, APP_A);

  const stored = d.stored();
  assert.deepEqual(Object.keys(stored).sort(), ['e', 't']);
  assert.match(stored.t, /^wxl_[A-Za-z0-9_-]{43}$/);
  // A 1 h session: the local deadline is receipt + 3600 s - 60 s.
  // (expires_in is whole seconds, so up to 1 s less.)
  assert.ok(stored.e >= started + 3539e3 && stored.e <= Date.now() + 3540e3, `${stored.e - started}`);
  assert.equal(d.fake.requestsTo('/v1/session')[0].authorization, `Bearer ${stored.t}`);
  assert.deepEqual(d.loading, [true, false]);

  const info = await d.client.getSession();
  assert.equal(info.openid, d.fake.openid);
  assert.deepEqual(trail(d.fake), ['POST /v1/login 200', 'GET /v1/session 200', 'GET /v1/session 200']);
  assert.deepEqual(d.errors, []);
});

test('relaunch with a stored token: no wx.login, the same token', async () => {
  const d = device(nextUser());
  await d.client.request(SESSION());
  const exchanges = await sim.exchanges();
  const again = d.relaunch();
  const r = await again.client.request(SESSION());
  assert.equal(r.statusCode, 200);
  assert.equal(r.data.openid, d.fake.openid);
  assert.equal(again.fake.calls.login, 0);
  assert.equal((await sim.exchanges()) - exchanges, 0);
  assert.equal(again.fake.requests[0].authorization, `Bearer ${d.stored().t}`);
  assert.deepEqual(trail(again.fake), ['GET /v1/session 200']);
});

test('expired token (server clock): the 401 is authoritative, one re-login, the request replayed', async () => {
  const d = device(nextUser());
  await d.client.ensureLogin();
  const before = d.stored().t;
  // Past the idle timeout and the absolute lifetime; the phone's clock still says "valid".
  await server.advance(2 * 3600 + 60);
  const r = await d.client.request(SESSION());
  assert.equal(r.statusCode, 200);
  assert.equal(r.data.openid, d.fake.openid);
  assert.equal(d.fake.calls.login, 2);
  assert.deepEqual(trail(d.fake), ['POST /v1/login 200', 'GET /v1/session 401', 'POST /v1/login 200', 'GET /v1/session 200']);
  assert.notEqual(d.stored().t, before);
});

test('revoked token: one re-login, then success', async () => {
  const d = device(nextUser());
  await d.client.ensureLogin();
  const revoked = d.stored().t;
  await server.revoke(revoked);
  const exchanges = await sim.exchanges();
  const r = await d.client.request(SESSION());
  assert.equal(r.statusCode, 200);
  assert.equal(d.fake.calls.login, 2);
  assert.equal((await sim.exchanges()) - exchanges, 1);
  assert.deepEqual(trail(d.fake), ['POST /v1/login 200', 'GET /v1/session 401', 'POST /v1/login 200', 'GET /v1/session 200']);
  const [first, second] = d.fake.requestsTo('/v1/session');
  assert.equal(first.authorization, `Bearer ${revoked}`);
  assert.equal(second.authorization, `Bearer ${d.stored().t}`);
  assert.notEqual(d.stored().t, revoked);
});

test('a server that keeps answering 401 (with the mark): gives up after one re-login', async () => {
  const d = device(nextUser());
  const r = await d.client.request({ url: '/always-401' });
  assert.equal(r.statusCode, 401);
  assert.equal(r.data.error.code, 'invalid_token');
  assert.equal(d.fake.calls.login, 2, 'the first login, then exactly one re-login');
  const seen = backend.to('/always-401');
  assert.equal(seen.length, 2, 'the request and one replay');
  assert.notEqual(seen[0].headers.authorization, seen[1].headers.authorization);
});

test("a business 401 without the mark is returned as is, no re-login", async () => {
  const d = device(nextUser());
  const r = await d.client.request({ url: '/business-401' });
  assert.equal(r.statusCode, 401);
  assert.deepEqual(r.data, { error: { code: 'contract_required', message: 'Sign the contract first.' } });
  assert.equal(d.fake.calls.login, 1);
  assert.equal(backend.to('/business-401').length, 1);
});

test('20 concurrent requests on a cold start: exactly one wx.login and one /v1/login', async () => {
  const d = device(nextUser());
  const exchanges = await sim.exchanges();
  const replies = await Promise.all(Array.from({ length: 20 }, () => d.client.request(SESSION())));
  assert.ok(replies.every((r) => r.statusCode === 200 && r.data.openid === d.fake.openid));
  assert.equal(d.fake.calls.login, 1);
  assert.equal(d.fake.requestsTo('/v1/login').length, 1);
  assert.equal((await sim.exchanges()) - exchanges, 1, 'one jscode2session at the simulator');
  assert.equal(new Set(d.fake.requestsTo('/v1/session').map((r) => r.authorization)).size, 1);
  assert.deepEqual(d.loading, [true, false]);
});

test('concurrent 401s cause one re-login', async () => {
  const d = device(nextUser());
  await d.client.ensureLogin();
  await server.revoke(d.stored().t);
  const exchanges = await sim.exchanges();
  const replies = await Promise.all(Array.from({ length: 10 }, () => d.client.request(SESSION())));
  assert.ok(replies.every((r) => r.statusCode === 200));
  assert.equal(d.fake.requestsTo('/v1/session', 401).length, 10);
  assert.equal(d.fake.calls.login, 2);
  assert.equal((await sim.exchanges()) - exchanges, 1);
});

test('a 401 that arrives after the re-login replays with the new token, no second login', async () => {
  const d = device(nextUser());
  await d.client.ensureLogin();
  gate.old = d.stored().t;
  gate.opened = new Promise((resolve) => (gate.open = resolve));
  const replies = await Promise.all([d.client.request({ url: '/gate' }), d.client.request({ url: '/gate' })]);
  assert.deepEqual(
    replies.map((r) => r.statusCode),
    [200, 200],
  );
  assert.equal(gate.refused, 2);
  assert.equal(d.fake.calls.login, 2, 'the first login and one re-login');
  assert.equal(backend.to('/gate').length, 4);
});

test('phone number via the button code: POST /v1/phone', async () => {
  const user = nextUser();
  const d = device(user);
  await d.client.ensureLogin({ checkSession: true });
  const phone = await d.client.getPhoneNumber(tap(await sim.phone(APP_A, user, '13800138000')));
  assert.deepEqual(plain(phone), { phone_number: '13800138000', pure_phone_number: '13800138000', country_code: '86' });
  assert.equal(d.fake.requestsTo('/v1/phone', 200).length, 1);
  assert.equal(d.fake.requestsTo('/v1/decrypt').length, 0);
  assert.equal(d.fake.calls.login, 1);
});

test('phone number via encryptedData (no code: base library before 2.21.2)', async () => {
  const user = nextUser();
  const d = device(user);
  await d.client.ensureLogin({ checkSession: true });
  const phone = await d.client.getPhoneNumber(tap(await sim.phone(APP_A, user, '13912345678'), false));
  assert.deepEqual(plain(phone), { phone_number: '13912345678', pure_phone_number: '13912345678', country_code: '86' });
  assert.equal(d.fake.requestsTo('/v1/decrypt', 200).length, 1);
  assert.equal(d.fake.requestsTo('/v1/phone').length, 0);
  assert.deepEqual(d.fake.requestsTo('/v1/decrypt')[0].body, {
    kind: 'phone',
    encrypted_data: d.fake.requestsTo('/v1/decrypt')[0].body.encrypted_data,
    iv: d.fake.requestsTo('/v1/decrypt')[0].body.iv,
  });
});

test('a declined phone button is a typed error and sends nothing', async () => {
  const d = device(nextUser());
  await assert.rejects(
    d.client.getPhoneNumber({ detail: { errMsg: 'getPhoneNumber:fail user deny' } }),
    (e) => e instanceof sdk.WxLoginError && e.code === 'phone_denied' && e.message === 'getPhoneNumber:fail user deny',
  );
  assert.equal(d.fake.calls.request, 0);
  assert.equal(d.fake.calls.login, 0);
  assert.equal(d.errors.length, 1);
  assert.equal(d.errors[0].code, 'phone_denied');
});

test('via: the payload goes to the app backend (the trusted path), which asks wxlogin itself', async () => {
  const user = nextUser();
  const d = device(user);
  await d.client.ensureLogin({ checkSession: true });
  const byCode = await d.client.getPhoneNumber(tap(await sim.phone(APP_A, user, '13700000001')), { via: '/api/phone' });
  assert.deepEqual(plain(byCode), { verified: '13700000001' });
  const byData = await d.client.getPhoneNumber(tap(await sim.phone(APP_A, user, '13700000002'), false), {
    via: '/api/decrypt',
  });
  assert.deepEqual(plain(byData), { verified: '13700000002' });
  // The device itself never called wxlogin's open-data routes; the backend got the token.
  assert.equal(d.fake.requestsTo('/v1/phone').length + d.fake.requestsTo('/v1/decrypt').length, 0);
  assert.equal(backend.to('/api/phone').at(-1).headers.authorization, `Bearer ${d.stored().t}`);
  assert.deepEqual(Object.keys(backend.to('/api/decrypt').at(-1).body).sort(), ['encrypted_data', 'iv', 'kind']);
});

test('the rotation race: a replay after a 401 and a re-login is decrypted with the previous key', async () => {
  const user = nextUser();
  // The same person is also logged in elsewhere (WeChat on a PC), so their key ring lives on
  // when this device's session is revoked.
  await device(user, { storage: new Map() }).client.ensureLogin();
  const d = device(user);
  await d.client.ensureLogin();
  const data = await sim.phone(APP_A, user, '13600000000'); // sealed with the key of that login
  await server.revoke(d.stored().t);
  const r = await d.client.decrypt('phone', data); // 401 → wx.login (rotates the key) → replay
  assert.equal(r.data.phoneNumber, '13600000000');
  assert.equal(r.key, 'previous', 'the re-login rotated the key; the server fell back to the previous one');
  assert.equal(d.fake.calls.login, 2);
  assert.deepEqual(d.fake.events.slice(2), ['POST /v1/decrypt 401', 'login', 'POST /v1/login 200', 'POST /v1/decrypt 200']);
});

test("the rotation race when the 401 ended the user's last session: the retired key still opens the data", async () => {
  const user = nextUser();
  const d = device(user);
  await d.client.ensureLogin();
  const data = await sim.phone(APP_A, user, '13600000001');
  // Revoking the user's only session retires their session_key instead of deleting it, so the
  // previous-key window covers the replay after the re-login here too.
  await server.revoke(d.stored().t);
  const r = await d.client.decrypt('phone', data);
  assert.equal(r.data.phoneNumber, '13600000001');
  assert.equal(r.key, 'previous');
  assert.equal(d.fake.calls.login, 2);
  assert.deepEqual(d.fake.events.slice(2), ['POST /v1/decrypt 401', 'login', 'POST /v1/login 200', 'POST /v1/decrypt 200']);
});

test('data in hand past the local deadline: sent with the stored token, no login between fetching and sending', async () => {
  const user = nextUser();
  const phoneClock = loadSdk();
  const d = device(user, { lib: phoneClock.sdk });
  await d.client.ensureLogin();
  const data = await sim.phone(APP_A, user, '13500000000');
  phoneClock.skew(2 * 3600e3); // the phone thinks the token is long dead; the server does not
  const r = await d.client.decrypt('phone', data);
  assert.equal(r.key, 'current');
  assert.equal(r.data.phoneNumber, '13500000000');
  assert.equal(d.fake.calls.login, 1);
  // An ordinary request takes the local deadline as the hint it is: log in first, no 401.
  const s = await d.client.request(SESSION());
  assert.equal(s.statusCode, 200);
  assert.equal(d.fake.calls.login, 2);
  assert.deepEqual(trail(d.fake), ['POST /v1/login 200', 'POST /v1/decrypt 200', 'POST /v1/login 200', 'GET /v1/session 200']);
});

test('a fetcher: the login is settled before the data is fetched, so it is sealed with the current key', async () => {
  const user = nextUser();
  const phoneClock = loadSdk();
  const d = device(user, { lib: phoneClock.sdk });
  await d.client.ensureLogin();
  phoneClock.skew(2 * 3600e3); // the client will log in again: it must do so before fetching
  const r = await d.client.decrypt('user_info', getUserInfo(d.fake));
  assert.equal(r.key, 'current');
  assert.equal(r.data.openId, d.fake.openid);
  assert.deepEqual(d.fake.events, ['login', 'POST /v1/login 200', 'login', 'POST /v1/login 200', 'getUserInfo', 'POST /v1/decrypt 200']);
});

test('an expired session_key: wx.checkSession fails, one login before the data is fetched and decrypted', async () => {
  const user = nextUser();
  const d = device(user);
  await d.client.ensureLogin();
  await sim.expireKey(APP_A, user);
  const r = await d.client.decrypt('user_info', getUserInfo(d.fake));
  assert.equal(r.key, 'current');
  assert.equal(d.fake.calls.checkSession, 1);
  assert.equal(d.fake.calls.login, 2);
  assert.deepEqual(d.fake.events.slice(2), ['checkSession', 'login', 'POST /v1/login 200', 'getUserInfo', 'POST /v1/decrypt 200']);
  // A live key costs a checkSession and nothing more.
  await d.client.ensureLogin({ checkSession: true });
  assert.equal(d.fake.calls.checkSession, 2);
  assert.equal(d.fake.calls.login, 2);
});

test('decrypt_failed: the client logs in again and tells the app to ask for another tap', async () => {
  const user = nextUser();
  const d = device(user);
  await d.client.ensureLogin({ checkSession: true });
  await sim.rotateKey(APP_A, user); // the device's key changed behind the server's back
  const lost = await sim.phone(APP_A, user);
  await assert.rejects(
    d.client.getPhoneNumber(tap(lost, false)),
    (e) =>
      e instanceof sdk.WxLoginError &&
      e.code === 'decrypt_failed' &&
      e.tapAgain === true &&
      e.status === 400 &&
      typeof e.requestId === 'string' &&
      e.requestId.length > 0,
  );
  assert.equal(d.fake.calls.login, 2, 'logged in again after the failure');
  assert.equal(d.errors.length, 1);
  assert.equal(d.errors[0].code, 'decrypt_failed');
  // The second tap works, with no further login.
  const phone = await d.client.getPhoneNumber(tap(await sim.phone(APP_A, user, '13300000000'), false));
  assert.equal(phone.phone_number, '13300000000');
  assert.equal(d.fake.calls.login, 2);
});

test('storage failures are reported, never fatal; the token lives on in memory', async () => {
  const d = device(nextUser());
  d.fake.failStorage = true;
  assert.equal((await d.client.request(SESSION())).statusCode, 200);
  assert.equal((await d.client.request(SESSION())).statusCode, 200);
  assert.equal(d.fake.calls.login, 1);
  assert.deepEqual(
    d.errors.map((e) => e.code),
    ['storage_failed'],
  );
  assert.match(d.errors[0].message, /setStorageSync:fail/);
  assert.equal(d.stored(), undefined);
  // Nothing was stored, so a relaunch logs in again.
  const again = d.relaunch();
  again.fake.failStorageRead = true;
  assert.equal((await again.client.request(SESSION())).statusCode, 200);
  assert.equal(again.fake.calls.login, 1);
  assert.equal(again.errors[0].code, 'storage_failed');
});

test('logout ends the session at the server and forgets the token', async () => {
  const d = device(nextUser());
  await d.client.ensureLogin();
  const token = d.stored().t;
  await d.client.logout();
  assert.equal(d.stored(), undefined);
  assert.equal((await server.session(token)).status, 401);
  assert.equal(d.fake.requestsTo('/v1/logout', 204)[0].authorization, `Bearer ${token}`);
  assert.equal((await d.client.request(SESSION())).statusCode, 200);
  assert.equal(d.fake.calls.login, 2);
});

test("errors carry the server's code, status and request id", async () => {
  // The explicit appid wins over getAccountInfoSync(); this server does not serve it.
  const d = device(nextUser(), { options: { appid: 'wx00000000000000ff' } });
  await assert.rejects(
    d.client.login(),
    (e) => e instanceof sdk.WxLoginError && e.code === 'unknown_appid' && e.status === 400 && /\S/.test(e.requestId),
  );
  assert.equal(d.fake.requestsTo('/v1/login')[0].body.appid, 'wx00000000000000ff');
  assert.equal(d.errors[0].code, 'unknown_appid');
  assert.deepEqual(d.loading, [true, false]);

  // wx.login itself failing (here: an app WeChat does not know).
  const stranger = device(nextUser(), { appid: 'wx00000000000000ee' });
  await assert.rejects(stranger.client.request(SESSION()), (e) => e.code === 'wx_login_failed');
  assert.equal(stranger.fake.calls.request, 0);

  // No answer at all.
  const offline = device(nextUser(), { options: { baseURL: 'http://127.0.0.1:9' } });
  await assert.rejects(offline.client.getToken(), (e) => e.code === 'network_error');
});

test('defaults: the global wx and its appid (Taro and uni-app pass their object as `wx`)', async () => {
  const user = nextUser();
  const fake = createFakeWx({ sim: sim.base, appid: APP_B, user });
  const { sdk: withGlobal } = loadSdk({ wx: fake });
  const client = withGlobal.createClient({ baseURL: server.base });
  const info = await client.getSession();
  assert.equal(info.appid, APP_B);
  assert.equal(info.openid, fake.openid);
  assert.equal(fake.requestsTo('/v1/login')[0].body.appid, APP_B);
  assert.ok(fake.storage.has('wxlogin'));
  assert.equal(await client.getToken(), JSON.parse(fake.storage.get('wxlogin')).t);
});
