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
# The C sources too: an editable install builds them in place, once.
stamp="$VENV/.installed-$mode-$(cat pyproject.toml protocols/dbc/*.c hal/can/*.c | sha1sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  # The tests need the compiled kernels of the decoder and the CAN reader (a box can do
  # without: numpy instead).
  if [ "$mode" = test ]; then
    command -v gcc >/dev/null || apt_install gcc
    "$VENV/bin/python" -c 'import os, sysconfig; sys_h = os.path.join(sysconfig.get_paths()["include"], "Python.h"); raise SystemExit(not os.path.exists(sys_h))' ||
      apt_install python3-dev
  fi
  say "installing roadgate$extra into $VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e ".$extra"
  touch "$stamp"
fi

# The user-mode-linux kernel fetched when the system's cannot boot: Debian 12's (6.1um4) cannot
# restore the FPU state on CPUs with large XSAVE areas (AMX) under recent host kernels and panics
# as soon as init runs. These versions were checked to boot here; unstable moves on, so when they
# are gone the newest is fetched (and must pass the same boot check).
UML_SUITE=sid
UML_VERSION=7.2um1
UML_LIBC_VERSION=2.43-7

# Boot the kernel hil/uml's runner would use (or --kernel PATH) once: CAN modules, a vcan
# interface, `true`, a clean power-off. Prints one line; status 0 when it worked.
uml_boots() { timeout 120 "$VENV/bin/python" -m hil.uml --quiet --timeout 60 "$@" 2>&1; }

# Fetch user-mode-linux and the C library it needs (newer than this system's) from Debian into
# $1, with a private sources list and package lists, and point linux.uml at that C library.
# Prints the version fetched.
fetch_uml() {
  local dir=$1 arch archive version libc
  arch=$(dpkg --print-architecture)
  [ "$arch" = amd64 ] || { say "Debian has user-mode-linux for amd64 only, not $arch"; return 1; }
  command -v patchelf >/dev/null || apt_install patchelf
  # The Debian archive (mirror) this system's apt sources already use.
  archive=$(apt-get indextargets --format '$(REPO_URI) $(LABEL)' 'Identifier: Packages' |
    awk '$2 == "Debian" { print $1; exit }')
  [ -n "$archive" ] || { say "no Debian archive in this system's apt sources"; return 1; }
  rm -rf "$dir"
  mkdir -p "$dir/apt/lists/partial" "$dir/apt/cache/archives/partial" "$dir/apt/empty" "$dir/debs"
  echo "deb [arch=$arch] $archive $UML_SUITE main" >"$dir/apt/sources.list"
  # A private sources list, package lists and cache: the system's are neither used nor changed.
  local apt=(-q -o Dir::Etc::sourcelist="$dir/apt/sources.list"
    -o Dir::Etc::sourceparts="$dir/apt/empty" -o Dir::Etc::preferences=/dev/null
    -o Dir::Etc::preferencesparts="$dir/apt/empty"
    -o Dir::State::Lists="$dir/apt/lists" -o Dir::Cache="$dir/apt/cache"
    -o Acquire::Languages=none)
  [ "$(id -u)" = 0 ] && apt+=(-o APT::Sandbox::User=root)
  apt-get "${apt[@]}" update >"$dir/apt/update.log" 2>&1 || {
    say "apt-get update of Debian $UML_SUITE failed:"
    tail -5 "$dir/apt/update.log" >&2; return 1; }
  pinned() { # package wanted-version: that version if Debian has it, else the newest
    if apt-cache "${apt[@]}" madison "$1" | awk -F'|' '{gsub(/ /, "", $2); print $2}' |
      grep -qxF "$2"; then
      echo "$2"
    else
      local newest
      newest=$(apt-cache "${apt[@]}" policy "$1" | awk '/Candidate:/ {print $2}')
      say "Debian $UML_SUITE no longer has $1 $2; fetching the newest, $newest"
      echo "$newest"
    fi
  }
  version=$(pinned user-mode-linux "$UML_VERSION")
  # The C library checked with that kernel; with another kernel, the newest.
  if [ "$version" = "$UML_VERSION" ]; then libc=$(pinned libc6 "$UML_LIBC_VERSION")
  else libc=$(apt-cache "${apt[@]}" policy libc6 | awk '/Candidate:/ {print $2}'); fi
  [ -n "$version" ] && [ "$version" != "(none)" ] && [ -n "$libc" ] && [ "$libc" != "(none)" ] || {
    say "Debian $UML_SUITE has no user-mode-linux or libc6 for $arch"; return 1; }
  (cd "$dir/debs" && apt-get "${apt[@]}" download "user-mode-linux=$version" "libc6=$libc") \
    >"$dir/apt/download.log" 2>&1 || {
    say "downloading user-mode-linux $version and libc6 $libc failed:"
    tail -5 "$dir/apt/download.log" >&2; return 1; }
  local deb
  for deb in "$dir"/debs/*.deb; do dpkg-deb -x "$deb" "$dir/root" || return 1; done
  # Run through its own ld.so (as a command) linux.uml miscomputes its memory layout, so the
  # binary itself is pointed at the unpacked C library.
  local lib="$dir/root/usr/lib/x86_64-linux-gnu"
  patchelf --set-interpreter "$lib/ld-linux-x86-64.so.2" --set-rpath "$lib" \
    "$dir/root/usr/bin/linux.uml" || return 1
  { echo "Debian $UML_SUITE's user-mode-linux $version (libc6 $libc)"
    (cd "$dir/debs" && sha256sum ./*.deb); } >"$dir/fetched"
  rm -rf "$dir/apt" "$dir/debs"
  echo "$version"
}

# The kernel hil/uml runs the SocketCAN tests in: the system's when it boots, else a newer one
# fetched into the venv (which the runner prefers when it is there).
setup_uml() {
  local dir line version system
  dir="$(cd "$VENV" && pwd)/uml"
  if [ -n "${ROADGATE_UML_KERNEL:-}" ]; then
    line=$(uml_boots) || {
      say "\$ROADGATE_UML_KERNEL ($ROADGATE_UML_KERNEL) cannot boot here: ${line#cannot boot: }"
      exit 1; }
    say "user-mode-linux: $ROADGATE_UML_KERNEL, as \$ROADGATE_UML_KERNEL says (it boots)"
    return
  fi
  if [ -f "$dir/fetched" ]; then
    if line=$(uml_boots); then
      say "user-mode-linux: $(head -1 "$dir/fetched") in $dir, fetched as the system's cannot boot"
      return
    fi
    say "the user-mode-linux fetched earlier cannot boot (${line#cannot boot: }); fetching it again"
  fi
  rm -rf "$dir"
  system=$(command -v linux.uml || echo /usr/bin/linux.uml)
  if line=$(uml_boots --kernel "$system"); then
    version=$(dpkg-query -W -f '${Version}' user-mode-linux 2>/dev/null || echo "version unknown")
    say "user-mode-linux: the system's $system ($version), which boots"
    return
  fi
  say "the system's $system cannot boot here (${line#cannot boot: })"
  say "fetching user-mode-linux from Debian $UML_SUITE into $dir"
  version=""
  if version=$(fetch_uml "$dir") && line=$(uml_boots); then
    say "user-mode-linux: $(head -1 "$dir/fetched") in $dir, fetched as the system's cannot boot"
    return
  fi
  [ -n "$version" ] && say "Debian $UML_SUITE's user-mode-linux $version cannot boot either: $line"
  rm -rf "$dir"
  say "no user-mode-linux kernel boots on this machine, so the SocketCAN and HIL tests cannot run;"
  say "set ROADGATE_UML_KERNEL to a linux.uml that boots (its modules in ../lib/uml/modules)"
  exit 1
}

start_services() {
  # The machine's own broker on 1883 and PostgreSQL on 5432 (the bridge's store tests), started
  # when installed but not running; tests that need a broker of their own start one.
  if ! (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null && [ -f /etc/mosquitto/mosquitto.conf ]; then
    say "starting Mosquitto on 127.0.0.1:1883"
    mosquitto -d -c /etc/mosquitto/mosquitto.conf || say "Mosquitto did not start"
  fi
  if ! (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null && command -v pg_ctlcluster >/dev/null; then
    for version in $(ls /etc/postgresql 2>/dev/null); do
      say "starting PostgreSQL $version on 127.0.0.1:5432"
      pg_ctlcluster --skip-systemctl-redirect "$version" main start || say "PostgreSQL did not start"
    done
  fi
}

if [ "$mode" = test ]; then
  command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || apt_install mosquitto mosquitto-clients
  command -v mosquitto_sub >/dev/null || apt_install mosquitto-clients
  start_services
  # tests/firmware/test_deploy.py checks the unit files with systemd-analyze verify.
  command -v systemd-analyze >/dev/null || apt_install systemd
  # tests/e2e/test_dashboard_browser.py drives Debian's Chromium through Playwright.
  [ -x /usr/bin/chromium ] || apt_install chromium
  # Kernels without CAN (CI) run the SocketCAN tests in a user-mode-linux guest (hil/uml).
  { command -v linux.uml >/dev/null || [ -x /usr/bin/linux.uml ]; } &&
    { command -v ip >/dev/null || [ -x /usr/sbin/ip ] || [ -x /sbin/ip ]; } &&
    { command -v insmod >/dev/null || [ -x /usr/sbin/insmod ] || [ -x /sbin/insmod ]; } ||
    apt_install user-mode-linux kmod can-utils iproute2
  "$VENV/bin/python" -c 'import socket; socket.socket(socket.AF_CAN, socket.SOCK_RAW, 1).close()' \
    2>/dev/null || setup_uml
fi
