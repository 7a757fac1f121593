#!/usr/bin/env bash
# Runs every test suite of wxlogin. This is README's test command and what CI runs.
#
# It installs what the suites need when it is missing (so it works on a fresh machine), starts
# real PostgreSQL, MariaDB and Redis servers on loopback with throwaway data (scripts/services.sh;
# stopped again on exit), runs the Rust workspace tests — the store conformance suite on every
# backend, the multi-instance cluster tests — then the compatibility suite that drives our
# WeChat simulator with wechatpy, a WeChat SDK we did not write. Any failure makes it exit
# non-zero; a suite whose server is missing fails, it never skips.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*"; }

# --- Python side: wechatpy (pinned) in a private virtualenv under target/ -----------------------
PYENV=target/pyenv
if [ ! -x "$PYENV/bin/python" ] || ! "$PYENV/bin/python" -c 'import wechatpy, pytest, jwt' 2>/dev/null; then
  log "installing wechatpy 1.8.18, PyJWT and pytest into $PYENV"
  python3 -m venv "$PYENV"
  "$PYENV/bin/pip" install --quiet --disable-pip-version-check \
    'wechatpy==1.8.18' 'cryptography>=41' 'pytest>=8' 'PyJWT[crypto]>=2.8'
fi

# --- Database servers (PostgreSQL, MariaDB, Redis) ---------------------------------------------
log "starting PostgreSQL, MariaDB and Redis on loopback"
# shellcheck source=scripts/services.sh
source scripts/services.sh
services_start

# --- Rust workspace ----------------------------------------------------------------------------
log "cargo test (workspace, all features)"
cargo test --workspace --all-features --locked

# --- wechatpy against the real simulator binary --------------------------------------------------
log "wechatpy compatibility suite"
# `cargo test` above built the binary for the integration tests; reuse it (a plain `cargo build`
# resolves dev-dependency features differently and would recompile much of the tree).
BIN="$PWD/target/debug/wxlogin"
[ -x "$BIN" ] || cargo build --locked --bin wxlogin
WXLOGIN_BIN="$BIN" "$PYENV/bin/python" -m pytest -q tests/wechatpy

# --- Mini-program SDK (clients/miniprogram) and its example, against the same binary -----------
# npm ci installs the SDK's dev dependencies (typescript, miniprogram-api-typings, terser) from
# its package-lock.json; the example's npm ci only links the SDK. The error-code check fails when
# src/error-codes.ts no longer matches the server's registry (`npm run gen:error-codes` fixes it).
if ! command -v npm >/dev/null 2>&1; then
  log "installing Node.js and npm (Debian packages)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
log "mini-program SDK: build, error-code drift check, node:test suites (SDK and example)"
(
  cd clients/miniprogram
  npm ci --no-audit --no-fund
  npm run build
  WXLOGIN_BIN="$BIN" npm run check:error-codes
  WXLOGIN_BIN="$BIN" npm test
  npm run size
)
(
  cd examples/miniprogram
  npm ci --no-audit --no-fund
  WXLOGIN_BIN="$BIN" npm test
)

log "all suites passed"
