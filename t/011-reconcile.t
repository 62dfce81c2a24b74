# The reconciler finishes settlements nobody is waiting for any more: a
# "pending" receipt (not mined within x402_settle_timeout) and a "broadcast"
# receipt left by a worker that was killed, once the chain mines them; it
# fills a settler nonce a killed worker allocated and never signed; a
# Redis that lost its data does not let a replay through the node that
# admitted the payment; a payment served by a worker that died before its
# settlement was sent is settled by another node, before its permit ends.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Math::BigInt;
use Time::HiRes qw(time sleep);
use X402Test;

start_services(redis => 1, devchain => 1, mockllm => 1);

my $C = chain_env();
my $KEY = settler_key_file();
my $PRICE = '1000000000000000';

my $HTTP = settler_http(<<'HTTP', $KEY);
x402_settle_timeout 1s;
x402_reconcile_interval 300ms;
HTTP

my $CONFIG = paid_location('/async/', more => 'x402_settle async;') . status_location();

# the settler's transactions on chain, by nonce (for a failure's report)
sub settler_transactions {
    my ($settler) = @_;
    my @out;
    for my $n (0 .. hex(rpc_call('eth_blockNumber'))) {
        my $b = rpc_call('eth_getBlockByNumber', sprintf('0x%x', $n), JSON::PP::true) or next;
        for my $tx (@{ $b->{transactions} }) {
            next unless lc($tx->{from}) eq lc($settler);
            push @out, sprintf('nonce %d in block %d: %s to %s, input %s…', hex($tx->{nonce}), $n,
                               $tx->{hash}, $tx->{to} // '-', substr($tx->{input}, 0, 10));
        }
    }
    return join "\n", @out;
}

sub pay_async {
    my ($srv, $uri) = @_;
    return http_request($srv, "GET $uri", { 'PAYMENT-SIGNATURE' =>
        pay("--amount $PRICE --pay-to $C->{X402_PAY_TO}") });
}

# nothing is mined until the test says so
mining_stop();

my $srv = server_start({ http_config => $HTTP, config => $CONFIG });

# not mined in time: pending; mined later: the reconciler settles it
{
    is(pay_async($srv, '/async/slow')->{status}, 200, 'served');
    my $r = wait_status('/async/slow', 'pending', 5);
    is($r && $r->{status}, 'pending', 'not mined within x402_settle_timeout: pending');
    like($r && $r->{transaction} // '', qr/^0x[0-9a-f]{64}$/, 'the hash is kept');
    is(redis_cli('SCARD', 'x402:inflight'), '1', 'listed for the reconciler');
    rpc_call('evm_mine');
    $r = wait_status('/async/slow', 'settled', 5);
    is($r && $r->{status}, 'settled', 'mined later: the reconciler settled it');
}

# a worker killed after the broadcast: the next nginx finishes the receipt
{
    is(pay_async($srv, '/async/crash')->{status}, 200, 'served');
    my $r = wait_status('/async/crash', 'broadcast', 3);
    is($r && $r->{status}, 'broadcast', 'sent, waiting for the block');
    kill_nginx($srv->{pid});
    rpc_call('evm_mine');

    my $t0 = time;
    my $again = server_start({ http_config => $HTTP, config => $CONFIG });
    $r = wait_status('/async/crash', 'settled', 12);
    is($r && $r->{status}, 'settled', 'after the restart the reconciler settled it');
    my $rc = rpc_call('eth_getTransactionReceipt', $r->{transaction});
    is($rc && $rc->{status}, '0x1', 'and it is on chain');
    is(redis_cli('SCARD', 'x402:inflight'), '0', 'nothing left to reconcile');
    server_stop($again, 'restarted');
}

# the permit submitted by somebody else first, and ours sent after it (its
# estimate on the latest block passes), then the worker killed: in the
# block, ours reverts on the used nonce; the reconciler has the payment
# settled again rather than failed, and that settlement finds the transfer
# that paid
{
    my $node = server_start({ http_config => $HTTP, config => $CONFIG });
    my $h = pay("--amount $PRICE --pay-to $C->{X402_PAY_TO}");
    my $out = "$node->{dir}/settle.out";
    system("echo '$h' | node scripts/devchain.d/settle.mjs --rpc $C->{X402_RPC_URL} "
           . "--key $C->{X402_PAYER2_KEY} --payload - > $out 2>&1 &");
    my $pending = sub {
        scalar @{ (rpc_call('eth_getBlockByNumber', 'pending', JSON::PP::false) // {})
                  ->{transactions} // [] };
    };
    for (1 .. 100) { last if $pending->() >= 1; sleep 0.1 }
    is($pending->(), 1, "the outsider's settlement waits for a block");
    is(http_request($node, 'GET /async/beaten', { 'PAYMENT-SIGNATURE' => $h })->{status}, 200,
       'served');
    my $r = wait_status('/async/beaten', 'broadcast', 3);
    my $ours = $r && $r->{transaction};
    kill_nginx($node->{pid});
    rpc_call('evm_mine');
    my $theirs;
    for (1 .. 100) { ($theirs) = X402Test::read_file($out) =~ /"txHash":"(0x[0-9a-f]{64})"/ and last; sleep 0.1 }
    ok($theirs, "the outsider's settlement mined") or diag(X402Test::read_file($out));
    is((rpc_call('eth_getTransactionReceipt', $ours) // {})->{status}, '0x0',
       'ours reverted in the same block');

    my $again = server_start({ http_config => $HTTP, config => $CONFIG });
    $r = wait_status('/async/beaten', 'settled', 12);
    is($r && $r->{status}, 'settled', 'recorded settled');
    is($r && $r->{transaction}, $theirs, 'in the transaction that paid');
    like(http_request($again, 'GET /metrics')->{content}, qr/^x402_settlements_unpaid_total 0$/m,
         'not counted unpaid');
    like(server_stop($again, 'beaten'),
         qr/reverted in block \d+: settled again to learn why.*the payment was settled already/s,
         'the log explains both steps');
}

# a worker killed between taking a settler nonce and signing its
# transaction leaves an allocation the chain never sees (made here as the
# allocation script leaves it): the reconciler fills it with an empty
# transaction, and the settlements after it are mined
{
    mining_start();
    my $srv3 = server_start({ http_config => $HTTP, config => $CONFIG });
    my $settler = $C->{X402_SETTLER_ADDRESS};
    my $txs = "x402:settler:$settler:txs";
    my $count = hex(rpc_call('eth_getTransactionCount', $settler, 'pending'));
    my $old = int(time() * 1000) - 60_000;
    redis_cli('SET', "x402:settler:$settler:nonce", $count + 1);
    redis_cli('HSET', $txs, $count, $old);
    is(pay_async($srv3, '/async/after-gap')->{status}, 200, 'a payment after the gap is served');
    my $r = wait_status('/async/after-gap', 'settled', 15);
    is($r && $r->{status}, 'settled', 'and settled: the gap did not hold it back');
    is(hex(rpc_call('eth_getTransactionCount', $settler, 'latest')),
       hex(rpc_call('eth_getTransactionCount', $settler, 'pending')),
       'nothing of the settler queued in the node');
    for (1 .. 30) { last if redis_cli('HLEN', $txs) eq '0'; sleep 0.2 }
    is(redis_cli('HLEN', $txs), '0', 'every allocated nonce mined, the table empty');
    my $metrics = http_request($srv3, 'GET /metrics')->{content};
    like($metrics, qr/^x402_settler_gaps_filled_total 1$/m, 'the fill is counted')
        or diag(settler_transactions($settler));
    my $log = server_stop($srv3, 'gap');
    like($log, qr/the settler's nonce $count was allocated and never signed/,
         'the fill is explained in the log');
    like($log, qr/keeps no append-only file and has no replicas/,
         'a Redis that keeps nothing is warned about');
}

# Redis loses its data while a settlement is on its way: a replay of the
# same payment to this node is refused all the same, and it is paid once
{
    # its first settlement stays "broadcast" meanwhile
    my $srv4 = server_start({ http_config => $HTTP =~ s/x402_settle_timeout 1s/x402_settle_timeout 10s/r,
                              config => $CONFIG });
    mining_stop();
    my $m0 = X402Test::token_balance($C->{X402_ASSET}, $C->{X402_PAY_TO});
    my $h = pay("--amount $PRICE --pay-to $C->{X402_PAY_TO}");
    is(http_request($srv4, 'GET /async/wiped', { 'PAYMENT-SIGNATURE' => $h })->{status}, 200,
       'served, its settlement waiting for a block');
    # flushed once the job has written all it writes before the block
    my $sent = wait_status('/async/wiped', 'broadcast', 5);
    is($sent && $sent->{status}, 'broadcast', 'its transaction sent');
    redis_cli('FLUSHALL');
    my $res = http_request($srv4, 'GET /async/wiped', { 'PAYMENT-SIGNATURE' => $h });
    is($res->{status}, 402, 'Redis forgot it: the replay is refused anyway');
    is(decode_json_b64($res->{headers}{'payment-required'})->{error}, 'permit2_invalid_nonce',
       'as a used payment');
    my $left = '';
    for (1 .. 20) { $left = redis_cli('ZCARD', 'x402:unsettled'); last if $left eq '0'; sleep 0.05 }
    is($left, '0', 'the refused replay is left for no reconciler to settle');
    mining_start();
    rpc_call('evm_mine');
    for (1 .. 50) {
        last if X402Test::token_balance($C->{X402_ASSET}, $C->{X402_PAY_TO}) > $m0;
        sleep 0.1;
    }
    sleep 1;
    is(X402Test::token_balance($C->{X402_ASSET}, $C->{X402_PAY_TO}), $m0 + $PRICE,
       'paid exactly once, on chain');
    like(http_request($srv4, 'GET /metrics')->{content}, qr/^x402_replays_forgotten_total 1$/m,
         'counted as a replay Redis forgot');
    server_stop($srv4, 'wiped');
}

# a node whose worker serves async payments and is killed before their
# settlements are sent (its RPC holds every settlement at the gas estimate)
my $SHORT = paid_location('/short/', more => <<'MORE') . status_location();
x402_settle async;
x402_max_timeout 30;
x402_settle_margin 10s;
MORE

# serves $uri paid with a permit of 24 s on such a node, kills it; returns
# the payment
sub orphan {
    my ($uri) = @_;
    my $port = free_port();
    my $hold = fault_rpc_start($port, 'hold-from=eth_estimateGas');
    my $held = server_start({ http_config => $HTTP =~ s/\$RPC/http:\/\/127.0.0.1:$port/r,
                              config => $SHORT });
    my %o = (nonce => random_nonce(), deadline => time() + 24);
    $o{h} = pay(sprintf('--amount %s --pay-to %s --max-timeout 30 --deadline %d --nonce %s',
                        $PRICE, $C->{X402_PAY_TO}, $o{deadline}, $o{nonce}));
    is(http_request($held, "GET $uri", { 'PAYMENT-SIGNATURE' => $o{h} })->{status}, 200,
       "$uri: served; its settlement waits on a node that stopped answering");
    for (1 .. 50) { last if X402Test::read_file($hold->{log}) =~ /held/; sleep 0.1 }
    system("pkill -KILL -P $held->{pid}");
    server_stop($held, 'killed', qr/exited on signal 9/);
    fault_rpc_stop($hold);
    my $r = receipt_for($uri);
    is($r && $r->{status}, 'reserved', "$uri: the worker died with the payment reserved, unsettled");
    is(redis_cli('ZCARD', 'x402:unsettled'), '1', "$uri: listed as served and unsettled");
    return \%o;
}

# a worker killed after serving an async payment and before its settlement
# was sent: another node takes it over from Redis once the job's lease
# ends, and the lease ends in time for a permit of 24 s (the job's own
# bound, 29 s here, would have let the permit expire first)
{
    mining_start();
    my $m0 = X402Test::token_balance($C->{X402_ASSET}, $C->{X402_PAY_TO});
    my $o = orphan('/short/orphan');
    my $other = server_start({ http_config => $HTTP, config => $SHORT });
    my $r = wait_status('/short/orphan', 'settled', 22);
    is($r && $r->{status}, 'settled', 'another node settled it');
    ok(nonce_used($C->{X402_PAYER_ADDRESS}, $o->{nonce}), 'its Permit2 nonce is used on chain');
    cmp_ok(time(), '<', $o->{deadline}, 'before the permit expired');
    is(X402Test::token_balance($C->{X402_ASSET}, $C->{X402_PAY_TO}), $m0 + $PRICE,
       'the merchant paid once');
    like(http_request($other, 'GET /metrics')->{content},
         qr/^x402_settlements_taken_over_total 1$/m, 'counted as taken over');
    is(redis_cli('ZCARD', 'x402:unsettled'), '0', 'nothing left unsettled');
    like(server_stop($other, 'takeover'), qr/served and its settlement was never sent: settling it here/,
         'the log explains the takeover');
}

# the same, but the permit was submitted meanwhile by somebody else (anyone
# may submit an exact permit; a late job racing its takeover does the
# same): the takeover's settlement reverts on the used nonce, and the node
# finds the transfer that carries the permit and records the payment
# settled in it, not failed, nor counted unpaid
{
    my $m0 = X402Test::token_balance($C->{X402_ASSET}, $C->{X402_PAY_TO});
    my $o = orphan('/short/raced');
    open my $fh, '-|', "echo '$o->{h}' | node scripts/devchain.d/settle.mjs "
        . "--rpc $C->{X402_RPC_URL} --key $C->{X402_PAYER2_KEY} --payload -" or die $!;
    my $out = do { local $/; <$fh> };
    close $fh;
    my $tx = (eval { decode_json($out) } // {})->{txHash} // '';
    like($tx, qr/^0x[0-9a-f]{64}$/, 'somebody else settled the permit') or diag($out);
    my $other = server_start({ http_config => $HTTP, config => $SHORT });
    my $r = wait_status('/short/raced', 'settled', 22);
    is($r && $r->{status}, 'settled', 'the takeover recorded it settled');
    is($r && $r->{transaction}, $tx, 'in the transaction that paid');
    is(X402Test::token_balance($C->{X402_ASSET}, $C->{X402_PAY_TO}), $m0 + $PRICE,
       'the merchant paid once');
    my $m = http_request($other, 'GET /metrics')->{content};
    like($m, qr/^x402_settlements_unpaid_total 0$/m, 'not counted unpaid');
    like($m, qr/^x402_settlements_total\{result="failed"\} 0$/m, 'nor failed');
    like($m, qr/^x402_settlements_total\{result="settled"\} 1$/m, 'but settled');
    is(redis_cli('ZCARD', 'x402:unsettled'), '0', 'nothing left unsettled');
    like(server_stop($other, 'raced'), qr/the payment was settled already, in \Q$tx\E/,
         'the log names the transaction that paid');
}

# the payer spends the nonce without paying (Permit2's
# invalidateUnorderedNonces): the search finds no transfer carrying it, and
# the payment is failed and counted unpaid, as it is
{
    my $m0 = X402Test::token_balance($C->{X402_ASSET}, $C->{X402_PAY_TO});
    my $o = orphan('/short/revoked');
    my $tx = invalidate_nonce($C->{X402_PAYER_ADDRESS}, $o->{nonce});
    ok($tx && nonce_used($C->{X402_PAYER_ADDRESS}, $o->{nonce}), 'the payer invalidated the nonce');
    my $other = server_start({ http_config => $HTTP, config => $SHORT });
    my $r = wait_status('/short/revoked', 'failed', 22);
    is($r && $r->{status}, 'failed', 'the takeover recorded it failed');
    is(X402Test::token_balance($C->{X402_ASSET}, $C->{X402_PAY_TO}), $m0,
       'the merchant was not paid');
    like(http_request($other, 'GET /metrics')->{content}, qr/^x402_settlements_unpaid_total 1$/m,
         'counted unpaid');
    like(server_stop($other, 'revoked'), qr/no transfer to the merchant carries it/,
         'the log says no transfer carried the permit');
}

# a quiet settler is not a stalled one: seconds without a settlement, then
# payments one after the other, the first waiting for its block (2 s, more
# than x402_settle_timeout): the next are served, not refused as stalled
{
    my $srv5 = server_start({ http_config => $HTTP, config => $CONFIG });
    mining_stop();
    rpc_call('evm_setIntervalMining', 2);
    sleep 2.5;
    my @st = map { pay_async($srv5, "/async/quiet-$_")->{status} } 1 .. 3;
    is("@st", '200 200 200', 'after a quiet while, payments in a row are all served');
    rpc_call('evm_setIntervalMining', 0);
    mining_start();
    rpc_call('evm_mine');
    my $r = wait_status('/async/quiet-3', 'settled', 10);
    is($r && $r->{status}, 'settled', 'and settled');
    server_stop($srv5, 'quiet');
}

# a nonce a failed broadcast returned to the pool, and no settlement left to
# take it again: the reconciler fills it, the transaction after it is mined
{
    my $srv6 = server_start({ http_config => $HTTP, config => $CONFIG });
    my $settler = $C->{X402_SETTLER_ADDRESS};
    my $count = hex(rpc_call('eth_getTransactionCount', $settler, 'pending'));
    redis_cli('SET', "x402:settler:$settler:nonce", $count + 1);
    is(pay_async($srv6, '/async/behind-released')->{status}, 200, 'served');
    my $r = wait_status('/async/behind-released', 'broadcast', 3);
    redis_cli('ZADD', "x402:settler:$settler:released", $count, $count);
    $r = wait_status('/async/behind-released', 'settled', 25);
    is($r && $r->{status}, 'settled', 'settled once the released nonce was filled');
    is(redis_cli('ZCARD', "x402:settler:$settler:released"), '0', 'the pool is empty');
    is(hex(rpc_call('eth_getTransactionCount', $settler, 'latest')), $count + 2,
       'both nonces mined');
    like(http_request($srv6, 'GET /metrics')->{content}, qr/^x402_settler_gaps_filled_total 1$/m,
         'the fill is counted');
    server_stop($srv6, 'released');
}

# upto: a worker killed after the response, its settlement not yet sent:
# the reconciler that takes over charges what the response used, not the
# cap the reservation would charge a response without usage
{
    my $port = free_port();
    my $hold = fault_rpc_start($port, 'hold-from=eth_estimateGas');
    my $quick = <<'HTTP';
x402_redis $REDIS;
x402_settler_key_file KEYFILE;
x402_settle_timeout 1s;
x402_rpc_timeout 1s;
x402_redis_timeout 500ms;
x402_reconcile_interval 300ms;
HTTP
    $quick =~ s/KEYFILE/$KEY/;
    my $upto = paid_location('/v1/', price => '0.1', pass => 'http://127.0.0.1:$MOCKLLM/v1/',
                             more => <<'MORE') . status_location();
x402_scheme upto;
x402_input_price 0.01;
x402_output_price 0.02;
x402_max_timeout 45;
x402_settle_margin 20s;
x402_max_response_time 5s;
proxy_set_header X-Mock-Completion-Tokens 7;
MORE
    my $held = server_start({ http_config => "x402_rpc http://127.0.0.1:$port;\n$quick",
                              config => $upto });
    my $m0 = X402Test::token_balance($C->{X402_ASSET}, $C->{X402_PAY_TO});
    my $cap = '100000000000000000';
    my $nonce = random_nonce();
    my $deadline = int(time()) + 40;
    my $h = pay("--scheme upto --facilitator $C->{X402_SETTLER_ADDRESS} --amount $cap "
                . "--pay-to $C->{X402_PAY_TO} --max-timeout 45 --deadline $deadline "
                . "--nonce $nonce");
    my $res = http_request($held, 'POST /v1/chat/completions',
        { 'PAYMENT-SIGNATURE' => $h, 'Content-Type' => 'application/json' },
        encode_json({ model => 'demo', messages => [{ role => 'user', content => 'hi' }] }));
    is($res->{status}, 200, 'upto: served; its settlement waits on a node that stopped answering');
    for (1 .. 50) { last if X402Test::read_file($hold->{log}) =~ /held/; sleep 0.1 }
    my $r = receipt_for('/v1/chat/completions');
    ok($r && $r->{charged} && Math::BigInt->new($r->{charged}) < Math::BigInt->new($cap),
       'the measured charge is in the receipt before the settlement is sent')
        or diag(explain $r);
    system("pkill -KILL -P $held->{pid}");
    server_stop($held, 'upto killed', qr/exited on signal 9/);
    fault_rpc_stop($hold);

    my $other = server_start({ http_config => "x402_rpc \$RPC;\n$quick", config => $upto });
    $r = wait_status('/v1/chat/completions', 'settled', 22);
    is($r && $r->{status}, 'settled', 'another node settled it');
    cmp_ok(time(), '<', $deadline, 'before the permit expired');
    my $got = X402Test::token_balance($C->{X402_ASSET}, $C->{X402_PAY_TO}) - $m0;
    ok($got > 0 && $got < Math::BigInt->new($cap),
       "charged what the response used ($got), not the cap");
    is("$got", $r->{charged}, 'exactly the receipt\'s charge');
    server_stop($other, 'upto takeover');
}

mining_start();
done_testing();
