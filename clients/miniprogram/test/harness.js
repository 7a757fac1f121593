// What the SDK's tests (and the example's) run against: the real `wxlogin simulate` and
// `wxlogin serve --test-clock` binaries on 127.0.0.1:0, tiny node HTTP servers playing the app's
// backend, nginx running the shipped forward-auth config, and the built SDK loaded in a bare
// V8 context that has no Node or browser API at all (no require, process, Buffer, URL, fetch,
// setImmediate, console), so the tests prove it runs on `wx.*`, setTimeout and Promise alone.
//
// The binary comes from $WXLOGIN_BIN (default ../../target/debug/wxlogin); a missing binary
// fails the suite, it never skips. Time moves only through the test clocks (`POST /dev/clock`,
// `POST /sim/clock`) and the sandbox's `Date.now` skew; nothing sleeps to make something expire.
'use strict';

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const vm = require('node:vm');
const { httpJson } = require('./fake-wx');

const PACKAGE = path.resolve(__dirname, '..');
const REPO = path.resolve(PACKAGE, '../..');
const DIST = path.join(PACKAGE, 'dist', 'index.js');

/** App A and app B: two apps, so a login without `appid` would be refused. */
const APP_A = 'wx00000000000000a1';
const APP_B = 'wx00000000000000b2';
const SECRETS = { [APP_A]: 's3cret-A-sdk-test-never-log-me', [APP_B]: 's3cret-B-sdk-test-never-log-me' };
/** A service client for /oauth2/revoke (ends a session as an operator or backend would). */
const REVOKER = { id: 'sdk-tests', secret: 'sdk-tests-revoker-s3cret-never-log-me' };

const children = new Set();
const cleanups = [];
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

function binary() {
  const bin = process.env.WXLOGIN_BIN || path.join(REPO, 'target', 'debug', 'wxlogin');
  if (!fs.existsSync(bin)) {
    throw new Error(
      `wxlogin binary not found at ${bin}: build it with \`cargo build -p wxlogin --bin wxlogin\` or set WXLOGIN_BIN`,
    );
  }
  return bin;
}

function tempDir(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Starts `wxlogin ARGS…` and waits for its `listening on ADDR` line. */
async function spawnWxlogin(args) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('WXLOGIN_')));
  const child = spawn(binary(), args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let output = '';
  child.stderr.on('data', (chunk) => (output += chunk));
  const lines = readline.createInterface({ input: child.stdout });
  const first = await new Promise((resolve) => {
    lines.once('line', resolve);
    child.once('exit', () => resolve(null));
  });
  lines.on('line', (line) => (output += line + '\n'));
  const addr = first && first.startsWith('listening on ') ? first.slice('listening on '.length) : null;
  if (!addr) {
    child.kill('SIGKILL');
    throw new Error(`wxlogin ${args.join(' ')}: first stdout line ${JSON.stringify(first)}; stderr:\n${output}`);
  }
  return {
    addr,
    base: `http://${addr}`,
    output: () => output,
    stop() {
      child.kill('SIGKILL');
      children.delete(child);
    },
  };
}

/** `wxlogin simulate` with apps A and B; every `wx.login` rotates the key (the race on demand). */
async function startSimulator() {
  const dir = tempDir('wxlogin-sdk-sim-');
  const config = path.join(dir, 'simulator.toml');
  fs.writeFileSync(
    config,
    `log = "warn"\nseed = 7\nsession_key_rotation = "always"\n\n` +
      Object.entries(SECRETS)
        .map(([appid, secret]) => `[[apps]]\nappid = "${appid}"\nsecret = "${secret}"\n`)
        .join('\n'),
  );
  const process_ = await spawnWxlogin(['simulate', '--listen', '127.0.0.1:0', '--config', config]);
  const base = process_.base;
  const control = async (route, body) => {
    const r = await httpJson('POST', `${base}${route}`, { body });
    if (r.status !== 200) throw new Error(`${route}: ${r.status} ${r.text}`);
    return r.body;
  };
  return {
    ...process_,
    control,
    /** What the getPhoneNumber button hands over: `{code, encryptedData, iv}`. */
    phone: (appid, user, phone) => control('/sim/phone', phone ? { appid, user, phone } : { appid, user }),
    rotateKey: (appid, user) => control('/sim/session-key/rotate', { appid, user }),
    expireKey: (appid, user) => control('/sim/session-key/expire', { appid, user }),
    /** jscode2session calls so far: each is one `/v1/login` that reached "WeChat". */
    async exchanges() {
      const r = await httpJson('GET', `${base}/sim/stats`);
      return r.body.calls.jscode2session.total;
    },
  };
}

/**
 * `wxlogin serve --test-clock` against `sim`: apps A and B, sessions idle out after 1 h (2 h at
 * most), a revocation client; `jwt` turns JWT mode on (access JWTs live 5 minutes).
 */
async function startServer(sim, { jwt = false } = {}) {
  const dir = tempDir('wxlogin-sdk-server-');
  const config = path.join(dir, 'wxlogin.toml');
  let toml =
    `listen = "127.0.0.1:0"\nlog = "warn"\ndata_dir = ${JSON.stringify(path.join(dir, 'data'))}\n\n` +
    `[wechat]\napi_base = "${sim.base}"\nallow_http = true\ntimeout = "5s"\n\n` +
    `[sessions]\nidle_timeout = "1h"\nabsolute_lifetime = "2h"\nrevocation_poll = "250ms"\n\n` +
    Object.entries(SECRETS)
      .map(([appid, secret]) => `[[apps]]\nappid = "${appid}"\nsecret = "${secret}"\n\n`)
      .join('') +
    `[[introspection.clients]]\nid = "${REVOKER.id}"\nsecret = "${REVOKER.secret}"\nappids = ["${APP_A}", "${APP_B}"]\n`;
  if (jwt) {
    toml += `\n[jwt]\nenabled = true\nissuer = "wxlogin-sdk-test"\naccess_ttl = "5m"\nrefresh_grace = "30s"\nkey_rotation = "1h"\n`;
  }
  fs.writeFileSync(config, toml);
  const server = await spawnWxlogin(['serve', '--config', config, '--test-clock']);
  return {
    ...server,
    /** Moves the server's clock forward. */
    async advance(secs) {
      const r = await httpJson('POST', `${server.base}/dev/clock`, { body: { advance_secs: secs } });
      if (r.status !== 200) throw new Error(`/dev/clock: ${r.status} ${r.text}`);
    },
    /** RFC 7009 revocation, as a backend or operator would end the session. */
    async revoke(token) {
      const basic = Buffer.from(`${REVOKER.id}:${REVOKER.secret}`).toString('base64');
      const r = await httpJson('POST', `${server.base}/oauth2/revoke`, {
        form: { token },
        headers: { authorization: `Basic ${basic}` },
      });
      if (r.status !== 200) throw new Error(`/oauth2/revoke: ${r.status} ${r.text}`);
    },
    /** `GET /v1/session` with `token`, straight to the server. */
    session: (token) => httpJson('GET', `${server.base}/v1/session`, { headers: { authorization: `Bearer ${token}` } }),
  };
}

/**
 * A tiny HTTP server on 127.0.0.1:0 answering with `handler({method, path, headers, body})` →
 * `{status, headers?, body?}` (an object body is sent as JSON). Counts requests per path.
 */
async function startBackend(handler) {
  const seen = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body = null;
      try {
        body = text ? JSON.parse(text) : null;
      } catch (_) {}
      const request = { method: req.method, path: req.url.split('?')[0], url: req.url, headers: req.headers, body };
      seen.push(request);
      try {
        const answer = await handler(request);
        const payload = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body ?? {});
        res.writeHead(answer.status, { 'content-type': 'application/json', ...(answer.headers || {}) });
        res.end(payload);
      } catch (error) {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(String(error && error.stack));
      }
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  cleanups.push(() => server.close());
  return {
    addr: `127.0.0.1:${port}`,
    base: `http://127.0.0.1:${port}`,
    seen,
    to: (p) => seen.filter((r) => r.path === p),
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

/** A port nothing listens on right now. */
async function freePort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * nginx (`$WXLTEST_NGINX` or /usr/sbin/nginx) running the shipped
 * deploy/nginx/wxlogin-auth.conf, with only its addresses and appid replaced, exactly as
 * crates/wxlogin/tests/nginx.rs does (and failing the same way if those are not found once).
 */
async function startNginx({ wxlogin, app, appid }) {
  const bin = process.env.WXLTEST_NGINX || '/usr/sbin/nginx';
  if (!fs.existsSync(bin)) {
    throw new Error(`nginx not found at ${bin} (set WXLTEST_NGINX, or install Debian's nginx: scripts/services.sh does)`);
  }
  const dir = tempDir('wxlogin-sdk-nginx-');
  const port = await freePort();
  let site = fs.readFileSync(path.join(REPO, 'deploy', 'nginx', 'wxlogin-auth.conf'), 'utf8');
  for (const [from, to] of [
    ['server 127.0.0.1:8080;', `server ${wxlogin};`],
    ['server 127.0.0.1:3000;', `server ${app};`],
    ['listen 80;', `listen 127.0.0.1:${port};`],
    ['"wx1234567890abcdef"', JSON.stringify(appid)],
  ]) {
    if (site.split(from).length !== 2) {
      throw new Error(`deploy/nginx/wxlogin-auth.conf no longer has \`${from}\` once: update test/harness.js`);
    }
    site = site.replace(from, to);
  }
  fs.writeFileSync(path.join(dir, 'wxlogin-auth.conf'), site);
  const conf =
    `daemon off;\nmaster_process off;\npid ${dir}/nginx.pid;\nerror_log ${dir}/error.log info;\n` +
    `events { worker_connections 256; }\n` +
    `http {\n  access_log off;\n  client_body_temp_path ${dir}/body;\n  proxy_temp_path ${dir}/proxy;\n` +
    `  fastcgi_temp_path ${dir}/fastcgi;\n  uwsgi_temp_path ${dir}/uwsgi;\n  scgi_temp_path ${dir}/scgi;\n` +
    `  include ${dir}/wxlogin-auth.conf;\n}\n`;
  fs.writeFileSync(path.join(dir, 'nginx.conf'), conf);
  const child = spawn(bin, ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-e', path.join(dir, 'error.log')], {
    stdio: 'ignore',
  });
  children.add(child);
  const errorLog = () => {
    try {
      return fs.readFileSync(path.join(dir, 'error.log'), 'utf8');
    } catch (_) {
      return '';
    }
  };
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited (${child.exitCode}):\n${errorLog()}`);
    const up = await new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => (socket.destroy(), resolve(true)));
      socket.on('error', () => resolve(false));
    });
    if (up) break;
    if (Date.now() > deadline) throw new Error(`nginx is not listening after 10 s:\n${errorLog()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return {
    base: `http://127.0.0.1:${port}`,
    errorLog,
    stop() {
      child.kill('SIGKILL');
      children.delete(child);
    },
  };
}

/**
 * The built SDK (dist/index.js) evaluated in a fresh V8 context whose only globals are
 * setTimeout/clearTimeout and `globals` (e.g. a global `wx`). `skew(ms)` moves the sandbox's
 * `Date.now`: the phone's clock.
 */
function loadSdk(globals = {}) {
  if (!fs.existsSync(DIST)) throw new Error('dist/index.js is missing: run `npm run build` first');
  const module = { exports: {} };
  const context = vm.createContext({ setTimeout, clearTimeout, ...globals });
  vm.runInContext(
    '(() => { const now = Date.now; Date.now = () => now() + (globalThis.__skewMs || 0); })()',
    context,
  );
  const wrapper = vm.runInContext(`(function (exports, module) {${fs.readFileSync(DIST, 'utf8')}\n})`, context, {
    filename: DIST,
  });
  wrapper(module.exports, module);
  return {
    sdk: module.exports,
    context,
    skew(ms) {
      context.__skewMs = (context.__skewMs || 0) + ms;
    },
  };
}

/** Stops everything the harness started. */
function cleanup() {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
  while (cleanups.length) {
    try {
      cleanups.pop()();
    } catch (_) {}
  }
}

module.exports = {
  APP_A,
  APP_B,
  startSimulator,
  startServer,
  startBackend,
  startNginx,
  loadSdk,
  cleanup,
  httpJson,
};
