#!/bin/sh
# bench_plot.sh BENCH: sysvmq-bench --plot x.svg on one small stream run writes a
# non-empty SVG when gnuplot is on PATH (skipped, status 77, when it is not).
set -u
bench=$1
command -v gnuplot >/dev/null 2>&1 || { echo "SKIP: no gnuplot on PATH"; exit 77; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$bench" --quick --workload pingpong --messages 200 --backends kernel,sysvmq \
  --plot "$dir/x.svg" >/dev/null 2>"$dir/err"
status=$?
cat "$dir/err"
[ "$status" -eq 0 ] || { echo "FAIL: sysvmq-bench exited with status $status"; exit 1; }
[ -s "$dir/x.svg" ] || { echo "FAIL: no SVG written"; exit 1; }
grep -q '<svg' "$dir/x.svg" || { echo "FAIL: $dir/x.svg is not an SVG"; exit 1; }
echo "PASS: --plot wrote a $(wc -c <"$dir/x.svg")-byte SVG"
