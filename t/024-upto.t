# Usage-based billing (x402_scheme upto) in front of an OpenAI-compatible
# backend (scripts/mockllm), paid by the official client: the agent signs a
# cap and pays exactly the priced tokens of the reply, streamed or not.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Socket::INET;
use JSON::PP;
use Math::BigInt;
use Time::HiRes qw(time sleep);
use HTTP::Tiny;
use X402Test;

start_services(redis => 1, devchain => 1, mockllm => 1);

my $C = chain_env();
my $E18 = Math::BigInt->new(10)->bpow(18);

# prices per 1000 tokens, in OPG
my %IN  = (demo => '0.01', big => '0.5');
my %OUT = (demo => '0.02', big => '1000');
my $CAP = '0.1';

# an upto location in front of mockllm, capped at 0.1
sub llm_location {
    my ($path, $more) = @_;
    return paid_location($path, price => '0.1', pass => 'http://127.0.0.1:$MOCKLLM/v1/',
                         more => "x402_scheme upto;\n$more");
}

my $CONFIG = <<'CONF'
location /v1/ {
    x402 on;
    x402_scheme upto;
    x402_receipt_uri full;      # the tests tell receipts apart by query
    x402_read_model on;
    x402_models demo big;       # named to a client asking for another
    client_body_buffer_size 64k;    # a 2000-word prompt stays in memory
    x402_pay_to $X402_PAY_TO;
    x402_price $cap;
    x402_input_price $in_price;
    x402_output_price $out_price;
    proxy_buffering off;
    proxy_pass http://127.0.0.1:$MOCKLLM;
}
CONF
    . llm_location('/nousage/', <<'MORE')
x402_usage_missing zero;
proxy_set_header X-Mock-No-Usage 1;
MORE
    . llm_location('/nousagecap/', 'proxy_set_header X-Mock-No-Usage 1;')
    . llm_location('/nousagestream/', <<'MORE')
client_body_buffer_size 64k;
x402_input_price 0.01;
x402_output_price 0.02;
proxy_buffering off;
proxy_set_header X-Mock-No-Usage 1;
MORE
    . llm_location('/big/', <<'MORE')
x402_input_price 0.01;
x402_output_price 0.02;
proxy_set_header X-Mock-Pad-Bytes 80000;
MORE
    . llm_location('/slow/', <<'MORE')
x402_settle_margin 3s;
x402_max_response_time 6s;
x402_max_timeout 30;
x402_input_price 0.01;
x402_output_price 0.02;
proxy_buffering off;
proxy_set_header X-Mock-Completion-Tokens 40;
proxy_set_header X-Mock-Delay-Ms 400;
MORE
    . status_location()
    . llm_location('/stated/', <<'MORE');
x402_usage_header X-Usage-Cost;
proxy_set_header X-Mock-Cost 0.003;
MORE

my $srv = server_start({ config => $CONFIG, http_config => settler_http(<<"HTTP") });
map \$x402_model \$cap { default ""; demo $CAP; big $CAP; }
map \$x402_model \$in_price { default ""; demo $IN{demo}; big $IN{big}; }
map \$x402_model \$out_price { default ""; demo $OUT{demo}; big $OUT{big}; }
HTTP

sub atomic { my ($d) = @_; return Math::BigInt->new(int($d * 1e6)) * $E18 / 1e6 }

sub price_of {
    my ($model, $prompt, $completion) = @_;
    my $n = atomic($IN{$model}) * $prompt + atomic($OUT{$model}) * $completion;
    return ($n + 999) / 1000;          # rounded up to the smallest unit
}

sub client {
    my ($uri, $body) = @_;
    my $url = "http://127.0.0.1:$srv->{port}$uri";
    open my $fh, '-|', 'node', 't/client/pay.mjs', $url, '--key', $C->{X402_PAYER_KEY},
        '--method', 'POST', '--body', encode_json($body) or die $!;
    my $out = do { local $/; <$fh> };
    close $fh;
    return eval { decode_json($out) } // { error => "bad output: $out" };
}

sub receipt_of {
    my ($resource) = @_;
    for (1 .. 50) {
        for my $k (grep { length } split /\n/, redis_cli('--scan', '--pattern', 'x402:8453:*')) {
            my $r = eval { decode_json(redis_cli('GET', $k)) };
            return $r if $r && $r->{resource} eq $resource && $r->{status} ne 'reserved'
                         && $r->{status} ne 'broadcast';
        }
        sleep 0.1;
    }
    return undef;
}

my $chat = { model => 'demo', messages => [{ role => 'user', content => 'one two three four five' }] };

# non-streamed: the reply's usage, priced
{
    my ($p0, $m0) = (asset_balance($C->{X402_PAYER_ADDRESS}), asset_balance($C->{X402_PAY_TO}));
    my $r = client('/v1/chat/completions', $chat);
    is_deeply($r->{attempts}, [402, 200], 'official client: upto cap signed, served');
    is($r->{paymentRequired}{accepts}[0]{scheme}, 'upto', 'the offer is upto');
    is($r->{paymentRequired}{accepts}[0]{extra}{facilitatorAddress},
       $C->{X402_SETTLER_ADDRESS}, 'facilitatorAddress is the settler');
    my $reply = eval { decode_json($r->{body}) } // {};
    my $u = $reply->{usage} // {};
    ok($u->{completion_tokens}, 'the backend reported usage');
    my $want = price_of('demo', $u->{prompt_tokens}, $u->{completion_tokens});
    my $rc = receipt_of('/v1/chat/completions');
    is($rc && $rc->{status}, 'settled', 'settled after the response');
    is($rc && $rc->{charged}, "$want", 'charged exactly the priced tokens');
    is($rc && $rc->{amount}, atomic($CAP) . '', 'the receipt keeps the signed cap');
    is(asset_balance($C->{X402_PAYER_ADDRESS}), $p0 - $want, 'payer paid exactly that');
    is(asset_balance($C->{X402_PAY_TO}), $m0 + $want, 'merchant got exactly that');
}

# streamed: the usage of the final SSE event
{
    my $m0 = asset_balance($C->{X402_PAY_TO});
    my $r = client('/v1/chat/completions', { %$chat, stream => JSON::PP::true,
        messages => [{ role => 'user', content => 'a b c d e f g h' }] });
    is($r->{status}, 200, 'stream served');
    my ($usage) = $r->{body} =~ /"usage":(\{[^}]*\})/;
    my $u = eval { decode_json($usage // '{}') } // {};
    ok($u->{completion_tokens}, 'the stream ended with a usage event');
    my $want = price_of('demo', $u->{prompt_tokens}, $u->{completion_tokens});
    my $rc = receipt_of('/v1/chat/completions', 1);
    my @all = map { eval { decode_json(redis_cli('GET', $_)) } }
              grep { length } split /\n/, redis_cli('--scan', '--pattern', 'x402:8453:*');
    ok((grep { ($_->{charged} // '') eq "$want" } @all), 'stream charged its priced tokens');
    is(asset_balance($C->{X402_PAY_TO}), $m0 + $want, 'merchant got exactly that');
}

# the cap is never exceeded
{
    my $r = client('/v1/completions', { model => 'big', prompt => 'many words here to price' });
    is($r->{status}, 200, 'served');
    my $rc = receipt_of('/v1/completions');
    is($rc && $rc->{charged}, atomic($CAP) . '', 'the charge is clamped to the cap');
}

# an unknown model is refused before any payment is taken
{
    my $res = http_request($srv, 'POST /v1/chat/completions',
        { 'Content-Type' => 'application/json' },
        encode_json({ model => 'nope', messages => [{ role => 'user', content => 'x' }] }));
    is($res->{status}, 400, 'unknown model: 400');
    like($res->{content}, qr/unknown model/, 'clear error');
    ok(!$res->{headers}{'payment-required'}, 'no payment terms offered');

    # in OpenAI's error shape (x402_read_model: an OpenAI-compatible location)
    my $e = (eval { decode_json($res->{content}) } // {})->{error} // {};
    is($e->{message}, "unknown model 'nope' (priced: demo, big)",
       'OpenAI shape: the message names the model, and those priced (x402_models)');
    is($e->{type}, 'invalid_request_error', 'OpenAI shape: its type');
    is($e->{code}, 'model_not_found', 'OpenAI shape: its code');

    # the 402 too, the x402 fields beside the error object
    $res = http_request($srv, 'POST /v1/chat/completions',
        { 'Content-Type' => 'application/json' },
        encode_json({ model => 'demo', messages => [{ role => 'user', content => 'x' }] }));
    is($res->{status}, 402, 'unpaid: 402');
    my $b = eval { decode_json($res->{content}) } // {};
    is_deeply($b->{error}, { message => 'Payment required', type => 'payment_required',
                             code => 'payment_required' }, 'OpenAI shape: the 402\'s error');
    is($b->{x402Version}, 2, 'with x402Version');
    is($b->{accepts}[0]{scheme}, 'upto', 'and the terms');
    ok($res->{headers}{'payment-required'}, 'and PAYMENT-REQUIRED as ever');
}

# no usage from the backend: x402_usage_missing zero / cap
{
    my $r = client('/nousage/chat/completions', $chat);
    is($r->{status}, 200, 'served without usage');
    my $rc = receipt_of('/nousage/chat/completions');
    is($rc && $rc->{charged}, '0', 'x402_usage_missing zero: nothing charged');
    ok($rc && !$rc->{transaction}, 'and nothing sent on chain');

    $r = client('/nousagecap/chat/completions', $chat);
    $rc = receipt_of('/nousagecap/chat/completions');
    is($rc && $rc->{charged}, atomic('0.1') . '', 'x402_usage_missing cap: the cap');
}

# the backend states the cost in a header, which the client never sees
{
    my $r = client('/stated/chat/completions', $chat);
    is($r->{status}, 200, 'served');
    unlike($r->{body}, qr/X-Usage-Cost/i, 'no cost in the body');
    my $rc = receipt_of('/stated/chat/completions');
    is($rc && $rc->{charged}, atomic('0.003') . '', 'charged the stated cost');
    my $res = http_request($srv, 'POST /stated/chat/completions', {
        'PAYMENT-SIGNATURE' => pay("--scheme upto --facilitator $C->{X402_SETTLER_ADDRESS} "
            . "--amount " . atomic('0.1') . " --pay-to $C->{X402_PAY_TO}"),
        'Content-Type' => 'application/json' }, encode_json($chat));
    is($res->{status}, 200, 'served again');
    ok(!exists $res->{headers}{'x-usage-cost'}, 'X-Usage-Cost removed from the response');
}

# the agent reads its charge afterwards: the same payment again answers the
# stored receipt (docs/agents.md), settled a moment after the response
{
    my $h = pay("--scheme upto --facilitator $C->{X402_SETTLER_ADDRESS} "
        . "--amount " . atomic('0.1') . " --pay-to $C->{X402_PAY_TO}");
    my %hdr = ('PAYMENT-SIGNATURE' => $h, 'Content-Type' => 'application/json');
    is(http_request($srv, 'POST /stated/chat/completions', \%hdr, encode_json($chat))->{status},
       200, 'upto: served');
    my ($res, $rc);
    for (1 .. 50) {
        $res = http_request($srv, 'POST /stated/chat/completions', \%hdr, encode_json($chat));
        $rc = (eval { decode_json($res->{content}) } // {})->{receipt};
        last if $rc && $rc->{status} eq 'settled';
        sleep 0.1;
    }
    is($res->{status}, 402, 'upto: the same payment again is refused');
    is($rc && $rc->{status}, 'settled', 'upto: with its receipt, settled');
    is($rc && $rc->{charged}, atomic('0.003') . '', 'upto: the charge');
    is($rc && $rc->{amount}, atomic('0.1') . '', 'upto: and the cap');
    like($rc && $rc->{transaction} // '', qr/^0x[0-9a-f]{64}$/, 'upto: and the transaction');
}

# the client leaves mid-stream: the tokens delivered so far are charged
{
    my $h = pay("--scheme upto --facilitator $C->{X402_SETTLER_ADDRESS} --amount "
                . atomic($CAP) . " --pay-to $C->{X402_PAY_TO}");
    my $body = encode_json({ model => 'demo', stream => JSON::PP::true,
        messages => [{ role => 'user', content => join(' ', 1 .. 16) }] });
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$srv->{port}") or die $!;
    print $s "POST /v1/chat/completions?cut HTTP/1.1\r\nHost: x\r\n"
           . "PAYMENT-SIGNATURE: $h\r\nX-Mock-Delay-Ms: 150\r\n"
           . "Content-Type: application/json\r\nContent-Length: " . length($body)
           . "\r\n\r\n$body";
    my ($got, $t0) = ('', time);
    while (time - $t0 < 5 && ($got =~ tr/\n//) < 16) {
        my $buf;
        last unless sysread($s, $buf, 4096);
        $got .= $buf;
    }
    close $s;
    like($got, qr/^HTTP\/1.1 200/, 'the stream started');
    my $rc = receipt_of('/v1/chat/completions?cut');
    ok($rc && $rc->{charged} > 0, 'a stream cut short is charged');
    ok($rc && $rc->{charged} < price_of('demo', 16, 20),
       'only for what was delivered, not the whole reply');
}

# ---- issue 14: what the client leaves out or makes big is still billed ----

sub mock_last {
    my $r = HTTP::Tiny->new(timeout => 5)->get("http://127.0.0.1:" . services()->{mockllm} . "/_mock/last");
    return eval { decode_json($r->{content}) } // {};
}

# a stream without stream_options: the module asks for the usage, and the
# prompt is billed (it was not, when the backend stated no usage)
{
    my $words = join ' ', ('word') x 2000;
    my $m0 = asset_balance($C->{X402_PAY_TO});
    my $r = client('/v1/chat/completions', { model => 'demo', stream => JSON::PP::true,
        messages => [{ role => 'user', content => $words }] });
    is($r->{status}, 200, '2000-word prompt streamed without stream_options');
    my $sent = eval { decode_json(mock_last()->{body}) } // {};
    is_deeply($sent->{stream_options}, { include_usage => JSON::PP::true },
              'the backend was asked for the stream\'s usage');
    is($sent->{messages}[0]{content}, $words, 'the rest of the body unchanged');
    my ($usage) = $r->{body} =~ /"usage":(\{[^}]*\})/;
    my $u = eval { decode_json($usage // '{}') } // {};
    is($u->{prompt_tokens}, 2000, 'the stream stated 2000 prompt tokens');
    my $want = price_of('demo', 2000, $u->{completion_tokens} // 0);
    ok($want > atomic('0.02'), 'which cost more than 0.02 OPG');
    is(asset_balance($C->{X402_PAY_TO}), $m0 + $want, 'the merchant got the prompt and the reply');

    # the backend never states a usage: the prompt by what the body shows
    $m0 = asset_balance($C->{X402_PAY_TO});
    $r = client('/nousagestream/chat/completions', { model => 'demo', stream => JSON::PP::true,
        messages => [{ role => 'user', content => $words }] });
    is($r->{status}, 200, 'a stream with no usage at all');
    my $deltas = () = $r->{body} =~ /"content":"[^"]+"/g;
    my $est = int((length($words) + 3) / 4);
    my $n = atomic('0.01') * $est + atomic('0.02') * $deltas;
    $want = ($n + 999) / 1000;
    is(asset_balance($C->{X402_PAY_TO}), $m0 + $want,
       "billed $est prompt tokens (its text / 4) and $deltas streamed tokens");
}

# a JSON reply of any size: its usage is found after 80 KB of padding
{
    my $m0 = asset_balance($C->{X402_PAY_TO});
    my $r = client('/big/chat/completions', $chat);
    is($r->{status}, 200, 'an 80 KB reply');
    cmp_ok(length($r->{body}), '>', 80000, 'it is over 80 KB');
    my $u = (eval { decode_json($r->{body}) } // {})->{usage} // {};
    ok($u->{completion_tokens}, 'with a usage after the padding');
    my $want = price_of('demo', $u->{prompt_tokens}, $u->{completion_tokens});
    is(asset_balance($C->{X402_PAY_TO}), $m0 + $want, 'charged exactly its usage, not the cap');
}

# the permit must outlive the longest response and the settlement
{
    my $cap = atomic($CAP);
    my $args = "--scheme upto --facilitator $C->{X402_SETTLER_ADDRESS} --amount $cap "
             . "--pay-to $C->{X402_PAY_TO} --max-timeout 30";
    my $res = http_request($srv, 'POST /slow/chat/completions', {
        'PAYMENT-SIGNATURE' => pay("$args --ttl 10"), 'Content-Type' => 'application/json' },
        encode_json($chat));
    is($res->{status}, 402, '10 s left where 15 are needed (6 s response, 3 s margin, 6 s)');
    is(decode_json_b64($res->{headers}{'payment-required'})->{error}, 'permit2_deadline_expired',
       'refused as a deadline too close');

    # admitted with 16 s left: a 16 s stream is cut at the deadline less 3 s
    my $n = X402Test::random_nonce();
    my $deadline = int(time()) + 16;
    my $h = pay("$args --nonce $n --deadline $deadline");
    my ($p0, $m0) = (asset_balance($C->{X402_PAYER_ADDRESS}), asset_balance($C->{X402_PAY_TO}));
    my $body = encode_json({ %$chat, stream => JSON::PP::true });
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$srv->{port}") or die $!;
    print $s "POST /slow/chat/completions HTTP/1.1\r\nHost: x\r\nPAYMENT-SIGNATURE: $h\r\n"
           . "Content-Type: application/json\r\nContent-Length: " . length($body)
           . "\r\n\r\n$body";
    my ($got, $t0) = ('', time);
    while (time - $t0 < 25) {
        my $buf;
        last unless sysread($s, $buf, 4096);
        $got .= $buf;
    }
    my $ended = time;
    close $s;
    like($got, qr/^HTTP\/1.1 200/, 'the stream started');
    unlike($got, qr/\[DONE\]/, 'it did not reach its end');
    ok($ended <= $deadline - 2, sprintf('it was cut %.1f s before the deadline', $deadline - $ended));
    my $rc;
    for (1 .. 100) {
        $rc = receipt_of('/slow/chat/completions');
        last if $rc;
        sleep 0.1;
    }
    is($rc && $rc->{status}, 'settled', 'its settlement landed');
    ok($rc && $rc->{updated} <= $deadline, 'before the permit expired');
    ok($rc && $rc->{charged} > 0 && $rc->{charged} < price_of('demo', 1000, 40),
       'for what it delivered');
    is(X402Test::nonce_used($C->{X402_PAYER_ADDRESS}, $n), 1, 'the nonce is used on chain');
    is(asset_balance($C->{X402_PAYER_ADDRESS}), $p0 - ($rc->{charged} // 0), 'the payer paid that');
    is(asset_balance($C->{X402_PAY_TO}), $m0 + ($rc->{charged} // 0), 'the merchant got it');
    my ($cut) = http_request($srv, 'GET /metrics')->{content} =~ /^x402_responses_cut_total (\d+)$/m;
    is($cut, 1, 'x402_responses_cut_total counts it');
}

my $log = server_stop($srv, 'upto');
like($log, qr/the response of payer 0x\w+ is cut: its permit expires in x402_settle_margin/,
     'log: the cut is explained');
like($log, qr/upto usage of x402:8453:\S+: charging \d+ of cap \d+/, 'log: usage charge');
done_testing();
