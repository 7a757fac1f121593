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

log "all suites passed"
