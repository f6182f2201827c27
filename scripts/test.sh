#!/usr/bin/env bash
# scripts/test.sh: install what the build and the tests need (Debian 12, as root), build
# with warnings as errors, run every test. Exits non-zero on any failure.
#   scripts/test.sh                  configure + build into build/, run ctest
#   BUILD_DIR=dir scripts/test.sh    build elsewhere
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/packages.sh

build_dir=${BUILD_DIR:-build}
jobs=$(nproc 2>/dev/null || echo 2)

# Tests also run real programs against the daemon: PHP, Perl, Python, stress-ng,
# fakeroot, util-linux's ipcmk/ipcrm/ipcs. tests/install: systemd-analyze and
# systemd-socket-activate (systemd), man (man-db, for Documentation=man:), cpack's
# dpkg-shlibdeps (dpkg-dev). tests/bench: redis-server (the bench's Redis column) and
# gnuplot-nox (--plot).
ensure_packages "${BUILD_PACKAGES[@]}" libgtest-dev libgmock-dev util-linux procps \
  php8.2-cli perl python3 python3-sysv-ipc stress-ng fakeroot systemd man-db dpkg-dev \
  redis-server gnuplot-nox

cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSYSVMQ_WERROR=ON -DSYSVMQ_BUILD_TESTS=ON
cmake --build "$build_dir" -j "$jobs"
ctest --test-dir "$build_dir" --output-on-failure -j "$jobs" --timeout 600
