#!/usr/bin/env bash
# Install (or upgrade) RoadGate on a Raspberry Pi OS / Debian (arm64 or amd64) board, as root:
#
#   /opt/roadgate/venv       the project in its own virtual environment (roadgate command)
#   /opt/roadgate/share      these deployment files and the example configs, for reference
#   /etc/roadgate            configuration: box.toml (bridge.toml), never overwritten
#   /var/lib/roadgate        state: the outbox, never touched
#   the roadgate user        (systemd-sysusers), member of dialout for serial GNSS
#   roadgate-box.service, roadgate-bridge.service, udev rules for CAN and GNSS
#
# Idempotent: run it again to upgrade; config and outbox stay as they are, the units and udev
# rules are replaced (local changes to a unit belong in `systemctl edit roadgate-box`).
#
# usage: install.sh [--root DIR] [--source DIR|WHEEL] [--config FILE] [--python PY]
#                   [--pip-args "ARGS"]
#   --root DIR     install into DIR as if it were / (a scratch root or an image); systemctl and
#                  udevadm are not called, files are not given to the roadgate user
#   --source       what pip installs: the source tree (default: the one holding this script) or
#                  a wheel built with `pip wheel --no-deps .`
#   --config FILE  the box's config, copied to /etc/roadgate/box.toml unless one is there
#   --python PY    the Python (>= 3.11) the venv is made with (default python3)
#   --pip-args     extra pip arguments, e.g. "--no-index --find-links /media/usb/wheels" offline
set -euo pipefail

say() { printf '[roadgate install] %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

here=$(cd "$(dirname "$0")" && pwd)
root=""
source_dir=$(cd "$here/../.." && pwd)
config=""
python=python3
pip_args=""
while [ $# -gt 0 ]; do
  case $1 in
    --root) root=${2:?--root needs a directory}; shift 2 ;;
    --source) source_dir=${2:?--source needs a path}; shift 2 ;;
    --config) config=${2:?--config needs a file}; shift 2 ;;
    --python) python=${2:?--python needs an interpreter}; shift 2 ;;
    --pip-args) pip_args=${2-}; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done

if [ -n "$root" ]; then
  mkdir -p "$root"
  root=$(cd "$root" && pwd)
  [ "$root" = / ] && root=""
fi
[ -n "$root" ] || [ "$(id -u)" = 0 ] || die "run it as root (sudo), or with --root DIR"
[ -e "$source_dir" ] || die "no source at $source_dir"
[ -z "$config" ] || [ -f "$config" ] || die "no config file $config"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null ||
  die "RoadGate needs Python >= 3.11 ($python); on Debian: apt-get install python3 python3-venv"

opt=$root/opt/roadgate
etc=$root/etc/roadgate
state=$root/var/lib/roadgate
venv=$opt/venv
case $here/ in "$opt"/*) die "run the install.sh of a source tree, not the installed copy" ;; esac

# The user, from the same sysusers file systemd would use; useradd where there is no sysusers.
install -D -m 0644 "$here/systemd/roadgate.sysusers" "$root/usr/lib/sysusers.d/roadgate.conf"
if command -v systemd-sysusers >/dev/null; then
  mkdir -p "$root/etc"
  systemd-sysusers ${root:+--root="$root"} "$root/usr/lib/sysusers.d/roadgate.conf" >/dev/null
elif [ -z "$root" ]; then
  getent passwd roadgate >/dev/null || useradd --system --user-group --home-dir /var/lib/roadgate \
    --no-create-home --shell /usr/sbin/nologin --comment "RoadGate edge daemon" roadgate
  usermod -a -G dialout roadgate
else
  say "no systemd-sysusers: the roadgate user is created when the root first boots (sysusers.d)"
fi

# The venv: made once, upgraded in place.
if [ ! -x "$venv/bin/python" ]; then
  say "creating $venv"
  "$python" -m venv "$venv" 2>/dev/null || die "cannot create a venv: apt-get install python3-venv"
fi
say "installing $source_dir into $venv"
# shellcheck disable=SC2086  # pip_args holds several arguments on purpose
"$venv/bin/python" -m pip install -q --upgrade $pip_args "$source_dir"
"$venv/bin/roadgate" --help >/dev/null || die "$venv/bin/roadgate does not run"
# Optional: without a C compiler the CAN reader and the decoder make the same values with
# numpy, more slowly.
"$venv/bin/python" -P -c 'from protocols.dbc import _kernels; from hal.can import _received' 2>/dev/null ||
  say "the compiled kernels of the CAN reader and the decoder were not built (numpy parses and decodes, more slowly): apt-get install gcc python3-dev, then run this again"

# Reference files: replaced on every upgrade.
rm -rf "$opt/share"
mkdir -p "$opt/share/deploy" "$opt/share/examples"
cp -R "$here/." "$opt/share/deploy/"
find "$opt/share/deploy" \( -name '__pycache__' -o -name '__init__.py' \) -prune -exec rm -rf {} +
if [ -d "$source_dir/firmware_py/examples" ]; then
  cp "$source_dir"/firmware_py/examples/*.toml "$opt/share/examples/"
fi

# Config and state: created when missing, never overwritten.
install -d -m 0750 "$etc" "$state"
if [ -n "$config" ] && [ ! -e "$etc/box.toml" ]; then
  install -m 0640 "$config" "$etc/box.toml"
  say "installed $config as $etc/box.toml"
fi

# Units and udev rules: ours, replaced on upgrade.
install -D -m 0644 -t "$root/etc/systemd/system" "$here"/systemd/*.service
install -D -m 0644 -t "$root/etc/udev/rules.d" "$here"/udev/*.rules

if [ -z "$root" ]; then
  chown -R root:roadgate "$etc"
  chown roadgate:roadgate "$state"
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    udevadm control --reload 2>/dev/null || true
    systemctl try-restart roadgate-box.service roadgate-bridge.service
  fi
fi

[ -e "$etc/box.toml" ] || say "next: write $etc/box.toml (examples in $opt/share/examples)"
say "then: systemctl enable --now roadgate-box; journalctl -u roadgate-box -f"
say "CAN HATs: add the lines of $opt/share/deploy/boot/config.txt.can to /boot/firmware/config.txt"
say "done: $venv, $etc, $state${root:+ (in $root)}"
