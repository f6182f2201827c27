#!/bin/sh
# bench_smoke.sh BENCH WORKLOAD: sysvmq-bench --quick on WORKLOAD with 300 messages per
# repetition against the kernel and sysvmq. Passes when it exits 0 (every message arrived
# exactly once, intact) and prints a table whose every row has both backends' figures.
# No timing is asserted: the machine may be as slow or as busy as it likes.
set -u
bench=$1
workload=$2
out=$("$bench" --quick --workload "$workload" --messages 300 --backends kernel,sysvmq)
status=$?
printf '%s\n' "$out"
if [ "$status" -ne 0 ]; then
  echo "FAIL: sysvmq-bench exited with status $status"
  exit 1
fi
if ! printf '%s\n' "$out" | grep -Eq '^workload +case +figure +better +kernel +sysvmq +sysvmq/kernel *$'; then
  echo "FAIL: no table header naming kernel and sysvmq"
  exit 1
fi
# Each row: "median [min..max]" for the kernel and for sysvmq. Not root, memory's figures
# may be n/a (no /proc/slabinfo; few large messages fit in msgmnb): its rows only exist.
two='\[[^]]*\.\.[^]]*\].*\[[^]]*\.\.[^]]*\]'
[ "$workload" = memory ] && [ "$(id -u)" -ne 0 ] && two='^memory '
rows=$(printf '%s\n' "$out" | grep -c "^$workload ")
full=$(printf '%s\n' "$out" | grep "^$workload " | grep -Ec "$two")
if [ "$rows" -eq 0 ] || [ "$rows" -ne "$full" ]; then
  echo "FAIL: $rows $workload rows, $full of them with figures for both backends"
  exit 1
fi
echo "PASS: $rows $workload rows with kernel and sysvmq figures"
