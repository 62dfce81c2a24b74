# x402_status: Prometheus counters shared by 2 workers through the module's
# shared memory zone, after known traffic on the devchain (unpaid, paid and
# settled, replayed), the latency histograms, the gauges, and an ungated
# status location under a server-wide "x402 on".
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep);
use X402Test;

start_services(redis => 1, devchain => 1);

my $C = chain_env();
my $PRICE = '1000000000000000';

my $HTTP = settler_http("x402_settle_timeout 10s;\nx402_timeout 5s;\n");

# x402 is on for the whole server: the status location must stay ungated
my $CONFIG = paid_server() . <<'CONF';
location = /metrics {
    x402_status;
    add_header X-Worker $pid;
}
location /keyed/ {
    x402_bypass $http_x_api_key $arg_free;
    proxy_pass http://127.0.0.1:$BACKEND;
}
CONF

# name{labels} value -> { 'name{labels}' => value }
sub metrics {
    my ($srv) = @_;
    my $res = http_request($srv, 'GET /metrics');
    my %m;
    for (split /\n/, $res->{content} // '') {
        next if /^#/ || !/\S/;
        my ($k, $v) = /^(\S+(?:\{.*\})?)\s+(\S+)$/ or next;
        $m{$k} = $v;
    }
    return ($res, \%m);
}

sub delta {
    my ($a, $b, $k) = @_;
    return ($b->{$k} // 0) - ($a->{$k} // 0);
}

my $srv = server_start({ http_config => $HTTP, config => $CONFIG,
                         workers => 2 });

my ($res0, $m0) = metrics($srv);
is($res0->{status}, 200, 'status location answers 200 (not gated)');
is($res0->{headers}{'content-type'}, 'text/plain; version=0.0.4',
   'Prometheus text format content type');
ok(!defined $res0->{headers}{'payment-required'}, 'no PAYMENT-REQUIRED');
like($res0->{content}, qr/^# TYPE x402_requests_total counter$/m,
     'TYPE lines');
like($res0->{content}, qr/^# TYPE x402_rpc_duration_seconds histogram$/m,
     'histogram TYPE line');
is($m0->{'x402_requests_total{outcome="paid"}'}, 0, 'no paid request yet');

# known traffic: 3 unpaid, 2 paid and settled, 1 replay
my @unpaid = map { http_request($srv, 'GET /paid/u') } 1 .. 3;
is_deeply([map { $_->{status} } @unpaid], [402, 402, 402], '3 unpaid: 402');

my @heads = map { pay("--amount $PRICE --pay-to $C->{X402_PAY_TO}") } 1 .. 2;
my @paid = map { http_request($srv, 'GET /paid/p', { 'PAYMENT-SIGNATURE' => $_ }) }
           @heads;
is_deeply([map { $_->{status} } @paid], [200, 200], '2 paid: 200');
ok(decode_json_b64($paid[$_]{headers}{'payment-response'})->{success},
   "paid $_ settled") for 0 .. 1;

my $replay = http_request($srv, 'GET /paid/r', { 'PAYMENT-SIGNATURE' => $heads[0] });
is($replay->{status}, 402, 'replay: 402');
is(decode_json_b64($replay->{headers}{'payment-required'})->{error},
   'permit2_invalid_nonce', 'replay reason');

# the settlement jobs end (receipt written) just after the answers
my ($res1, $m1);
for (1 .. 50) {
    ($res1, $m1) = metrics($srv);
    last if ($m1->{x402_settlement_jobs} // -1) == 0;
    sleep 0.1;
}

my %want = (
    'x402_requests_total{outcome="paid"}' => 2,
    'x402_requests_total{outcome="payment_required"}' => 4,
    'x402_requests_total{outcome="allowance_required"}' => 0,
    'x402_requests_total{outcome="unavailable"}' => 0,
    'x402_refusals_total{status="402",reason="Payment required"}' => 3,
    'x402_refusals_total{status="402",reason="permit2_invalid_nonce"}' => 1,
    'x402_payments_verified_total' => 2,
    'x402_payments_reserved_total' => 2,
    'x402_replays_refused_total' => 1,
    'x402_settlements_started_total' => 2,
    'x402_settlements_waited_total' => 0,
    'x402_settlements_total{result="settled"}' => 2,
    'x402_settlements_total{result="failed"}' => 0,
    'x402_settlements_total{result="pending"}' => 0,
);
for my $k (sort keys %want) {
    is(delta($m0, $m1, $k), $want{$k}, "$k +$want{$k}");
}

my $asset = qq{x402_settled_amount_total{network="eip155:8453",asset="$C->{X402_ASSET}"}};
is($m1->{$asset}, '2000000000000000', 'settled amount per asset, exact');
(my $tokens = $asset) =~ s/_amount_total/_tokens_total/;
is($m1->{$tokens}, '0.002', 'and in whole tokens');
like($m1->{qq{x402_build_info{version="0.1.0",nginx="1.22.1"}}} // '', qr/^1$/, 'build info');
is(delta($m0, $m1, 'x402_location_requests_total{location="/paid/",outcome="paid"}'), 2,
   'paid requests under their location');
is(delta($m0, $m1, 'x402_location_requests_total{location="/paid/",outcome="payment_required"}'), 4,
   'refusals under their location');
is($m1->{x402_parked_requests}, 0, 'no parked request left');
is($m1->{x402_settlement_jobs}, 0, 'no settlement job left');

# histograms: the on-chain checks, settlements and reservations were timed
for my $h (qw(x402_rpc x402_redis)) {
    my $n = $m1->{"${h}_duration_seconds_count"} // 0;
    cmp_ok(delta($m0, $m1, "${h}_duration_seconds_count"), '>=', 2,
           "$h: at least one call per paid request");
    is($m1->{qq{${h}_duration_seconds_bucket{le="+Inf"}}}, $n, "$h +Inf bucket = count");
    like($m1->{"${h}_duration_seconds_sum"} // '', qr/^\d+\.\d{3}$/, "$h: the sum in seconds");
    my @b = map { $m1->{qq{${h}_duration_seconds_bucket{le="$_"}}} }
            qw(0.001 0.002 0.005 0.010 0.025 0.050 0.100 0.250 0.500 1.000 2.500 5.000);
    is(scalar(grep { defined } @b), 12, "$h: 12 finite buckets");
    is_deeply([sort { $a <=> $b } @b], \@b, "$h: buckets are cumulative");
    is($m1->{"${h}_errors_total"}, 0, "$h: no errors");
}

# Prometheus' own lint (units in base units, counter suffixes, HELP text)
{
    my $promtool = `sh -c 'command -v promtool'`;
    chomp $promtool;
    ok($promtool, 'promtool is installed (scripts/install-deps)');
    my $out = '';
    if ($promtool) {
        my $file = "/tmp/x402-metrics-$$.txt";
        open my $fh, '>', $file or die $!;
        print $fh $res1->{content};
        close $fh;
        $out = `$promtool check metrics < $file 2>&1`;
        is($? >> 8, 0, 'promtool check metrics passes') or diag($out);
        unlink $file;
    }
    is($out, '', 'with no lint at all');
}

# every worker serves the same totals (one shared zone)
my %seen;
for (1 .. 8) {
    my ($r, $m) = metrics($srv);
    $seen{$r->{headers}{'x-worker'} // '?'}++;
    is($m->{'x402_requests_total{outcome="paid"}'}, 2, 'same total from any worker');
}
diag('status served by workers: ' . join(', ', sort keys %seen))
    if $ENV{TEST_VERBOSE};

# x402_bypass: a non-empty value other than "0" lets the request through
# ungated, counted; anything else is gated as before
{
    my ($r0, $b0) = metrics($srv);
    my $res = http_request($srv, 'GET /keyed/a', { 'X-Api-Key' => 'customer-7' });
    is($res->{status}, 200, 'bypass: an API key passes ungated');
    like($res->{content}, qr/^backend GET \/keyed\/a/, 'bypass: to the backend');
    ok(!defined $res->{headers}{'payment-required'}, 'bypass: no payment terms');
    is(http_request($srv, 'GET /keyed/b?free=1')->{status}, 200, 'bypass: any of its values');
    is(http_request($srv, 'GET /keyed/c', { 'X-Api-Key' => '0' })->{status}, 402,
       'bypass: "0" is no bypass');
    is(http_request($srv, 'GET /keyed/d', { 'X-Api-Key' => '' })->{status}, 402,
       'bypass: an empty value is no bypass');
    is(http_request($srv, 'GET /keyed/e')->{status}, 402, 'bypass: none: gated');
    my ($r1, $b1) = metrics($srv);
    is(delta($b0, $b1, 'x402_bypassed_total'), 2, 'bypass: counted');
}

my $log = server_stop($srv, 'status');

# Redis down: errors are counted, the 503 too; counters kept over a reload
{
    my $s = server_start({ http_config => $HTTP, config => $CONFIG,
                           workers => 2 });
    redis_stop();
    my $h = pay("--amount $PRICE --pay-to $C->{X402_PAY_TO}");
    my $r = http_request($s, 'GET /paid/down', { 'PAYMENT-SIGNATURE' => $h });
    is($r->{status}, 503, 'redis down: 503');
    redis_start();
    my ($res, $m) = metrics($s);
    is($m->{'x402_requests_total{outcome="unavailable"}'}, 1, 'the 503 is counted');
    cmp_ok($m->{x402_redis_errors_total}, '>=', 1, 'the redis error is counted');
    is($m->{x402_payments_verified_total}, 1, 'verified before the reservation');
    is($m->{x402_payments_reserved_total}, 0, 'not reserved');
    is($m->{x402_parked_requests}, 0, 'not parked any more');

    kill 'HUP', $s->{pid};
    sleep 1;
    ($res, $m) = metrics($s);
    is($m->{'x402_requests_total{outcome="unavailable"}'}, 1,
       'counters survive a reload');
    server_stop($s, 'status redis down');
}

done_testing();
