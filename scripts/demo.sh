#!/usr/bin/env bash
# scripts/demo.sh: build sysvmq, start a daemon on a private socket, and run two
# unmodified PHP scripts through it (examples/php): one sends two messages, the other
# receives them. `sysvmq ls` shows the queue in between. The daemon is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/packages.sh

ensure_packages "${BUILD_PACKAGES[@]}" php8.2-cli
build_dir=${BUILD_DIR:-build}
# A fresh build needs no test framework for the demo; an existing one keeps its settings
# (scripts/test.sh's tests included).
configure=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
[[ -f $build_dir/CMakeCache.txt ]] || configure+=(-DSYSVMQ_BUILD_TESTS=OFF)
cmake -S . -B "$build_dir" "${configure[@]}" >/dev/null
cmake --build "$build_dir" -j "$(nproc 2>/dev/null || echo 2)" --target sysvmqd sysvmq_cli sysvmq_preload

run_dir=$(mktemp -d /tmp/sysvmq-demo-XXXXXX)
socket=$run_dir/sysvmq.sock
daemon_pid=
cleanup() {
  if [[ -n $daemon_pid ]] && kill -0 "$daemon_pid" 2>/dev/null; then
    kill -TERM "$daemon_pid"
    wait "$daemon_pid" || true
  fi
  rm -rf "$run_dir"
}
trap cleanup EXIT

"$build_dir/bin/sysvmqd" --socket "$socket" --log-level warn &
daemon_pid=$!
for _ in $(seq 100); do
  [[ -S $socket ]] && break
  sleep 0.05
done
sysvmq() { "$build_dir/bin/sysvmq" --socket "$socket" "$@"; }

echo "== sysvmqd (pid $daemon_pid) listens on $socket"
echo
echo "== php examples/php/msg_send.php   (through sysvmq exec: LD_PRELOAD=libsysvmq_preload.so)"
sysvmq exec -- php examples/php/msg_send.php
echo
echo "== sysvmq ls"
sysvmq ls
echo
echo "== php examples/php/msg_receive.php"
sysvmq exec -- php examples/php/msg_receive.php
echo
echo "== sysvmq ls   (the queue is gone; none of this used the kernel's table, which ipcs -q shows)"
sysvmq ls
