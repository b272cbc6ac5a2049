#!/usr/bin/env bash
# Set up what RoadGate needs on a fresh Debian / Ubuntu / Raspberry Pi OS machine that has only
# Python and pip: a virtual environment with the project installed, and (for the tests) the
# system packages the test suite drives: the Mosquitto broker and its command-line clients.
#
# usage: scripts/bootstrap.sh run|test
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-run}
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}

say() { printf '[bootstrap] %s\n' "$*" >&2; }

apt_install() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing $* with apt-get"
    # Only refresh the package lists when the first attempt cannot find a package.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >/dev/null 2>&1 || {
      apt-get update -q >/dev/null
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >/dev/null
    }
  else
    say "missing system packages: $*"
    say "install them with: sudo apt-get install $*   (or your distribution's equivalent)"
    exit 1
  fi
}

"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || {
  say "RoadGate needs Python >= 3.11; $("$PY" --version 2>&1) found"; exit 1; }

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV" 2>/dev/null || { apt_install python3-venv; rm -rf "$VENV"; "$PY" -m venv "$VENV"; }
fi

extra=""
[ "$mode" = test ] && extra="[dev]"
stamp="$VENV/.installed-$mode-$(cat pyproject.toml | sha1sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  say "installing roadgate$extra into $VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e ".$extra"
  touch "$stamp"
fi

if [ "$mode" = test ]; then
  command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || apt_install mosquitto mosquitto-clients
  command -v mosquitto_sub >/dev/null || apt_install mosquitto-clients
  # Kernels without CAN (CI) run the SocketCAN tests in a user-mode-linux guest (hil/uml).
  { command -v linux.uml >/dev/null || [ -x /usr/bin/linux.uml ]; } &&
    { command -v ip >/dev/null || [ -x /usr/sbin/ip ] || [ -x /sbin/ip ]; } &&
    { command -v insmod >/dev/null || [ -x /usr/sbin/insmod ] || [ -x /sbin/insmod ]; } ||
    apt_install user-mode-linux kmod can-utils iproute2
fi
