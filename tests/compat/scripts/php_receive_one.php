<?php
// php_receive_one.php: one blocking msg_receive of <type> on <key> (created if absent),
// then the stat fields that say who sent and who received.
// Usage: php php_receive_one.php <key> <type>
$queue = msg_get_queue(intval($argv[1], 0), 0666);
if ($queue === false) exit(2);
if (!msg_receive($queue, intval($argv[2]), $type, 8192, $message, false, 0, $error)) {
    echo "msg_receive failed: errno $error\n";
    exit(1);
}
$st = msg_stat_queue($queue);
echo "received type $type: $message\n";
echo "pid ", getmypid(), " lspid {$st['msg_lspid']} lrpid {$st['msg_lrpid']} qnum {$st['msg_qnum']}\n";
