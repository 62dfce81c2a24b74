#!/usr/bin/perl
# The devchain's x402 batch-settlement contracts (x402BatchSettlement and
# its Permit2DepositCollector at their Base addresses, written in
# scripts/devchain.d/) against the OFFICIAL client: t/client/channel-contracts.mjs
# builds a real Permit2 deposit payload and vouchers with
# @x402/evm/batch-settlement/client, deposits from the settler, claims
# (directly and with the receiverAuthorizer's ClaimBatch signature),
# settles, withdraws with the delay, refunds, and checks every rule of the
# scheme; each of its TAP lines is asserted here.  Then
# scripts/devchain.d/channel.mjs reads the final channel state.  Own chain on
# a free port (X402Test start_services), stopped at exit.
use strict;
use warnings;

use Test::More;
use FindBin;
use JSON::PP;
use Time::HiRes qw(time);
use lib "$FindBin::Bin/lib";
use X402Test;

chdir "$FindBin::Bin/.." or die $!;
ok(-x 'node_modules/.bin/anvil', 'anvil installed from npm') or BAIL_OUT('run npm ci');

my $t0 = time;
start_services(devchain => 1);
my $rpc = services()->{rpc};
my $env = chain_env();
ok($env->{X402_BATCH_SETTLEMENT}, 'devchain env has X402_BATCH_SETTLEMENT');
is(lc($env->{X402_BATCH_SETTLEMENT} // ''), lc '0x4020074e9dF2ce1deE5A9C1b5c3f541D02a10003',
   'x402BatchSettlement at its canonical address');
is(lc($env->{X402_PERMIT2_COLLECTOR} // ''), lc '0x4020425FAf3B746C082C2f942b4E5159887B0005',
   'Permit2DepositCollector at its canonical address');
ok(length(rpc_call('eth_getCode', $env->{X402_BATCH_SETTLEMENT}, 'latest') // '') > 1000,
   'x402BatchSettlement has code');
ok(length(rpc_call('eth_getCode', $env->{X402_PERMIT2_COLLECTOR}, 'latest') // '') > 1000,
   'Permit2DepositCollector has code');

# ---- the official client against the contracts -----------------------------
my $t1 = time;
open my $fh, '-|', 'node', 't/client/channel-contracts.mjs', $rpc or die "node: $!";
my ($checks, $done, $channel, $config) = (0, 0);
while (my $line = <$fh>) {
    chomp $line;
    if ($line =~ /^(ok|not ok) - (.*?)(?: # (.*))?$/) {
        $checks++;
        ok($1 eq 'ok', $2) or diag($3 // '');
    } elsif ($line =~ /^# channel (0x[0-9a-f]{64}) (\{.*\})$/) {
        ($channel, $config) = ($1, $2);
    } elsif ($line eq '# done') {
        $done = 1;
    } else {
        diag $line;
    }
}
close $fh;
is($? >> 8, 0, 'channel-contracts.mjs exits 0');
ok($done, 'channel-contracts.mjs ran to the end');
cmp_ok($checks, '>=', 100, "channel-contracts.mjs made its checks ($checks)");
diag sprintf('client checks took %.1f s', time - $t1);

# ---- channel.mjs: the channel as it ended -------------------------------------
ok($channel, 'the script named its channel');
my $state = eval { decode_json(`node scripts/devchain.d/channel.mjs --rpc $rpc state $channel`) } // {};
is_deeply($state, { balance => '4000000000000000', totalClaimed => '4000000000000000', refundNonce => '3',
                    withdrawAmount => '0', withdrawInitiatedAt => 0 },
          'channel.mjs state: balance = claimed (4 requests), 3 refunds, no withdrawal pending');
my $recv = eval { decode_json(`node scripts/devchain.d/channel.mjs --rpc $rpc receiver $env->{X402_PAY_TO} $env->{X402_ASSET}`) } // {};
is_deeply($recv, { totalClaimed => '5000000000000000', totalSettled => '5000000000000000' },
          'channel.mjs receiver: all claimed, all settled');
is(asset_balance($env->{X402_BATCH_SETTLEMENT})->bstr, '9000000000000000',
   'the contract holds the two open channels\' unsettled balances (4 + 10 - 5 thousandths OPG)');
is(asset_balance($env->{X402_PAY_TO})->bstr, '5000000000000000', 'the merchant received what was settled');
my @logs = map { decode_json($_) } grep { /\S/ } `node scripts/devchain.d/channel.mjs --rpc $rpc logs 0`;
is(scalar(grep { $_->{event} eq 'ChannelCreated' } @logs), 3, 'channel.mjs logs: three channels created');
is(scalar(grep { $_->{event} eq 'ChannelClosed' } @logs), 1, 'channel.mjs logs: one closed');

my $took = time - $t0;
diag sprintf('t/047 took %.1f s', $took);
cmp_ok($took, '<', 30, 'under 30 s');

done_testing();
