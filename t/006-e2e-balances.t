# End to end with the official client on the devchain: the agent pays through
# nginx and the chain's balances move by exactly the price.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Math::BigInt;
use X402Test;

start_services(redis => 1, devchain => 1);

my $C = chain_env();
my $PRICE = Math::BigInt->new('1000000000000000');

my $KEY = settler_key_file();
my $srv = server_start({ http_config => <<"HTTP", config => <<'CONF' });
x402_rpc \$RPC;
x402_redis \$REDIS;
x402_settler_key_file $KEY;
HTTP
location /v1/ {
    x402 on;
    x402_pay_to $X402_PAY_TO;
    x402_price 0.001;
    proxy_pass http://127.0.0.1:$BACKEND;
}
CONF

sub balance {
    my ($who) = @_;
    my $data = '0x70a08231' . ('0' x 24) . lc(substr($who, 2));
    my $r = rpc_call('eth_call', { to => $C->{X402_ASSET}, data => $data },
                     'latest');
    return Math::BigInt->from_hex(substr($r // '0x0', 2));
}

sub client_pays {
    my ($uri) = @_;
    my $url = "http://127.0.0.1:$srv->{port}$uri";
    my $out = `node t/client/pay.mjs $url --key $C->{X402_PAYER_KEY}`;
    return eval { decode_json($out) } // { error => "bad output: $out" };
}

my ($payer0, $merchant0) = (balance($C->{X402_PAYER_ADDRESS}),
                            balance($C->{X402_PAY_TO}));
my $r = client_pays('/v1/chat/completions');
is($r->{error}, undef, 'the official client completed');
is_deeply($r->{attempts}, [402, 200], '402, then paid and served');

{
    my ($payer1, $merchant1) = (balance($C->{X402_PAYER_ADDRESS}),
                                balance($C->{X402_PAY_TO}));
    is($payer0 - $payer1, $PRICE, 'payer balance dropped by exactly the price');
    is($merchant1 - $merchant0, $PRICE, 'merchant balance rose by exactly the price');
    ok($r->{paymentResponse} && $r->{paymentResponse}{success},
       'PAYMENT-RESPONSE reports success');
}

server_stop($srv, 'e2e');
done_testing();
