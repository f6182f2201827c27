#!/usr/bin/env bash
# scripts/fuzz.sh: build the libFuzzer targets of tests/fuzz/ with clang-14 into
# build-fuzz/ and run each for SECONDS on a temporary copy of its seed corpus
# (tests/fuzz/corpus/TARGET/ is never written). Crash, leak and UB artifacts go to
# build-fuzz/artifacts/. One summary line per target; exits non-zero if any failed.
#   scripts/fuzz.sh [SECONDS [TARGET...]]     SECONDS defaults to 60; TARGETs to all
#   FUZZ_BUILD_DIR=dir, FUZZ_JOBS=n           build elsewhere / with n jobs
# Reproduce a failure: build-fuzz/bin/TARGET build-fuzz/artifacts/TARGET-crash-…
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/packages.sh

seconds=${1:-60}
[[ $seconds =~ ^[0-9]+$ ]] || { echo "usage: $0 [SECONDS [TARGET...]]" >&2; exit 2; }
shift $(($# > 0 ? 1 : 0))
build_dir=${FUZZ_BUILD_DIR:-build-fuzz}
jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}

# Every tests/fuzz/fuzz_*.cpp is a target of the same name.
if (($#)); then
  targets=("$@")
else
  targets=()
  for f in tests/fuzz/fuzz_*.cpp; do targets+=("$(basename "$f" .cpp)"); done
fi
for t in "${targets[@]}"; do
  [[ -f tests/fuzz/$t.cpp ]] || { echo "$0: no tests/fuzz/$t.cpp" >&2; exit 2; }
done

ensure_packages "${BUILD_PACKAGES[@]}" clang-14 libclang-rt-14-dev

CC=clang-14 CXX=clang++-14 cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSYSVMQ_BUILD_FUZZERS=ON -DSYSVMQ_BUILD_TESTS=OFF -DSYSVMQ_BUILD_BENCH=OFF >/dev/null
if (($#)); then
  cmake --build "$build_dir" -j "$jobs" --target "${targets[@]}"
else
  cmake --build "$build_dir" -j "$jobs" --target fuzz_targets
fi

artifacts=$build_dir/artifacts
mkdir -p "$artifacts"
work=$(mktemp -d "${TMPDIR:-/tmp}/sysvmq-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT

export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
summary=()
failed=0
for t in "${targets[@]}"; do
  bin=$build_dir/bin/$t
  [[ -x $bin ]] || { echo "$0: $t was not built (is it in tests/fuzz/CMakeLists.txt?)" >&2; exit 1; }
  corpus=$work/$t
  mkdir -p "$corpus"
  if [[ -d tests/fuzz/corpus/$t ]]; then cp -R "tests/fuzz/corpus/$t/." "$corpus/"; fi
  log=$work/$t.log
  echo "== $t: ${seconds}s on $(find "$corpus" -type f | wc -l) seeds"
  start=$(date +%s)
  rc=0
  "$bin" -max_total_time="$seconds" -detect_leaks=1 -timeout=25 -print_final_stats=1 \
    -artifact_prefix="$artifacts/$t-" "$corpus" >"$log" 2>&1 || rc=$?
  took=$(($(date +%s) - start))
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  if ((rc == 0)); then
    result=ok
  else
    failed=1
    if grep -q "LeakSanitizer" "$log"; then result=LEAK
    elif grep -q "runtime error:" "$log"; then result="UNDEFINED BEHAVIOUR"
    elif grep -q "ERROR: libFuzzer: timeout" "$log"; then result=TIMEOUT
    elif grep -q "out-of-memory" "$log"; then result=OUT-OF-MEMORY
    else result=CRASH
    fi
    cp "$log" "$artifacts/$t.log"
    tail -n 60 "$log"
    result="$result (log $artifacts/$t.log; $(grep -o "Test unit written to .*" "$log" | tail -n 1))"
  fi
  summary+=("$(printf '%-22s %10s runs %5ss  %s' "$t" "${runs:-?}" "$took" "$result")")
done

echo "== summary"
printf '%s\n' "${summary[@]}"
exit "$failed"
