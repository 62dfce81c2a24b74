# Dependency faults, each with its expected status, in bounded time, and
# without a lost receipt: a slow Redis (DEBUG SLEEP on a Redis of our own),
# Redis on a closed port, an RPC node answering garbage, wrong ids, HTTP 500
# or another chain id (t/tools/x402-fault-rpc.pl in front of the devchain),
# the chain node going away between verification and settlement (sync), and
# a settler key file that is missing or readable by others.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use JSON::PP;
use POSIX qw(_exit);
use Time::HiRes qw(time sleep);
use X402Test;

my $T0 = time;

start_services(devchain => 1);

my $C = chain_env();
my $RPC = services()->{rpc};
my $KEY = settler_key_file();
my $PAY_TO = $C->{X402_PAY_TO};
my $PRICE = '1000000000000000';
my $DIR = tempdir('x402-faults-XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{TEST_LEAVE});
chmod 0755, $DIR;

# A Redis of our own: the harness's has no DEBUG command.
my $RPORT = free_port();
system('redis-server', '--port', $RPORT, '--bind', '127.0.0.1', '--save', '',
       '--appendonly', 'no', '--daemonize', 'yes', '--enable-debug-command', 'local',
       '--pidfile', "$DIR/redis.pid", '--logfile', "$DIR/redis.log",
       '--dir', $DIR) == 0 or die "redis-server failed";
my $REDIS_PID;
for (1 .. 100) {
    last if -s "$DIR/redis.pid" && `redis-cli -p $RPORT PING 2>/dev/null` =~ /PONG/;
    sleep 0.05;
}
$REDIS_PID = X402Test::read_file("$DIR/redis.pid") =~ s/\s+//gr;
END {
    local $?;
    if ($REDIS_PID) {
        kill 'TERM', $REDIS_PID;
        for (1 .. 100) { last unless kill 0, $REDIS_PID; sleep 0.05 }
    }
}

sub rcli {
    my $out = `redis-cli -p $RPORT --raw @{[ join ' ', map { "'$_'" } @_ ]} 2>&1`;
    return $out =~ s/\s+\z//r;
}

sub tx_count {
    my $r = rpc_call('eth_getTransactionCount', $C->{X402_SETTLER_ADDRESS}, 'latest');
    return hex($r // '0x0');
}

sub receipts {
    my %r;
    for my $k (grep { length } split /\n/, rcli('--scan', '--pattern', 'x402:8453:*')) {
        $r{$k} = eval { decode_json(rcli('GET', $k)) };
    }
    return \%r;
}

sub receipt_of {
    my ($resource) = @_;
    my ($rc) = grep { $_ && $_->{resource} eq $resource } values %{ receipts() };
    return $rc;
}

sub payment { pay("--amount $PRICE --pay-to $PAY_TO " . ($_[0] // '')) }

sub timed_get {
    my ($srv, $uri, $h) = @_;
    my $t0 = time;
    my $res = http_request($srv, "GET $uri", { 'PAYMENT-SIGNATURE' => $h // payment() });
    $res->{secs} = time - $t0;
    $res->{json} = eval { decode_json($res->{content}) } // {};
    return $res;
}

my $CONFIG = <<'CONF';
location /paid/ {
    x402 on;
    x402_pay_to $X402_PAY_TO;
    x402_price 0.001;
    proxy_set_header X-Result $x402_tx;
    proxy_pass http://127.0.0.1:$BACKEND;
}
CONF

sub http_conf {
    my (%o) = @_;
    my $c = "x402_rpc " . ($o{rpc} // $RPC) . ";\n"
          . "x402_redis " . ($o{redis} // "127.0.0.1:$RPORT") . ";\n";
    $c .= "x402_settler_key_file $KEY;\n" unless $o{no_key};
    for my $d (qw(timeout redis_timeout rpc_timeout settle_timeout reconcile_interval)) {
        $c .= "x402_$d $o{$d};\n" if defined $o{$d};
    }
    return $c;
}

my @ROWS;
sub row { push @ROWS, sprintf('%-58s %s', @_) }

# ---- 1. Redis slow: the request deadline, then recovery -----------------

sub redis_sleep {
    my ($secs) = @_;
    my $pid = fork // die $!;
    if ($pid == 0) {
        open STDOUT, '>', '/dev/null';
        { exec 'redis-cli', '-p', $RPORT, 'DEBUG', 'SLEEP', $secs }
        _exit(127);
    }
    sleep 0.2;
    return $pid;
}

{
    my $srv = server_start({ config => $CONFIG, http_config => http_conf(
        timeout => '1500ms', redis_timeout => '10s', settle_timeout => '10s') });
    is(timed_get($srv, '/paid/warm')->{status}, 200, 'slow redis: warm-up payment served');

    my $tx0 = tx_count();
    my $sleeper = redis_sleep(3);
    my $h = payment();
    my $res = timed_get($srv, '/paid/slow', $h);
    is($res->{status}, 503, 'redis asleep (x402_timeout 1500ms): 503');
    is($res->{json}{error}, 'payment verification timed out', 'redis asleep: JSON error');
    ok(!$res->{headers}{'payment-required'}, 'redis asleep: no PAYMENT-REQUIRED');
    cmp_ok($res->{secs}, '>=', 1.4, 'redis asleep: not before x402_timeout');
    cmp_ok($res->{secs}, '<', 2.5, 'redis asleep: answered at x402_timeout');
    row('redis DEBUG SLEEP 3, x402_timeout 1.5s', sprintf('503 "%s" in %.2f s',
        $res->{json}{error} // '?', $res->{secs}));
    waitpid($sleeper, 0);

    # the SET sent before the timeout ran when Redis woke up; the module
    # released that unused reservation, so the payment stays usable
    my $rc;
    sleep 0.5;
    for (1 .. 20) { $rc = receipt_of('/paid/slow'); last unless $rc; sleep 0.1 }
    ok(!$rc, 'the timed-out payment\'s reservation was released')
        or diag(explain $rc);
    is(tx_count(), $tx0, 'the timed-out payment was not settled');
    row('  receipt of the timed-out payment', $rc ? $rc->{status} : 'absent');

    my ($ok, $t_rec) = (0, time);
    for (1 .. 40) {
        my $r = timed_get($srv, '/paid/after');
        if ($r->{status} == 200) { $ok = 1; last }
        sleep 0.1;
    }
    ok($ok, 'redis awake: a new payment is served without a reload');
    row('  recovery (new payment)', sprintf('200 after %.2f s', time - $t_rec));

    # the same (timed-out) payment once more
    my $again = timed_get($srv, '/paid/slow-again', $h);
    is($again->{status}, 200, 'retrying the timed-out payment: served');
    row('  retry of the timed-out payment', $again->{status} . ' '
        . ((decode_json_b64($again->{headers}{'payment-required'}) // {})->{error} // ''));
    server_stop($srv, 'slow redis (x402_timeout)');

    # now the per-command x402_redis_timeout fires first
    $srv = server_start({ config => $CONFIG, http_config => http_conf(
        timeout => '5s', redis_timeout => '500ms') });
    is(timed_get($srv, '/paid/warm2')->{status}, 200, 'warm-up 2');
    $tx0 = tx_count();
    $sleeper = redis_sleep(2);
    $h = payment();
    $res = timed_get($srv, '/paid/slow2', $h);
    is($res->{status}, 503, 'redis asleep (x402_redis_timeout 500ms): 503');
    is($res->{json}{error}, 'payment reservation unavailable', 'JSON error');
    cmp_ok($res->{secs}, '<', 1.5, 'answered at x402_redis_timeout');
    row('redis DEBUG SLEEP 2, x402_redis_timeout 500ms', sprintf('503 "%s" in %.2f s',
        $res->{json}{error} // '?', $res->{secs}));
    waitpid($sleeper, 0);
    $ok = 0;
    for (1 .. 40) {
        if (timed_get($srv, '/paid/after2')->{status} == 200) { $ok = 1; last }
        sleep 0.1;
    }
    ok($ok, 'recovers after the redis timeout (reconnects)');
    is(tx_count(), $tx0 + 1, 'only the recovered payment was settled');
    for (1 .. 20) { $rc = receipt_of('/paid/slow2'); last unless $rc; sleep 0.1 }
    ok(!$rc, 'the timed-out payment\'s reservation was released');
    row('  receipt of the timed-out payment', $rc ? $rc->{status} : 'absent');
    $again = timed_get($srv, '/paid/slow2-again', $h);
    is($again->{status}, 200, 'retry: served');
    row('  retry of the timed-out payment', $again->{status} . ' '
        . ((decode_json_b64($again->{headers}{'payment-required'}) // {})->{error} // ''));
    my $log = server_stop($srv, 'slow redis (x402_redis_timeout)');
    like($log, qr/redis reservation failed: .*timed out/, 'log: redis timed out');
}

# ---- 2. Redis on a closed port -----------------------------------------

{
    my $closed = free_port();
    my $srv = server_start({ config => $CONFIG, http_config => http_conf(
        redis => "127.0.0.1:$closed", timeout => '5s') });
    my $tx0 = tx_count();
    my $res = timed_get($srv, '/paid/closed');
    is($res->{status}, 503, 'redis on a closed port: 503');
    is($res->{json}{error}, 'payment reservation unavailable', 'JSON error');
    cmp_ok($res->{secs}, '<', 1, 'answered at once');
    is(tx_count(), $tx0, 'nothing settled');
    row('x402_redis on a closed port', sprintf('503 "%s" in %.2f s', $res->{json}{error} // '?', $res->{secs}));
    my $log = server_stop($srv, 'redis closed');
    like($log, qr/redis reservation failed/, 'log: redis failure explained');
}

# ---- 3. RPC faults: garbage, wrong ids, HTTP 500, another chain ---------

my $PPORT = free_port();
my $srv = server_start({ config => $CONFIG, http_config => http_conf(
    rpc => "http://127.0.0.1:$PPORT", timeout => '5s', rpc_timeout => '2s',
    settle_timeout => '3s', reconcile_interval => '1s') });

for my $t (
    [ 'garbage', 'the chain node\'s reply is malformed', qr/RPC node sent a malformed reply/ ],
    [ 'badids', 'the chain node\'s reply is malformed', qr/RPC node sent a malformed reply/ ],
    [ 'http500', 'the chain node did not answer', qr/RPC node failed: .*HTTP status 500/ ],
    [ 'chainid=1', 'the chain node is on another chain', qr/RPC node is on chain 1, the offer is for chain 8453/ ],
) {
    my ($mode, $why) = @$t;
    my $p = fault_rpc_start($PPORT, $mode);
    my $keys0 = scalar keys %{ receipts() };
    my $tx0 = tx_count();
    my $res = timed_get($srv, "/paid/$mode");
    is($res->{status}, 503, "RPC $mode: 503");
    is($res->{json}{error}, "payment verification unavailable: $why", "RPC $mode: JSON error");
    ok(!$res->{headers}{'payment-required'}, "RPC $mode: no PAYMENT-REQUIRED");
    cmp_ok($res->{secs}, '<', 1, "RPC $mode: answered at once");
    is(scalar keys %{ receipts() }, $keys0, "RPC $mode: nothing reserved");
    is(tx_count(), $tx0, "RPC $mode: nothing settled");
    row("RPC $mode", sprintf('503 "%s" in %.2f s', $res->{json}{error} // '?', $res->{secs}));
    fault_rpc_stop($p);
}

# ---- 4. the chain node goes away between verification and settlement ---

# sanity: through the proxy in pass mode, payments settle
{
    my $p = fault_rpc_start($PPORT, 'pass');
    my $res = timed_get($srv, '/paid/pass');
    is($res->{status}, 200, 'RPC through the pass-through proxy: settled and served');
    fault_rpc_stop($p);
}

# a) gone before the settlement's first call: nothing is broadcast
{
    my $p = fault_rpc_start($PPORT, 'exit-before=eth_estimateGas');
    my $tx0 = tx_count();
    my $h = payment();
    my $res = timed_get($srv, '/paid/gone-before', $h);
    ok(fault_rpc_exited($p), 'the node went away after the checks');
    is($res->{status}, 503, 'node gone before the settlement: 503 (the gateway\'s fault)');
    is($res->{json}{error}, 'payment settlement unavailable', 'JSON error');
    ok(!$res->{headers}{'payment-required'}, 'no PAYMENT-REQUIRED: not the payment\'s fault');
    cmp_ok($res->{secs}, '<', 3, 'answered within the settle deadline');
    my $rc;
    for (1 .. 20) { $rc = receipt_of('/paid/gone-before'); last unless $rc; sleep 0.1 }
    ok(!$rc, 'nothing was sent: the reservation is released');
    is(tx_count(), $tx0, 'nothing on chain');
    $p = fault_rpc_start($PPORT, 'pass');
    my $again = timed_get($srv, '/paid/gone-before-retry', $h);
    is($again->{status}, 200, 'the node back: the same payment is served and settled');
    is(tx_count(), $tx0 + 1, 'exactly one settlement');
    fault_rpc_stop($p);
    row('node gone before the settlement (sync)', sprintf('%d "%s" in %.2f s, released; retry %d',
        $res->{status}, $res->{json}{error} // '?', $res->{secs}, $again->{status}));
}

# b) gone right after the broadcast: the hash is kept, pending, then
# reconciled to settled once the node is back
{
    my $p = fault_rpc_start($PPORT, 'exit-after=eth_sendRawTransaction');
    my $tx0 = tx_count();
    my $res = timed_get($srv, '/paid/gone-after');
    ok(fault_rpc_exited($p), 'the node went away after the broadcast');
    my $pr = decode_json_b64($res->{headers}{'payment-response'}) // {};
    is($res->{status}, 200, 'node gone after the broadcast: served (paid, pending)');
    ok(exists $pr->{success} && !$pr->{success}, 'PAYMENT-RESPONSE success:false');
    is($pr->{errorReason}, 'settlement_pending', 'errorReason settlement_pending');
    like($pr->{transaction} // '', qr/^0x[0-9a-f]{64}$/, 'with the hash');
    cmp_ok($res->{secs}, '>=', 2.5, 'waited for x402_settle_timeout (3s)');
    cmp_ok($res->{secs}, '<', 5, 'but not much longer');
    my $rc = receipt_of('/paid/gone-after');
    is($rc && $rc->{status}, 'pending', 'receipt pending');
    is($rc && $rc->{transaction}, $pr->{transaction}, 'receipt keeps the hash');
    is(tx_count(), $tx0 + 1, 'the transaction is on chain');
    row('node gone after the broadcast (sync)', sprintf('%d %s, receipt %s, in %.2f s',
        $res->{status}, $pr->{errorReason} // '?', $rc ? $rc->{status} : 'LOST', $res->{secs}));

    $p = fault_rpc_start($PPORT, 'pass');
    my $t = time;
    for (1 .. 60) { $rc = receipt_of('/paid/gone-after'); last if $rc && $rc->{status} eq 'settled'; sleep 0.1 }
    is($rc && $rc->{status}, 'settled', 'node back: the reconciler records settled');
    row('  node back: reconciled', sprintf('%s after %.1f s', $rc ? $rc->{status} : '?', time - $t));
    fault_rpc_stop($p);
}

# c) the broadcast's reply is lost (the node took it): followed by hash,
# never re-sent; pending, then settled once the node is back
{
    my $p = fault_rpc_start($PPORT, 'drop-reply=eth_sendRawTransaction');
    my $tx0 = tx_count();
    my $res = timed_get($srv, '/paid/lost-reply');
    ok(fault_rpc_exited($p), 'the node dropped the reply and went away');
    my $pr = decode_json_b64($res->{headers}{'payment-response'}) // {};
    is($res->{status}, 200, 'lost broadcast reply: served (pending)');
    is($pr->{errorReason}, 'settlement_pending', 'errorReason settlement_pending');
    like($pr->{transaction} // '', qr/^0x[0-9a-f]{64}$/, 'with the hash');
    cmp_ok($res->{secs}, '<', 5, 'answered within the settle deadline');
    my $rc = receipt_of('/paid/lost-reply');
    is($rc && $rc->{status}, 'pending', 'receipt pending, hash kept');
    is($rc && $rc->{transaction}, $pr->{transaction}, 'the same hash');
    row('broadcast reply lost, node gone (sync)', sprintf('%d %s, receipt %s, in %.2f s',
        $res->{status}, $pr->{errorReason} // '?', $rc ? $rc->{status} : 'LOST', $res->{secs}));

    $p = fault_rpc_start($PPORT, 'pass');
    for (1 .. 60) { $rc = receipt_of('/paid/lost-reply'); last if $rc && $rc->{status} eq 'settled'; sleep 0.1 }
    is($rc && $rc->{status}, 'settled', 'node back: settled');
    is(tx_count(), $tx0 + 1, 'exactly one transaction: never re-sent');
    my $p2 = timed_get($srv, '/paid/after-faults');
    is($p2->{status}, 200, 'and the next payment settles normally');
    fault_rpc_stop($p);
}

my $log = server_stop($srv, 'rpc faults');
like($log, qr/settlement of \S+: RPC node failed/, 'log: the settlement\'s RPC failure');
like($log, qr/not mined within x402_settle_timeout, recorded as pending/, 'log: pending');
like($log, qr/broadcast of 0x[0-9a-f]{64} unconfirmed/, 'log: lost broadcast reply');

# ---- 5. the settler key file ---------------------------------------------

{
    my $missing = "$DIR/no-such.key";
    X402Test::run_block(X402Test::Spec->new(
        name => 'settler key file missing', config => $CONFIG,
        http_config => "x402_rpc $RPC;\nx402_redis 127.0.0.1:$RPORT;\n"
                     . "x402_settler_key_file $missing;\n",
        must_die => "x402_settler_key_file \"$missing\" cannot be opened\nNo such file"));
    my $s = eval { server_start({ config => $CONFIG, http_config =>
        "x402_rpc $RPC;\nx402_redis 127.0.0.1:$RPORT;\nx402_settler_key_file $missing;\n" }) };
    ok(!$s, 'settler key file missing: nginx does not start');
    like($@, qr/x402_settler_key_file "\Q$missing\E" cannot be opened/, 'and says why');
    server_stop($s, 'missing key') if $s;
    row('x402_settler_key_file missing', 'nginx -t and start fail: "cannot be opened"');

    my $open = "$DIR/open.key";
    system('cp', $KEY, $open) == 0 or die;
    chmod 0644, $open;
    $s = eval { server_start({ config => $CONFIG, http_config =>
        "x402_rpc $RPC;\nx402_redis 127.0.0.1:$RPORT;\nx402_settler_key_file $open;\n" }) };
    ok(!$s && $@ =~ /accessible by others/, 'world-readable key file: refused');
    server_stop($s, 'open key') if $s;
    row('x402_settler_key_file mode 644', 'start fails: "accessible by others"');
}

note(sprintf('%-58s %s', 'fault', 'answer'));
note($_) for @ROWS;
note(sprintf('total %.1f s', time - $T0));

done_testing();
