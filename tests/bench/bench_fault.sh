#!/bin/sh
# bench_fault.sh BENCH FAULT: makes stream's producer 0 lose, duplicate or corrupt one
# message (SYSVMQ_BENCH_TEST_FAULT, a test-only hook) and passes when sysvmq-bench
# refuses the run: exit status 1, an error naming what went wrong, and no table.
set -u
bench=$1
fault=$2
case $fault in
  lose) expect='1 messages lost' ;;
  duplicate) expect='1 duplicated' ;;
  corrupt) expect='bad checksum' ;;
  *) echo "unknown fault $fault"; exit 2 ;;
esac
out=$(SYSVMQ_BENCH_TEST_FAULT=$fault "$bench" --quick --workload stream --messages 300 \
        --backends kernel,sysvmq 2>&1)
status=$?
printf '%s\n' "$out"
[ "$status" -eq 1 ] || { echo "FAIL: exit status $status, expected 1"; exit 1; }
printf '%s\n' "$out" | grep -q "$expect" || { echo "FAIL: no '$expect' in the error"; exit 1; }
if printf '%s\n' "$out" | grep -q '^workload '; then
  echo "FAIL: a table was printed for a run that lost or corrupted a message"
  exit 1
fi
echo "PASS: the $fault fault stopped the run"
