// Loads the example mini-program (app.js, then pages/index/index.js) the way the runtime does —
// `App`, `Page` and `getApp` stubbed, the fake `wx` of the SDK's tests as the global `wx` —
// and runs the page's handlers against the real `wxlogin serve` and `wxlogin simulate`.
// The SDK comes through `require('wxlogin-miniprogram')`, as in the mini-program (`npm ci` here
// links it from clients/miniprogram; build it first).
'use strict';

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { after, before, test } = require('node:test');

const SDK_TESTS = path.join(__dirname, '..', '..', '..', 'clients', 'miniprogram', 'test');
const { createFakeWx } = require(path.join(SDK_TESTS, 'fake-wx'));
const { APP_A, cleanup, startServer, startSimulator } = require(path.join(SDK_TESTS, 'harness'));

const ROOT = path.join(__dirname, '..');
const USER = 'example-user';

let sim;
let server;
let fake;
let app;
let page;

/** What the runtime does with a `Page({...})` definition: an instance with data and setData. */
function instantiate(definition) {
  const instance = { ...definition, data: JSON.parse(JSON.stringify(definition.data || {})) };
  instance.setData = (patch) => Object.assign(instance.data, patch);
  return instance;
}

before(async () => {
  sim = await startSimulator();
  server = await startServer(sim);
  fake = createFakeWx({ sim: sim.base, appid: APP_A, user: USER });
  // The example's config, pointed at the servers of this test.
  const config = require.resolve(path.join(ROOT, 'config.js'));
  require.cache[config] = { id: config, filename: config, loaded: true, exports: { loginBaseURL: server.base, apiBaseURL: server.base } };

  let appDefinition;
  let pageDefinition;
  Object.assign(globalThis, {
    wx: fake,
    App: (definition) => (appDefinition = definition),
    Page: (definition) => (pageDefinition = definition),
    getApp: () => app,
  });
  require(path.join(ROOT, 'app.js'));
  app = appDefinition;
  app.onLaunch();
  require(path.join(ROOT, 'pages', 'index', 'index.js'));
  page = instantiate(pageDefinition);
});

after(() => {
  for (const name of ['wx', 'App', 'Page', 'getApp']) delete globalThis[name];
  cleanup();
});

const phoneTap = (t, withCode = true) => ({
  type: 'getphonenumber',
  detail: { errMsg: 'getPhoneNumber:ok', encryptedData: t.encryptedData, iv: t.iv, ...(withCode ? { code: t.code } : {}) },
});

test('launch, show, the login button and the phone button, against the real server', async () => {
  await app.ready;
  assert.equal(fake.calls.login, 1, 'the launch logged in');
  assert.deepEqual(fake.events.slice(0, 2), ['showLoading', 'login']);
  assert.ok(fake.events.includes('hideLoading'));

  await page.onShow();
  assert.equal(fake.calls.checkSession, 1);

  await page.onLogin();
  assert.equal(page.data.openid, fake.openid);
  assert.equal(page.data.message, '已登录');
  assert.equal(fake.calls.login, 1, 'launch, show and the login button share one wx.login');

  await page.onGetPhoneNumber(phoneTap(await sim.phone(APP_A, USER, '13800000000')));
  assert.equal(page.data.phone, '13800000000');
  assert.equal(fake.requestsTo('/v1/phone', 200).length, 1);

  await page.onGetPhoneNumber({ type: 'getphonenumber', detail: { errMsg: 'getPhoneNumber:fail user deny' } });
  assert.equal(page.data.message, '未授权手机号');

  // An older base library (encryptedData only) whose key changed behind the server's back:
  // the page asks for another tap, which works.
  await sim.control('/sim/session-key/rotate', { appid: APP_A, user: USER });
  await page.onGetPhoneNumber(phoneTap(await sim.phone(APP_A, USER, '13900000000'), false));
  assert.equal(page.data.message, '请再点一次');
  await page.onGetPhoneNumber(phoneTap(await sim.phone(APP_A, USER, '13900000000'), false));
  assert.equal(page.data.phone, '13900000000');
  assert.equal(page.data.message, '');

  const token = JSON.parse(fake.storage.get('wxlogin')).t;
  await page.onLogout();
  assert.deepEqual([page.data.openid, page.data.message], ['', '已退出']);
  assert.equal(fake.storage.has('wxlogin'), false);
  assert.equal((await server.session(token)).status, 401);
});

test('the page markup binds only handlers the page defines, and app.json lists the page', () => {
  const wxml = fs.readFileSync(path.join(ROOT, 'pages', 'index', 'index.wxml'), 'utf8');
  const bound = [...wxml.matchAll(/\bbind(\w+)="(\w+)"/g)].map(([, event, handler]) => [event, handler]);
  assert.deepEqual(bound, [
    ['tap', 'onLogin'],
    ['getphonenumber', 'onGetPhoneNumber'],
    ['tap', 'onLogout'],
  ]);
  for (const [, handler] of bound) assert.equal(typeof page[handler], 'function', handler);
  assert.match(wxml, /open-type="getPhoneNumber" bindgetphonenumber="onGetPhoneNumber"/);
  const { pages } = JSON.parse(fs.readFileSync(path.join(ROOT, 'app.json'), 'utf8'));
  for (const p of pages) {
    for (const ext of ['.js', '.wxml', '.json']) assert.ok(fs.existsSync(path.join(ROOT, p + ext)), p + ext);
  }
});
