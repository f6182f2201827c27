<?php
// Sends two messages to a queue on a fixed key and shows the queue's stat fields.
// Runs unchanged against the kernel or, under `sysvmq exec`, against sysvmqd.
$key = 0x73797376;  // "sysv"
$queue = msg_get_queue($key, 0666);
if ($queue === false) {
    fwrite(STDERR, "msg_get_queue failed\n");
    exit(1);
}
foreach ([[1, "hello from PHP"], [2, ["order" => 42, "items" => ["tea", "milk"]]]] as [$type, $payload]) {
    if (!msg_send($queue, $type, $payload, true, true, $error)) {
        fwrite(STDERR, "msg_send failed: errno $error\n");
        exit(1);
    }
    echo "sent type $type\n";
}
print_r(msg_stat_queue($queue));
