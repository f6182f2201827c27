<?php
// Receives the two messages msg_send.php left, showing the stat fields after each,
// then removes the queue.
$key = 0x73797376;  // "sysv"
$queue = msg_get_queue($key, 0666);
if ($queue === false) {
    fwrite(STDERR, "msg_get_queue failed\n");
    exit(1);
}
for ($i = 0; $i < 2; $i++) {
    if (!msg_receive($queue, 0, $type, 8192, $message, true, 0, $error)) {
        fwrite(STDERR, "msg_receive failed: errno $error\n");
        exit(1);
    }
    echo "received type $type: ", json_encode($message), "\n";
    print_r(msg_stat_queue($queue));
}
var_dump(msg_remove_queue($queue));
