# x402_receipts: an agent that lost its response learns whether it paid.
# Lookups by payer + nonce (decimal, hex, any address case, explicit
# network/asset) and by the PAYMENT-SIGNATURE it sent, against the receipt
# the settler wrote in Redis; unknown (404), malformed (400), Redis down
# (503); the location is never gated; nginx -t refuses it without Redis.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Math::BigInt;
use Time::HiRes qw(sleep);
use X402Test;

start_services(redis => 1, devchain => 1);

my $C = chain_env();
my $PRICE = '1000000000000000';
my $NONCE = '123456789012345678901234567890';

my $HTTP = settler_http("x402_redis_timeout 500ms;\nx402_settle_timeout 10s;\n");
my $CONFIG = paid_server() . "location /receipts {\n    x402_receipts;\n}\n"
           . status_location();

my $srv = server_start({ http_config => $HTTP, config => $CONFIG,
                         workers => 2 });

sub lookup {
    my ($query, $headers) = @_;
    my $res = http_request($srv, "GET /receipts$query", $headers);
    my $doc = eval { decode_json($res->{content}) };
    return ($res, $doc);
}

# pay with a known nonce; the receipt is written as the settlement ends
my $header = pay("--amount $PRICE --pay-to $C->{X402_PAY_TO} --nonce $NONCE");
my $paid = http_request($srv, 'GET /paid/chat', { 'PAYMENT-SIGNATURE' => $header });
is($paid->{status}, 200, 'paid and served');
my $pr = decode_json_b64($paid->{headers}{'payment-response'}) // {};
ok($pr->{success}, 'settled');
like($pr->{transaction} // '', qr/^0x[0-9a-f]{64}$/, 'with a transaction');

my $payer = $C->{X402_PAYER_ADDRESS};
my ($res, $doc);
for (1 .. 30) {
    ($res, $doc) = lookup("?payer=$payer&nonce=$NONCE");
    last if $doc && ($doc->{status} // '') eq 'settled';
    sleep 0.1;
}
is($res->{status}, 200, 'by payer and decimal nonce: 200');
is($res->{headers}{'content-type'}, 'application/json', 'JSON');
is($doc->{status}, 'settled', 'receipt status settled');
is($doc->{transaction}, $pr->{transaction}, 'receipt has the settlement tx');
is($doc->{payer}, $payer, 'receipt payer');
is($doc->{amount}, $PRICE, 'receipt amount');
is($doc->{nonce}, $NONCE, 'receipt nonce');
is($doc->{network}, 'eip155:8453', 'receipt network');
is($doc->{resource}, '/paid/chat', 'receipt resource');

my $stored = $res->{content};
my $hex = '0x' . Math::BigInt->new($NONCE)->as_hex =~ s/^0x//r;

($res) = lookup("?nonce=$hex&payer=" . lc $payer);
is($res->{status}, 200, 'hex nonce, lowercase payer: 200');
is($res->{content}, $stored, 'the same receipt');

($res) = lookup("?payer=$payer&nonce=$NONCE&network=eip155%3A8453&asset=$C->{X402_ASSET}");
is($res->{status}, 200, 'explicit network (percent-encoded) and asset: 200');
is($res->{content}, $stored, 'the same receipt');

($res) = lookup('', { 'PAYMENT-SIGNATURE' => $header });
is($res->{status}, 200, 'by PAYMENT-SIGNATURE: 200');
is($res->{content}, $stored, 'the same receipt');

($res) = lookup('', { 'PAYMENT-SIGNATURE' => $header, Accept => 'text/html' });
is($res->{status}, 200, 'a browser Accept changes nothing here');

($res) = lookup("?payer=$payer&nonce=$NONCE", { Origin => 'https://a.example' });
ok(!defined $res->{headers}{'access-control-allow-origin'},
   'no CORS headers without x402_cors');

# unknown
($res, $doc) = lookup("?payer=$payer&nonce=1");
is($res->{status}, 404, 'unknown nonce: 404');
is($doc && $doc->{error}, 'no receipt', '404 body');

($res, $doc) = lookup("?payer=$payer&nonce=$NONCE&network=eip155:1");
is($res->{status}, 404, 'another chain: 404');

# a Permit2 nonce is the payer's on every asset: the asset does not matter
($res, $doc) = lookup("?payer=$payer&nonce=$NONCE&asset=0x0000000000000000000000000000000000000001");
is($res->{status}, 200, 'another asset: the same payment');
($res, $doc) = lookup("?payer=$payer&nonce=$NONCE&asset=0x12");
is($res->{status}, 400, 'a malformed asset is still refused');

my $other = pay("--amount $PRICE --pay-to $C->{X402_PAY_TO}");
($res, $doc) = lookup('', { 'PAYMENT-SIGNATURE' => $other });
is($res->{status}, 404, 'a payment never sent: 404');

# malformed
for my $q ("?payer=$payer", "?nonce=$NONCE", '', '?payer=0x1234&nonce=1',
           "?payer=$payer&nonce=abc", "?payer=$payer&nonce=-1",
           "?payer=$payer&nonce=" . ('9' x 80),
           "?payer=$payer&nonce=1&network=base",
           "?payer=$payer&nonce=1&asset=0xZZ", "?payer=&nonce=1")
{
    ($res, $doc) = lookup($q);
    is($res->{status}, 400, "400 for '$q'");
    ok($doc && $doc->{error}, "error text for '$q'");
}
($res, $doc) = lookup('', { 'PAYMENT-SIGNATURE' => 'bm90IGpzb24=' });
is($res->{status}, 400, 'undecodable PAYMENT-SIGNATURE: 400');

$res = http_request($srv, "POST /receipts?payer=$payer&nonce=1", {}, 'x');
is($res->{status}, 405, 'POST: 405');

# Redis down: 503, at once; back: 200
redis_stop();
my $t0 = Time::HiRes::time();
($res, $doc) = lookup("?payer=$payer&nonce=$NONCE");
is($res->{status}, 503, 'redis stopped: 503');
is($doc && $doc->{error}, 'receipt lookup unavailable', '503 body');
cmp_ok(Time::HiRes::time() - $t0, '<', 3, 'answered within the deadline');
redis_start();
for (1 .. 40) {
    ($res) = lookup("?payer=$payer&nonce=$NONCE");
    last if $res->{status} == 404 || $res->{status} == 200;
    sleep 0.1;
}
# a restarted test Redis has no data (--save ""): the key is gone
is($res->{status}, 404, 'redis back: answers again (empty database: 404)');

my $m = http_request($srv, 'GET /metrics')->{content};
like($m, qr/^x402_receipt_lookups_total\{result="found"\} [1-9]/m, 'found lookups counted');
like($m, qr/^x402_receipt_lookups_total\{result="invalid"\} 12$/m, 'invalid lookups counted');
like($m, qr/^x402_receipt_lookups_total\{result="unavailable"\} [1-9]/m, 'failed lookups counted');

server_stop($srv, 'receipts');

# a paid request whose response is redirected to the receipts location
# (error_page) keeps its payment there: the lookup by its own
# PAYMENT-SIGNATURE finds the receipt, and $x402_payer still names the payer
{
    my $s = server_start({ http_config => $HTTP, config => paid_server() . <<'CONF' });
location /missing/ {
    x402 off;
    return 404;
}
location /lost/ {
    proxy_pass http://127.0.0.1:$PORT/missing/;
    proxy_intercept_errors on;
    error_page 404 = /receipts;
}
location /receipts {
    x402_receipts;
    add_header X-Payer $x402_payer always;
}
CONF
    my $nonce = random_nonce();
    my $res = http_request($s, 'GET /lost/chat', { 'PAYMENT-SIGNATURE' =>
        pay("--amount $PRICE --pay-to $C->{X402_PAY_TO} --nonce $nonce") });
    my $doc = eval { decode_json($res->{content}) } // {};
    is($res->{status}, 200, 'redirected to the receipts: 200');
    is($doc->{nonce}, $nonce, 'the receipt of the payment the request carried');
    is(lc($res->{headers}{'x-payer'} // ''), lc($payer),
       'the payment\'s context survived the redirect ($x402_payer)');
    server_stop($s, 'redirected');
}

# x402_receipts needs x402_redis
{
    my $s = eval { server_start({ no_deps => 1, http_config => '',
                                  config => "location /r { x402_receipts; }" }) };
    ok(!$s, 'x402_receipts without x402_redis: nginx refuses to start');
    like($@, qr/"x402_receipts" requires "x402_redis"/, 'and says why');
    server_stop($s, 'no redis') if $s;
}

done_testing();
