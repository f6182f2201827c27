<?php
// php_send_one.php: one blocking msg_send of <text> with <type> to the queue on <key>.
// Usage: php php_send_one.php <key> <type> <text>
$queue = msg_get_queue(intval($argv[1], 0), 0666);
if ($queue === false) exit(2);
if (!msg_send($queue, intval($argv[2]), $argv[3], false, true, $error)) {
    echo "msg_send failed: errno $error\n";
    exit(1);
}
echo "sent\n";
