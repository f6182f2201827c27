#!/bin/sh
# fakeroot_inside.sh: what runs inside `fakeroot-sysv` for the compat test. Makes a file,
# gives it to root, shows it, then says who it thinks it is, what it preloads, what
# faked (found by the SYSVMQ_SOCKET it inherited) preloads, and the daemon's queues.
# Usage: fakeroot_inside.sh <work dir> <sysvmq cli> <socket>
set -e
cd "$1"
touch f
chown 0:0 f
ls -ln f
echo "uid $(id -u)"
echo "preload $LD_PRELOAD"
for dir in /proc/[0-9]*; do
  [ "$(cat "$dir/comm" 2>/dev/null)" = faked-sysv ] || continue
  if tr '\0' '\n' < "$dir/environ" 2>/dev/null | grep -qx "SYSVMQ_SOCKET=$3"; then
    echo "faked_preload $(tr '\0' '\n' < "$dir/environ" | sed -n 's/^LD_PRELOAD=//p')"
  fi
done
echo "--- queues"
"$2" --socket "$3" ls --json
