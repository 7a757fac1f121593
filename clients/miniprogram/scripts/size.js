#!/usr/bin/env node
// `npm run size`: the built SDK (dist/index.js, run `npm run build` first) minified with terser
// and gzipped (level 9), as a mini-program would ship it. Fails above the 4 KB goal.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const zlib = require('node:zlib');
const { minify } = require('terser');

const GOAL = 4096;

async function main() {
  const file = path.resolve(__dirname, '..', 'dist', 'index.js');
  if (!fs.existsSync(file)) throw new Error('dist/index.js is missing: run `npm run build` first');
  const source = fs.readFileSync(file, 'utf8');
  const { code } = await minify(source, { ecma: 2017, compress: { passes: 2 }, mangle: true });
  const gzipped = zlib.gzipSync(code, { level: 9 }).length;
  console.log(
    `dist/index.js: ${source.length} B built, ${code.length} B minified, ${gzipped} B minified + gzipped (goal ${GOAL} B)`,
  );
  if (gzipped > GOAL) {
    console.error(`over the ${GOAL} B goal`);
    process.exit(1);
  }
}

main().catch((error) => {
  console.error(error.message || error);
  process.exit(1);
});
