#!/usr/bin/perl
# perl_ipc_msg.pl: Perl's core IPC::Msg (snd, rcv, stat, set, remove) on one private
# queue, against whatever serves msgget & co. In a fresh namespace that queue is id 0,
# which Perl returns as "0 but true" (Rule 1.7). Prints "id <n>", then "ok <check>" or
# "FAIL <check>: <detail>" per check; exits 1 if any check failed.
use strict;
use warnings;
use Errno qw(ENOMSG EINVAL E2BIG);
use IPC::SysV qw(IPC_PRIVATE IPC_NOWAIT MSG_NOERROR S_IRUSR S_IWUSR);
use IPC::Msg;

my $failed = 0;
sub check {
    my ($name, $ok, $detail) = @_;
    if ($ok) { print "ok $name\n" } else { print "FAIL $name: ", ($detail // ""), "\n"; $failed++ }
}

my $q = IPC::Msg->new(IPC_PRIVATE, S_IRUSR | S_IWUSR);
check("new", defined $q, "msgget: $!");
exit 1 unless defined $q;
my $id = $q->id;
print "id $id\n";

check("snd_text", $q->snd(1, "hello"));
check("snd_binary", $q->snd(2, "world\0bin\xff"));
my $st = $q->stat;
check("stat_after_snd", $st->qnum == 2 && $st->qbytes == 16384 && $st->lspid == $$ &&
      $st->mode == 0600 && $st->uid == $> && $st->cuid == $> && $st->stime > 0,
      join(" ", map { "$_=" . $st->$_ } qw(qnum qbytes lspid mode uid cuid stime)));

my $buf;
my $type = $q->rcv($buf, 1024, 2);
check("rcv_by_type", defined $type && $type == 2 && $buf eq "world\0bin\xff",
      defined $type ? "type $type" : "rcv: $!");
$type = $q->rcv($buf, 3, 0);
check("rcv_e2big", !defined $type && $! == E2BIG, "type " . ($type // "undef") . " errno " . ($! + 0));
$type = $q->rcv($buf, 3, 0, MSG_NOERROR);
check("rcv_noerror_truncates", defined $type && $type == 1 && $buf eq "hel", $buf // "undef");
$type = $q->rcv($buf, 1024, 0, IPC_NOWAIT);
check("rcv_nowait_empty", !defined $type && $! == ENOMSG, "errno " . ($! + 0));

# Rule 7.10: set is STAT then SET, like PHP's msg_set_queue.
check("set", $q->set(qbytes => 512, mode => 0640));
$st = $q->stat;
check("set_applied", $st->qbytes == 512 && $st->mode == 0640 && $st->qnum == 0 && $st->lrpid == $$,
      join(" ", map { "$_=" . $st->$_ } qw(qbytes mode qnum lrpid)));

check("remove", $q->remove);
check("stat_after_remove", !defined $q->stat && $! == EINVAL, "errno " . ($! + 0));
check("snd_after_remove", !$q->snd(1, "x", IPC_NOWAIT) && $! == EINVAL, "errno " . ($! + 0));
exit($failed ? 1 : 0);
