<?php
// php_features.php: PHP's sysvmsg functions one rule at a time, against whatever serves
// msgget & co. (the kernel, or sysvmqd under `sysvmq exec`). Prints "ok <check>" or
// "FAIL <check>: <detail>" per check; exits 1 if any check failed.
// Usage: php php_features.php <key>   (the key must not exist yet)
// Rules cited: SEMANTICS.md section 7 (PHP's layer) and 2.3, 3.3, 3.4, 4.4.
$key = intval($argv[1] ?? "0x70687031", 0);
$failed = 0;
function check(string $name, bool $ok, string $detail = ""): void {
    global $failed;
    if ($ok) {
        echo "ok $name\n";
    } else {
        echo "FAIL $name: $detail\n";
        $failed++;
    }
}
function show($v): string { return var_export($v, true); }

check("queue_absent_before", msg_queue_exists($key) === false);
$q = msg_get_queue($key, 0600);
check("get_queue", $q !== false);
check("queue_exists", msg_queue_exists($key) === true);
check("other_key_absent", msg_queue_exists($key + 1) === false);

$st = msg_stat_queue($q);
check("stat_keys", array_keys($st) === ["msg_perm.uid", "msg_perm.gid", "msg_perm.mode",
    "msg_stime", "msg_rtime", "msg_ctime", "msg_qnum", "msg_qbytes", "msg_lspid", "msg_lrpid"],
    show(array_keys($st)));
check("stat_fresh", $st["msg_perm.mode"] === 0600 && $st["msg_qnum"] === 0 &&
    $st["msg_qbytes"] === 16384 && $st["msg_stime"] === 0 && $st["msg_lspid"] === 0 &&
    $st["msg_ctime"] > 0 && $st["msg_perm.uid"] === posix_geteuid(), show($st));

// Rule 7.7 / 4.4: lowering qbytes and changing the mode need no privilege.
check("set_queue", msg_set_queue($q, ["msg_qbytes" => 100, "msg_perm.mode" => 0640]) === true);
$st = msg_stat_queue($q);
check("set_queue_applied", $st["msg_qbytes"] === 100 && $st["msg_perm.mode"] === 0640, show($st));

// Rule 2.3 and 7.9: a non-blocking send that does not fit → 11 (MSG_EAGAIN).
$sixty = str_repeat("x", 60);
check("send_fits", msg_send($q, 1, $sixty, false, false, $err) === true);
$r = @msg_send($q, 1, $sixty, false, false, $err);
check("send_nowait_full_eagain", $r === false && $err === MSG_EAGAIN && MSG_EAGAIN === 11,
    "returned " . show($r) . " error " . show($err));
check("receive_frees", msg_receive($q, 1, $type, 100, $msg, false, MSG_IPC_NOWAIT, $err) === true
    && $msg === $sixty && $type === 1);
check("set_queue_back", msg_set_queue($q, ["msg_qbytes" => 16384]) === true);

// Rule 7.5: a non-blocking receive with nothing matching → 42 (MSG_ENOMSG), no warning.
$type = -1;
$msg = "unchanged";
$r = msg_receive($q, 5, $type, 100, $msg, true, MSG_IPC_NOWAIT, $err);
check("receive_nowait_enomsg", $r === false && $err === MSG_ENOMSG && MSG_ENOMSG === 42 &&
    $type === 0 && $msg === false, show([$r, $err, $type, $msg]));

// Rule 3.3: MSG_EXCEPT takes the oldest message of another type.
foreach ([1, 2, 3] as $t) msg_send($q, $t, "t$t", false);
msg_receive($q, 1, $type, 100, $msg, false, MSG_EXCEPT | MSG_IPC_NOWAIT, $err);
check("msg_except", $type === 2 && $msg === "t2", show([$type, $msg, $err]));
msg_receive($q, 0, $type, 100, $msg, false, MSG_IPC_NOWAIT);
check("type_zero_oldest", $type === 1 && $msg === "t1", show([$type, $msg]));
msg_receive($q, 0, $type, 100, $msg, false, MSG_IPC_NOWAIT);

// Rule 3.3: a negative type takes the smallest type <= |type|, and `<=` includes it.
foreach ([5, 3, 4] as $t) msg_send($q, $t, "t$t", false);
msg_receive($q, -4, $type, 100, $msg, false, MSG_IPC_NOWAIT);
check("negative_type_smallest", $type === 3, show($type));
msg_receive($q, -4, $type, 100, $msg, false, MSG_IPC_NOWAIT);
check("negative_type_includes_equal", $type === 4, show($type));
$r = msg_receive($q, -4, $type, 100, $msg, false, MSG_IPC_NOWAIT, $err);
check("negative_type_none_left", $r === false && $err === 42, show([$r, $err]));
msg_receive($q, 5, $type, 100, $msg, false, MSG_IPC_NOWAIT);

// Rule 3.1 step 4 and 3.4: too long without MSG_NOERROR → 7 (E2BIG), the message stays;
// with MSG_NOERROR it is cut to the limit.
msg_send($q, 9, "0123456789abcdefghij", false);
$r = msg_receive($q, 9, $type, 10, $msg, false, MSG_IPC_NOWAIT, $err);
check("e2big_without_noerror", $r === false && $err === 7 && msg_stat_queue($q)["msg_qnum"] === 1,
    show([$r, $err]));
$r = msg_receive($q, 9, $type, 10, $msg, false, MSG_IPC_NOWAIT | MSG_NOERROR, $err);
check("noerror_truncates", $r === true && $msg === "0123456789" &&
    msg_stat_queue($q)["msg_qnum"] === 0, show([$r, $msg]));

// Binary text with NUL bytes passes unchanged with serialize=false.
$binary = "\0\x01nul\0inside\xff" . implode("", array_map("chr", range(0, 255))) . "\0";
check("send_binary", msg_send($q, 7, $binary, false) === true);
msg_receive($q, 7, $type, 8192, $msg, false, MSG_IPC_NOWAIT, $err);
check("binary_roundtrip", $msg === $binary && strlen($msg) === 270, "got " . strlen($msg) . " bytes");
$value = ["a" => 1, "list" => [1.5, true, null, "x\0y"]];
msg_send($q, 8, $value);
msg_receive($q, 8, $type, 8192, $msg, true, MSG_IPC_NOWAIT);
check("serialized_roundtrip", $msg === $value, show($msg));
check("serialized_no_trailing_nul", msg_send($q, 8, ["a" => 1]) &&
    msg_stat_queue($q)["msg_qnum"] === 1 &&
    msg_receive($q, 8, $type, 18, $msg, true, MSG_IPC_NOWAIT) && $msg === ["a" => 1]);

// Rule 7.9: type 0 → 22 (EINVAL).
$r = @msg_send($q, 0, "x", false, false, $err);
check("type_zero_einval", $r === false && $err === 22, show([$r, $err]));

$st = msg_stat_queue($q);
check("pids_are_mine", $st["msg_lspid"] === getmypid() && $st["msg_lrpid"] === getmypid(), show($st));

// Rule 7.8: after removal every call fails with 22.
check("remove", msg_remove_queue($q) === true);
check("gone", msg_queue_exists($key) === false);
$r = @msg_send($q, 1, "x", false, false, $err);
check("send_after_remove_einval", $r === false && $err === 22, show([$r, $err]));

exit($failed === 0 ? 0 : 1);
