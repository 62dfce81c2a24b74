# x402_facilitator: verification and settlement delegated to the official
# reference facilitator (scripts/facilitator, @x402/core + @x402/evm 2.27)
# on the devchain, with the same reservations and receipts in Redis.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Math::BigInt;
use POSIX ();
use Time::HiRes qw(time sleep);
use X402Test;

start_services(redis => 1, devchain => 1, facilitator => 1);

my $C = chain_env();
my $PRICE = Math::BigInt->new('1000000000000000');

my $CONFIG = paid_location('/sync/', more => <<'MORE')
x402_facilitator $FACILITATOR;
proxy_set_header X-Result $x402_tx;
MORE
    . paid_location('/async/', more => "x402_facilitator \$FACILITATOR;\nx402_settle async;")
    . paid_location('/down/', more => 'x402_facilitator http://127.0.0.1:9/;');
my $srv = server_start({ http_config => "x402_redis \$REDIS;\n", config => $CONFIG });

# the official client pays; the facilitator verifies and settles
{
    my ($p0, $m0) = (asset_balance($C->{X402_PAYER_ADDRESS}), asset_balance($C->{X402_PAY_TO}));
    my $url = "http://127.0.0.1:$srv->{port}/sync/chat";
    my $r = eval { decode_json(`node t/client/pay.mjs $url --key $C->{X402_PAYER_KEY}`) } // {};
    is_deeply($r->{attempts}, [402, 200], 'official client: 402, then paid and served');
    my $pr = $r->{paymentResponse} // {};
    ok($pr->{success}, 'PAYMENT-RESPONSE success');
    like($pr->{transaction} // '', qr/^0x[0-9a-f]{64}$/, 'the facilitator\'s transaction');
    like($r->{body} // '', qr/^backend GET \/sync\/chat .* result=$/m,
         'settled once the content ran (the backend saw no $x402_tx)');
    is(asset_balance($C->{X402_PAYER_ADDRESS}), $p0 - $PRICE, 'payer paid exactly the price');
    is(asset_balance($C->{X402_PAY_TO}), $m0 + $PRICE, 'merchant got exactly the price');
    my $rc = receipt_for('/sync/chat');
    is($rc && $rc->{status}, 'settled', 'receipt settled');
    is($rc && $rc->{transaction}, $pr->{transaction}, 'receipt has the hash');
}

# refusals come from the facilitator, replays from Redis
{
    my $res = http_request($srv, 'GET /sync/x', { 'PAYMENT-SIGNATURE' =>
        pay("--key $C->{X402_NOALLOW_KEY} --amount $PRICE --pay-to $C->{X402_PAY_TO}") });
    # the reference diagnoses a failed simulation with Multicall3, which the
    # devchain has at its canonical address as Base does: the allowance
    is($res->{status}, 412, 'payer without Permit2 allowance: refused');
    is(error_of($res), 'permit2_allowance_required',
       'with the facilitator\'s own reason, as on Base');

    my $h = pay("--amount $PRICE --pay-to $C->{X402_PAY_TO}");
    is(http_request($srv, 'GET /sync/once', { 'PAYMENT-SIGNATURE' => $h })->{status},
       200, 'a payment is served once');
    $res = http_request($srv, 'GET /sync/twice', { 'PAYMENT-SIGNATURE' => $h });
    is($res->{status}, 402, 'and refused the second time');
    # settled already: the facilitator's simulation fails before Redis is asked
    is(error_of($res), 'permit2_simulation_failed', 'the facilitator\'s reason');
}

# concurrent uses of one payment: the facilitator passes them all (the
# nonce is unused until settled), the Redis reservation lets one through
{
    my $h = pay("--amount $PRICE --pay-to $C->{X402_PAY_TO}");
    my (@kids, %st);
    for (1 .. 10) {
        pipe(my $r, my $w) or die $!;
        my $pid = fork // die $!;
        if ($pid == 0) {
            close $r;
            print $w http_request($srv, 'GET /sync/race', { 'PAYMENT-SIGNATURE' => $h })
                     ->{status}, "\n";
            close $w;
            POSIX::_exit(0);
        }
        close $w;
        push @kids, [$pid, $r];
    }
    for (@kids) {
        my $s = readline($_->[1]) // 'none';
        chomp $s;
        $st{$s}++;
        waitpid($_->[0], 0);
    }
    is($st{200}, 1, '10 concurrent uses of one payment: exactly one served')
        or diag(explain \%st);
}

# async: served at once, settled by the facilitator in the background
{
    my $m0 = asset_balance($C->{X402_PAY_TO});
    my $res = http_request($srv, 'GET /async/x', { 'PAYMENT-SIGNATURE' =>
        pay("--key $C->{X402_PAYER2_KEY} --amount $PRICE --pay-to $C->{X402_PAY_TO}") });
    is($res->{status}, 200, 'async: served');
    my $rc;
    for (1 .. 50) {
        $rc = receipt_for('/async/x');
        last if $rc && $rc->{status} eq 'settled';
        sleep 0.1;
    }
    is($rc && $rc->{status}, 'settled', 'async: receipt settled');
    is(asset_balance($C->{X402_PAY_TO}), $m0 + $PRICE, 'async: merchant credited');
}

# the facilitator unreachable: 503, never forwarded
{
    my $t0 = time;
    my $res = http_request($srv, 'GET /down/x', { 'PAYMENT-SIGNATURE' =>
        pay("--amount $PRICE --pay-to $C->{X402_PAY_TO}") });
    is($res->{status}, 503, 'facilitator down: 503');
    like($res->{content}, qr/facilitator did not answer/, 'JSON error says why');
    cmp_ok(time - $t0, '<', 2, 'answered at once');
}

my $log = server_stop($srv, 'facilitator mode');
like($log, qr/payment rejected by the facilitator/, 'log: refusal by the facilitator');
like($log, qr/settled x402:8453:\S+ by the facilitator in 0x/, 'log: settled by the facilitator');
done_testing();
