// The drift check itself: src/error-codes.ts matches the real server's registry, and a registry
// that gained a code makes `gen-error-codes.js --check` fail and name it.
'use strict';

const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { after, test } = require('node:test');
const { cleanup, httpJson, startBackend, startServer, startSimulator } = require('./harness');

const SCRIPT = path.join(__dirname, '..', 'scripts', 'gen-error-codes.js');

function run(args) {
  return new Promise((resolve) =>
    execFile(process.execPath, [SCRIPT, ...args], (error, stdout, stderr) =>
      resolve({ code: error ? error.code : 0, stdout, stderr }),
    ),
  );
}

after(cleanup);

test('src/error-codes.ts is the server registry, and a new server code fails the check', async () => {
  const sim = await startSimulator();
  const server = await startServer(sim);
  const fresh = await run(['--check', '--url', server.base]);
  assert.equal(fresh.code, 0, fresh.stderr);

  const doc = (await httpJson('GET', `${server.base}/openapi.json`)).body;
  const committed = fs.readFileSync(path.join(__dirname, '..', 'src', 'error-codes.ts'), 'utf8');
  for (const { code } of doc.components.schemas.ErrorCode['x-registry']) {
    assert.ok(committed.includes(`| '${code}'`), code);
  }

  const schema = doc.components.schemas.ErrorCode;
  schema.enum.push('brand_new_code');
  schema['x-registry'].push({ code: 'brand_new_code', status: 400, summary: 'New.' });
  const drifted = await startBackend(() => ({ status: 200, body: doc }));
  const stale = await run(['--check', '--url', drifted.base]);
  assert.equal(stale.code, 1);
  assert.match(stale.stderr, /drifted.*new on the server: 'brand_new_code'/s);
});
