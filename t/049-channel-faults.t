# batch-settlement under faults, checked against the chain: every worker
# killed with a claim sent and not mined, Redis wiped before a claim, the
# settler without gas when a claim is due.  After recovery the chain has
# claimed each channel exactly what was charged and still known (never
# twice), the merchant received exactly that, and nothing is stalled.
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
x402_settle_timeout 2s;
x402_rpc_timeout 1s;
x402_redis_timeout 500ms;
x402_timeout 5s;
x402_reconcile_interval 1s;
HTTP

my $CONFIG = channel_location('/ch/', interval => '2s', deposit => '0.1')
           . channel_location('/cap/', interval => '2s')
           . status_location();
my $srv = server_start({ http_config => $HTTP, workers => 2, config => $CONFIG });
my $url = "http://127.0.0.1:$srv->{port}/ch/x";

sub salt { '0x' . ('0' x 62) . sprintf('%02x', $_[0]) }

# kill -9 of every worker once the claim is sent and before it is mined:
# the reconciler sends it again, the channel is claimed once, then swept
{
    my ($b0, $m0) = (head_block(), asset_balance($C->{X402_PAY_TO}));
    my $out = channel_client([$url], n => 10, salt => salt(1));
    is(statuses($out)->{200}, 10, '10 requests on a channel');
    my $id = $out->{results}[0]{paymentResponse}{extra}{channelState}{channelId};
    mining_stop();
    ok(wait_for(15, sub { read_file("$srv->{dir}/logs/error.log")
                          =~ /settlement of the claim of 1 channel: sent 0x/ }),
       'its claim is sent; not mined');
    my @w = split ' ', `pgrep -P $srv->{pid}` // '';
    is(kill('KILL', @w), scalar @w, 'kill -9 of every worker (' . scalar(@w) . ')');
    mining_start();
    rpc_call('evm_setIntervalMining', 1);
    ok(wait_for(60, sub { (channel_on_chain($id))[1] == 10 * $PRICE }),
       'claimed on chain after all');
    ok(wait_for(60, sub { (redis_cli('HGET', channel_key($id), 'clm') // '') eq '' . (10 * $PRICE)
                          && redis_cli('ZSCORE', 'x402:ch:due:8453', substr($id, 2)) eq '' }),
       'Redis knows it is claimed, and it is no longer due');
    is(claimed_in(logs_since($b0, 'claimed', $id)), 10 * $PRICE, 'claimed exactly once in all');
    ok(wait_for(30, sub { asset_balance($C->{X402_PAY_TO}) == $m0 + 10 * $PRICE }),
       'the merchant received exactly 10 prices');
}

# Redis wiped with charges not claimed: those vouchers are the server's
# loss (the spec's rule); the channel is read from the chain again, the
# client resyncs, and what is served from then on is claimed
{
    my $b0 = head_block();
    my $out = channel_client([$url], n => 5, salt => salt(2));
    is(statuses($out)->{200}, 5, '5 requests on a second channel');
    my $id = $out->{results}[0]{paymentResponse}{extra}{channelState}{channelId};
    redis_cli('FLUSHALL');
    $out = channel_client([$url], n => 2, salt => salt(2));
    is(statuses($out)->{200}, 2, 'after the wipe, the same channel serves a new client');
    is($out->{results}[1]{paymentResponse}{extra}{channelState}{chargedCumulativeAmount},
       '' . (2 * $PRICE), 'charged from what the chain has claimed (nothing)');
    ok(wait_for(30, sub { (channel_on_chain($id))[1] == 2 * $PRICE }),
       'the two are claimed');
    sleep 3;
    is((channel_on_chain($id))[1], 2 * $PRICE, 'and nothing more');
}

# the settler without gas: the claim cannot be sent, the channel stays due;
# funded again, it is claimed
{
    my $settler = $C->{X402_SETTLER_ADDRESS};
    my $gas = rpc_call('eth_getBalance', $settler, 'latest');
    my $out = channel_client([$url], n => 3, salt => salt(3));
    is(statuses($out)->{200}, 3, '3 requests on a third channel');
    my $id = $out->{results}[0]{paymentResponse}{extra}{channelState}{channelId};
    rpc_call('anvil_setBalance', $settler, '0x0');
    sleep 5;
    is((channel_on_chain($id))[1], 0, 'no gas: not claimed');
    ok(redis_cli('ZSCORE', 'x402:ch:due:8453', substr($id, 2)) ne '', 'still due');
    rpc_call('anvil_setBalance', $settler, $gas);
    ok(wait_for(60, sub { (channel_on_chain($id))[1] == 3 * $PRICE }),
       'funded again: claimed');
}

# a withdrawal completed while no node ran: the channel holds less than it
# was charged; it is claimed as far as its balance goes, once, and is no
# longer due
{
    my $out = channel_client(["http://127.0.0.1:$srv->{port}/cap/x"], n => 3, salt => salt(4));
    is(statuses($out)->{200}, 3, '3 requests on a channel of 5 prices (the client\'s own deposit)');
    my $id = $out->{results}[0]{paymentResponse}{extra}{channelState}{channelId};
    server_stop($srv, 'node', qr/exited on signal 9/);
    my $cfg = encode_json({ payer => $C->{X402_PAYER_ADDRESS}, payerAuthorizer => $C->{X402_PAYER_ADDRESS},
                            receiver => $C->{X402_PAY_TO}, receiverAuthorizer => $C->{X402_SETTLER_ADDRESS},
                            token => $C->{X402_ASSET}, withdrawDelay => 900, salt => salt(4) });
    my $b0 = head_block();
    `node scripts/devchain.d/channel.mjs --rpc $C->{X402_RPC_URL} withdraw payer '$cfg' ${\ (3 * $PRICE)}`;
    rpc_call('evm_increaseTime', 901);
    rpc_call('evm_mine');
    `node scripts/devchain.d/channel.mjs --rpc $C->{X402_RPC_URL} finalize payer '$cfg'`;
    is(join(' ', channel_on_chain($id)), (2 * $PRICE) . ' 0', 'the payer took 3 prices back: 2 left, none claimed');
    $srv = server_start({ http_config => $HTTP, workers => 2, config => $CONFIG });
    ok(wait_for(30, sub { (channel_on_chain($id))[1] == 2 * $PRICE }),
       'claimed as far as the balance goes: 2 prices');
    ok(wait_for(15, sub { redis_cli('ZSCORE', 'x402:ch:due:8453', substr($id, 2)) eq '' }),
       'and no longer due');
    like(read_file("$srv->{dir}/logs/error.log"), qr/0x\Q${\ substr($id, 2)}\E was charged \d+ but holds only/,
         'the loss is logged');
    is(claimed_in(logs_since($b0, 'claimed', $id)), 2 * $PRICE, 'one claim');
}

# after every fault: each settler nonce allocated was mined, none left
# unused or waiting in the node
{
    my $settler = $C->{X402_SETTLER_ADDRESS};
    ok(wait_for(60, sub { redis_cli('HLEN', "x402:settler:$settler:txs") eq '0' }),
       'every settler nonce allocated is mined');
    is(hex(rpc_call('eth_getTransactionCount', $settler, 'pending')),
       hex(rpc_call('eth_getTransactionCount', $settler, 'latest')),
       'nothing of the settler\'s waits in the node');
}

server_stop($srv, 'node', qr/exited on signal 9/);

done_testing();
