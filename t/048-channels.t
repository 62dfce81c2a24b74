# x402_scheme batch-settlement: one deposit, a voucher per request, claims
# in batches.  The official client (@x402/evm/batch-settlement/client 2.27)
# pays two nginx nodes sharing one Redis; the devchain runs the
# batch-settlement contracts at their canonical addresses with the real
# Permit2.  Checked against the chain itself: the contract's Deposited,
# Claimed and Settled logs, channels(id), and the token balances.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Math::BigInt;
use Time::HiRes qw(time sleep);
use X402Test;
use X402Channel;

start_services(redis => 1, devchain => 1);

my $C = chain_env();

my $HTTP = settler_http(<<'HTTP');
x402_settle_timeout 5s;
x402_rpc_timeout 2s;
x402_timeout 5s;
x402_reconcile_interval 1s;
HTTP

my $CONFIG = channel_location('/ch/', deposit => '0.5')
           . channel_location('/small/')
           . channel_location('/chfail/', pass => 'http://127.0.0.1:$PORT/boom/')
           . "location /boom/ {\n    return 500 \"boom\\n\";\n}\n"
           . status_location();

my $srv = server_start({ http_config => $HTTP, config => $CONFIG, workers => 2 });
my $srv2 = server_start({ http_config => $HTTP, config => $CONFIG, workers => 2 });

# the 402: batch-settlement terms with the settler as receiverAuthorizer
my $offer;
{
    my $r = http_request($srv, 'GET /ch/x');
    is($r->{status}, 402, 'unpaid: 402');
    my $pr = decode_json_b64($r->{headers}{'payment-required'});
    $offer = $pr->{accepts}[0];
    is($offer->{scheme}, 'batch-settlement', 'scheme batch-settlement');
    is(lc $offer->{extra}{receiverAuthorizer}, lc $C->{X402_SETTLER_ADDRESS},
       'receiverAuthorizer: the settler');
    is($offer->{extra}{withdrawDelay}, 900, 'withdrawDelay 900 (the contract minimum)');
    is($offer->{extra}{assetTransferMethod}, 'permit2', 'assetTransferMethod permit2');
    is($offer->{extra}{minDeposit}, '500000000000000000', 'minDeposit from x402_channel_deposit');
}

# 100 requests of one client over two nodes: one deposit, one claim and one
# sweep; the merchant gets exactly 100 prices; the payer keeps the rest
my ($cid, $deposit);
{
    my $b0 = head_block();
    my $payer0 = asset_balance($C->{X402_PAYER_ADDRESS});
    my $merchant0 = asset_balance($C->{X402_PAY_TO});
    my $t0 = time;
    my $out = channel_client(["http://127.0.0.1:$srv->{port}/ch/a",
                              "http://127.0.0.1:$srv2->{port}/ch/b"], n => 100);
    my $took = time - $t0;
    is(statuses($out)->{200}, 100, '100 requests served over two nodes')
        or diag(explain statuses($out), $out->{results}[0]);
    my @dep = logs_since($b0, 'deposited');
    is(scalar @dep, 1, 'one deposit transaction');
    my $first = $out->{results}[0]{paymentResponse} // {};
    $cid = $first->{extra}{channelState}{channelId};
    like($cid // '', qr/^0x[0-9a-f]{64}$/, 'the first response names the channel');
    like($first->{transaction} // '', qr/^0x[0-9a-f]{64}$/, 'and carries the deposit transaction');
    $deposit = Math::BigInt->new($first->{amount} // 0);
    is($deposit, Math::BigInt->new('500000000000000000'), 'the client deposited minDeposit');
    my $last = $out->{results}[99]{paymentResponse} // {};
    is($last->{transaction}, '', 'a voucher response has no transaction');
    is($last->{extra}{chargedAmount}, "$PRICE", 'chargedAmount: the price');
    is($last->{extra}{channelState}{chargedCumulativeAmount}, '' . (100 * $PRICE),
       'chargedCumulativeAmount: 100 prices');
    is(redis_cli('HGET', channel_key($cid), 'chg'), '' . (100 * $PRICE),
       'Redis holds the charge exactly');
    is(asset_balance($C->{X402_PAYER_ADDRESS}), $payer0 - $deposit,
       'the payer paid the deposit only, so far');
    ok(wait_for(30, sub { scalar(logs_since($b0, 'settled')) >= 1 }),
       'claimed and swept within the claim interval');
    sleep 1;
    my @claims = logs_since($b0, 'claimed', $cid);
    is(scalar @claims, 1, 'one claim of the channel') or diag("took $took s");
    is(scalar(logs_since($b0, 'settled')), 1, 'one sweep');
    my ($bal, $claimed) = channel_on_chain($cid);
    is($claimed, 100 * $PRICE, 'on chain: totalClaimed = 100 prices');
    is($bal, $deposit, 'on chain: the balance is the deposit');
    is(asset_balance($C->{X402_PAY_TO}), $merchant0 + 100 * $PRICE,
       'the merchant received exactly 100 prices');
    cmp_ok(metric($srv, 'x402_channel_vouchers_total')
           + metric($srv2, 'x402_channel_vouchers_total'), '==', 100,
           'x402_channel_vouchers_total counts them');
    my $claimed_amount = Math::BigInt->new(0);
    for my $s ($srv, $srv2) {
        my $body = http_request($s, 'GET /metrics')->{content} // '';
        $claimed_amount += Math::BigInt->new($1) if $body =~ /^x402_channel_claimed_amount_total\{[^}]*\} (\d+)/m;
    }
    is($claimed_amount, 100 * $PRICE,
       'x402_channel_claimed_amount_total: the 100 prices claimed');
}

# a response that fails is not charged, and says nothing of a charge: the
# deposit stays in the channel, and the next request starts from nothing
{
    my $salt = '0x' . ('0' x 62) . '21';
    my $out = channel_client(["http://127.0.0.1:$srv->{port}/chfail/x"], n => 1, salt => $salt);
    my $res = $out->{results}[0];
    is($res->{status}, 500, 'the content failed: 500 passes through');
    ok(!$res->{paymentResponse}, 'without PAYMENT-RESPONSE');
    $out = channel_client(["http://127.0.0.1:$srv2->{port}/ch/y"], n => 1, salt => $salt);
    $res = $out->{results}[0];
    is($res->{status}, 200, 'the same channel then serves');
    is($res->{paymentResponse}{extra}{channelState}{chargedCumulativeAmount}, "$PRICE",
       'charged one price: the failed request cost nothing');
    is($res->{paymentResponse}{transaction}, '', 'on the deposit already made');
}

# a deposit below x402_channel_deposit: refused before anything is sent
{
    my ($b0, $payer0) = (head_block(), asset_balance($C->{X402_PAYER_ADDRESS}));
    my $out = channel_client(["http://127.0.0.1:$srv->{port}/ch/low"], n => 1,
                             salt => '0x' . ('0' x 63) . '9', deposit => '' . (2 * $PRICE));
    is($out->{results}[0]{status}, 402, 'a deposit below minDeposit: 402');
    is($out->{results}[0]{error}, 'invalid_batch_settlement_evm_deposit_below_min_deposit',
       'invalid_batch_settlement_evm_deposit_below_min_deposit');
    is(scalar(logs_since($b0, 'deposited')), 0, 'no deposit sent');
    is(asset_balance($C->{X402_PAYER_ADDRESS}), $payer0, 'the payer paid nothing');
}

# attacks on the channel: a replayed voucher, one over the balance, one
# signed by someone else; none served, none charged
{
    my $chg0 = redis_cli('HGET', channel_key($cid), 'chg');
    my $replay = `node t/client/voucher.mjs --accepts '${\ encode_json($offer)}' --max ${\ (100 * $PRICE)}`;
    chomp $replay;
    my $r = http_request($srv, 'GET /ch/replay', { 'PAYMENT-SIGNATURE' => $replay });
    is($r->{status}, 402, 'a replayed voucher: 402');
    my $pr = decode_json_b64($r->{headers}{'payment-required'});
    is($pr->{error}, 'invalid_batch_settlement_evm_cumulative_amount_mismatch',
       'the corrective 402');
    is($pr->{accepts}[0]{extra}{channelState}{chargedCumulativeAmount}, $chg0,
       'with the channel state');
    is($pr->{accepts}[0]{extra}{voucherState}{signedMaxClaimable}, $chg0,
       'and the last voucher');

    my $other = `node t/client/voucher.mjs --accepts '${\ encode_json($offer)}' --max ${\ (101 * $PRICE)} --signer $C->{X402_PAYER2_KEY}`;
    chomp $other;
    $r = http_request($srv, 'GET /ch/other', { 'PAYMENT-SIGNATURE' => $other });
    is($r->{status}, 402, 'a voucher signed by another key: 402');
    is(decode_json_b64($r->{headers}{'payment-required'})->{error},
       'invalid_batch_settlement_evm_voucher_signature', 'invalid_batch_settlement_evm_voucher_signature');

    is(redis_cli('HGET', channel_key($cid), 'chg'), $chg0, 'nothing charged');
}

# a channel holding 5 prices (the client's own deposit, no minDeposit): a
# sixth voucher is over its balance; a client that lost its state gets the
# corrective 402, resyncs, tops the channel up and is served
{
    my $salt = '0x' . ('0' x 63) . '5';
    my $small = decode_json_b64(http_request($srv, 'GET /small/x')->{headers}{'payment-required'})->{accepts}[0];
    my $out = channel_client(["http://127.0.0.1:$srv->{port}/small/a"], n => 5, salt => $salt);
    is(statuses($out)->{200}, 5, '5 requests on a channel of 5 prices');
    my $id = $out->{results}[0]{paymentResponse}{extra}{channelState}{channelId};
    my $key = channel_key($id);
    is($out->{results}[0]{paymentResponse}{amount}, '' . (5 * $PRICE), 'the client deposited 5 prices');
    my $over = `node t/client/voucher.mjs --accepts '${\ encode_json($small)}' --max ${\ (6 * $PRICE)} --salt $salt`;
    chomp $over;
    my $r = http_request($srv, 'GET /small/over', { 'PAYMENT-SIGNATURE' => $over });
    is($r->{status}, 402, 'a voucher over the balance: 402');
    is(decode_json_b64($r->{headers}{'payment-required'})->{error},
       'invalid_batch_settlement_evm_cumulative_exceeds_balance',
       'invalid_batch_settlement_evm_cumulative_exceeds_balance');
    is(redis_cli('HGET', $key, 'chg'), '' . (5 * $PRICE), 'nothing charged');

    my $b0 = head_block();
    $out = channel_client(["http://127.0.0.1:$srv2->{port}/small/b"], n => 1, salt => $salt);
    my $res = $out->{results}[0];
    is($res->{status}, 200, 'a client without its state is served') or diag(explain $out);
    is_deeply($res->{attempts}, [402, 402, 200], 'after one corrective 402 and one retry');
    is($res->{paymentResponse}{extra}{channelState}{chargedCumulativeAmount}, '' . (6 * $PRICE),
       'charged 6 prices in all');
    is(scalar(logs_since($b0, 'deposited', $id)), 1, 'its retry topped the channel up');

    # a client that pipelines: the next two vouchers, the later one first;
    # it waits for the earlier, and both are served in order
    my ($v7, $v8) = map {
        my $h = `node t/client/voucher.mjs --accepts '${\ encode_json($small)}' --max ${\ ($_ * $PRICE)} --salt $salt`;
        chomp $h;
        $h;
    } 7, 8;
    my $kid = in_child(sub { http_request($srv2, 'GET /small/late', { 'PAYMENT-SIGNATURE' => $v8 })->{status} });
    sleep 0.3;
    my $first = http_request($srv, 'GET /small/early', { 'PAYMENT-SIGNATURE' => $v7 })->{status};
    is($first, 200, 'the earlier voucher, sent second, is served');
    my ($late) = collect_child($kid);
    is($late, 200, 'the later one, sent first, waited for it and is served');
    is(redis_cli('HGET', $key, 'chg'), '' . (8 * $PRICE), 'charged 8 prices: each once');
}

# 16 concurrent requests of one client on a fresh channel: each served at
# most once, the channel charged exactly for those served.  The client signs
# each voucher on the charge it last saw, so concurrent vouchers of one
# channel share a base and at most one per round can be right; the others
# get the corrective 402 (one retry each) and pay nothing.
{
    my $salt = '0x' . ('0' x 63) . '7';
    my $b0 = head_block();
    my $out = channel_client(["http://127.0.0.1:$srv->{port}/ch/c",
                              "http://127.0.0.1:$srv2->{port}/ch/d"], n => 16, c => 16,
                             salt => $salt);
    my $served = statuses($out)->{200} // 0;
    cmp_ok($served, '>=', 1, "concurrent requests on one channel: $served of 16 served");
    my @cids = grep { defined } map { $_->{paymentResponse}{extra}{channelState}{channelId} }
               @{ $out->{results} };
    my $id = $cids[0] // '';
    is(redis_cli('HGET', channel_key($id), 'chg'), '' . ($served * $PRICE),
       'the channel is charged exactly for the requests served');
    is(scalar(logs_since($b0, 'deposited', $id)), 1,
       'one deposit landed: the refused requests moved nothing');
    ok(wait_for(30, sub { (channel_on_chain($id))[1] == $served * $PRICE }),
       'and exactly that is claimed on chain');
}

# a withdrawal mid-run is claimed at once, long before its delay
{
    my $salt = '0x' . ('0' x 62) . '11';
    my $out = channel_client(["http://127.0.0.1:$srv->{port}/ch/w"], n => 3,
                             key => $C->{X402_PAYER2_KEY}, salt => $salt);
    is(statuses($out)->{200}, 3, 'payer2 served 3 requests');
    my $id = $out->{results}[0]{paymentResponse}{extra}{channelState}{channelId};
    my $cfg = encode_json({ payer => $C->{X402_PAYER2_ADDRESS}, payerAuthorizer => $C->{X402_PAYER2_ADDRESS},
                            receiver => $offer->{payTo}, receiverAuthorizer => $offer->{extra}{receiverAuthorizer},
                            token => $offer->{asset}, withdrawDelay => 900, salt => $salt });
    my ($bal, $claimed) = channel_on_chain($id);
    is($claimed, 0, 'nothing claimed yet (claim interval 8s)');
    my $t0 = time;
    my $w = `node scripts/devchain.d/channel.mjs --rpc $C->{X402_RPC_URL} withdraw payer2 '$cfg' ${\ ($bal - $claimed)}`;
    ok(wait_for(15, sub { (channel_on_chain($id))[1] == 3 * $PRICE }),
       'the withdrawal is seen and the channel claimed at once') or diag($w);
    cmp_ok(time - $t0, '<', 15, 'within seconds, not the 900 s delay');
    cmp_ok(metric($srv, 'x402_channel_withdrawals_total')
           + metric($srv2, 'x402_channel_withdrawals_total'), '>=', 1,
           'x402_channel_withdrawals_total');
}

# the payer takes the rest of the first channel back after the delay
{
    my $cfg = encode_json({ payer => $C->{X402_PAYER_ADDRESS}, payerAuthorizer => $C->{X402_PAYER_ADDRESS},
                            receiver => $offer->{payTo}, receiverAuthorizer => $offer->{extra}{receiverAuthorizer},
                            token => $offer->{asset}, withdrawDelay => 900, salt => '0x' . ('0' x 64) });
    my ($bal, $claimed) = channel_on_chain($cid);
    my $payer0 = asset_balance($C->{X402_PAYER_ADDRESS});
    `node scripts/devchain.d/channel.mjs --rpc $C->{X402_RPC_URL} withdraw payer '$cfg' ${\ ($bal - $claimed)}`;
    rpc_call('evm_increaseTime', 901);
    rpc_call('evm_mine');
    `node scripts/devchain.d/channel.mjs --rpc $C->{X402_RPC_URL} finalize payer '$cfg'`;
    is(asset_balance($C->{X402_PAYER_ADDRESS}), $payer0 + $bal - $claimed,
       'the payer withdrew the rest of its deposit after the delay');
}

server_stop($srv, 'node 1');
server_stop($srv2, 'node 2');

done_testing();
