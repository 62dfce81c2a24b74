#!/usr/bin/perl
# Chaos: two nginx nodes (same configuration, one worker each, shared Redis,
# shared settler key, `x402_settle sync` on /sync/ and `async` on /async/)
# under steady paid load (fresh payments), while the test restarts Redis
# twice and interrupts the JSON-RPC node through a TCP proxy (refused
# connections, replies lost, everything held, a combination with Redis
# down), kills every worker while their transactions are between the
# nonce and the node (the sends held by the proxy, never delivered), lets
# the node accept connections and never answer for longer than the
# settler's re-send schedule, and takes the settler's gas away for 10 s.
# After the load stops and the reconcilers have had their time, the chain
# itself is the judge: every request answered 200 used its Permit2 nonce
# (paid), no refused request did (not charged), the merchant got exactly
# the price of every 200, the settler has no nonce gap and nothing queued,
# and a fresh payment settles at once; scripts/reconcile-check must also
# find the chain and Redis consistent in both directions.
# docs/security.md "Chaos and reconciliation".
#
# Redis is restarted with SHUTDOWN SAVE and reloads its dump (a Redis that
# loses its data on restart loses receipts by definition).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use Math::BigInt;
use POSIX qw(_exit WNOHANG);
use Time::HiRes qw(time sleep);
use X402Test;

my $LOAD_SECONDS = $ENV{CHAOS_SECONDS} || 64;

start_services(redis => 1, devchain => 1);
my $SVC = services();
my $C = chain_env();
my $KEY = settler_key_file();
my $PRICE = '1000000000000000';
my $DEVCHAIN_PORT = ($SVC->{rpc} =~ /:(\d+)$/)[0];
my $WORK = File::Temp::tempdir('x402-chaos-XXXXXX', TMPDIR => 1,
                               CLEANUP => !$ENV{TEST_LEAVE});

# ---- a TCP proxy between nginx and the devchain, with modes -----------------
#   pass     forward both ways
#   refuse   listener and connections closed: connect() is refused
#   swallow  requests reach the node, its replies are dropped
#   stall    nothing is read either way (held in the kernel; forwarded,
#            late, when the mode changes)
#   lose-sends  the replies to eth_sendRawTransaction and
#            eth_getTransactionReceipt are dropped (the transaction is sent
#            and mined; the settler never hears of it: "pending", then the
#            reconciler)
#   drop-sends  eth_sendRawTransaction requests never reach the node (a lost
#            transaction: the settler re-sends the same bytes while it waits,
#            so its nonce is mined and no gap stalls later settlements)
#   hold-sends  eth_sendRawTransaction requests are held, never answered nor
#            delivered (their connections closed when the mode changes): the
#            window between a settler nonce and the node, for a kill -9
#   blackhole   connections are accepted, requests read and never answered
#            (a node that hangs; closed when the mode changes)
my $MODEFILE = "$WORK/proxy.mode";
my $PROXY_PORT = free_port();

sub proxy_mode {
    my ($m) = @_;
    open my $fh, '>', "$MODEFILE.tmp" or die $!;
    print $fh $m;
    close $fh;
    rename "$MODEFILE.tmp", $MODEFILE or die $!;
}

sub run_proxy {
    my ($port, $target) = @_;
    my ($listener, %peer, %sock);
    my $mode = 'pass';
    my $listen = sub {
        $listener = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
                                          Listen => 128, ReuseAddr => 1)
            or die "proxy: listen $port: $!";
    };
    my $drop = sub {
        my ($fd) = @_;
        my @pair = ($fd, $peer{$fd} // ());
        for my $f (@pair) {
            next unless $sock{$f};
            close $sock{$f};
            delete $sock{$f};
            delete $peer{$f};
        }
    };
    my %client;    # fd -> 1 for the nginx side
    my %lose;      # node-side fd -> drop its next reply
    my %held;      # nginx-side fd -> held (hold-sends, blackhole)
    $listen->();
    while (1) {
        if (open my $fh, '<', $MODEFILE) {
            my $m = <$fh> // 'pass';
            close $fh;
            if ($m ne $mode) {
                if ($m eq 'refuse') {
                    close $listener if $listener;
                    undef $listener;
                    my @fds = keys %sock;
                    $drop->($_) for @fds;
                    %client = ();
                } elsif ($mode eq 'refuse') {
                    $listen->();
                }
                # what was held is never delivered
                for my $fd (keys %held) {
                    delete $client{$fd};
                    $drop->($fd);
                }
                %held = ();
                $mode = $m;
            }
        }
        my $sel = IO::Select->new();
        if ($mode ne 'stall') {
            $sel->add($listener) if $listener;
            $sel->add($sock{$_}) for keys %sock;
        }
        for my $s ($sel->can_read(0.05)) {
            if ($listener && $s == $listener) {
                my $c = $listener->accept or next;
                my $u = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$target") or do { close $c; next };
                my ($a, $b) = (fileno $c, fileno $u);
                @sock{$a, $b} = ($c, $u);
                @peer{$a, $b} = ($b, $a);
                $client{$a} = 1;
                next;
            }
            my $fd = fileno $s;
            next unless defined $fd && $sock{$fd};
            my $n = sysread($s, my $buf, 65536);
            if (!$n) {
                delete $client{$fd};
                $drop->($fd);
                next;
            }
            next if $mode eq 'swallow' && !$client{$fd};    # the node's reply
            next if $held{$fd};
            if ($client{$fd} && ($mode eq 'blackhole'
                                 || ($mode eq 'hold-sends' && $buf =~ /eth_sendRawTransaction/))) {
                $held{$fd} = 1;
                if ($buf =~ /eth_sendRawTransaction/ && open my $hf, '>>', "$WORK/held") {
                    print $hf "1\n";
                    close $hf;
                }
                next;
            }
            if ($client{$fd} && $buf =~ /eth_sendRawTransaction|eth_getTransactionReceipt/) {
                next if $mode eq 'drop-sends' && $buf =~ /eth_sendRawTransaction/;
                $lose{ $peer{$fd} } = 1 if $mode eq 'lose-sends';
            } elsif (!$client{$fd} && delete $lose{$fd}) {
                next;
            }
            my $to = $sock{ $peer{$fd} // -1 } or next;
            syswrite($to, $buf);
        }
    }
}

proxy_mode('pass');
my $proxy_pid = fork // die $!;
if ($proxy_pid == 0) {
    # a child must never run the harness's END blocks (they stop the services)
    $0 = 'x402-chaos-proxy';
    $SIG{PIPE} = 'IGNORE';
    eval { run_proxy($PROXY_PORT, $DEVCHAIN_PORT) };
    child_died('proxy', $@);
}

sub child_died {
    my ($who, $err) = @_;
    if (open my $fh, '>>', "$WORK/children.err") { print $fh "$who: $err\n"; close $fh }
    _exit(1);
}
END { local $?; if ($proxy_pid) { kill 'TERM', $proxy_pid; waitpid($proxy_pid, 0) } }

# ---- two nodes ----------------------------------------------------------------
my $HTTP = <<"HTTP";
x402_rpc http://127.0.0.1:$PROXY_PORT;
x402_redis \$REDIS;
x402_settler_key_file $KEY;
x402_rpc_timeout 1s;
x402_redis_timeout 500ms;
x402_timeout 3s;
x402_settle_timeout 3s;
x402_reconcile_interval 300ms;
HTTP

my $CONFIG = status_location()
           . paid_location('/sync/', more => 'x402_settle sync;')
           . paid_location('/async/', more => 'x402_settle async;');

my $FROM_BLOCK = hex(rpc_call('eth_blockNumber') // '0x0') + 1;
my $M0 = token_balance($C->{X402_ASSET}, $C->{X402_PAY_TO});
my @nodes = map { server_start({ http_config => $HTTP, config => $CONFIG }) } 1 .. 2;

# a quick paid request on each node before the chaos starts
for my $i (0, 1) {
    my $res = http_request($nodes[$i], "GET /sync/warm$i", { 'PAYMENT-SIGNATURE' =>
        pay("--amount $PRICE --pay-to $C->{X402_PAY_TO}") });
    is($res->{status}, 200, "node $i serves a paid request before the faults");
}

# ---- the load: per node two /sync/ loops and one /async/ loop ------------------
my $RESULTS = "$WORK/results";
mkdir $RESULTS;
my $STOP = "$WORK/stop";
my @loaders;
for my $n (0, 1) {
    for my $l (['sync', 0], ['sync', 1], ['async', 2]) {
        my ($kind, $id) = @$l;
        my $pid = fork // die $!;
        if ($pid == 0) {
            eval { loader($n, $kind, $id) };
            child_died("loader $n-$id", $@);
        }
        push @loaders, $pid;
    }
}

sub loader {
    my ($n, $kind, $id) = @_;
    srand($$);
    open my $out, '>', "$RESULTS/$n-$id" or die $!;
    select((select($out), $| = 1)[0]);
    # one attempt per payment: HTTP::Tiny silently sends an idempotent
    # request (GET) once more when its socket closes (the kill -9 below);
    # a lost answer is the client's to retry, and its retry is a replay
    my $ua = HTTP::Tiny->new(timeout => 30, keep_alive => 0);
    my $i = 0;
    my $parent = getppid();
    # a test that died leaves no loader behind (prove would wait for it)
    until (-e $STOP || getppid() != $parent) {
        my $uri = "/$kind/n$n-l$id-" . $i++;
        my $nonce = random_nonce();
        my $h = pay("--amount $PRICE --pay-to $C->{X402_PAY_TO} --nonce $nonce");
        my $t0 = time;
        my $res = $ua->request('POST', "http://127.0.0.1:$nodes[$n]{port}$uri",
                               { headers => { 'PAYMENT-SIGNATURE' => $h },
                                 content => '{}' });
        my $pr = decode_json_b64($res->{headers}{'payment-response'}) // {};
        my $err = decode_json_b64($res->{headers}{'payment-required'}) // {};
        my $body = eval { decode_json($res->{content}) } // {};
        printf $out "%s\n", encode_json({
            node => $n, kind => $kind, uri => $uri, status => $res->{status},
            nonce => $nonce,
            t0 => $t0, secs => time - $t0,
            success => $pr->{success} ? 1 : 0, tx => $pr->{transaction} // '',
            reason => $pr->{errorReason} // $err->{error} // $body->{error}
                      // ($res->{status} == 599 ? $res->{content} : '') });
        sleep(0.2 + rand(0.2));
    }
    close $out;
    _exit(0);
}

# ---- the faults -------------------------------------------------------------------
my $T0 = time;
my @faults;
sub at { my ($t) = @_; my $d = $T0 + $t - time; sleep $d if $d > 0 }
sub fault { my ($what) = @_; push @faults, sprintf('%5.1f s  %s', time - $T0, $what); note($faults[-1]) }

sub redis_down {
    my $pidfile = "$SVC->{redis_dir}/redis.pid";
    my $pid = X402Test::read_file($pidfile) =~ s/\s+//gr;
    system("redis-cli -p $SVC->{redis_port} SHUTDOWN SAVE >/dev/null 2>&1");
    for (1 .. 100) { last unless $pid && kill 0, $pid; sleep 0.05 }
    unlink $pidfile;
}

at(3);   fault('Redis: SHUTDOWN SAVE');  redis_down();
at(5);   fault('Redis: started again (reloads its dump)'); redis_start();
at(7);   fault('RPC: refuse');   proxy_mode('refuse');
at(9);   fault('RPC: pass');     proxy_mode('pass');
at(11);  fault('RPC: swallow (requests reach the node, replies are lost)'); proxy_mode('swallow');
at(14);  fault('RPC: pass');     proxy_mode('pass');
at(16);  fault('RPC: stall (nothing moves; released late)'); proxy_mode('stall');
at(18.5); fault('RPC: pass');    proxy_mode('pass');
at(20);  fault('Redis down and RPC swallow together'); redis_down(); proxy_mode('swallow');
at(22);  fault('Redis started, RPC pass'); redis_start(); proxy_mode('pass');
at(23);  fault('RPC: lose-sends (sent and mined, the replies are lost)'); proxy_mode('lose-sends');
at(26);  fault('RPC: pass');     proxy_mode('pass');
# transactions lost before the node: re-sent while waiting, no nonce gap
at(27); fault('RPC: drop-sends (transactions lost before the node)'); proxy_mode('drop-sends');
at(29); fault('RPC: pass');  proxy_mode('pass');
# every worker killed while their transactions are between the settler's
# nonce and the node: the sends are held, then never delivered
at(31); fault('RPC: hold-sends'); proxy_mode('hold-sends');
for (1 .. 40) { last if -s "$WORK/held"; sleep 0.1 }
fault(sprintf 'kill -9 of every worker (%d sends held)',
      scalar(() = X402Test::read_file("$WORK/held") =~ /1/g));
for my $node (@nodes) { system("pkill -KILL -P $node->{pid}") }
sleep 0.5;
proxy_mode('pass');
fault('RPC: pass (the held sends never reach the node)');
# the node accepts connections and never answers, longer than the re-send
# schedule (2 + 4 + 8 s), while settlements are in flight
at(36); fault('RPC: blackhole for 18 s'); proxy_mode('blackhole');
at(54); fault('RPC: pass'); proxy_mode('pass');
# the settler out of gas for 10 s
my $GAS = rpc_call('eth_getBalance', $C->{X402_SETTLER_ADDRESS}, 'latest');
at(54); fault('settler: no gas for 10 s'); rpc_call('anvil_setBalance', $C->{X402_SETTLER_ADDRESS}, '0x0');
at(64); fault('settler: funded again'); rpc_call('anvil_setBalance', $C->{X402_SETTLER_ADDRESS}, $GAS);
at($LOAD_SECONDS);
fault('load stops');
open my $s, '>', $STOP; close $s;
waitpid($_, 0) for @loaders;
fault('all loaders done');
my $child_err = X402Test::read_file("$WORK/children.err");
is($child_err, '', 'no load or proxy process died') or diag($child_err);

my @res;
for my $f (glob "$RESULTS/*") {
    open my $fh, '<', $f or next;
    push @res, map { decode_json($_) } <$fh>;
}
my %by;
$by{"$_->{kind} $_->{status}"}++ for @res;
note('answers: ' . join(', ', map { "$_ x $by{$_}" } sort keys %by));
my %reasons;
$reasons{"$_->{kind} $_->{status} " . ($_->{reason} || '-')}++ for grep { $_->{status} != 200 || !$_->{success} } @res;
note("  $_: $reasons{$_}") for sort keys %reasons;
# the requests in flight when every worker is killed get no answer (599):
# a sync one may have been settled before its worker died, unanswered
# (docs/settlement.md, "What a crash can leave"); at most one per loader
my @cut = grep { $_->{status} == 599 } @res;
cmp_ok(scalar @cut, '<=', scalar @loaders, 'at most one request per loader lost its answer to the kill');
my @bad_status = grep { $_->{status} !~ /^(200|402|503|599)$/ } @res;
is(scalar @bad_status, 0, 'every other answer is 200, 402 or 503')
    or diag(explain [ @bad_status[0 .. ($#bad_status < 9 ? $#bad_status : 9)] ]);
my @ok = grep { $_->{status} == 200 } @res;
cmp_ok(scalar(grep { $_->{node} == 0 } @ok), '>', 10, 'node 0 served paid load');
cmp_ok(scalar(grep { $_->{node} == 1 } @ok), '>', 10, 'node 1 served paid load');
cmp_ok(scalar(grep { $_->{status} == 503 } @res), '>', 0, 'the faults were felt (503s)');

# ---- let the reconciler finish ---------------------------------------------------------
sub receipts {
    my %r;
    my @keys = grep { length } split /\n/, redis_cli('--scan', '--pattern', 'x402:[0-9]*');
    while (my @chunk = splice(@keys, 0, 500)) {
        my @v = split /\n/, redis_cli('MGET', @chunk);
        for my $i (0 .. $#chunk) {
            my $d = eval { decode_json($v[$i]) } or next;
            $r{ $d->{resource} } = $d;
        }
    }
    return \%r;
}
my $t_rec = time;
my $rec;
my $settler = $C->{X402_SETTLER_ADDRESS};
# a sync reservation whose settlement never started (its worker killed
# first, or its release lost to the Redis faults) stays "reserved" until
# its permit expires: nothing charges it, and no reconciler acts on it
my $left_alone = sub { $_[0]{status} eq 'reserved' && ($_[0]{mode} // '') eq 'sync' };
for (1 .. 300) {
    $rec = receipts();
    last unless grep { $_->{status} =~ /^(reserved|retry|broadcast|pending)$/
                       && !$left_alone->($_) } values %$rec
             or redis_cli('ZCARD', 'x402:unsettled') ne '0'
             or redis_cli('HLEN', "x402:settler:$settler:txs") ne '0';
    sleep 0.2;
}
fault(sprintf 'reconciled after %.1f s (%d sync reservations left reserved, never sent)',
      time - $t_rec, scalar(grep { $left_alone->($_) } values %$rec));

# ---- the chain is the judge ---------------------------------------------------------------
my @paid_ok = grep { $_->{status} == 200 } @res;
my @refused = grep { $_->{status} != 200 && $_->{status} != 599 } @res;
my @cut_paid = grep { nonce_used($C->{X402_PAYER_ADDRESS}, $_->{nonce}) } @cut;
my @unpaid = grep { !nonce_used($C->{X402_PAYER_ADDRESS}, $_->{nonce}) } @paid_ok;
is(scalar @unpaid, 0, sprintf('every one of the %d requests answered 200 is paid on chain '
                              . '(its Permit2 nonce used)', scalar @paid_ok))
    or diag(join "\n", map { "$_->{uri} (node $_->{node}, t+" . sprintf('%.1f', $_->{t0} - $T0)
                              . "): receipt " . ($rec->{ $_->{uri} }{status} // 'none') . ' '
                              . ($rec->{ $_->{uri} }{error} // '') } @unpaid);
my @charged_refusals = grep { nonce_used($C->{X402_PAYER_ADDRESS}, $_->{nonce}) } @refused;
is(scalar @charged_refusals, 0, sprintf('none of the %d refused requests is charged on chain',
                                        scalar @refused))
    or diag(join "\n", map { "$_->{uri}: $_->{status} $_->{reason}" } @charged_refusals);
is(token_balance($C->{X402_ASSET}, $C->{X402_PAY_TO}) - $M0,
   Math::BigInt->new($PRICE) * (scalar(@paid_ok) + scalar(@cut_paid) + 2),
   'the merchant got exactly the price of every 200 (and of the two warm-ups and the '
   . scalar(@cut_paid) . ' of ' . scalar(@cut) . ' cut by the kill that settled): each paid once');
is(hex(rpc_call('eth_getTransactionCount', $settler, 'pending')),
   hex(rpc_call('eth_getTransactionCount', $settler, 'latest')),
   'nothing of the settler\'s queued in the node: no nonce gap');
is(redis_cli('HLEN', "x402:settler:$settler:txs"), '0', 'every nonce allocated is mined');
is(redis_cli('ZCARD', 'x402:unsettled'), '0', 'nothing served is left unsettled');
{
    my $t0 = time;
    my $res = http_request($nodes[0], 'GET /sync/fresh', { 'PAYMENT-SIGNATURE' =>
        pay("--amount $PRICE --pay-to $C->{X402_PAY_TO}") });
    my $pr = decode_json_b64($res->{headers}{'payment-response'}) // {};
    ok($res->{status} == 200 && $pr->{success}, 'after recovery a fresh payment settles');
    cmp_ok(time - $t0, '<', 6, sprintf('within a few blocks (%.1f s)', time - $t0));
}
my %metric;
for my $node (@nodes) {
    my $m = http_request($node, 'GET /metrics')->{content} // '';
    $metric{$1} += $2 while $m =~ /^(x402_(?:settlements_unpaid|settlements_taken_over|settler_resent|settler_gaps_filled|stalled_refusals)_total) (\d+)$/mg;
}
is($metric{x402_settlements_unpaid_total} // 0, 0, 'no payment served and left unpaid (metric)');
note('recovery: ' . join(', ', map { "$_ $metric{$_}" } sort keys %metric));

# ---- both directions ---------------------------------------------------------------------
my $check = `scripts/reconcile-check --rpc $SVC->{rpc} --redis $SVC->{redis} --settler $C->{X402_SETTLER_ADDRESS} --from-block $FROM_BLOCK -v 2>&1`;
my $rc = $? >> 8;
note($check);
is($rc, 0, 'scripts/reconcile-check: chain and Redis agree in both directions')
    or diag($check);
my $json = `scripts/reconcile-check --rpc $SVC->{rpc} --redis $SVC->{redis} --settler $C->{X402_SETTLER_ADDRESS} --from-block $FROM_BLOCK --json 2>/dev/null`;
my $sum = eval { decode_json($json) } // {};

# every 200 on /sync/ ended settled; nothing refused was charged
my @sync_ok = grep { $_->{kind} eq 'sync' && $_->{status} == 200 } @res;
my @unsettled = grep { ($rec->{ $_->{uri} }{status} // 'none') ne 'settled' } @sync_ok;
is(scalar @unsettled, 0, sprintf('all %d requests answered 200 on /sync/ have a settled receipt',
                                 scalar @sync_ok))
    or diag(join "\n", map { "$_->{uri} (node $_->{node}, t+" . sprintf('%.1f', $_->{t0} - $T0)
                              . "): " . ($rec->{ $_->{uri} }{status} // 'no receipt')
                              . ' ' . ($rec->{ $_->{uri} }{error} // '') } @unsettled);
my @pending_ok = grep { !$_->{success} } @sync_ok;
my @charged = grep { $_->{status} != 200 && ($rec->{ $_->{uri} }{status} // '') eq 'settled' } @refused;
is(scalar @charged, 0, 'no request answered 402/503 was charged (receipt settled)')
    or diag(join "\n", map { "$_->{uri}: $_->{status} $_->{reason}, receipt settled "
                              . $rec->{ $_->{uri} }{transaction} } @charged);
my @tx_mismatch = grep { $_->{success} && lc($_->{tx}) ne lc($rec->{ $_->{uri} }{transaction} // '') } @sync_ok;
is(scalar @tx_mismatch, 0, 'PAYMENT-RESPONSE transaction = the receipt\'s transaction');

# async: served at once; its settlement may have met the faults
my @async_ok = grep { $_->{kind} eq 'async' && $_->{status} == 200 } @res;
my %async_end;
$async_end{ $rec->{ $_->{uri} }{status} // 'none' }++ for @async_ok;
my @async_unsettled = grep { ($rec->{ $_->{uri} }{status} // 'none') ne 'settled' } @async_ok;
is(scalar @async_unsettled, 0, sprintf('all %d requests answered 200 on /async/ have a settled receipt',
                                       scalar @async_ok))
    or diag(join "\n", map { "$_->{uri} (t+" . sprintf('%.1f', $_->{t0} - $T0) . '): '
                              . ($rec->{ $_->{uri} }{status} // 'no receipt') . ' '
                              . ($rec->{ $_->{uri} }{error} // '') } @async_unsettled);

my %final;
$final{$_->{status}}++ for grep { $_->{status} } values %$rec;
note(sprintf 'requests: %d (%s); /sync/ 200: %d (%d with settlement_pending, all settled in the end); '
             . '/async/ 200: %d (%s)', scalar @res,
             join(', ', map { "$_ x $by{$_}" } sort keys %by), scalar @sync_ok,
             scalar @pending_ok, scalar @async_ok,
             join(', ', map { "$_ $async_end{$_}" } sort keys %async_end));
note(sprintf 'chain: %s settler transactions (%s succeeded, %s reverted) in blocks %d..%s; '
             . 'receipts: %s', $sum->{chain_transactions} // '?', $sum->{chain_succeeded} // '?',
             $sum->{chain_reverted} // '?', $FROM_BLOCK, $sum->{latest_block} // '?',
             join(', ', map { "$_ $final{$_}" } sort keys %final));
note("faults:\n" . join("\n", @faults));

my @logs = map { server_stop($nodes[$_], "node $_", qr/exited on signal 9/) } 0, 1;
my $all = join '', @logs;
my %lines;
for my $re ('broadcast of \S+ unconfirmed', 'recorded as pending', 'reconciled \S+: \S+ settled',
            'no transaction nonce from redis', 'cannot record the broadcast',
            'receipt could not be written', 'nonce \d+ already used') {
    my $n = () = $all =~ /$re/g;
    $lines{$re} = $n;
}
note("error.log (both nodes): " . join(', ', map { "'$_' x $lines{$_}" } sort keys %lines));

done_testing();
