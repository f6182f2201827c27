#!/usr/bin/env bash
# install_test.sh MODE BUILD_DIR TEST_DIR LIBDIR VERSION: sysvmq as installed, judged
# from outside. Every mode installs BUILD_DIR into a temporary prefix of its own first.
#   layout      the file list; units and sysvmq.pc name the prefix; SONAME; `sysvmq exec`
#               finds the installed shim
#   consumers   a C program built via pkg-config and via find_package(sysvmq), and one on
#               libsysvmq.a, each round-tripping through the INSTALLED sysvmqd (started
#               with the installed default config)
#   units       systemd-analyze verify (system and user units); security --offline
#               exposure <= 1.5
#   activation  systemd-socket-activate + installed sysvmqd; mk/send/recv via installed CLI
#   deb         cpack -G DEB; dpkg-deb -c lists everything, conffile, Depends, /usr paths
# Ends with "N passed, M failed"; exits non-zero on any failure.
set -uo pipefail
mode=$1 build=$2 testdir=$3 libdir=$4 version=$5

tmp=$(mktemp -d /tmp/sysvmq-install.XXXXXX)
prefix=$tmp/prefix
daemon_pid=""
passed=0 failed=0

cleanup() {
  if [[ -n $daemon_pid ]]; then
    kill -TERM "$daemon_pid" 2>/dev/null
    wait "$daemon_pid" 2>/dev/null
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

pass() { echo "PASS: $1"; passed=$((passed + 1)); }
fail() { echo "FAIL: $1"; failed=$((failed + 1)); }
# check NAME CMD...: runs CMD, its output kept in $tmp/out and shown on failure.
check() {
  local name=$1
  shift
  if "$@" >"$tmp/out" 2>&1; then pass "$name"; else fail "$name"; sed 's/^/    /' "$tmp/out"; fi
}
finish() {
  echo "$passed passed, $failed failed"
  ((failed == 0))
  exit
}

wait_for_socket() {  # PATH: up to 5 s
  local i
  for ((i = 0; i < 50; i++)); do
    [[ -S $1 ]] && return 0
    sleep 0.1
  done
  return 1
}

# stop_daemon: SIGTERM, and the daemon must exit 0 (sysvmqd.8, SIGNALS).
stop_daemon() {
  kill -TERM "$daemon_pid" && wait "$daemon_pid"
  local rc=$?
  daemon_pid=""
  return "$rc"
}

check "cmake --install --prefix" cmake --install "$build" --prefix "$prefix"
[[ -x $prefix/sbin/sysvmqd ]] || finish

lib=$prefix/$libdir
case $mode in
layout)
  for f in sbin/sysvmqd bin/sysvmq \
    "$libdir/libsysvmq.so" "$libdir/libsysvmq.so.0" "$libdir/libsysvmq.so.$version" \
    "$libdir/libsysvmq.a" "$libdir/libsysvmq_preload.so" \
    include/sysvmq/sysvmq.h include/sysvmq/client.hpp include/sysvmq/export.h \
    "$libdir/pkgconfig/sysvmq.pc" "$libdir/cmake/sysvmq/sysvmqConfig.cmake" \
    "$libdir/cmake/sysvmq/sysvmqConfigVersion.cmake" "$libdir/cmake/sysvmq/sysvmqTargets.cmake" \
    lib/systemd/system/sysvmqd.service lib/systemd/system/sysvmqd.socket \
    lib/systemd/user/sysvmqd.service lib/systemd/user/sysvmqd.socket \
    share/man/man8/sysvmqd.8 share/man/man1/sysvmq.1 etc/sysvmq/sysvmqd.json; do
    check "installed: $f" test -e "$prefix/$f"
  done
  # Nothing left over from the build tree: no test programs, no internal archives.
  check "no test or example programs installed" \
    bash -c "! ls '$prefix/bin' '$prefix/sbin' | grep -E 'test|probe|example|deepbind'"
  check "no internal archives installed" \
    bash -c "! ls '$lib' | grep -E 'proto|core|server|test'"
  check "SONAME libsysvmq.so.0" \
    bash -c "readelf -d '$lib/libsysvmq.so' | grep -F '[libsysvmq.so.0]'"
  check "system unit runs the installed daemon with the installed config" \
    grep -Fx "ExecStart=$prefix/sbin/sysvmqd --config $prefix/etc/sysvmq/sysvmqd.json" \
    "$prefix/lib/systemd/system/sysvmqd.service"
  check "user unit runs the installed daemon" \
    grep -F "ExecStart=$prefix/sbin/sysvmqd " "$prefix/lib/systemd/user/sysvmqd.service"
  check "no @VAR@ left in installed files" \
    bash -c "! grep -rl '@[A-Z_]*@' '$prefix/lib/systemd' '$lib/pkgconfig'"
  check "sysvmq.pc: version $version" \
    env PKG_CONFIG_PATH="$lib/pkgconfig" pkg-config --exact-version="$version" sysvmq
  check "sysvmq.pc names the prefix" \
    bash -c "PKG_CONFIG_PATH='$lib/pkgconfig' pkg-config --libs sysvmq | grep -F -- '-L$lib'"
  # `sysvmq exec` looks in <bin>/../lib[/<multiarch>]: it must find the installed shim.
  check "sysvmq exec finds the installed shim" \
    bash -c "'$prefix/bin/sysvmq' --socket '$tmp/none.sock' exec -- sh -c 'echo \$LD_PRELOAD' \
             | grep -Fx '$lib/libsysvmq_preload.so'"
  check "installed sysvmqd --version" \
    bash -c "'$prefix/sbin/sysvmqd' --version | grep -Fx 'sysvmqd $version'"
  ;;

consumers)
  sock=$tmp/d.sock
  "$prefix/sbin/sysvmqd" --config "$prefix/etc/sysvmq/sysvmqd.json" --socket "$sock" \
    --log-level warn &
  daemon_pid=$!
  check "installed sysvmqd starts with the installed default config" wait_for_socket "$sock"

  export PKG_CONFIG_PATH=$lib/pkgconfig
  check "build via pkg-config" bash -c \
    "cc -std=c99 -Wall -Werror '$testdir/consumer/consumer.c' -o '$tmp/c_pkgconfig' \
        \$(pkg-config --cflags --libs sysvmq)"
  check "run (pkg-config build)" \
    env LD_LIBRARY_PATH="$lib" SYSVMQ_SOCKET="$sock" "$tmp/c_pkgconfig"
  check "pkg-config build uses the installed libsysvmq" bash -c \
    "LD_LIBRARY_PATH='$lib' ldd '$tmp/c_pkgconfig' | grep -F '$lib/libsysvmq.so.0'"
  check "C++ header compiles via pkg-config" bash -c \
    "echo '#include <sysvmq/client.hpp>' | c++ -std=c++20 -fsyntax-only -x c++ - \
        \$(pkg-config --cflags sysvmq)"
  check "static build on libsysvmq.a" bash -c \
    "cc '$testdir/consumer/consumer.c' -o '$tmp/c_static' \$(pkg-config --cflags sysvmq) \
        '$lib/libsysvmq.a' -lstdc++ -lm -pthread"
  check "run (static build)" env SYSVMQ_SOCKET="$sock" "$tmp/c_static"

  check "configure via find_package(sysvmq)" \
    cmake -S "$testdir/consumer" -B "$tmp/cmake-consumer" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
  check "find_package found the installed package" \
    grep -F "sysvmq_DIR:PATH=$lib/cmake/sysvmq" "$tmp/cmake-consumer/CMakeCache.txt"
  check "build via find_package(sysvmq)" cmake --build "$tmp/cmake-consumer"
  check "run (find_package build)" env SYSVMQ_SOCKET="$sock" "$tmp/cmake-consumer/consumer"
  check "installed sysvmqd stops with status 0 on SIGTERM" stop_daemon
  ;;

units)
  export MANPATH=$prefix/share/man
  sysdir=$prefix/lib/systemd/system
  check "systemd-analyze verify (system units)" bash -c \
    "systemd-analyze verify '$sysdir/sysvmqd.socket' '$sysdir/sysvmqd.service' 2>&1 \
       | tee /dev/stderr | (! grep .)"
  userdir=$prefix/lib/systemd/user
  mkdir -p "$tmp/run"  # %t: the user manager needs a runtime directory
  check "systemd-analyze verify (user units)" bash -c \
    "XDG_RUNTIME_DIR='$tmp/run' systemd-analyze --user verify '$userdir/sysvmqd.socket' '$userdir/sysvmqd.service' 2>&1 \
       | tee /dev/stderr | (! grep .)"
  systemd-analyze security --offline=yes "$sysdir/sysvmqd.service" >"$tmp/security" 2>&1
  exposure=$(sed -n 's/.*Overall exposure level for sysvmqd.service: \([0-9.]*\).*/\1/p' \
    "$tmp/security")
  echo "exposure: ${exposure:-none}"
  check "systemd-analyze security: exposure ${exposure:-?} <= 1.5" \
    awk -v e="${exposure:-99}" 'BEGIN { exit !(e <= 1.5) }'
  ;;

activation)
  sock=$tmp/a.sock
  cli=$prefix/bin/sysvmq
  # No NOTIFY_SOCKET here: the daemon must not need one.
  systemd-socket-activate -l "$sock" "$prefix/sbin/sysvmqd" --log-level warn \
    >"$tmp/activate.log" 2>&1 &
  daemon_pid=$!
  check "systemd-socket-activate listens" wait_for_socket "$sock"
  id=$(timeout 10 "$cli" --socket "$sock" mk 2>"$tmp/mk.err")
  id=${id##*: }  # "Message queue id: 0", as ipcmk says it
  check "sysvmq mk through the passed socket (id '$id')" test -n "$id"
  check "sysvmq send" timeout 10 "$cli" --socket "$sock" send --id "$id" "activated hello"
  check "sysvmq recv" bash -c \
    "timeout 10 '$cli' --socket '$sock' recv --nowait --id '$id' | grep -Fx 'activated hello'"
  check "sysvmq rm" timeout 10 "$cli" --socket "$sock" rm -q "$id"
  check "socket-activated sysvmqd stops with status 0 on SIGTERM" stop_daemon
  sed 's/^/    daemon: /' "$tmp/activate.log"
  ;;

deb)
  check "cpack -G DEB" cpack -G DEB --config "$build/CPackConfig.cmake" -B "$tmp/pkg"
  deb=$(find "$tmp/pkg" -maxdepth 1 -name "sysvmq_*.deb" | head -1)
  check "one .deb made (${deb##*/})" test -f "$deb"
  [[ -f $deb ]] || finish
  dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|; s|/$||' >"$tmp/contents"
  for f in /usr/sbin/sysvmqd /usr/bin/sysvmq \
    "/usr/$libdir/libsysvmq.so" "/usr/$libdir/libsysvmq.so.0" "/usr/$libdir/libsysvmq.so.$version" \
    "/usr/$libdir/libsysvmq.a" "/usr/$libdir/libsysvmq_preload.so" \
    /usr/include/sysvmq/sysvmq.h /usr/include/sysvmq/client.hpp /usr/include/sysvmq/export.h \
    "/usr/$libdir/pkgconfig/sysvmq.pc" "/usr/$libdir/cmake/sysvmq/sysvmqConfig.cmake" \
    "/usr/$libdir/cmake/sysvmq/sysvmqConfigVersion.cmake" \
    "/usr/$libdir/cmake/sysvmq/sysvmqTargets.cmake" \
    /usr/lib/systemd/system/sysvmqd.service /usr/lib/systemd/system/sysvmqd.socket \
    /usr/lib/systemd/user/sysvmqd.service /usr/lib/systemd/user/sysvmqd.socket \
    /usr/share/man/man8/sysvmqd.8 /usr/share/man/man1/sysvmq.1 /etc/sysvmq/sysvmqd.json; do
    check "in the .deb: $f" grep -Fxq "$f" "$tmp/contents"
  done
  check "package name sysvmq, version $version" bash -c \
    "[[ \$(dpkg-deb -f '$deb' Package Version) == 'Package: sysvmq'\$'\\n''Version: $version' ]]"
  check "Depends names libc6 and libstdc++6" bash -c \
    "dpkg-deb -f '$deb' Depends | tee /dev/stderr | grep -F libc6 | grep -F libstdc++6"
  check "conffile /etc/sysvmq/sysvmqd.json" bash -c \
    "dpkg-deb -I '$deb' conffiles | grep -Fx /etc/sysvmq/sysvmqd.json"
  check "packaged unit runs /usr/sbin/sysvmqd with /etc/sysvmq/sysvmqd.json" bash -c \
    "dpkg-deb --fsys-tarfile '$deb' | tar -xO ./usr/lib/systemd/system/sysvmqd.service \
       | grep -Fx 'ExecStart=/usr/sbin/sysvmqd --config /etc/sysvmq/sysvmqd.json'"
  check "packaged sysvmq.pc names /usr" bash -c \
    "dpkg-deb --fsys-tarfile '$deb' | tar -xO './usr/$libdir/pkgconfig/sysvmq.pc' \
       | grep -Fx 'prefix=/usr'"
  ;;

*)
  fail "unknown mode '$mode'"
  ;;
esac
finish
