# Browsers: the 402 as an HTML page with every value escaped (and still the
# PAYMENT-REQUIRED header); x402_cors on the module's own 402/412/503, on a
# paid 200 from the backend, the preflight answered 204 without payment,
# an origin from a map (Vary: Origin), and nothing at all when off.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use X402Test;

start_services(redis => 1, devchain => 1);

my $C = chain_env();
my $PRICE = '1000000000000000';
my $EXPOSE = 'PAYMENT-REQUIRED, PAYMENT-RESPONSE, X-Upto-Session';
# the devchain's token sits at OPG's address on Base: the page calls it OPG
my $SYMBOL = lc($C->{X402_ASSET}) eq lc('0xFbC2051AE2265686a469421b2C5A2D5462FbF5eB') ? 'OPG' : 'tokens';

my $HTTP = settler_http(<<'HTTP');
x402_settle_timeout 10s;
map $x402_model $model_cap {
    default "";
    demo    0.1;
}
map $http_origin $x402_origin {
    https://app.example  $http_origin;
    default              "";
}
HTTP

my $CONFIG = <<'CONF';
x402_pay_to $X402_PAY_TO;
x402_price 0.001;
location /cors/ {
    x402 on;
    x402_cors *;
    x402_description "Tea & <script>alert('x')</script> \"now\"";
    proxy_pass http://127.0.0.1:$BACKEND;
}
location /nocors/ {
    x402 on;
    proxy_pass http://127.0.0.1:$BACKEND;
}
location /mapped/ {
    x402 on;
    x402_cors $x402_origin;
    proxy_pass http://127.0.0.1:$BACKEND;
}
location /fixed/ {
    x402 on;
    x402_cors https://shop.example;
    x402_facilitator http://127.0.0.1:9;
    proxy_pass http://127.0.0.1:$BACKEND;
}
location /custom/ {
    x402 on;
    x402_cors *;
    error_page 402 /pay.html;
    proxy_pass http://127.0.0.1:$BACKEND;
}
location = /pay.html {
    internal;
    default_type text/html;
    return 200 "<p>the operator's own payment page</p>\n";
}
location /models/ {
    x402 on;
    x402_scheme upto;
    x402_read_model on;
    x402_price $model_cap;
    x402_output_price 0.002;
    proxy_pass http://127.0.0.1:$BACKEND;
}
location /upto/ {
    x402 on;
    x402_scheme upto;
    x402_price 0.5;
    x402_asset_decimals 6;
    x402_asset_symbol USDX;
    proxy_pass http://127.0.0.1:$BACKEND;
}
CONF

my $srv = server_start({ http_config => $HTTP, config => $CONFIG });

my $BROWSER = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

# the HTML page
{
    my $res = http_request($srv, 'GET /cors/page', { Accept => $BROWSER });
    is($res->{status}, 402, 'browser: 402');
    is($res->{headers}{'content-type'}, 'text/html; charset=utf-8', 'browser: HTML');
    my $pr = decode_json_b64($res->{headers}{'payment-required'});
    ok($pr, 'browser: PAYMENT-REQUIRED still sent');
    is($pr && $pr->{accepts}[0]{amount}, $PRICE, 'header terms');
    is($res->{headers}{'cache-control'}, 'no-store', 'no-store');
    my $b = $res->{content};
    unlike($b, qr/<script/i, 'no <script> from the description');
    like($b, qr/Tea &amp; &lt;script&gt;alert\('x'\)&lt;\/script&gt; &quot;now&quot;/,
         'description escaped');
    like($b, qr/<p class="price">0\.001 $SYMBOL<\/p>/, 'the price first, with the token\'s symbol');
    like($b, qr/<td>0\.001 \(1000000000000000 atomic units, 18 decimals\)<\/td>/,
         'price in token units and atomic units');
    like($b, qr/<meta name="viewport"/, 'sized for a phone');
    unlike($b, qr/(?:src|href)=|\@import|url\(/i, 'no external resource');
    like($b, qr/\Q$C->{X402_ASSET}\E/, 'asset');
    like($b, qr/<td>Base \(eip155:8453\)<\/td>/, 'the network by name');
    like($b, qr/\Q$C->{X402_PAY_TO}\E/, 'payTo');
    like($b, qr/PAYMENT-SIGNATURE/, 'how to pay');
    like($b, qr/^<!DOCTYPE html>/, 'an HTML document');

    $res = http_request($srv, 'GET /cors/<i>x?q=&a', { Accept => 'text/html' });
    is($res->{status}, 402, 'odd URL: 402');
    like($res->{content}, qr{<td>http://127\.0\.0\.1:\d+/cors/&lt;i&gt;x\?q=&amp;a</td>},
         'the URL is escaped too');
    unlike($res->{content}, qr/<i>/, 'no markup from the URL');

    $res = http_request($srv, 'GET /upto/x', { Accept => 'text/html' });
    like($res->{content}, qr/<th>Maximum price<\/th><td>0\.5 \(500000 atomic units, 6 decimals\)/,
         'upto: the cap, with the asset decimals');
    like($res->{content}, qr/<p class="price">Up to 0\.5 USDX<\/p>/, 'upto: x402_asset_symbol');
    like($res->{content}, qr/<code>upto<\/code>/, 'upto scheme named');

    # upto with per-model prices, opened in a browser (no body, no model):
    # the page, not bare JSON, with the per-token prices it can tell
    $res = http_request($srv, 'GET /models/x', { Accept => $BROWSER });
    is($res->{status}, 402, 'per-model upto in a browser: 402');
    is($res->{headers}{'content-type'}, 'text/html; charset=utf-8', 'per-model upto: the page');
    like($res->{content}, qr/The price depends on the request/, 'per-model upto: says why no price');
    like($res->{content}, qr/<th>Output tokens<\/th><td>0\.002 $SYMBOL per 1000<\/td>/,
         'per-model upto: the per-token price');
    $res = http_request($srv, 'GET /models/x', { Accept => 'application/json' });
    is($res->{status}, 400, 'per-model upto for an API client: 400 as before');

    $res = http_request($srv, 'GET /cors/page', { Accept => 'application/json' });
    is($res->{headers}{'content-type'}, 'application/json', 'API client: JSON');

    $res = http_request($srv, 'GET /cors/page', { Accept => $BROWSER,
                                                  'PAYMENT-SIGNATURE' => 'eA==' });
    is($res->{status}, 402, 'browser with a payment: 402');
    is($res->{headers}{'content-type'}, 'application/json',
       'a payment attempt gets JSON, not the page');

    $res = http_request($srv, 'HEAD /cors/page', { Accept => $BROWSER });
    is($res->{status}, 402, 'HEAD: 402');
    is($res->{content} // '', '', 'HEAD: no body');
}

# CORS on the module's 402
{
    my $res = http_request($srv, 'GET /cors/x', { Origin => 'https://any.example' });
    is($res->{status}, 402, 'CORS: 402');
    is($res->{headers}{'access-control-allow-origin'}, '*', '402: Allow-Origin');
    is($res->{headers}{'access-control-expose-headers'}, $EXPOSE, '402: Expose-Headers');
    ok(!defined $res->{headers}{vary}, 'literal origin: no Vary');

    $res = http_request($srv, 'GET /cors/x', { Accept => $BROWSER });
    is($res->{headers}{'access-control-allow-origin'}, '*', 'HTML 402: Allow-Origin');

    # a payer without the Permit2 approval: 412
    my $h = pay("--key $C->{X402_NOALLOW_KEY} --amount $PRICE --pay-to $C->{X402_PAY_TO}");
    $res = http_request($srv, 'GET /cors/x', { 'PAYMENT-SIGNATURE' => $h });
    is($res->{status}, 412, 'CORS: 412');
    is($res->{headers}{'access-control-allow-origin'}, '*', '412: Allow-Origin');
    is($res->{headers}{'access-control-expose-headers'}, $EXPOSE, '412: Expose-Headers');
}

# a paid 200 from the backend carries them too
{
    my $h = pay("--amount $PRICE --pay-to $C->{X402_PAY_TO}");
    my $res = http_request($srv, 'GET /cors/paid', { 'PAYMENT-SIGNATURE' => $h,
                                                     Origin => 'https://any.example' });
    is($res->{status}, 200, 'paid: 200');
    like($res->{content}, qr/^backend GET/, 'from the backend');
    ok(decode_json_b64($res->{headers}{'payment-response'})->{success}, 'settled');
    is($res->{headers}{'access-control-allow-origin'}, '*', '200: Allow-Origin');
    is($res->{headers}{'access-control-expose-headers'}, $EXPOSE, '200: Expose-Headers');

    # without CORS: none
    $h = pay("--amount $PRICE --pay-to $C->{X402_PAY_TO}");
    $res = http_request($srv, 'GET /nocors/paid', { 'PAYMENT-SIGNATURE' => $h,
                                                    Origin => 'https://any.example' });
    is($res->{status}, 200, 'nocors paid: 200');
    ok(!defined $res->{headers}{'access-control-allow-origin'}, 'nocors 200: no Allow-Origin');
    ok(!defined $res->{headers}{'access-control-expose-headers'}, 'nocors 200: no Expose-Headers');
}

# error_page 402: the operator's page, with the terms still in the header
{
    my $res = http_request($srv, 'GET /custom/x', { Accept => $BROWSER, Origin => 'https://a.example' });
    is($res->{status}, 402, 'error_page 402: still 402');
    like($res->{content}, qr/the operator's own payment page/, 'error_page 402: the operator\'s page');
    my $pr = decode_json_b64($res->{headers}{'payment-required'}) // {};
    is($pr->{accepts}[0]{amount}, $PRICE, 'error_page 402: PAYMENT-REQUIRED with the terms');
    is($res->{headers}{'access-control-expose-headers'}, $EXPOSE, 'error_page 402: CORS kept');
    is($res->{headers}{'cache-control'}, 'no-store', 'error_page 402: not cached');

    # a refused payment gets the page too, its reason in the header
    $res = http_request($srv, 'GET /custom/y', { 'PAYMENT-SIGNATURE' =>
        pay("--amount 1 --pay-to $C->{X402_PAY_TO}") });
    is($res->{status}, 402, 'error_page 402: a refused payment');
    like($res->{content}, qr/the operator's own payment page/, 'error_page 402: same page');
    is(error_of($res), 'No matching payment requirements', 'error_page 402: the reason in PAYMENT-REQUIRED');

    # the page is not reachable directly, and paying still works
    is(http_request($srv, 'GET /pay.html')->{status}, 404, 'the page itself is internal');
    $res = http_request($srv, 'GET /custom/paid', { 'PAYMENT-SIGNATURE' =>
        pay("--amount $PRICE --pay-to $C->{X402_PAY_TO}") });
    is($res->{status}, 200, 'error_page 402: a payment is served');
}

# preflight
{
    my %pre = (Origin => 'https://any.example',
               'Access-Control-Request-Method' => 'POST',
               'Access-Control-Request-Headers' => 'payment-signature, content-type');
    my $res = http_request($srv, 'OPTIONS /cors/x', \%pre);
    is($res->{status}, 204, 'preflight: 204, no payment');
    is($res->{headers}{'access-control-allow-origin'}, '*', 'preflight: Allow-Origin');
    is($res->{headers}{'access-control-allow-headers'}, 'payment-signature, content-type',
       'preflight: Allow-Headers echoes what was asked');
    like($res->{headers}{vary} // '', qr/Access-Control-Request-Headers/,
         'preflight: Vary: Access-Control-Request-Headers');

    # what a browser fetch with Authorization or the OpenAI SDK asks for
    my $sdk = 'authorization, content-type, payment-signature, x-stainless-arch, '
            . 'x-stainless-lang, x-stainless-os, x-stainless-package-version, '
            . 'x-stainless-retry-count, x-stainless-runtime, x-stainless-runtime-version';
    $res = http_request($srv, 'OPTIONS /cors/x', { %pre, 'Access-Control-Request-Headers' => $sdk });
    is($res->{status}, 204, 'SDK preflight: 204');
    is($res->{headers}{'access-control-allow-headers'}, $sdk, 'SDK preflight: every header allowed');

    # no list, or one that is not field names: the fixed list, nothing echoed
    for my $asked (undef, 'a"b', 'a;b', 'x' x 1100) {
        my %h = %pre;
        if (defined $asked) { $h{'Access-Control-Request-Headers'} = $asked }
        else { delete $h{'Access-Control-Request-Headers'} }
        $res = http_request($srv, 'OPTIONS /cors/x', \%h);
        is($res->{headers}{'access-control-allow-headers'},
           'PAYMENT-SIGNATURE, X-Upto-Session, Access-Control-Expose-Headers, Content-Type',
           'preflight asking ' . (defined $asked ? substr($asked, 0, 12) : 'nothing') . ': the fixed list');
    }
    like($res->{headers}{'access-control-allow-methods'} // '', qr/\bPOST\b/,
         'preflight: Allow-Methods');
    ok(!defined $res->{headers}{'payment-required'}, 'preflight: no PAYMENT-REQUIRED');
    is($res->{content} // '', '', 'preflight: no body');
    is($res->{headers}{'content-length'} // '0', '0', 'preflight: no length');

    # a plain OPTIONS (not a preflight) is gated like every method
    $res = http_request($srv, 'OPTIONS /cors/x');
    is($res->{status}, 402, 'plain OPTIONS: gated');
    unlike($res->{content}, qr/^backend OPTIONS/, 'plain OPTIONS: the backend never saw it');

    # CORS off: OPTIONS passes through untouched
    $res = http_request($srv, 'OPTIONS /nocors/x', \%pre);
    is($res->{status}, 200, 'nocors preflight: passed through');
    like($res->{content}, qr/^backend OPTIONS/, 'nocors preflight: backend');
    ok(!defined $res->{headers}{'access-control-allow-origin'}, 'nocors preflight: no CORS');
    ok(!defined $res->{headers}{'access-control-allow-headers'}, 'nocors preflight: no Allow-Headers');

    $res = http_request($srv, 'GET /nocors/x', { Origin => 'https://any.example' });
    is($res->{status}, 402, 'nocors: 402');
    ok(!defined $res->{headers}{'access-control-allow-origin'}, 'nocors 402: no Allow-Origin');
    ok(!defined $res->{headers}{'access-control-expose-headers'}, 'nocors 402: no Expose-Headers');
}

# an origin from a map
{
    my $res = http_request($srv, 'GET /mapped/x', { Origin => 'https://app.example' });
    is($res->{headers}{'access-control-allow-origin'}, 'https://app.example',
       'mapped: the allowed origin echoed');
    is($res->{headers}{vary}, 'Origin', 'mapped: Vary: Origin');

    $res = http_request($srv, 'GET /mapped/x', { Origin => 'https://evil.example' });
    is($res->{status}, 402, 'other origin: 402');
    ok(!defined $res->{headers}{'access-control-allow-origin'}, 'other origin: no Allow-Origin');

    $res = http_request($srv, 'OPTIONS /mapped/x', { Origin => 'https://evil.example',
                                                     'Access-Control-Request-Method' => 'GET' });
    is($res->{status}, 200, 'other origin preflight: not answered by the module');
}

# the 503 (facilitator down) carries them
{
    my $h = pay("--amount $PRICE --pay-to $C->{X402_PAY_TO}");
    my $res = http_request($srv, 'GET /fixed/x', { 'PAYMENT-SIGNATURE' => $h,
                                                   Origin => 'https://shop.example' });
    is($res->{status}, 503, 'facilitator down: 503');
    is($res->{headers}{'access-control-allow-origin'}, 'https://shop.example',
       '503: Allow-Origin');
    is($res->{headers}{'access-control-expose-headers'}, $EXPOSE, '503: Expose-Headers');
}

server_stop($srv, 'browser-cors');

# a bad x402_cors value is refused at load
{
    my $s = eval { server_start({ http_config => $HTTP,
                                  config => "location /a/ { x402_cors app.example; }" }) };
    ok(!$s, 'x402_cors without a scheme: nginx refuses to start');
    like($@, qr/x402_cors "app.example" is invalid/, 'and says why');
    server_stop($s, 'bad cors') if $s;
}

done_testing();
