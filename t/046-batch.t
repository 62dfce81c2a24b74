# Batched settlement (x402_settle_batch): many exact payments in one
# Multicall3 aggregate3 transaction of the settler, on the devchain with
# the real Permit2, proxy and Multicall3.  Checked against the chain
# itself: the merchant's balance, the token's Transfer logs, the payers'
# Permit2 nonce bits and the settler's transaction count.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Math::BigInt;
use Time::HiRes qw(time sleep);
use X402Test;

start_services(redis => 1, devchain => 1);

my $C = chain_env();
my $PRICE = Math::BigInt->new('1000000000000000');
my $TRANSFER = '0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef';

sub receipts {
    my %r;
    for my $k (grep { length } split /\n/, redis_cli('--scan', '--pattern', 'x402:8453:*')) {
        my $v = eval { decode_json(redis_cli('GET', $k)) };
        $r{$k} = $v if ref $v eq 'HASH' && $v->{payer};
    }
    return \%r;
}

sub head_block { hex(rpc_call('eth_blockNumber') // '0x0') }

sub topic { '0x' . ('0' x 24) . lc(substr($_[0], 2)) }

# the token's Transfer(from, payTo) logs after $block, from the chain
sub transfers_since {
    my ($block, $from) = @_;
    my $logs = rpc_call('eth_getLogs', { address => $C->{X402_ASSET},
        fromBlock => sprintf('0x%x', $block + 1), toBlock => 'latest',
        topics => [$TRANSFER, topic($from), topic($C->{X402_PAY_TO})] }) // [];
    return grep { !$_->{removed} } @$logs;
}

sub wait_for {
    my ($secs, $cond) = @_;
    my $until = time + $secs;
    while (time < $until) {
        return 1 if $cond->();
        sleep 0.2;
    }
    return $cond->();
}

sub pay_header {
    my ($key) = @_;
    return pay(($key ? "--key $key " : '')
               . "--amount $PRICE --pay-to $C->{X402_PAY_TO}");
}

sub nonce_of {
    my ($h) = @_;
    return decode_json_b64($h)->{payload}{permit2Authorization}{nonce};
}

sub metric {
    my ($srv, $name) = @_;
    my $body = http_request($srv, 'GET /metrics')->{content} // '';
    return $body =~ /^\Q$name\E (\d+)/m ? $1 : 0;
}

# an ERC-20 transfer sent as $from (impersonated), mined at once
sub token_transfer {
    my ($from, $to, $amount) = @_;
    my $data = '0xa9059cbb' . ('0' x 24) . lc(substr($to, 2))
             . substr(('0' x 64) . substr($amount->as_hex, 2), -64);
    rpc_call('anvil_impersonateAccount', $from);
    my $tx = rpc_call('eth_sendTransaction', { from => $from,
        to => $C->{X402_ASSET}, data => $data });
    rpc_call('anvil_stopImpersonatingAccount', $from);
    return $tx;
}

my $HTTP = settler_http(<<'HTTP');
x402_settle_timeout 3s;
x402_rpc_timeout 2s;
x402_timeout 3s;
x402_reconcile_interval 1s;
HTTP

my $CONFIG = paid_location('/batch/', more => "x402_settle async;\nx402_settle_batch 100 2s;")
           . paid_location('/bsync/', echo => 'tx', more => 'x402_settle_batch 10 1s;')
           . status_location();

my $srv = server_start({ http_config => $HTTP, config => $CONFIG, workers => 2 });

# 300 async payments at c=16 with x402_settle_batch 100 2s: every one paid
# exactly once, in a handful of transactions
{
    my $n = 300;
    my @h = map { pay_header() } 1 .. $n;
    my $b0 = head_block();
    my $tx0 = settler_tx_count();
    my $m0 = asset_balance($C->{X402_PAY_TO});
    my $t0 = time;
    my @kids = map {
        my $k = $_;
        in_child(sub {
            map { http_request($srv, "GET /batch/$_", { 'PAYMENT-SIGNATURE' => $h[$_] })->{status} }
            grep { $_ % 16 == $k } 0 .. $n - 1 });
    } 0 .. 15;
    my %status;
    $status{$_}++ for map { collect_child($_) } @kids;
    is($status{200}, $n, "$n async payments served at c=16") or diag(explain \%status);
    ok(wait_for(30, sub { asset_balance($C->{X402_PAY_TO}) >= $m0 + $n * $PRICE }),
       'all settled within 30 s');
    sleep 1;
    is(asset_balance($C->{X402_PAY_TO}), $m0 + $n * $PRICE, "the merchant received exactly $n prices");
    my @logs = transfers_since($b0, $C->{X402_PAYER_ADDRESS});
    is(scalar @logs, $n, "$n Transfer logs to the merchant: each payment once");
    my %txs = map { $_->{transactionHash} => 1 } @logs;
    cmp_ok(scalar keys %txs, '<=', 6, 'in at most 6 transactions (' . scalar(keys %txs) . ')');
    cmp_ok(settler_tx_count() - $tx0, '<=', 6, 'the settler sent at most 6 transactions');
    my @unused = grep { !nonce_used($C->{X402_PAYER_ADDRESS}, nonce_of($_)) } @h;
    is(scalar @unused, 0, 'every payment\'s Permit2 nonce is used');
    for my $tx (keys %txs) {
        my $r = rpc_call('eth_getTransactionReceipt', $tx);
        is(lc $r->{to}, lc '0xcA11bde05977b3631167028862bE2a173976CA11',
           'a batch is sent to Multicall3');
    }

    my @rc = grep { $_->{resource} =~ m{^/batch/} } values %{ receipts() };
    is(scalar(grep { $_->{status} eq 'settled' } @rc), $n, 'every receipt settled');
    my @batched = grep { ($_->{batch}{size} // 0) > 1 && $_->{batch}{gasPerItem} } @rc;
    is(scalar @batched, $n, 'every receipt names its batch (size, gas per payment)');
    ok(!(grep { !$txs{$_->{transaction}} } @rc), 'every receipt names a transaction that paid it');

    my ($batches, $paid, $gas) = map { metric($srv, $_) }
        qw(x402_settle_batches_total x402_settle_batch_payments_total x402_settle_batch_gas_total);
    is($paid, $n, "metrics: $n payments settled in batches");
    is($batches, scalar keys %txs, 'metrics: one batch per transaction');
    my $per = $paid ? $gas / $paid : 0;
    cmp_ok($per, '<', 65000, "gas per payment $per < 65000 (one by one: ~82000)");
    diag(sprintf '300 payments: %d transactions, %.0f gas a payment, settled in %.1f s',
         scalar keys %txs, $per, time - $t0);
}

# sync: each request waits for its batch's block; the content's status is
# known first, and a status >= 400 is not charged
{
    my $n = 40;
    my @h = map { pay_header($C->{X402_PAYER2_KEY}) } 1 .. $n;
    my $m0 = asset_balance($C->{X402_PAY_TO});
    my $t0 = time;
    my @kids = map {
        my $k = $_;
        in_child(sub {
            map {
                my $res = http_request($srv, "GET /bsync/$_", { 'PAYMENT-SIGNATURE' => $h[$_] });
                my $pr = decode_json_b64($res->{headers}{'payment-response'} // '') // {};
                join ' ', $res->{status}, ($pr->{success} ? 'ok' : 'no'), $pr->{transaction} // '-';
            } grep { $_ % 16 == $k } 0 .. $n - 1;
        });
    } 0 .. 15;
    my @res = map { collect_child($_) } @kids;
    my $took = time - $t0;
    is(scalar(grep { /^200 ok 0x[0-9a-f]{64}$/ } @res), $n,
       "sync: $n at c=16 served, each with PAYMENT-RESPONSE success and its transaction")
        or diag(explain \@res);
    my %txs = map { (split ' ')[2] => 1 } @res;
    cmp_ok(scalar keys %txs, '<', $n / 2, 'in batches (' . scalar(keys %txs) . ' transactions)');
    is(asset_balance($C->{X402_PAY_TO}), $m0 + $n * $PRICE, "sync: the merchant received exactly $n prices");
    for my $tx (keys %txs) {
        my @t = grep { lc $_->{topics}[0] eq $TRANSFER }
                @{ (rpc_call('eth_getTransactionReceipt', $tx) // {})->{logs} // [] };
        ok(@t >= 1, "sync batch $tx carries its transfers");
    }
    diag(sprintf 'sync: %d requests at c=16 answered in %.2f s (batch 10, interval 1s)', $n, $took);
}

server_stop($srv, 'two workers');

# One worker, a long interval: what happens while payments wait
my $HTTP1 = settler_http(<<'HTTP');
x402_settle_timeout 2s;
x402_rpc_timeout 1s;
x402_redis_timeout 500ms;
x402_timeout 3s;
x402_reconcile_interval 1s;
HTTP

my $SLOW = paid_location('/slow/', more => "x402_settle async;\nx402_settle_batch 50 4s;")
         . status_location();

# two payments that became invalid between verification and the flush:
# the others settle in the batch; those two fail with their reasons
{
    my $srv1 = server_start({ http_config => $HTTP1, config => $SLOW, workers => 1 });
    my @good = map { pay_header() } 1 .. 3;
    my $broke = pay_header($C->{X402_PAYER2_KEY});
    my $spent = pay_header();
    my $m0 = asset_balance($C->{X402_PAY_TO});
    my $b0 = head_block();
    for my $h (@good, $broke, $spent) {
        is(http_request($srv1, 'GET /slow/x', { 'PAYMENT-SIGNATURE' => $h })->{status}, 200,
           'served (async), waiting for its batch');
    }
    # payer 2 moves its tokens away; payer 1 spends one nonce itself
    my $bal2 = asset_balance($C->{X402_PAYER2_ADDRESS});
    token_transfer($C->{X402_PAYER2_ADDRESS}, $C->{X402_PAYER_ADDRESS}, $bal2);
    invalidate_nonce($C->{X402_PAYER_ADDRESS}, nonce_of($spent));
    is(asset_balance($C->{X402_PAYER2_ADDRESS}), 0, 'payer 2 holds nothing now');

    ok(wait_for(20, sub { asset_balance($C->{X402_PAY_TO}) >= $m0 + 3 * $PRICE }),
       'the three good payments settle');
    my %rc = map { $_->{nonce} => $_ } values %{ receipts() };
    ok(wait_for(15, sub {
        %rc = map { $_->{nonce} => $_ } values %{ receipts() };
        ($rc{nonce_dec(nonce_of($broke))}{status} // '') eq 'failed'
            && ($rc{nonce_dec(nonce_of($spent))}{status} // '') eq 'failed' }),
       'the two invalid ones end failed');
    is(asset_balance($C->{X402_PAY_TO}), $m0 + 3 * $PRICE, 'the merchant received exactly three prices');
    my $rb = $rc{nonce_dec(nonce_of($broke))} // {};
    my $rs = $rc{nonce_dec(nonce_of($spent))} // {};
    is($rb->{error}, 'permit2_insufficient_balance', 'balance moved away: its reason');
    is($rs->{error}, 'permit2_invalid_nonce', 'nonce used: its reason');
    my @good_rc = map { $rc{nonce_dec(nonce_of($_))} // {} } @good;
    is(scalar(grep { $_->{status} eq 'settled' && ($_->{batch}{size} // 0) == 3 } @good_rc), 3,
       'the three settled in one batch of three');
    my %tx = map { $_->{transaction} // '' => 1 } @good_rc;
    is(scalar keys %tx, 1, 'one transaction');
    is(scalar(transfers_since($b0, $C->{X402_PAYER2_ADDRESS})), 0, 'payer 2 paid nothing');
    is(metric($srv1, 'x402_settle_batch_dropped_total'), 2, 'metrics: two left out of the batch');
    token_transfer($C->{X402_PAYER_ADDRESS}, $C->{X402_PAYER2_ADDRESS}, $bal2);
    server_stop($srv1, 'invalid items');
}

sub nonce_dec { Math::BigInt->new($_[0])->bstr }

# kill -9 of the worker while its batch waits: nothing was sent; the
# reconciler settles each payment alone once its lease is over
{
    my $srv1 = server_start({ http_config => $HTTP1, config => $SLOW, workers => 1 });
    my @h = map { pay_header() } 1 .. 4;
    my $m0 = asset_balance($C->{X402_PAY_TO});
    my $b0 = head_block();
    is(http_request($srv1, 'GET /slow/k', { 'PAYMENT-SIGNATURE' => $_ })->{status}, 200,
       'served, queued') for @h;
    my @workers = map { /(\d+)/ ? $1 : () } `pgrep -P $srv1->{pid}`;
    ok(@workers == 1, 'one worker');
    kill 'KILL', @workers;
    my $t0 = time;
    ok(wait_for(45, sub { asset_balance($C->{X402_PAY_TO}) >= $m0 + 4 * $PRICE }),
       'after kill -9, the reconciler settled the queued payments');
    sleep 1;
    is(asset_balance($C->{X402_PAY_TO}), $m0 + 4 * $PRICE, 'each exactly once');
    is(scalar(transfers_since($b0, $C->{X402_PAYER_ADDRESS})), 4, 'four transfers on chain');
    ok(!(grep { !nonce_used($C->{X402_PAYER_ADDRESS}, nonce_of($_)) } @h), 'every nonce used');
    diag(sprintf 'kill -9 with a queued batch: settled %.1f s later', time - $t0);

    # the batch sent, the worker killed before its block: the reconciler
    # reads each payment's Transfer log in the mined batch
    @h = map { pay_header() } 1 .. 3;
    $m0 = asset_balance($C->{X402_PAY_TO});
    $b0 = head_block();
    mining_stop();
    is(http_request($srv1, 'GET /slow/m', { 'PAYMENT-SIGNATURE' => $_ })->{status}, 200,
       'served, queued') for @h;
    ok(wait_for(10, sub {
           scalar(grep { $_->{resource} eq '/slow/m' && $_->{status} =~ /^(broadcast|pending)$/
                         && $_->{transaction} } values %{ receipts() }) == 3 }),
       'the batch is sent (receipts broadcast, then pending), not mined');
    @workers = map { /(\d+)/ ? $1 : () } `pgrep -P $srv1->{pid}`;
    kill 'KILL', @workers;
    # and the node loses it: only the reconciler has its signed bytes
    my ($lost) = map { $_->{transaction} } grep { $_->{resource} eq '/slow/m' } values %{ receipts() };
    rpc_call('anvil_dropTransaction', $lost);
    mining_start();
    rpc_call('evm_mine');
    ok(wait_for(40, sub {
           scalar(grep { $_->{resource} eq '/slow/m' && $_->{status} eq 'settled' }
                  values %{ receipts() }) == 3 }),
       'the reconciler sent the lost batch again and confirmed each payment');
    is(asset_balance($C->{X402_PAY_TO}), $m0 + 3 * $PRICE, 'paid exactly once each');
    my @logs = transfers_since($b0, $C->{X402_PAYER_ADDRESS});
    is(scalar @logs, 3, 'three transfers');
    my %txs = map { $_->{transactionHash} => 1 } @logs;
    is(scalar keys %txs, 1, 'in the one batch transaction');
    is((keys %txs)[0], $lost, 'the batch\'s own transaction (the same signed bytes)');
    server_stop($srv1, 'kill -9', qr/exited on signal 9/);
}

# a sync batch sent, its worker killed before the requests were answered
# and the node lost the transaction: cancelled (its nonce given an empty
# transaction), nobody charged, the reservations released
{
    (my $http = $HTTP1) =~ s/x402_settle_timeout 2s;/x402_settle_timeout 10s;/;
    my $srv1 = server_start({ http_config => $http, workers => 1,
        config => paid_location('/wait/', more => 'x402_settle_batch 10 1s;') });
    my @h = map { pay_header($C->{X402_PAYER2_KEY}) } 1 .. 3;
    my $p0 = asset_balance($C->{X402_PAYER2_ADDRESS});
    mining_stop();
    my @kids = map { my $x = $_; in_child(sub { http_request($srv1, 'GET /wait/x',
        { 'PAYMENT-SIGNATURE' => $x })->{status} // 0 }) } @h;
    ok(wait_for(10, sub {
           scalar(grep { $_->{resource} eq '/wait/x' && $_->{status} eq 'broadcast' }
                  values %{ receipts() }) == 3 }),
       'sync batch sent, its requests waiting');
    my @workers = map { /(\d+)/ ? $1 : () } `pgrep -P $srv1->{pid}`;
    kill 'KILL', @workers;
    my @st = map { collect_child($_) } @kids;
    ok(!(grep { $_ == 200 } @st), 'no request was answered 200');
    my ($lost) = map { $_->{transaction} } grep { $_->{resource} eq '/wait/x' } values %{ receipts() };
    rpc_call('anvil_dropTransaction', $lost);
    mining_start();
    rpc_call('evm_mine');
    ok(wait_for(60, sub { !grep { $_->{resource} eq '/wait/x' } values %{ receipts() } }),
       'the reconciler cancelled the batch and released the three reservations');
    is(asset_balance($C->{X402_PAYER2_ADDRESS}), $p0, 'payer 2 was charged nothing');
    ok(!(grep { nonce_used($C->{X402_PAYER2_ADDRESS}, nonce_of($_)) } @h),
       'no nonce used: the payments can be sent again');
    my $again = http_request($srv1, 'GET /wait/x', { 'PAYMENT-SIGNATURE' => $h[0] });
    is($again->{status}, 200, 'the same payment, sent again, is served');
    server_stop($srv1, 'sync kill -9', qr/exited on signal 9/);
}

# a reload and a graceful stop while payments wait for their batch: the old
# worker sends them before it exits, each paid once
{
    my $srv1 = server_start({ http_config => $HTTP1, config => $SLOW, workers => 1 });
    my @h = map { pay_header() } 1 .. 6;
    my $m0 = asset_balance($C->{X402_PAY_TO});
    my $b0 = head_block();
    is(http_request($srv1, 'GET /slow/r', { 'PAYMENT-SIGNATURE' => $_ })->{status}, 200,
       'served, queued') for @h[0 .. 2];
    kill 'HUP', $srv1->{pid};
    sleep 0.5;
    is(http_request($srv1, 'GET /slow/r', { 'PAYMENT-SIGNATURE' => $_ })->{status}, 200,
       'served by the new worker, queued') for @h[3 .. 5];
    my $t0 = time;
    server_stop($srv1, 'reload and stop');
    cmp_ok(time - $t0, '>', 0.5, 'the graceful stop waited for the queued batch');
    ok(wait_for(20, sub { asset_balance($C->{X402_PAY_TO}) >= $m0 + 6 * $PRICE }),
       'every queued payment settled across the reload and the stop');
    sleep 1;
    is(asset_balance($C->{X402_PAY_TO}), $m0 + 6 * $PRICE, 'each exactly once');
    is(scalar(transfers_since($b0, $C->{X402_PAYER_ADDRESS})), 6, 'six transfers on chain');
    my @rc = grep { $_->{resource} eq '/slow/r' } values %{ receipts() };
    is(scalar(grep { $_->{status} eq 'settled' } @rc), 6, 'six receipts settled');
}

# Redis unreachable when the batch goes out (every command stalls): nothing
# sent without its record; once Redis answers again the reconciler settles
# each (served) payment, once
{
    my $srv1 = server_start({ http_config => $HTTP1, config => $SLOW, workers => 1 });
    my @h = map { pay_header() } 1 .. 3;
    my $m0 = asset_balance($C->{X402_PAY_TO});
    my $b0 = head_block();
    is(http_request($srv1, 'GET /slow/d', { 'PAYMENT-SIGNATURE' => $_ })->{status}, 200,
       'served, queued') for @h;
    redis_cli('CLIENT', 'PAUSE', '7000', 'ALL');
    sleep 6;
    is(asset_balance($C->{X402_PAY_TO}), $m0, 'Redis stalled at the flush: nothing settled');
    ok(wait_for(60, sub { asset_balance($C->{X402_PAY_TO}) >= $m0 + 3 * $PRICE }),
       'Redis back: settled');
    sleep 1;
    is(asset_balance($C->{X402_PAY_TO}), $m0 + 3 * $PRICE, 'each exactly once');
    is(scalar(transfers_since($b0, $C->{X402_PAYER_ADDRESS})), 3, 'three transfers');
    server_stop($srv1, 'redis stalled');
}

# the node down when the batch goes out: nothing sent; once it is back the
# reconciler settles each (served) payment, once
{
    my $port = free_port();
    my $proxy = fault_rpc_start($port, 'pass');
    (my $http = $HTTP1) =~ s/x402_rpc \$RPC;/x402_rpc http:\/\/127.0.0.1:$port\/;/;
    my $srv1 = server_start({ http_config => $http, config => $SLOW, workers => 1 });
    my @h = map { pay_header() } 1 .. 3;
    my $m0 = asset_balance($C->{X402_PAY_TO});
    my $b0 = head_block();
    is(http_request($srv1, 'GET /slow/n', { 'PAYMENT-SIGNATURE' => $_ })->{status}, 200,
       'served, queued') for @h;
    fault_rpc_stop($proxy);
    sleep 6;
    is(asset_balance($C->{X402_PAY_TO}), $m0, 'node down: nothing settled');
    my @rc = grep { $_->{resource} eq '/slow/n' } values %{ receipts() };
    is(scalar(grep { $_->{status} eq 'retry' } @rc), 3, 'the three are to be tried again')
        or diag(explain [map { $_->{status} } @rc]);
    $proxy = fault_rpc_start($port, 'pass');
    ok(wait_for(30, sub { asset_balance($C->{X402_PAY_TO}) >= $m0 + 3 * $PRICE }),
       'node back: settled');
    sleep 1;
    is(asset_balance($C->{X402_PAY_TO}), $m0 + 3 * $PRICE, 'each exactly once');
    is(scalar(transfers_since($b0, $C->{X402_PAYER_ADDRESS})), 3, 'three transfers');
    server_stop($srv1, 'node down');
}

done_testing();
