# Several settler accounts: x402_settler_key_file four times.  Under load
# (x402_settle async, two workers) exact settlements take turns over the
# accounts: every one lands (Permit2's nonce bit of each 200), no account
# keeps a nonce gap (the chain's pending and latest counts agree, the
# account's transactions table in Redis is empty), and the accounts'
# shares of the transactions are even.  Then every worker is killed -9
# with settlements of several accounts sent and not mined, and the node
# forgets them: the reconciler sends each account's again, and nothing is
# left stalled or unpaid.  upto stays on the first account (the
# facilitator its offers name).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use HTTP::Tiny;
use File::Temp qw(tempdir);
use Time::HiRes qw(time sleep);
use X402Test;

my $T0 = time;
start_services(redis => 1, devchain => 1);
my $C = chain_env();
my $PRICE = '1000000000000000';
my $PAYER = $C->{X402_PAYER_ADDRESS};

# anvil's default accounts #4 (the devchain's settler), #6, #7, #8: public
# test keys, funded with ETH at genesis
my @KEYS = ($C->{X402_SETTLER_KEY},
            '0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e',
            '0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356',
            '0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97');
my @ADDRS = ($C->{X402_SETTLER_ADDRESS}, '0x976EA74026E726554dB657fA54763abd0C3a0aa9',
             '0x14dC79964da2C08b23698B3D3cc7Ca32193d9955', '0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f');
my $kdir = tempdir('x402-keys-XXXXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0755, $kdir;
my @FILES = map {
    my $f = "$kdir/settler$_.key";
    write_file($f, "$KEYS[$_]\n", 0600);
    $f;
} 0 .. 3;

sub txcount { hex(rpc_call('eth_getTransactionCount', $_[0], $_[1] // 'latest') // '0x0') }

my $HTTP = "x402_rpc \$RPC;\nx402_redis \$REDIS;\n"
         . join('', map { "x402_settler_key_file $_;\n" } @FILES)
         . "x402_reconcile_interval 1s;\n";
my $CONFIG = paid_location('/paid/', more => 'x402_settle async;')
           . paid_location('/vb/', more => "x402_settle async;\nx402_settle_batch 10 1s;")
           . paid_location('/upto/', more => 'x402_scheme upto;')
           . status_location();
my $srv = server_start({ http_config => $HTTP, workers => 2, config => $CONFIG });

my $DEADLINE = int(time) + 900;
sub header {
    my ($nonce) = @_;
    return pay("--key $C->{X402_PAYER_KEY} --amount $PRICE --pay-to $C->{X402_PAY_TO} "
             . "--nonce $nonce --deadline $DEADLINE");
}
my $http = HTTP::Tiny->new(timeout => 30);
sub get {
    my ($node, $uri, $hdr) = @_;
    return $http->get("http://127.0.0.1:$node->{port}$uri",
                      { headers => $hdr ? { 'PAYMENT-SIGNATURE' => $hdr } : {} });
}

# the offer names the first account for upto
{
    my $r = get($srv, '/upto/x');
    my $pr = decode_json_b64($r->{headers}{'payment-required'});
    is($pr->{accepts}[0]{extra}{facilitatorAddress}, $ADDRS[0],
       'upto: the offer names the first account');
}

sub drained {
    my ($secs) = @_;
    my $ok = 0;
    for (1 .. $secs * 5) {
        $ok = 1;
        for my $a (@ADDRS) {
            $ok = 0 if txcount($a, 'pending') != txcount($a)
                    || (redis_cli('HLEN', "x402:settler:$a:txs") // '') ne '0';
        }
        last if $ok;
        sleep 0.2;
    }
    return $ok;
}

# $kids payers at once, each paying $each requests of "$uri$k-$i" in turn
# with the nonce $base + $stride * $k + $i; rows of [status, nonce, "$k-$i"]
sub pay_at_once {
    my ($uri, $kids, $each, $base, $stride) = @_;
    my @kids = map {
        my $k = $_;
        in_child(sub {
            map {
                my $nonce = $base + $stride * $k + $_;
                my $r = get($srv, "$uri$k-$_", header($nonce));
                "$r->{status} $nonce $k-$_";
            } 0 .. $each - 1;
        });
    } 0 .. $kids - 1;
    return map { [split ' '] } map { collect_child($_) } @kids;
}

# ---- 96 payments, 8 at a time ----------------------------------------------
my @before = map { txcount($_) } @ADDRS;
my @rows = pay_at_once('/paid/k', 8, 12, 100_000, 100_000);
is(scalar(grep { $_->[0] == 200 } @rows), 96, '96 paid requests served');

ok(drained(60), 'every account drained: pending = latest, its transactions table empty');
my $paid = 0;
for (1 .. 150) {
    last if $paid = !grep { !nonce_used($PAYER, $_->[1]) } @rows;
    sleep 0.2;
}
ok($paid, 'every one settled on chain (Permit2 nonce bit)');

my @sent = map { txcount($ADDRS[$_]) - $before[$_] } 0 .. 3;
diag('transactions per account: ' . join(' ', @sent));
my $total = 0;
$total += $_ for @sent;
is($total, 96, 'one transaction per payment, over the four accounts');
for my $i (0 .. 3) {
    cmp_ok(abs($sent[$i] - $total / 4), '<=', $total / 8,
           "account $i sent $sent[$i]: within 1/8 of the total of an even share");
}
{
    my $m = get($srv, '/metrics')->{content} // '';
    my $sum = 0;
    for my $a (@ADDRS) {
        my ($n) = $m =~ /^x402_settler_transactions_total\{account="\Q$a\E"\} (\d+)$/m;
        ok(defined $n, "x402_settler_transactions_total names $a");
        $sum += $n // 0;
    }
    is($sum, 96, '... and they add up to the transactions sent');
}

# ---- a receipt names the account that sent its transaction ------------------
{
    my $rc = receipt_for('/paid/k0-0');
    ok($rc && grep({ lc($_) eq lc($rc->{settler} // '') } @ADDRS),
       'the receipt names the account of its transaction');
}

# ---- batches: each batch's transaction from an account in turn, and its
# payments' receipts name that account ---------------------------------------
{
    my @b0 = map { txcount($_) } @ADDRS;
    my @b = pay_at_once('/vb/b', 6, 5, 3_000_000, 100);
    is(scalar(grep { $_->[0] == 200 } @b), 30, '30 payments served for batched settlement')
        or diag(join ' ', map { $_->[0] } @b);
    ok(drained(60), 'every account drained after the batches');
    my $ok = 0;
    for (1 .. 150) {
        last if $ok = !grep { !nonce_used($PAYER, $_->[1]) } @b;
        sleep 0.2;
    }
    ok($ok, 'every batched payment settled on chain');
    my @d = map { txcount($ADDRS[$_]) - $b0[$_] } 0 .. 3;
    my $batches = 0;
    $batches += $_ for @d;
    diag("batch transactions per account: @d");
    cmp_ok($batches, '<', 30, "fewer transactions than payments ($batches)");
    cmp_ok(scalar(grep { $_ > 0 } @d), '>=', 2, 'batches went from several accounts');
    my $named = 0;
    for my $row (@b) {
        my $rc = receipt_for("/vb/b$row->[2]");
        next unless $rc && $rc->{transaction};
        my $tx = rpc_call('eth_getTransactionByHash', $rc->{transaction});
        $named++ if $tx && lc($tx->{from}) eq lc($rc->{settler} // '');
    }
    is($named, 30, 'each receipt names the account that sent its batch');
}

# ---- every worker killed with settlements of several accounts sent and not
# mined; the node forgets them: each account's are sent again ----------------
{
    mining_stop();
    my @n0 = map { txcount($_, 'pending') } @ADDRS;
    my @f = pay_at_once('/paid/f', 4, 2, 900_000, 10);
    is(scalar(grep { $_->[0] == 200 } @f), 8, '8 more served (async), not mined');
    my $out = 0;
    for (1 .. 100) {
        my $n = 0;
        $n += txcount($ADDRS[$_], 'pending') - $n0[$_] for 0 .. 3;
        last if ($out = $n) >= 8;
        sleep 0.1;
    }
    is($out, 8, 'their 8 transactions wait in the node');
    my $busy = grep { txcount($ADDRS[$_], 'pending') > $n0[$_] } 0 .. 3;
    cmp_ok($busy, '>=', 3, "spread over $busy accounts");
    rpc_call('anvil_dropAllTransactions');
    my @w = split ' ', `pgrep -P $srv->{pid}` // '';
    is(kill('KILL', @w), scalar @w, 'the node forgot them, and every worker is killed -9');
    mining_start();
    ok(drained(90), 'after recovery no account is stalled: every nonce mined, no gap');
    my $ok = 0;
    for (1 .. 300) {
        last if $ok = !grep { !nonce_used($PAYER, $_->[1]) } @f;
        sleep 0.2;
    }
    ok($ok, 'and every one of the 8 is paid on chain');
    my $r = get($srv, '/paid/after', header(990_001));
    is($r->{status}, 200, 'the node serves again');
}

server_stop($srv, 'settlers node', qr/exited on signal 9/);
diag(sprintf 'took %.1f s', time - $T0);
done_testing();
