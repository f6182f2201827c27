#!/bin/sh
# bench_smoke.sh BENCH WORKLOAD: sysvmq-bench --quick on WORKLOAD with 300 messages per
# repetition against the kernel and sysvmq, and Redis too when redis-server is on PATH.
# Passes when it exits 0 (every message arrived exactly once, intact) and prints a table
# whose every row has every backend's figures. No timing is asserted: the machine may be
# as slow or as busy as it likes.
set -u
bench=$1
workload=$2
backends=kernel,sysvmq
command -v redis-server >/dev/null 2>&1 && backends=kernel,sysvmq,redis
out=$("$bench" --quick --workload "$workload" --messages 300 --backends "$backends")
status=$?
printf '%s\n' "$out"
if [ "$status" -ne 0 ]; then
  echo "FAIL: sysvmq-bench exited with status $status"
  exit 1
fi
head='^workload +case +figure +better +kernel +sysvmq +sysvmq/kernel *$'
[ "$backends" = kernel,sysvmq,redis ] &&
  head='^workload +case +figure +better +kernel +sysvmq +sysvmq/kernel +redis +redis/kernel *$'
if ! printf '%s\n' "$out" | grep -Eq "$head"; then
  echo "FAIL: no table header naming $backends"
  exit 1
fi
# Each row: "median [min..max]" for every backend. Not root, memory's figures may be n/a
# (no /proc/slabinfo; few large messages fit in msgmnb): its rows only exist. Redis has no
# msgget to time: queues' "msgget x1000" row must say n/a for it instead of a figure.
cell='\[[^]]*\.\.[^]]*\]'
want="$cell.*$cell"
[ "$backends" = kernel,sysvmq,redis ] && want="$cell.*$cell.*$cell"
[ "$workload" = memory ] && [ "$(id -u)" -ne 0 ] && want='^memory '
rows=$(printf '%s\n' "$out" | grep "^$workload " | grep -vc 'msgget x1000')
full=$(printf '%s\n' "$out" | grep "^$workload " | grep -v 'msgget x1000' | grep -Ec "$want")
if [ "$rows" -eq 0 ] || [ "$rows" -ne "$full" ]; then
  echo "FAIL: $rows $workload rows, $full of them with figures for $backends"
  exit 1
fi
if [ "$workload" = queues ] && [ "$backends" = kernel,sysvmq,redis ] &&
  ! printf '%s\n' "$out" | grep 'msgget x1000' | grep -Eq "$cell.*$cell.* n/a +n/a *$"; then
  echo "FAIL: queues' msgget row should have kernel and sysvmq figures and n/a for redis"
  exit 1
fi
echo "PASS: $rows $workload rows with figures for $backends"
