# nginx reloaded, and then stopped gracefully, while settlements are in
# flight: every receipt ends settled (none lost, none left half-way), and
# the requests waiting for a sync settlement get their answers.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use HTTP::Tiny;
use JSON::PP;
use Time::HiRes qw(time sleep);
use X402Test;

start_services(redis => 1, devchain => 1);

my $C = chain_env();
my $PRICE = '1000000000000000';

my $HTTP = settler_http("x402_settle_timeout 15s;\n");
my $CONFIG = paid_location('/sync/')
           . paid_location('/async/', more => 'x402_settle async;');

sub receipts {
    my @r;
    for my $k (grep { length } split /\n/, redis_cli('--scan', '--pattern', 'x402:8453:*')) {
        push @r, eval { decode_json(redis_cli('GET', $k)) };
    }
    return @r;
}

sub in_background {
    my ($srv, $uri, $h) = @_;
    return in_child(sub { http_request($srv, "GET $uri", { 'PAYMENT-SIGNATURE' => $h })->{status} });
}

# blocks every 2 s instead of at once: settlements stay in flight
mining_stop();
rpc_call('evm_setIntervalMining', 2);

my $srv = server_start({ http_config => $HTTP, config => $CONFIG, workers => 2 });

my @heads = map { pay("--amount $PRICE --pay-to $C->{X402_PAY_TO}") } 1 .. 12;
my @async = map { http_request($srv, 'GET /async/a', { 'PAYMENT-SIGNATURE' => $_ }) }
            @heads[0 .. 5];
is(scalar(grep { $_->{status} == 200 } @async), 6, 'async requests served at once');
my @sync = map { in_background($srv, '/sync/s', $_) } @heads[6 .. 11];
sleep 0.5;

my @states = map { $_->{status} } receipts();
ok(scalar(grep { $_ ne 'settled' } @states) >= 6,
   'settlements are in flight when nginx reloads') or diag("@states");

kill 'HUP', $srv->{pid};
sleep 0.5;
my $after = http_request($srv, 'GET /async/after',
    { 'PAYMENT-SIGNATURE' => pay("--amount $PRICE --pay-to $C->{X402_PAY_TO}") });
is($after->{status}, 200, 'new workers serve after the reload');

my %st;
$st{(collect_child($_))[0] // 'none'}++ for @sync;
is($st{200}, 6, 'the sync requests waiting across the reload were served')
    or diag(explain \%st);

# a client that goes away while its (sync) response is held for the
# settlement: the settlement goes on, and the worker with it
{
    my $res = HTTP::Tiny->new(timeout => 0.5)->get("http://127.0.0.1:$srv->{port}/sync/gone",
        { headers => { 'PAYMENT-SIGNATURE' => pay("--amount $PRICE --pay-to $C->{X402_PAY_TO}") } });
    is($res->{status}, 599, 'a client gave up while its response was held');
}

# a graceful stop with settlements in flight
my @more = map { http_request($srv, 'GET /async/b', { 'PAYMENT-SIGNATURE' =>
    pay("--amount $PRICE --pay-to $C->{X402_PAY_TO}") }) } 1 .. 4;
is(scalar(grep { $_->{status} == 200 } @more), 4, 'more async requests served');
my $t0 = time;
my $log = server_stop($srv, 'reload and stop');
cmp_ok(time - $t0, '>', 0.5, 'the graceful stop waited for the settlements');

my @final = receipts();
is(scalar @final, 18, 'every payment has a receipt');
my @open = grep { $_->{status} ne 'settled' } @final;
is(scalar @open, 0, 'every receipt ended settled, none lost')
    or diag(explain [ map { "$_->{status} $_->{resource}" } @open ]);
my %tx = map { $_->{transaction} => 1 } @final;
is(scalar keys %tx, 18, 'each with its own transaction');
my $mined = 0;
for my $h (keys %tx) {
    my $rc = rpc_call('eth_getTransactionReceipt', $h);
    $mined++ if $rc && $rc->{status} eq '0x1';
}
is($mined, 18, 'and every one is on chain with status 1');
unlike($log, qr/open socket|aborting/, 'no worker aborted with work left');

mining_start();
done_testing();
