#!/usr/bin/env bash
# scripts/test.sh: install what the build and the tests need (Debian 12, as root), build
# with warnings as errors, run every test. Exits non-zero on any failure.
#   scripts/test.sh                  configure + build into build/, run ctest
#   BUILD_DIR=dir scripts/test.sh    build elsewhere
#   scripts/test.sh --sanitize LIST  the same suite built with -fsanitize=LIST, e.g.
#                                    address,undefined (into build-asan/) or thread (into
#                                    build-tsan/); see "Sanitizer runs" below.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/packages.sh

sanitize=
while (($#)); do
  case $1 in
    --sanitize) (($# >= 2)) || { echo "$0: --sanitize needs a list" >&2; exit 2; }
                sanitize=$2; shift 2 ;;
    --sanitize=*) sanitize=${1#*=}; shift ;;
    *) echo "usage: $0 [--sanitize address,undefined|thread|LIST]" >&2; exit 2 ;;
  esac
done
[[ -z $sanitize || $sanitize =~ ^[a-z]+(,[a-z]+)*$ ]] ||
  { echo "$0: --sanitize: not a comma-separated list: $sanitize" >&2; exit 2; }

jobs=$(nproc 2>/dev/null || echo 2)

# Tests also run real programs against the daemon: PHP, Perl, Python, stress-ng,
# fakeroot, util-linux's ipcmk/ipcrm/ipcs. tests/install: systemd-analyze and
# systemd-socket-activate (systemd), man (man-db, for Documentation=man:), cpack's
# dpkg-shlibdeps (dpkg-dev). tests/bench: redis-server (the bench's Redis column) and
# gnuplot-nox (--plot).
ensure_packages "${BUILD_PACKAGES[@]}" libgtest-dev libgmock-dev util-linux procps \
  php8.2-cli perl python3 python3-sysv-ipc stress-ng fakeroot systemd man-db dpkg-dev \
  redis-server gnuplot-nox

if [[ -z $sanitize ]]; then
  build_dir=${BUILD_DIR:-build}
  cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSYSVMQ_WERROR=ON -DSYSVMQ_BUILD_TESTS=ON
  cmake --build "$build_dir" -j "$jobs"
  ctest --test-dir "$build_dir" --output-on-failure -j "$jobs" --timeout 600
  exit 0
fi

# Sanitizer runs. The build directory follows from the list: build-asan for address
# (with or without undefined), build-tsan for thread, else build-san-LIST. The bench is
# not built (no test needs it under sanitizers); the preload, compat and install suites
# are left out by tests/CMakeLists.txt (an instrumented shim cannot be preloaded into
# uninstrumented programs). Both transports run (the fast-path and the "socket." copy
# of each daemon suite): they are cheap next to the build and exercise different code.
case ,$sanitize, in
  *,thread,*) build_dir=build-tsan ;;
  *,address,*) build_dir=build-asan ;;
  *) build_dir=build-san-${sanitize//,/-} ;;
esac
build_dir=${BUILD_DIR:-$build_dir}

cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSYSVMQ_WERROR=ON \
  -DSYSVMQ_BUILD_TESTS=ON -DSYSVMQ_BUILD_BENCH=OFF -DSYSVMQ_SANITIZE="$sanitize"
cmake --build "$build_dir" -j "$jobs"

# Every report must fail the run, including one from a process whose exit status no
# test looks at (a sysvmqd a fixture stops, a forked child): each sanitizer writes its
# reports to files under $logs (log_path, one file per process) as well as halting the
# process, and any such file fails the run after ctest, printed in full.
logs=$(realpath "$build_dir")/sanitizer-logs
rm -rf "$logs" && mkdir -p "$logs"
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:log_path=$logs/asan"
# GCC 12's UBSan (beside ASan) ignores log_path and prints to stderr, so a UBSan report
# counts only through halt_on_error (the process exits 1); ctest's log is searched for
# "runtime error:" lines to list them at the end. scripts/lib/ubsan.supp lists the
# findings already reported, one check in one file each.
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$logs/ubsan:suppressions=$PWD/scripts/lib/ubsan.supp"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:log_path=$logs/tsan"
# Left out under ASan, like the preload suites: ExecTest.TheBuiltCliUsesTheBuiltShim (and
# its socket. twin) preloads the instrumented shim into an uninstrumented program, which
# ASan refuses ("ASan runtime does not come first in initial library list").
skip=()
case ,$sanitize, in *,address,*) skip=(-E '^(socket\.)?ExecTest\.TheBuiltCliUsesTheBuiltShim$') ;; esac
status=0
ctest --test-dir "$build_dir" --output-on-failure -j "$jobs" --timeout 600 "${skip[@]}" \
  --output-log "$logs.ctest.log" || status=$?
shopt -s nullglob
reports=("$logs"/*)
if ((${#reports[@]})); then
  for r in "${reports[@]}"; do echo "==== $r"; cat "$r"; done
  echo "$0: ${#reports[@]} sanitizer report(s) under $logs" >&2
  status=1
fi
if grep -E ': runtime error: |ERROR: [A-Za-z]+Sanitizer' "$logs.ctest.log"; then
  echo "$0: sanitizer report(s) in the test output ($logs.ctest.log)" >&2
  status=1
fi
exit "$status"
