#!/usr/bin/env bash
# scripts/test.sh: install what the build and the tests need (Debian 12, as root), build
# with warnings as errors, run every test. Exits non-zero on any failure.
#   scripts/test.sh              configure + build into build/, run ctest
#   BUILD_DIR=dir scripts/test.sh   build elsewhere
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=${BUILD_DIR:-build}
jobs=$(nproc 2>/dev/null || echo 2)

packages=(build-essential cmake pkg-config libboost-dev libspdlog-dev nlohmann-json3-dev
          libgtest-dev libgmock-dev util-linux)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "scripts/test.sh: missing packages: ${missing[*]} (run as root to install them)" >&2
    exit 1
  fi
  echo "scripts/test.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSYSVMQ_WERROR=ON
cmake --build "$build_dir" -j "$jobs"
ctest --test-dir "$build_dir" --output-on-failure -j "$jobs" --timeout 600
