# No blocking network call in a worker: strace a worker while it verifies,
# reserves and settles paid requests (chain node, Redis, backend), and check
# every connect() is non-blocking (EINPROGRESS), every poll() has a zero
# timeout, and no system call other than epoll_wait takes long.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep);
use X402Test;

plan skip_all => 'strace is not installed' unless -x '/usr/bin/strace';

start_services(redis => 1, devchain => 1);

my $C = chain_env();
my $srv = server_start({ http_config => settler_http(),
                         config => paid_location('/paid/') });

my ($worker) = `pgrep -P $srv->{pid}` =~ /(\d+)/;
my $trace = "$srv->{dir}/worker.strace";
my $pid = fork // die $!;
if ($pid == 0) {
    exec 'strace', '-f', '-T', '-p', $worker, '-o', $trace;
    exit 127;
}
sleep 1;

my $ok = 0;
for (1 .. 20) {
    my $h = pay("--amount 1000000000000000 --pay-to $C->{X402_PAY_TO}");
    $ok++ if http_request($srv, 'GET /paid/x', { 'PAYMENT-SIGNATURE' => $h })
             ->{status} == 200;
}
is($ok, 20, '20 paid requests verified, reserved, settled and served');
sleep 0.3;
kill 'INT', $pid;
waitpid($pid, 0);

open my $fh, '<', $trace or die "$trace: $!";
my @lines = <$fh>;
close $fh;

my @connects = grep { / connect\(/ } @lines;
cmp_ok(scalar @connects, '>=', 2, 'the worker opened connections (RPC, Redis, backend)');
is(scalar(grep { !/EINPROGRESS/ } @connects), 0, 'every connect() is non-blocking')
    or diag(grep { !/EINPROGRESS/ } @connects);
my @polls = grep { / poll\(/ } @lines;
is(scalar(grep { !/\], \d+, 0\) / } @polls), 0, 'every poll() has a zero timeout');
my @slow = grep { !/epoll_wait/ && /<(\d+\.\d+)>$/ && $1 > 0.05 } @lines;
is(scalar @slow, 0, 'no other system call took over 50 ms') or diag(@slow);
diag(sprintf "%d system calls traced, %d connect, %d poll", scalar @lines,
     scalar @connects, scalar @polls);

server_stop($srv, 'strace');
done_testing();
