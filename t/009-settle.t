# Settlement by the built-in settler on the devchain: sync and async, the
# official client's view, balances, receipts, transaction nonces shared by
# workers, and a settler without gas.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Math::BigInt;
use MIME::Base64 ();
use POSIX qw(_exit);
use Time::HiRes qw(time sleep);
use X402Test;

start_services(redis => 1, devchain => 1, mockllm => 1);

my $C = chain_env();
my $KEY = settler_key_file();
my $PRICE = Math::BigInt->new('1000000000000000');

my $HTTP = settler_http(<<'HTTP', $KEY);
x402_settle_timeout 10s;
x402_timeout 3s;
HTTP

my $CONFIG = paid_location('/sync/', echo => 'tx')
           . paid_location('/first/', echo => 'tx',
                           more => 'x402_settle sync before_content;')
           . paid_location('/llm/', pass => 'http://127.0.0.1:$MOCKLLM/',
                           more => 'add_header X-Result $x402_result always;')
           . paid_location('/async/', more => 'x402_settle async;')
           . status_location();

sub receipts {
    my %r;
    for my $k (grep { length } split /\n/, redis_cli('--scan', '--pattern', 'x402:8453:*')) {
        $r{$k} = eval { decode_json(redis_cli('GET', $k)) };
    }
    return \%r;
}

my $srv = server_start({ http_config => $HTTP, config => $CONFIG, workers => 2 });

# sync: the content runs, then is settled before it goes out; the client
# sees the transaction
{
    my ($p0, $m0) = (asset_balance($C->{X402_PAYER_ADDRESS}), asset_balance($C->{X402_PAY_TO}));
    my $r = client_pays($srv, '/sync/chat');
    is($r->{error}, undef, 'official client completed');
    is_deeply($r->{attempts}, [402, 200], 'sync: 402, then paid and served');
    my $pr = $r->{paymentResponse} // {};
    ok($pr->{success}, 'PAYMENT-RESPONSE success');
    like($pr->{transaction} // '', qr/^0x[0-9a-f]{64}$/, 'PAYMENT-RESPONSE transaction');
    is($pr->{network}, 'eip155:8453', 'PAYMENT-RESPONSE network');
    is($pr->{payer}, $C->{X402_PAYER_ADDRESS}, 'PAYMENT-RESPONSE payer');
    like($r->{body}, qr/^backend GET \/sync\/chat .* result=$/m,
         'the content ran before the settlement (no $x402_tx yet)');
    is(asset_balance($C->{X402_PAYER_ADDRESS}), $p0 - $PRICE, 'payer paid exactly the price');
    is(asset_balance($C->{X402_PAY_TO}), $m0 + $PRICE, 'merchant got exactly the price');
    my $rec = rpc_call('eth_getTransactionReceipt', $pr->{transaction});
    is($rec && $rec->{status}, '0x1', 'the transaction is mined with status 1');
    my @settled = grep { $_->{status} eq 'settled' } values %{ receipts() };
    is(scalar @settled, 1, 'one receipt, settled');
    is($settled[0]{transaction}, $pr->{transaction}, 'receipt has the hash');
}

# sync before_content: settled before the content runs, which sees
# $x402_tx
{
    my $h = pay("--key $C->{X402_PAYER2_KEY} --amount $PRICE --pay-to $C->{X402_PAY_TO}");
    my $res = http_request($srv, 'GET /first/x', { 'PAYMENT-SIGNATURE' => $h });
    is($res->{status}, 200, 'before_content: served');
    my $pr = decode_json_b64($res->{headers}{'payment-response'}) // {};
    like($pr->{transaction} // '', qr/^0x[0-9a-f]{64}$/, 'before_content: PAYMENT-RESPONSE');
    like($res->{content}, qr/result=\Q$pr->{transaction}\E/, '$x402_tx reached the backend');
}

# payer 2's reservation (and receipt) key of a nonce
sub receipt_key {
    my ($nonce) = @_;
    return 'x402:8453:' . lc(substr($C->{X402_PAYER2_ADDRESS}, 2)) . ':'
         . substr(('0' x 64) . substr(Math::BigInt->new($nonce)->as_hex, 2), -64);
}

# sync: an Upgrade (WebSocket) request becomes a tunnel no filter can hold,
# so it is settled before its content, which then sees $x402_tx
{
    my $h = pay("--key $C->{X402_PAYER2_KEY} --amount $PRICE --pay-to $C->{X402_PAY_TO}");
    my $res = http_request($srv, 'GET /sync/ws', { 'PAYMENT-SIGNATURE' => $h,
        Upgrade => 'websocket', Connection => 'Upgrade' });
    is($res->{status}, 200, 'sync Upgrade request: served');
    my $pr = decode_json_b64($res->{headers}{'payment-response'}) // {};
    like($res->{content}, qr/result=\Q$pr->{transaction}\E/,
         'settled before the content ran (the backend saw $x402_tx)');
}

my $CHAT = '{"model":"m","messages":[{"role":"user","content":"hi"}]}';

sub chat {
    my ($h, %more) = @_;
    return http_request($srv, 'POST /llm/v1/chat/completions',
        { (defined $h ? ('PAYMENT-SIGNATURE' => $h) : ()),
          'Content-Type' => 'application/json', %more }, $CHAT);
}

# sync: a backend error is not charged; the reservation is released and the
# same permit pays a request that succeeds, once
{
    my $nonce = random_nonce();
    my $h = pay("--key $C->{X402_PAYER2_KEY} --amount $PRICE --pay-to $C->{X402_PAY_TO} --nonce $nonce");
    my ($p0, $m0) = (asset_balance($C->{X402_PAYER2_ADDRESS}), asset_balance($C->{X402_PAY_TO}));
    my $sent = settler_tx_count();
    for my $status (500, 404) {
        my $res = chat($h, 'X-Mock-Status' => $status);
        is($res->{status}, $status, "sync: the backend's $status reaches the client");
        like($res->{content}, qr/forced status $status/, 'with its own body');
        ok(!$res->{headers}{'payment-response'}, 'and no PAYMENT-RESPONSE');
        is($res->{headers}{'x-result'}, 'not_charged', '$x402_result: not_charged');
    }
    is(chat(undef)->{headers}{'x-result'}, 'payment_required', '$x402_result: payment_required');
    is(asset_balance($C->{X402_PAYER2_ADDRESS}), $p0, 'the payer was not charged');
    is(asset_balance($C->{X402_PAY_TO}), $m0, 'the merchant got nothing');
    ok(!nonce_used($C->{X402_PAYER2_ADDRESS}, $nonce), 'the permit nonce is unused on chain');
    is(settler_tx_count(), $sent, 'no transaction was sent');
    is(redis_cli('EXISTS', receipt_key($nonce)), '0', 'the reservation was released');
    like(http_request($srv, 'GET /metrics')->{content}, qr/^x402_payments_not_charged_total 2$/m,
         'counted as not charged');

    my $res = chat($h);
    is($res->{status}, 200, 'the same permit pays a request that succeeds');
    like($res->{content}, qr/"chat.completion"/, 'with the content');
    my $pr = decode_json_b64($res->{headers}{'payment-response'}) // {};
    ok($pr->{success}, 'and PAYMENT-RESPONSE success');
    is($res->{headers}{'x-result'}, 'paid', '$x402_result: paid');
    is(asset_balance($C->{X402_PAYER2_ADDRESS}), $p0 - $PRICE, 'charged once');
    is(asset_balance($C->{X402_PAY_TO}), $m0 + $PRICE, 'merchant paid once');
    ok(nonce_used($C->{X402_PAYER2_ADDRESS}, $nonce), 'the nonce is spent on chain');

    # the answer was lost: the same payment again learns it was paid, and by
    # which transaction (the chain refuses the nonce before Redis is asked)
    my $again = chat($h);
    is($again->{status}, 402, 'the same payment again is refused');
    is(error_of($again), 'permit2_invalid_nonce', 'as a used nonce');
    is($again->{headers}{'x-result'}, 'permit2_invalid_nonce', '$x402_result: the reason');
    my $body = eval { decode_json($again->{content}) } // {};
    is($body->{receipt}{status}, 'settled', 'with the stored receipt: settled');
    is($body->{receipt}{transaction}, $pr->{transaction}, 'and its transaction');
    is(asset_balance($C->{X402_PAYER2_ADDRESS}), $p0 - $PRICE, 'and is not charged again');
}

# sync: while its content runs the reservation is labelled as it settles,
# "sync" (settled before it goes out), not "async"
{
    my $nonce = random_nonce();
    my $h = pay("--key $C->{X402_PAYER2_KEY} --amount $PRICE --pay-to $C->{X402_PAY_TO} --nonce $nonce");
    my $kid = in_child(sub { chat($h, 'X-Mock-Delay-Ms' => 1500)->{status} });
    my $held;
    for (1 .. 100) {
        $held = eval { decode_json(redis_cli('GET', receipt_key($nonce))) };
        last if $held;
        sleep 0.05;
    }
    is($held && $held->{status}, 'reserved', 'sync: reserved while its content runs');
    is($held && $held->{mode}, 'sync', 'and labelled mode "sync"');
    is((collect_child($kid))[0], 200, 'then served');
    my $done = eval { decode_json(redis_cli('GET', receipt_key($nonce))) } // {};
    is($done->{status}, 'settled', 'and settled');
    is($done->{mode}, 'sync', 'still labelled "sync"');
}

# sync: a settlement that fails once the content has run (the payer took
# the permit back meanwhile) replaces the content with the 402
{
    my $nonce = random_nonce();
    my $h = pay("--key $C->{X402_PAYER2_KEY} --amount $PRICE --pay-to $C->{X402_PAY_TO} --nonce $nonce");
    my ($p0, $m0) = (asset_balance($C->{X402_PAYER2_ADDRESS}), asset_balance($C->{X402_PAY_TO}));
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        # once it is reserved (checked, the content about to run), not before
        for (1 .. 100) {
            last if redis_cli('EXISTS', receipt_key($nonce)) eq '1';
            sleep 0.05;
        }
        invalidate_nonce($C->{X402_PAYER2_ADDRESS}, $nonce);
        _exit(0);
    }
    my $res = chat($h, 'X-Mock-Delay-Ms' => 3000);
    waitpid $pid, 0;
    ok(nonce_used($C->{X402_PAYER2_ADDRESS}, $nonce), 'the payer invalidated the nonce during the content');
    is($res->{status}, 402, 'sync: the failed settlement answers 402');
    unlike($res->{content}, qr/chat\.completion/, 'the content is not delivered');
    ok($res->{headers}{'payment-required'}, 'with a fresh PAYMENT-REQUIRED');
    my $pr = decode_json_b64($res->{headers}{'payment-response'}) // {};
    is($pr->{success}, JSON::PP::false, 'and PAYMENT-RESPONSE success false');
    ok($pr->{errorReason}, "naming why ($pr->{errorReason})");
    is($res->{headers}{'x-result'}, $pr->{errorReason}, '$x402_result: the settlement\'s reason');
    is(asset_balance($C->{X402_PAYER2_ADDRESS}), $p0, 'the payer was not charged');
    is(asset_balance($C->{X402_PAY_TO}), $m0, 'the merchant got nothing');
    # the server goes on: a paid request right after is served
    my $ok = chat(pay("--key $C->{X402_PAYER2_KEY} --amount $PRICE --pay-to $C->{X402_PAY_TO}"));
    is($ok->{status}, 200, 'the next payment is served');
}

# async: forwarded at once, settled in the background
{
    my $m0 = asset_balance($C->{X402_PAY_TO});
    my $h = pay("--key $C->{X402_PAYER2_KEY} --amount $PRICE --pay-to $C->{X402_PAY_TO}");
    my $res = http_request($srv, 'GET /async/x', { 'PAYMENT-SIGNATURE' => $h });
    is($res->{status}, 200, 'async: served');
    my $done = 0;
    for (1 .. 40) {
        if (asset_balance($C->{X402_PAY_TO}) == $m0 + $PRICE) { $done = 1; last }
        sleep 0.1;
    }
    ok($done, 'async: merchant credited in the background');
    my ($rc) = grep { $_->{payer} eq $C->{X402_PAYER2_ADDRESS} } values %{ receipts() };
    my $tries = 0;
    while ((!$rc || $rc->{status} ne 'settled') && $tries++ < 20) {
        sleep 0.1;
        ($rc) = grep { $_->{payer} eq $C->{X402_PAYER2_ADDRESS} } values %{ receipts() };
    }
    is($rc && $rc->{status}, 'settled', 'async: receipt settled');
}

# async settlements in a burst: the fees of a recent block are reused (at
# most one eth_getBlockByNumber per worker), and each settlement fetches its
# receipt once the settler's mined count has passed its nonce
{
    my $log = services()->{chain_log};
    my $n = 6;
    my @h = map { pay("--key $C->{X402_PAYER2_KEY} --amount $PRICE --pay-to $C->{X402_PAY_TO}") } 1 .. $n;
    my $m0 = asset_balance($C->{X402_PAY_TO});
    my $mark = -s $log;
    is(http_request($srv, 'GET /async/burst', { 'PAYMENT-SIGNATURE' => $_ })->{status}, 200,
       'burst: served') for @h;
    my $done = 0;
    for (1 .. 50) {
        if (asset_balance($C->{X402_PAY_TO}) == $m0 + $n * $PRICE) { $done = 1; last }
        sleep 0.1;
    }
    ok($done, "burst: all $n settled");
    sleep 0.5;
    open my $fh, '<', $log or die $!;
    seek $fh, $mark, 0;
    my %m;
    $m{$_}++ for map { /^(eth_\w+)\s*$/ ? "$1" : () } <$fh>;
    close $fh;
    is($m{eth_estimateGas}, $n, 'burst: one gas estimate per settlement') or diag(explain \%m);
    cmp_ok($m{eth_getBlockByNumber} // 0, '<=', 2, 'burst: fees read at most once per worker');
    # (anvil may answer the new count a moment before the receipt: a retry)
    cmp_ok($m{eth_getTransactionReceipt} // 0, '<=', $n + 2,
           'burst: about one receipt fetch per settlement, not a poll per tick');
    cmp_ok($m{eth_getTransactionReceipt} // 0, '>=', $n, 'burst: every receipt fetched');
}

# 100 paid requests across 2 workers: distinct consecutive settler nonces
{
    my $n0 = settler_tx_count();
    my $m0 = asset_balance($C->{X402_PAY_TO});
    my @heads = map { pay("--amount $PRICE --pay-to $C->{X402_PAY_TO}") } 1 .. 100;
    my %status;
    my @kids = map {
        my $batch = $_;
        in_child(sub { map { http_request($srv, 'GET /sync/n', {
            'PAYMENT-SIGNATURE' => $heads[$batch * 10 + $_] })->{status} } 0 .. 9 });
    } 0 .. 9;
    $status{$_}++ for map { collect_child($_) } @kids;
    is($status{200}, 100, '100 concurrent paid requests served') or diag(explain \%status);
    is(settler_tx_count() - $n0, 100, '100 settlement transactions from the settler');
    is(asset_balance($C->{X402_PAY_TO}), $m0 + 100 * $PRICE, 'merchant got 100 prices');
    my @hashes = map { $_->{transaction} } grep { $_->{status} eq 'settled' }
                 values %{ receipts() };
    my %nonces;
    for my $h (@hashes) {
        my $tx = rpc_call('eth_getTransactionByHash', $h);
        $nonces{hex($tx->{nonce})}++ if $tx;
    }
    my @sorted = sort { $a <=> $b } keys %nonces;
    is(scalar @sorted, scalar @hashes, 'every settled receipt has its own settler nonce');
    is($sorted[-1] - $sorted[0] + 1, scalar @sorted, 'nonces are consecutive (no gap)');
}

# the settler out of gas: the gateway's fault, not the payer's: 503, nothing
# settled, the reservation released; funded again, the same payment is
# accepted and settles, with the released nonce
{
    my $bal = rpc_call('eth_getBalance', $C->{X402_SETTLER_ADDRESS}, 'latest');
    rpc_call('anvil_setBalance', $C->{X402_SETTLER_ADDRESS}, '0x0');
    my $m0 = asset_balance($C->{X402_PAY_TO});
    my $h = pay("--amount $PRICE --pay-to $C->{X402_PAY_TO}");
    my $res = http_request($srv, 'GET /sync/broke', { 'PAYMENT-SIGNATURE' => $h });
    is($res->{status}, 503, 'settler without gas: 503, not the payer\'s fault');
    is($res->{headers}{'retry-after'}, '2', 'with Retry-After');
    ok(!$res->{headers}{'payment-required'}, 'no new payment asked for');
    ok(!$res->{headers}{'payment-response'}, 'no settlement answered');
    is(asset_balance($C->{X402_PAY_TO}), $m0, 'nothing moved');
    my ($rc) = grep { $_->{resource} eq '/sync/broke' } values %{ receipts() };
    ok(!$rc, 'the reservation is released');

    rpc_call('anvil_setBalance', $C->{X402_SETTLER_ADDRESS}, $bal);
    $res = http_request($srv, 'GET /sync/broke', { 'PAYMENT-SIGNATURE' => $h });
    is($res->{status}, 200, 'funded again: the same payment is accepted');
    my $pr = decode_json_b64($res->{headers}{'payment-response'}) // {};
    ok($pr->{success}, 'and settles') or diag(explain $pr);
    is(asset_balance($C->{X402_PAY_TO}), $m0 + $PRICE, 'paid once');
    my $tx = rpc_call('eth_getTransactionByHash', $pr->{transaction} // '0x');
    is($tx && hex($tx->{nonce}), settler_tx_count() - 1, 'the released nonce was reused (no gap)');
}

# async, but this worker's settlements lag by more than half the time left
# on a payment's permit: that request waits for its settlement (served
# first, it might not be settled before the permit expires); one worker, as
# the lag is per worker
{
    # x402_settle_timeout 10s: the first settlement still waits for its block
    # when the second payment comes, and the settler does not count as
    # stalled; x402_settle_margin 2s: a permit with 9 s left is admitted
    (my $http3 = $HTTP) =~ s/x402_settle_timeout 10s/x402_settle_timeout 10s;\nx402_settle_margin 2s/;
    my $one = server_start({ http_config => $http3, config => $CONFIG, workers => 1 });
    mining_stop();
    my $first = http_request($one, 'GET /async/lag1', { 'PAYMENT-SIGNATURE' =>
        pay("--key $C->{X402_PAYER2_KEY} --amount $PRICE --pay-to $C->{X402_PAY_TO}") });
    is($first->{status}, 200, 'lag: the first async payment is served at once');
    ok(!$first->{headers}{'payment-response'}, 'lag: without waiting for its settlement');
    sleep 5;    # no block: its settlement has waited 5 s
    my $h = pay("--key $C->{X402_PAYER2_KEY} --amount $PRICE --pay-to $C->{X402_PAY_TO} "
                . '--deadline ' . (int(time()) + 9));
    pipe(my $rd, my $wr) or die $!;
    my $pid = fork // die $!;
    if ($pid == 0) {
        close $rd;
        my $t0 = time;
        my $res = http_request($one, 'GET /async/lag2', { 'PAYMENT-SIGNATURE' => $h });
        print $wr encode_json({ status => $res->{status}, secs => time - $t0,
                                pr => $res->{headers}{'payment-response'} // '' });
        close $wr;
        _exit(0);
    }
    close $wr;
    sleep 1.5;
    mining_start();
    rpc_call('evm_mine');
    my $out = do { local $/; <$rd> };
    waitpid($pid, 0);
    my $r = eval { decode_json($out) } // {};
    is($r->{status}, 200, 'lag: the payment with 9 s left is served');
    cmp_ok($r->{secs} // 0, '>', 1, 'lag: after waiting for its settlement');
    my $pr = decode_json_b64($r->{pr}) // {};
    ok($pr->{success}, 'lag: PAYMENT-RESPONSE success, as with x402_settle sync');
    like(server_stop($one, 'lag'),
         qr/settlements lag by \d+ s on this worker: payer 0x\w+ waits for the settlement/,
         'lag: the wait is explained in the log');
}

# the settler stalls (nothing of its mined for x402_settle_timeout while a
# settlement waits): new payments are refused 503 before anything is sent,
# the same payment is welcome again once the chain moves
{
    (my $http3 = $HTTP) =~ s/x402_settle_timeout 10s/x402_settle_timeout 3s/;
    my $one = server_start({ http_config => $http3, config => $CONFIG, workers => 1 });
    mining_stop();
    my $tx0 = settler_tx_count();
    my $first = http_request($one, 'GET /async/stall1', { 'PAYMENT-SIGNATURE' =>
        pay("--key $C->{X402_PAYER2_KEY} --amount $PRICE --pay-to $C->{X402_PAY_TO}") });
    is($first->{status}, 200, 'stall: an async payment is served');
    sleep 4.5;    # recorded pending, and no block for longer than 3 s
    my $n = random_nonce();
    my $h = pay("--key $C->{X402_PAYER2_KEY} --amount $PRICE --pay-to $C->{X402_PAY_TO} --nonce $n");
    for my $path ('/async/stall2', '/sync/stall2') {
        my $r = http_request($one, "GET $path", { 'PAYMENT-SIGNATURE' => $h });
        is($r->{status}, 503, "stall: $path is refused, not served unsettled");
        is($r->{headers}{'retry-after'}, '2', "stall: $path says when to come back");
        like($r->{content}, qr/the settler's transactions stall/, "stall: $path says why");
    }
    is(redis_cli('EXISTS', receipt_key($n)), '0', 'stall: nothing reserved for it');
    mining_start();
    rpc_call('evm_mine');
    sleep 1.5;
    my $r = http_request($one, 'GET /sync/stall3', { 'PAYMENT-SIGNATURE' => $h });
    is($r->{status}, 200, 'stall over: the same payment is served');
    ok((decode_json_b64($r->{headers}{'payment-response'}) // {})->{success},
       'stall over: and settled');
    is(settler_tx_count(), $tx0 + 2, 'stall: two settlements on chain, none for the refusals');
    like(server_stop($one, 'stall'), qr/the settler's transactions stall/,
         'stall: the refusal is explained in the log');
}

my $log = server_stop($srv, 'settler');
like($log, qr/settling from 0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65/i,
     'start-up names the settler address');
unlike($log, qr/\Q$C->{X402_SETTLER_KEY}\E|\Q@{[substr($C->{X402_SETTLER_KEY}, 2)]}\E/,
       'the settler key never appears in the log');
like($log, qr/the node refused/, 'log explains the failed broadcast');

# a key file others can read is refused at load
{
    chmod 0644, $KEY;
    my $s = eval { server_start({ http_config => $HTTP, config => $CONFIG }) };
    ok(!$s, 'world-readable key file: nginx refuses to start');
    like($@, qr/accessible by others/, 'and says why');
    server_stop($s, 'bad key') if $s;
    chmod 0600, $KEY;
}

done_testing();
