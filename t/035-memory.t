#!/usr/bin/perl
# Memory under load: one nginx worker answers 10,000 requests (mostly unpaid
# or malformed 402s, a few hundred fresh payments verified on the devchain,
# reserved in Redis and settled in the background with `x402_settle async`,
# and replays of them).  The worker's RSS (VmRSS) and open descriptors are
# read after a 500-request warm-up and again after the 10,000 requests; the
# growth must stay below $RSS_BOUND_KB.  Then, unless X402_VALGRIND=0 or
# valgrind is missing, a few hundred requests under valgrind (master_process
# off) must show no error in the module's frames.  docs/security.md
# "Memory safety".
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use POSIX qw(_exit);
use Time::HiRes qw(time sleep);
use X402Test;

my $RSS_BOUND_KB = $ENV{X402_RSS_BOUND_KB} || 2048;
my $N_TOTAL = 10_000;
my $N_PAID = 300;
my $N_REPLAY = 100;

start_services(redis => 1, devchain => 1);

my $C = chain_env();
my $PRICE = '1000000000000000';

my $HTTP = settler_http("x402_settle_timeout 10s;\nx402_reconcile_interval 1s;\n");
my $CONFIG = "keepalive_requests 100000;\n" . paid_location('/paid/', more => <<'MORE');
x402_settle async;
x402_description "memory test";
MORE

sub payment { pay("--amount $PRICE --pay-to $C->{X402_PAY_TO} " . ($_[0] // '')) }

# malformed and refused payments, answered without reserving anything
my @BAD = (
    {},                                                     # unpaid
    { 'PAYMENT-SIGNATURE' => 'not base64 !!!' },
    { 'PAYMENT-SIGNATURE' => 'eyJub3QiOiJhIHBheW1lbnQifQ==' },   # {"not":"a payment"}
    { 'PAYMENT-SIGNATURE' => payment('--tamper-sig') },     # bad signature
    { 'PAYMENT-SIGNATURE' => payment('--accepted-pay-to 0x000000000000000000000000000000000000dEaD') },
    { 'PAYMENT-SIGNATURE' => payment('--amount 1') },       # too little
    { 'PAYMENT-SIGNATURE' => pay("--amount $PRICE --pay-to $C->{X402_PAY_TO} --deadline 1") },
);

# a list of requests: [method, uri, headers, body, expected status]
sub unpaid_mix {
    my ($n) = @_;
    my @r;
    for my $i (0 .. $n - 1) {
        # (HTTP::Tiny sends a body in a second write: ~22 ms of delayed ACK
        # per POST, whatever the location, so POSTs are 2 %)
        my $k = $i % 10;
        if ($k == 7) {
            push @r, ['HEAD', "/paid/h$i", {}, undef, 402];
        } elsif ($i % 50 == 8) {
            push @r, ['POST', "/paid/p$i", { 'Content-Type' => 'application/json' },
                      '{"model":"m","messages":[' . ('{"role":"user","content":"hi"},' x 20)
                      . '{"role":"user","content":"x"}]}', 402];
        } else {
            push @r, ['GET', "/paid/u$i?q=" . ('a' x ($i % 200)),
                      $BAD[$i % @BAD], undef, 402];
        }
    }
    return @r;
}

sub paid_mix {
    my ($n) = @_;
    return map { ['GET', "/paid/ok$_", { 'PAYMENT-SIGNATURE' => payment() }, undef, 200] } 1 .. $n;
}

# Sends the requests over $conc keep-alive clients; returns {status => n}
# and the list of [expected, got] mismatches.
sub blast {
    my ($srv, $conc, @reqs) = @_;
    my @kids;
    for my $c (0 .. $conc - 1) {
        my @mine = @reqs[grep { $_ % $conc == $c } 0 .. $#reqs];
        pipe(my $r, my $w) or die $!;
        my $pid = fork // die $!;
        if ($pid == 0) {
            close $r;
            my $ua = HTTP::Tiny->new(timeout => 20, keep_alive => 1);
            for my $q (@mine) {
                my ($m, $uri, $h, $body, $want) = @$q;
                my %o = (headers => $h);
                $o{content} = $body if defined $body;
                my $res = $ua->request($m, "http://127.0.0.1:$srv->{port}$uri", \%o);
                print $w "$res->{status} $want $uri\n";
            }
            close $w;
            _exit(0);
        }
        close $w;
        push @kids, [$pid, $r];
    }
    my (%st, @bad);
    for (@kids) {
        my ($pid, $r) = @$_;
        while (my $l = <$r>) {
            my ($got, $want, $uri) = split ' ', $l;
            $st{$got}++;
            push @bad, "$uri: $got, expected $want" if $got != $want;
        }
        waitpid($pid, 0);
    }
    return (\%st, \@bad);
}

sub shuffle_fixed {
    my @a = @_;
    srand(402);
    for (my $i = @a; --$i;) { my $j = int rand($i + 1); @a[$i, $j] = @a[$j, $i] }
    return @a;
}

sub worker_of {
    my ($srv) = @_;
    my @w = `pgrep -P $srv->{pid}` =~ /(\d+)/g;
    return $w[0];
}

sub proc_status {
    my ($pid) = @_;
    my %s;
    open my $fh, '<', "/proc/$pid/status" or return {};
    while (<$fh>) { $s{$1} = $2 if /^(VmRSS|VmHWM|VmSize|RssAnon):\s+(\d+)/ }
    close $fh;
    opendir my $d, "/proc/$pid/fd" or return \%s;
    my @fds = grep { /^\d+$/ } readdir $d;
    closedir $d;
    $s{fds} = @fds;
    $s{sockets} = grep { (readlink("/proc/$pid/fd/$_") // '') =~ /^socket:/ } @fds;
    return \%s;
}

# waits until no receipt is reserved/broadcast/pending/retry (a "retry", an
# RPC timeout on a loaded machine, is settled by a reconciler 2 s later);
# returns status counts, and the error reasons of what is not settled
sub settle_wait {
    my ($secs) = @_;
    my %n;
    my $deadline = time + $secs;
    while (1) {
        my @keys = grep { length } split /\n/, redis_cli('--scan', '--pattern', 'x402:8453:*');
        %n = ();
        while (my @chunk = splice(@keys, 0, 500)) {
            for my $v (split /\n/, redis_cli('MGET', @chunk)) {
                my $r = eval { decode_json($v) } or next;
                $n{$r->{status}}++;
                $n{"$r->{status}: $r->{error}"}++ if $r->{error};
            }
        }
        last if !grep { $n{$_} } qw(reserved broadcast pending retry);
        last if time > $deadline;
        sleep 0.3;
    }
    return \%n;
}

my $srv = server_start({ http_config => $HTTP, config => $CONFIG, workers => 1 });
my $worker = worker_of($srv);
ok($worker, "one worker ($worker)");

# warm-up: 500 requests (450 unpaid, 50 paid); every code path has run once
my $t0 = time;
my ($st, $bad) = blast($srv, 2, shuffle_fixed(unpaid_mix(450), paid_mix(50)));
is(scalar @$bad, 0, 'warm-up: every answer as expected') or diag(join "\n", @$bad[0 .. 9]);
my $n = settle_wait(30);
is($n->{settled}, 50, 'warm-up: 50 payments settled in the background') or diag(explain $n);
sleep 1.5;                                   # one reconciler round on an empty set
my $before = proc_status($worker);
note(sprintf 'warm-up: %.1f s; worker RSS %d kB, HWM %d kB, %d fds',
             time - $t0, $before->{VmRSS}, $before->{VmHWM}, $before->{fds});

# the measured run: 10,000 requests
my @paid = paid_mix($N_PAID);
my @replays = map { [@{ $paid[$_ * 3] }[0 .. 3], 402] } 0 .. $N_REPLAY - 1;
$_->[1] =~ s/ok/replay/ for @replays;
my $n_unpaid = $N_TOTAL - $N_PAID - $N_REPLAY;
$t0 = time;
($st, $bad) = blast($srv, 4, shuffle_fixed(unpaid_mix($n_unpaid), @paid));
# replays only once their originals were answered
my ($st2, $bad2) = blast($srv, 4, @replays);
my $secs = time - $t0;
$st->{$_} += $st2->{$_} for keys %$st2;
push @$bad, @$bad2;
my $sent = 0;
$sent += $_ for values %$st;
is($sent, $N_TOTAL, "$N_TOTAL requests answered");
is(scalar @$bad, 0, 'every answer as expected (402 unpaid/refused/replayed, 200 paid)')
    or diag(join "\n", grep { defined } @$bad[0 .. 19]);
is($st->{200}, $N_PAID, "$N_PAID paid requests served");
$n = settle_wait(60);
is($n->{settled}, 50 + $N_PAID, 'and all settled on chain') or diag(explain $n);
sleep 1.5;
my $after = proc_status($worker);

is(worker_of($srv), $worker, 'the same worker (no crash, no respawn)');
my $growth = $after->{VmRSS} - $before->{VmRSS};
note(sprintf "%d requests in %.1f s (%.0f req/s): %s",
             $N_TOTAL, $secs, $N_TOTAL / $secs,
             join(', ', map { "$_ x $st->{$_}" } sort keys %$st));
note(sprintf 'worker RSS: %d kB after warm-up, %d kB after %d requests: %+d kB '
             . '(bound %d kB); HWM %d kB; RssAnon %d -> %d kB; fds %d -> %d',
             $before->{VmRSS}, $after->{VmRSS}, $N_TOTAL, $growth, $RSS_BOUND_KB,
             $after->{VmHWM}, $before->{RssAnon}, $after->{RssAnon},
             $before->{fds}, $after->{fds});
cmp_ok($growth, '<', $RSS_BOUND_KB, "RSS growth $growth kB < $RSS_BOUND_KB kB");
# files and pipes exactly; sockets within the idle connections curl keeps
# to the node between bursts (NGX_HTTP_X402_CURL_KEEP, 32): a leak grows
# with the 10,000 requests
is($after->{fds} - $after->{sockets}, $before->{fds} - $before->{sockets},
   'no descriptor leak (files and pipes)');
cmp_ok($after->{sockets} - $before->{sockets}, '<=', 32,
       "no socket leak ($before->{sockets} -> $after->{sockets}, at most the 32 idle "
       . 'connections curl keeps)');

server_stop($srv, 'memory');

# valgrind: a few hundred requests with master_process off
SKIP: {
    skip 'X402_VALGRIND=0', 5 if defined $ENV{X402_VALGRIND} && !$ENV{X402_VALGRIND};
    skip 'valgrind is not installed', 5 unless -x '/usr/bin/valgrind';
    my $dir = $srv->{dir};
    my $conf = read_file("$dir/conf/nginx.conf");
    $conf =~ s/^master_process on;/master_process off;/m or die 'no master_process';
    open my $fh, '>', "$dir/conf/valgrind.conf" or die $!;
    print $fh $conf;
    close $fh;
    unlink "$dir/logs/error.log";
    my $vlog = "$dir/logs/valgrind.log";
    # nginx's own: the environment copy of ngx_set_environment
    # (docs/internals.md#sanitizers-valgrind-fuzzing)
    open my $sup, '>', "$dir/conf/valgrind.supp" or die $!;
    print $sup "{\n   nginx-set-environment\n   Memcheck:Leak\n   match-leak-kinds: definite\n"
             . "   fun:malloc\n   fun:ngx_alloc\n   fun:ngx_set_environment\n}\n";
    close $sup;
    my $pid = fork // die $!;
    if ($pid == 0) {
        open STDOUT, '>', "$dir/logs/valgrind.out";
        open STDERR, '>&', \*STDOUT;
        exec 'valgrind', '--keep-debuginfo=yes', '--num-callers=30',
             '--leak-check=full', '--show-leak-kinds=definite,possible',
             '--errors-for-leak-kinds=definite', "--suppressions=$dir/conf/valgrind.supp",
             "--log-file=$vlog", '/usr/sbin/nginx', '-p', "$dir/",
             '-c', 'conf/valgrind.conf', '-e', 'logs/error.log'
            or _exit(127);
    }
    my $up = 0;
    for (1 .. 600) {
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$srv->{port}", Timeout => 1);
        if ($s) { close $s; $up = 1; last }
        sleep 0.1;
    }
    unless ($up) {
        kill 'KILL', $pid;
        waitpid($pid, 0);
        skip 'nginx under valgrind did not start within 60 s', 5;
    }
    my $vsrv = { %$srv, pid => $pid };
    my @p = paid_mix(40);
    my @v = (shuffle_fixed(unpaid_mix(200), @p)
    );
    $t0 = time;
    my ($vst, $vbad) = blast($vsrv, 2, @v);
    my ($vst2, $vbad2) = blast($vsrv, 2, map { [@{ $p[$_] }[0 .. 3], 402] } 0 .. 9);
    push @$vbad, @$vbad2;
    my $vsecs = time - $t0;
    is(scalar @$vbad, 0, sprintf('valgrind: %d requests answered as expected (%.1f s)',
                                 @v + 10, $vsecs))
        or diag(join "\n", grep { defined } @$vbad[0 .. 9]);
    settle_wait(30);
    sleep 1;
    kill 'QUIT', $pid;
    my $gone = 0;
    for (1 .. 600) { if (waitpid($pid, POSIX::WNOHANG()) == $pid) { $gone = 1; last } sleep 0.1 }
    unless ($gone) { kill 'KILL', $pid; waitpid($pid, 0) }
    ok($gone, 'valgrind: nginx exited on QUIT');

    my $log = read_file($vlog);
    my ($errors) = $log =~ /ERROR SUMMARY: (\d+) errors/;
    # the error records (not leaks) that have a frame in the module
    my @records = split /\n(?===\d+== \S)/, $log;
    my @mine = grep { /ngx_http_x402|x402_|ngx_x402/ && !/are definitely lost/ } @records;
    my @mine_err = grep { /Invalid (read|write|free)|uninitialised|Mismatched|overlap|Syscall param/ } @mine;
    my @leaks = grep { /are definitely lost/ && /ngx_http_x402|x402_/ } @records;
    my ($lost) = $log =~ /definitely lost: ([\d,]+) bytes/;
    is($errors, 0, 'valgrind: ERROR SUMMARY 0 errors (memory errors and definite '
                   . 'leaks, nginx\'s ngx_set_environment copy suppressed)')
        or diag(join "\n", @records[0 .. ($#records < 9 ? $#records : 9)]);
    is(scalar @mine_err, 0, sprintf('valgrind: no error in the module\'s frames '
                                    . '(%d definitely-lost records with a module frame)',
                                    scalar @leaks))
        or diag(join "\n", @mine_err[0 .. ($#mine_err < 4 ? $#mine_err : 4)]);
    note("valgrind: ERROR SUMMARY " . ($errors // '?') . " errors; definitely lost "
         . ($lost // 0) . " bytes in all, " . scalar(@leaks) . " record(s) with a module frame");
    diag(join "\n", @leaks[0 .. ($#leaks < 4 ? $#leaks : 4)]) if @leaks && $ENV{TEST_VERBOSE};
    unlike(read_file("$dir/logs/error.log"), qr/\[(alert|crit|emerg)\]/,
           'valgrind: no alerts in error.log');
}

done_testing();
