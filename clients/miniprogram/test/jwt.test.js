// JWT mode (`[jwt] enabled`, access JWTs for 5 minutes): the client keeps the access JWT and the
// refresh token, refreshes single-flight before the access JWT's deadline and on a 401, and
// falls back to a login when the refresh is refused. Against a second server config (see
// harness.js); the phone's clock is the sandbox's `Date.now`, moved with `skew`.
'use strict';

const assert = require('node:assert/strict');
const { after, before, test } = require('node:test');
const { createFakeWx } = require('./fake-wx');
const { APP_A, cleanup, httpJson, loadSdk, startServer, startSimulator } = require('./harness');

let sim;
let server;
let users = 0;

before(async () => {
  sim = await startSimulator();
  server = await startServer(sim, { jwt: true });
});

after(cleanup);

/** A device with its own sandbox, so its phone clock can move alone. */
function device() {
  const phone = loadSdk();
  const fake = createFakeWx({ sim: sim.base, appid: APP_A, user: `jwt-user-${++users}` });
  const errors = [];
  const client = phone.sdk.createClient({ baseURL: server.base, wx: fake, onError: (e) => errors.push(e) });
  return {
    fake,
    client,
    errors,
    skew: phone.skew,
    stored: () => JSON.parse(fake.storage.get('wxlogin')),
  };
}

const SESSION = () => ({ url: `${server.base}/v1/session` });
const trail = (fake) => fake.requests.map((r) => `${r.method} ${r.path} ${r.status}`);
const isJwt = (t) => /^eyJ[\w-]+\.[\w-]+\.[\w-]+$/.test(t);

test('login keeps the refresh token and the access JWT; requests carry the JWT', async () => {
  const d = device();
  const started = Date.now();
  const r = await d.client.request(SESSION());
  assert.equal(r.statusCode, 200);
  assert.equal(r.data.openid, d.fake.openid);
  const stored = d.stored();
  assert.deepEqual(Object.keys(stored).sort(), ['a', 'e', 't', 'x']);
  assert.match(stored.t, /^wxl_/);
  assert.ok(isJwt(stored.a));
  // 300 s access JWT: the local deadline is 60 s early.
  assert.ok(stored.x >= started + 239e3 && stored.x <= Date.now() + 240e3, `${stored.x - started}`);
  assert.equal(d.fake.requestsTo('/v1/session')[0].authorization, `Bearer ${stored.a}`);
  assert.equal(await d.client.getToken(), stored.a);
});

test('refreshes before the access deadline, without a 401 and without wx.login', async () => {
  const d = device();
  await d.client.ensureLogin();
  const first = d.stored();
  d.skew(250e3); // past the local deadline (240 s), before the server's (300 s)
  await server.advance(250);
  const r = await d.client.request(SESSION());
  assert.equal(r.statusCode, 200);
  assert.deepEqual(trail(d.fake), ['POST /v1/login 200', 'POST /v1/token/refresh 200', 'GET /v1/session 200']);
  assert.equal(d.fake.requestsTo('/v1/token/refresh')[0].authorization, `Bearer ${first.t}`);
  assert.equal(d.fake.calls.login, 1);
  const now = d.stored();
  assert.notEqual(now.t, first.t, 'the refresh token rotated');
  assert.notEqual(now.a, first.a);
  assert.equal(d.fake.requestsTo('/v1/session')[0].authorization, `Bearer ${now.a}`);
});

test('refreshes on a 401 (the server expired the JWT first), single-flight across concurrent requests', async () => {
  const d = device();
  await d.client.ensureLogin();
  await server.advance(400); // the access JWT is dead at the server; the phone does not know
  const replies = await Promise.all(Array.from({ length: 10 }, () => d.client.request(SESSION())));
  assert.ok(replies.every((r) => r.statusCode === 200 && r.data.openid === d.fake.openid));
  assert.equal(d.fake.requestsTo('/v1/session', 401).length, 10);
  assert.equal(d.fake.requestsTo('/v1/token/refresh').length, 1);
  assert.equal(d.fake.calls.login, 1);
});

test('a refused refresh falls back to login()', async () => {
  const d = device();
  await d.client.ensureLogin();
  const first = d.stored();
  // The session ends elsewhere (logout takes the refresh token in JWT mode).
  const out = await httpJson('POST', `${server.base}/v1/logout`, { headers: { authorization: `Bearer ${first.t}` } });
  assert.equal(out.status, 204);
  const r = await d.client.request(SESSION());
  assert.equal(r.statusCode, 200);
  assert.deepEqual(trail(d.fake), [
    'POST /v1/login 200',
    'GET /v1/session 401',
    'POST /v1/token/refresh 401',
    'POST /v1/login 200',
    'GET /v1/session 200',
  ]);
  assert.equal(d.fake.calls.login, 2);
  assert.notEqual(d.stored().t, first.t);
});

test('logout sends the refresh token; the access JWT is refused at once', async () => {
  const d = device();
  await d.client.ensureLogin();
  const { t, a } = d.stored();
  await d.client.logout();
  assert.equal(d.fake.requestsTo('/v1/logout', 204)[0].authorization, `Bearer ${t}`);
  assert.equal(d.fake.storage.has('wxlogin'), false);
  assert.equal((await server.session(a)).status, 401);
  assert.deepEqual(d.errors, []);
});
