# The reconciler finishes settlements nobody is waiting for any more: a
# "pending" receipt (not mined within x402_settle_timeout) and a "broadcast"
# receipt left by a worker that was killed, once the chain mines them.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Time::HiRes qw(time sleep);
use X402Test;

start_services(redis => 1, devchain => 1);

my $C = chain_env();
my $KEY = settler_key_file();
my $PRICE = '1000000000000000';

my $HTTP = <<"HTTP";
x402_rpc \$RPC;
x402_redis \$REDIS;
x402_settler_key_file $KEY;
x402_settle_timeout 1s;
x402_reconcile_interval 300ms;
HTTP

my $CONFIG = <<'CONF';
location /async/ {
    x402 on;
    x402_settle async;
    x402_pay_to $X402_PAY_TO;
    x402_price 0.001;
    proxy_pass http://127.0.0.1:$BACKEND;
}
CONF

sub receipt_of {
    my ($resource) = @_;
    for my $k (grep { length } split /\n/, redis_cli('--scan', '--pattern', 'x402:8453:*')) {
        my $r = eval { decode_json(redis_cli('GET', $k)) };
        return $r if $r && $r->{resource} eq $resource;
    }
    return undef;
}

sub wait_status {
    my ($resource, $want, $secs) = @_;
    my $r;
    for (1 .. $secs * 10) {
        $r = receipt_of($resource);
        return $r if $r && $r->{status} eq $want;
        sleep 0.1;
    }
    return $r;
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
    system("pkill -KILL -P $srv->{pid}");
    kill 'KILL', $srv->{pid};
    waitpid($srv->{pid}, 0);
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

mining_start();
done_testing();
