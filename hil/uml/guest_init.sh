#!/bin/bash
# PID 1 of a user-mode-linux guest started by hil/uml/runner.py.
#
# The guest's root is the host's filesystem (hostfs), so this script, the job directory and the
# host's venv are all visible here. The kernel passes unknown `name=value` boot parameters to
# init as environment variables: `rg_modules` is the kernel's modules root, `rg_job` the job
# directory, which holds
#   argv, env, vcan  NUL-separated lists (command, its environment, interfaces to create)
#   cwd              the working directory
# and receives
#   status           the command's exit status, or "setup failed: <why>".
# The kernel does not report init's exit status to the host, hence the file; the guest is then
# powered off (exiting PID 1 would panic the kernel instead).
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
job=${rg_job:?rg_job= missing from the kernel command line}

power_off() {
  sync
  echo o >/proc/sysrq-trigger
  sleep 60 # power-off is asynchronous; never fall off the end of PID 1
}

fail() {
  echo "roadgate-uml: setup failed: $*" >&2
  echo "setup failed: $*" >"$job/status"
  power_off
}

mount -t proc proc /proc || fail "mount /proc"
# The console turns \n into \r\n by default; keep the command's output byte for byte.
stty -onlcr </dev/console 2>/dev/null
mount -t sysfs sysfs /sys || fail "mount /sys"
# The kernel mounts its own devtmpfs on /dev, without these directories.
mkdir -p /dev/pts /dev/shm
mount -t devpts -o mode=620,ptmxmode=666 devpts /dev/pts || fail "mount /dev/pts"
# multiprocessing's semaphores live in /dev/shm; the host's is not shared with the guest.
mount -t tmpfs -o mode=1777 tmpfs /dev/shm || fail "mount /dev/shm"

# rg_modules: the kernel's modules root (the runner passes the one installed beside the kernel).
modules=${rg_modules:-/usr/lib/uml/modules}/$(</proc/sys/kernel/osrelease)/kernel
[ -d "$modules" ] || fail "no modules for this kernel: $modules is missing"
# Dependency order; can-bcm backs python-can's periodic send.
for module in net/can/can net/can/can-raw net/can/can-bcm drivers/net/can/dev/can-dev \
  drivers/net/can/vcan; do
  insmod "$modules/$module.ko" || fail "insmod $modules/$module.ko"
done

# Sockets may ask for large receive buffers (SO_RCVBUF) without CAP_NET_ADMIN, and bursts
# queued for the softirq are not dropped at the default backlog of 1000.
echo 16777216 >/proc/sys/net/core/rmem_max
echo 16777216 >/proc/sys/net/core/wmem_max
echo 10000 >/proc/sys/net/core/netdev_max_backlog

ip link set dev lo up || fail "ip link set dev lo up"
mapfile -d '' -t interfaces <"$job/vcan" || fail "read $job/vcan"
for name in "${interfaces[@]}"; do
  # mtu 72 makes the interface CAN FD capable; classic frames still pass.
  ip link add dev "$name" type vcan &&
    ip link set dev "$name" mtu 72 txqueuelen 10000 up ||
    fail "create vcan interface $name"
done

mapfile -d '' -t environment <"$job/env" || fail "read $job/env"
mapfile -d '' -t argv <"$job/argv" || fail "read $job/argv"
cd "$(<"$job/cwd")" || fail "cd $(<"$job/cwd")"

echo "roadgate-uml: ready" >"$job/ready"
env -i -- "${environment[@]}" "${argv[@]}" </dev/null
echo "$?" >"$job/status"
power_off
