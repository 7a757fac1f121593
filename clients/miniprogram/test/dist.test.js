// What the mini-program runtime gets: dist/index.js is ES2017 script syntax, one file that
// requires nothing, exports through CommonJS `exports`, and names no Node or browser API.
// (The other suites run it in a context that has none, which catches what they exercise; this
// catches the rest.)
'use strict';

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { test } = require('node:test');
const acorn = require('acorn');

const DIST = path.join(__dirname, '..', 'dist', 'index.js');

/** Globals the runtime does not have (or that would leak secrets: console). */
const FOREIGN = [
  'require', 'process', 'Buffer', 'global', 'globalThis', 'window', 'document', 'fetch',
  'XMLHttpRequest', 'URL', 'URLSearchParams', 'setImmediate', 'queueMicrotask', 'TextEncoder',
  'TextDecoder', 'localStorage', 'console', 'atob', 'btoa',
];

test('dist/index.js: ES2017, no require, CommonJS exports, no foreign globals', () => {
  const source = fs.readFileSync(DIST, 'utf8');
  // Throws on anything newer than ES2017 (object spread, optional chaining, `??`, …).
  acorn.parse(source, { ecmaVersion: 2017, sourceType: 'script' });
  const names = new Set();
  for (const token of acorn.tokenizer(source, { ecmaVersion: 2017 })) {
    if (token.type === acorn.tokTypes.name) names.add(token.value);
  }
  assert.deepEqual(FOREIGN.filter((name) => names.has(name)), []);
  assert.match(source, /^exports\.createClient = createClient;$/m);
  assert.match(source, /^exports\.WxLoginError = WxLoginError;$/m);
});
