// Once through the shipped nginx forward-auth setup (deploy/nginx/wxlogin-auth.conf, see
// docs/gateways.md): the client logs in at wxlogin and calls the app through nginx, whose
// auth_request asks wxlogin's /v1/auth. nginx passes wxlogin's 401 on whole (JSON body and
// `WWW-Authenticate: Bearer error="invalid_token"`), so the client re-logs in; the app's own
// 401 passes through untouched and does not.
'use strict';

const assert = require('node:assert/strict');
const { after, before, test } = require('node:test');
const { createFakeWx } = require('./fake-wx');
const { APP_A, cleanup, loadSdk, startBackend, startNginx, startServer, startSimulator } = require('./harness');

let sim;
let server;
let app;
let nginx;

before(async () => {
  sim = await startSimulator();
  server = await startServer(sim);
  // The app behind nginx: echoes the identity headers it was given; /own-401 is its own refusal.
  app = await startBackend((req) =>
    req.path === '/own-401'
      ? { status: 401, body: { error: { code: 'not_a_member', message: 'Join first.' } } }
      : {
          status: 200,
          body: {
            openid: req.headers['x-wx-openid'],
            appid: req.headers['x-wx-appid'],
            user_id: req.headers['x-wxlogin-user-id'],
          },
        },
  );
  nginx = await startNginx({ wxlogin: server.addr, app: app.addr, appid: APP_A });
});

after(() => {
  if (nginx) nginx.stop();
  cleanup();
});

test('through nginx auth_request: identity arrives, a revoked token re-logs in once, the app\'s own 401 does not', async () => {
  const { sdk } = loadSdk();
  const fake = createFakeWx({ sim: sim.base, appid: APP_A, user: 'nginx-user' });
  const client = sdk.createClient({ baseURL: server.base, apiBaseURL: nginx.base, wx: fake });

  // Cold start: one login at wxlogin, then the app sees who is calling.
  const first = await client.request({ url: '/orders' });
  assert.equal(first.statusCode, 200, nginx.errorLog());
  assert.equal(first.data.openid, fake.openid);
  assert.equal(first.data.appid, APP_A);
  assert.equal(fake.calls.login, 1);

  // The session is revoked: nginx answers wxlogin's 401, the client logs in once and replays.
  const token = JSON.parse(fake.storage.get('wxlogin')).t;
  await server.revoke(token);
  const served = app.to('/orders').length;
  const second = await client.request({ url: '/orders', method: 'POST', data: { item: 7 } });
  assert.equal(second.statusCode, 200);
  assert.equal(second.data.openid, fake.openid);
  assert.equal(fake.calls.login, 2);
  assert.deepEqual(
    fake.requests.map((r) => `${r.method} ${r.path} ${r.status}`),
    ['POST /v1/login 200', 'GET /orders 200', 'POST /orders 401', 'POST /v1/login 200', 'POST /orders 200'],
  );
  assert.equal(app.to('/orders').length, served + 1, 'the refused request never reached the app');
  assert.equal(app.to('/orders').at(-1).body.item, 7);

  // The app's own 401 (no mark) is the app's business.
  const own = await client.request({ url: '/own-401' });
  assert.equal(own.statusCode, 401);
  assert.equal(own.data.error.code, 'not_a_member');
  assert.equal(fake.calls.login, 2);
  assert.equal(app.to('/own-401').length, 1);
});
