# Policy backends priced per JSON-RPC method (x402_read_body method) in
# front of mockllm's JSON-RPC /policy: a priced method is paid by the
# official client, a free one passes ungated, a batch costs the sum of its
# calls, an unpriced method is refused with its name, refusals come as
# JSON-RPC error objects (with the 402 and PAYMENT-REQUIRED), and under
# upto a JSON-RPC error reply is not charged.  Checked on chain.
use strict;
use warnings;
use lib 't/lib';
use JSON::PP;
use Math::BigInt;
use Test::More;
use X402Test;

start_services(redis => 1, devchain => 1, mockllm => 1);

my $C = chain_env();
my $HTTP = settler_http(<<'HTTP');
map $x402_rpc_method $policy_price {
    default   "";
    evaluate  0.0005;
    ping      0;
}
map $x402_rpc_method $tier {
    default   "";
    evaluate  dear;
    ping      free;
}
map $tier $tier_price {
    default   "";
    dear      0.002;
    free      0;
}
map $x402_rpc_method $policy_cap {
    default   "";
    evaluate  0.01;
}
HTTP
my $CONFIG = <<'CONF';
x402_pay_to $X402_PAY_TO;
location = /rpc {
    x402 on;
    x402_read_body method;
    x402_price $policy_price;
    add_header X-Methods $x402_rpc_method always;
    proxy_pass http://127.0.0.1:$MOCKLLM/policy;
}
location = /rpc-tier {
    x402 on;
    x402_read_body method;
    x402_price $tier_price;
    proxy_pass http://127.0.0.1:$MOCKLLM/policy;
}
location = /rpc-flat {
    x402 on;
    x402_read_body method;
    x402_price 0.001;
    proxy_pass http://127.0.0.1:$MOCKLLM/policy;
}
location = /rpc-upto {
    x402 on;
    x402_scheme upto;
    x402_read_body method;
    x402_price $policy_cap;
    proxy_pass http://127.0.0.1:$MOCKLLM/policy;
}
CONF
my $srv = server_start({ http_config => $HTTP, config => $CONFIG . status_location() });

my $E18 = Math::BigInt->new(10)->bpow(18);
sub atomic { Math::BigInt->new(int($_[0] * 1e6)) * $E18 / 1e6 }

sub call { encode_json({ jsonrpc => '2.0', id => $_[1] // 1, method => $_[0],
                         params => $_[2] // { model => 'demo' } }) }

sub post {
    my ($uri, $body, %h) = @_;
    return http_request($srv, "POST $uri", { 'Content-Type' => 'application/json', %h }, $body);
}

sub client {
    my ($uri, $body) = @_;
    open my $fh, '-|', 'node', 't/client/pay.mjs', "http://127.0.0.1:$srv->{port}$uri",
        '--key', $C->{X402_PAYER_KEY}, '--method', 'POST', '--body', $body or die $!;
    my $out = do { local $/; <$fh> };
    close $fh;
    return eval { decode_json($out) } // { error => "bad output: $out" };
}

sub merchant { asset_balance($C->{X402_PAY_TO}) }

# a free method passes ungated, counted
{
    my $res = post('/rpc', call('ping'));
    is($res->{status}, 200, 'ping (priced 0): served without a payment');
    is((eval { decode_json($res->{content}) } // {})->{result}, 'pong', 'by the backend');
    like(http_request($srv, 'GET /metrics')->{content}, qr/^x402_free_requests_total 1$/m,
         'counted as free');
}

# a priced method: the 402 is a JSON-RPC error, the terms in PAYMENT-REQUIRED
{
    my $res = post('/rpc', call('evaluate', 7));
    is($res->{status}, 402, 'evaluate unpaid: 402');
    my $b = eval { decode_json($res->{content}) } // {};
    is($b->{jsonrpc}, '2.0', 'a JSON-RPC answer');
    is($b->{id}, 7, 'with the call\'s id');
    is($b->{error}{code}, -32002, 'an error object (-32002)');
    is($b->{error}{message}, 'Payment required', 'with the x402 reason as its message');
    is($b->{error}{data}{accepts}[0]{amount}, atomic('0.0005') . '', 'the terms in its data');
    is((decode_json_b64($res->{headers}{'payment-required'}) // {})->{accepts}[0]{amount},
       atomic('0.0005') . '', 'and in PAYMENT-REQUIRED');
    is($res->{headers}{'x-methods'}, 'evaluate', '$x402_rpc_method');

    my $m0 = merchant();
    my $r = client('/rpc', call('evaluate'));
    is_deeply($r->{attempts}, [402, 200], 'the official client pays it');
    is((eval { decode_json($r->{body}) } // {})->{result}{allow}, JSON::PP::true,
       'and gets the evaluation');
    is(merchant(), $m0 + atomic('0.0005'), 'the merchant got its price');
}

# a batch costs the sum of its calls
{
    my $batch = '[' . join(',', call('evaluate', 1), call('evaluate', 2), call('ping', 3)) . ']';
    my $res = post('/rpc', $batch);
    is($res->{status}, 402, 'a batch: 402');
    is((decode_json_b64($res->{headers}{'payment-required'}) // {})->{accepts}[0]{amount},
       atomic('0.001') . '', 'priced the sum of its calls (2 x 0.0005 + 0)');
    is($res->{headers}{'x-methods'}, 'evaluate,evaluate,ping', '$x402_rpc_method lists them');
    is((eval { decode_json($res->{content}) } // {})->{id}, undef, 'a batch\'s refusal has id null');
    my $m0 = merchant();
    my $r = client('/rpc', $batch);
    is_deeply($r->{attempts}, [402, 200], 'the official client pays the batch');
    my $replies = eval { decode_json($r->{body}) } // [];
    is(scalar @$replies, 3, 'three replies');
    is(merchant(), $m0 + atomic('0.001'), 'the merchant got the sum');

    is(post('/rpc', '[' . call('ping', 1) . ',' . call('ping', 2) . ']')->{status}, 200,
       'a batch of free calls is free');
}

# every call is priced on its own: through a map of maps, and with a
# literal price (per call)
{
    my $free_first = '[' . call('ping', 1) . ',' . call('evaluate', 2) . ']';
    my $res = post('/rpc-tier', $free_first);
    is($res->{status}, 402, 'a map of maps: a free call first does not make the batch free');
    is((decode_json_b64($res->{headers}{'payment-required'}) // {})->{accepts}[0]{amount},
       atomic('0.002') . '', 'each call priced through both maps');
    $res = post('/rpc-flat', '[' . call('evaluate', 1) . ',' . call('ping', 2) . ']');
    is((decode_json_b64($res->{headers}{'payment-required'}) // {})->{accepts}[0]{amount},
       atomic('0.002') . '', 'a literal price counts per call');
    $res = post('/rpc-flat', call('evaluate', 1));
    is((decode_json_b64($res->{headers}{'payment-required'}) // {})->{accepts}[0]{amount},
       atomic('0.001') . '', 'and once for one call');
    is(post('/rpc-flat', 'not json')->{status}, 400, 'a body that is no call: 400 there too');
}

# a method with no price is refused, named, and nothing is taken
{
    my $m0 = merchant();
    my $res = post('/rpc', call('drop_tables', 9));
    is($res->{status}, 400, 'an unpriced method: 400');
    my $b = eval { decode_json($res->{content}) } // {};
    is($b->{error}{code}, -32601, 'JSON-RPC "method not found" (-32601)');
    is($b->{error}{message}, "no price for method 'drop_tables'", 'naming the method');
    is($b->{id}, 9, 'with the call\'s id');
    $res = post('/rpc', '[' . call('evaluate', 1) . ',' . call('nope', 2) . ']');
    is($res->{status}, 400, 'a batch with one unpriced method: refused');
    like((eval { decode_json($res->{content}) } // {})->{error}{message} // '', qr/'nope'/,
         'naming it');
    is(post('/rpc', 'not json')->{status}, 400, 'a body that is no call: 400');
    is(merchant(), $m0, 'nothing charged');
}

# upto: a JSON-RPC error in a 200 reply is not charged; a result is
{
    my $m0 = merchant();
    my $r = client('/rpc-upto', call('evaluate', 1, 'not an object'));
    is_deeply($r->{attempts}, [402, 200], 'upto: paid, the backend answered 200');
    is((eval { decode_json($r->{body}) } // {})->{error}{code}, -32602,
       'with a JSON-RPC error (invalid params)');
    my $rc;
    for (1 .. 50) {
        $rc = receipt_for('/rpc-upto');
        last if $rc && $rc->{status} eq 'settled';
        select(undef, undef, undef, 0.1);
    }
    is($rc && $rc->{charged}, '0', 'upto: the error reply is charged nothing');
    is(merchant(), $m0, 'and the merchant got nothing');

    # a result is charged (no usage stated: the cap, x402_usage_missing cap)
    $r = client('/rpc-upto', call('evaluate', 2));
    is_deeply($r->{attempts}, [402, 200], 'upto: a result');
    my $want = $m0 + atomic('0.01');
    for (1 .. 50) {
        last if merchant() == $want;
        select(undef, undef, undef, 0.1);
    }
    is(merchant(), $want, 'is charged');
}

server_stop($srv, 'policy');
done_testing();
