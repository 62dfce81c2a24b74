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

my $srv = server_start({ http_config => settler_http(),
                         config => paid_location('/v1/') });

my ($payer0, $merchant0) = (asset_balance($C->{X402_PAYER_ADDRESS}),
                            asset_balance($C->{X402_PAY_TO}));
my $r = client_pays($srv, '/v1/chat/completions');
is($r->{error}, undef, 'the official client completed');
is_deeply($r->{attempts}, [402, 200], '402, then paid and served');

{
    my ($payer1, $merchant1) = (asset_balance($C->{X402_PAYER_ADDRESS}),
                                asset_balance($C->{X402_PAY_TO}));
    is($payer0 - $payer1, $PRICE, 'payer balance dropped by exactly the price');
    is($merchant1 - $merchant0, $PRICE, 'merchant balance rose by exactly the price');
    ok($r->{paymentResponse} && $r->{paymentResponse}{success},
       'PAYMENT-RESPONSE reports success');
}

server_stop($srv, 'e2e');
done_testing();
