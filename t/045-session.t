# Upto sessions (x402_session on): one permit signed by the official
# client, many requests on two nginx nodes sharing one Redis, resumed by
# X-Upto-Session (og-x402's client) and by the same PAYMENT-SIGNATURE
# again (a stock client), settled once, for exactly what was used.  What
# counts is the chain: the settler's transactions, the Transfer to the
# merchant, the payer's balance.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Math::BigInt;
use Time::HiRes qw(time sleep);
use X402Test;

start_services(redis => 1, devchain => 1, mockllm => 1);

my $C = chain_env();
my $E18 = Math::BigInt->new(10)->bpow(18);
my ($IN, $OUT) = ('0.01', '0.02');     # OPG per 1000 tokens

sub session_location {
    my ($path, $price, $more) = @_;
    my $idle = $more =~ /x402_session_idle/ ? '' : 'x402_session_idle 2s;';
    return paid_location($path, price => $price,
                         pass => 'http://127.0.0.1:$MOCKLLM/v1/', more => <<"MORE");
x402_scheme upto;
x402_session on;
$idle
x402_input_price $IN;
x402_output_price $OUT;
proxy_buffering off;
client_body_buffer_size 64k;
$more
MORE
}

my $CONFIG = session_location('/v1/', '1', <<'MORE')
x402_max_timeout 3600;
add_header X-Session-Prefix $x402_session;
access_log logs/charged.log charged;
MORE
    . session_location('/other/', '1', 'x402_max_timeout 3600;')
    . session_location('/tiny/', '0.00002', <<'MORE')
x402_max_timeout 3600;
x402_session_idle 30s;
x402_usage_header X-Usage-Cost;
proxy_set_header X-Mock-Cost 0.000003;
MORE
    . session_location('/short/', '1', <<'MORE')
x402_max_timeout 45;
x402_session_margin 20s;
x402_max_response_time 5s;
MORE
    . session_location('/big/', '1000', <<'MORE')
x402_max_timeout 3600;
x402_usage_header X-Usage-Cost;
proxy_set_header X-Mock-Cost $http_x_cost;
MORE
    . session_location('/slow/', '1', <<'MORE')
x402_max_timeout 3600;
x402_max_response_time 3s;
proxy_set_header X-Mock-Completion-Tokens 40;
proxy_set_header X-Mock-Delay-Ms 200;
MORE
    . status_location()
    . "location = /receipts {\n    x402_receipts;\n}\n";

my $HTTP = settler_http("x402_reconcile_interval 1s;\n"
                        . "log_format charged '\$x402_session \$x402_charged';\n");
my $A = server_start({ config => $CONFIG, http_config => $HTTP });
my $B = server_start({ config => $CONFIG, http_config => $HTTP });

sub atomic {
    my ($d) = @_;
    my ($i, $f) = split /\./, $d;
    $f //= '';
    return Math::BigInt->new($i . $f . ('0' x (18 - length $f)));
}

sub price_of {
    my ($u) = @_;
    my $n = atomic($IN) * $u->{prompt_tokens} + atomic($OUT) * $u->{completion_tokens};
    return ($n + 999) / 1000;
}

# the PAYMENT-SIGNATURE the official client signs for $path (not sent)
sub sign_for {
    my ($srv, $path, $key) = @_;
    $key //= $C->{X402_PAYER_KEY};
    my $out = `node t/client/sign-with-id.mjs http://127.0.0.1:$srv->{port}$path --method POST --key $key`;
    my $j = eval { decode_json($out) } // {};
    return $j->{header};
}

sub chat {
    my ($srv, $path, $headers, %o) = @_;
    my $body = { model => 'demo', messages => [{ role => 'user',
                 content => $o{prompt} // 'one two three four five' }] };
    $body->{stream} = JSON::PP::true if $o{stream};
    return http_request($srv, "POST $path",
                        { 'Content-Type' => 'application/json', %$headers },
                        encode_json($body));
}

# the usage a response carries: its JSON's, or its stream's last event's
sub usage_of {
    my ($res) = @_;
    my $u;
    for my $line (split /\n/, $res->{content} // '') {
        next unless $line =~ /^data: (\{.*)/;
        my $e = eval { decode_json($1) } or next;
        $u = $e->{usage} if $e->{usage};
    }
    $u //= eval { decode_json($res->{content}) }->{usage};
    return $u;
}

my @IDS;        # every session id handed out: never whole in a log

# a session's record, once the charges of the requests that ended are in
# (a worker sends them in batches, at most NGX_HTTP_X402_CHARGE_WAIT later)
sub session_of {
    my ($id) = @_;
    sleep 0.1;
    my %h = split /\n/, redis_cli('HGETALL', "x402:s:$id");
    return \%h;
}

sub wait_settled {
    my ($key, $secs) = @_;
    my $r;
    for (1 .. $secs * 10) {
        $r = eval { decode_json(redis_cli('GET', $key)) };
        return $r if $r && $r->{status} =~ /^(settled|failed)$/;
        sleep 0.1;
    }
    return $r;
}

# --- 20 requests, two nodes, both ways of resuming, streams, one settlement
{
    my ($p0, $m0, $t0) = (asset_balance($C->{X402_PAYER_ADDRESS}),
                          asset_balance($C->{X402_PAY_TO}), settler_tx_count());
    my $header = sign_for($A, '/v1/chat/completions');
    ok($header, 'the official upto client signed a permit');

    my $r = chat($A, '/v1/chat/completions', { 'PAYMENT-SIGNATURE' => $header });
    is($r->{status}, 200, 'the payment opens a session and is served');
    my $id = $r->{headers}{'x-upto-session'} // '';
    like($id, qr/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
         'X-Upto-Session: a uuid4');
    push @IDS, $id;
    ok(!$r->{headers}{'payment-response'}, 'no PAYMENT-RESPONSE: settled later');
    is($r->{headers}{'x-session-prefix'}, substr($id, 0, 8), '$x402_session: the prefix');
    my $want = price_of(usage_of($r));
    my $n = 1;

    for my $i (2 .. 20) {
        if ($i == 11) {
            # a reload of node B mid-session: the session lives in Redis
            kill 'HUP', $B->{pid};
            sleep 1.5;
        }
        # Redis forgets its scripts: the commands go again with them
        redis_cli('SCRIPT', 'FLUSH') if $i == 15;
        my $srv = $i % 2 ? $A : $B;
        my %h = $i % 3 == 0 ? ('PAYMENT-SIGNATURE' => $header) : ('X-Upto-Session' => $id);
        my $res = chat($srv, '/v1/chat/completions', \%h, stream => $i % 4 == 0,
                       prompt => 'word ' x $i);
        $n++ if $res->{status} == 200;
        is($res->{headers}{'x-upto-session'}, $id, "request $i names its session")
            if $i == 2 || $i == 3;
        my $u = usage_of($res);
        $want += price_of($u) if $u;
    }
    is($n, 20, '20 requests served on one session, on two nodes');

    my $s = session_of($id);
    is($s->{requests}, 20, 'the session counted 20 requests');
    is($s->{total}, "$want", 'its total is the sum of the priced usages');
    ok(!$s->{settled}, 'nothing settled while it is in use');
    is(settler_tx_count(), $t0, 'no transaction while the session is open');

    my $rc = wait_settled($s->{key}, 20);
    is($rc && $rc->{status}, 'settled', 'settled once idle');
    is($rc && $rc->{charged}, "$want", 'for its total');
    is(settler_tx_count(), $t0 + 1, 'exactly one settlement transaction');
    is(asset_balance($C->{X402_PAY_TO}), $m0 + $want, 'the merchant got exactly the total');
    is(asset_balance($C->{X402_PAYER_ADDRESS}), $p0 - $want, 'the payer paid exactly that');

    my $logged = Math::BigInt->new(0);
    for my $line (split /\n/, read_file("$A->{dir}/logs/charged.log")
                              . read_file("$B->{dir}/logs/charged.log")) {
        my ($p, $c) = split ' ', $line;
        $logged += $c if $p eq substr($id, 0, 8) && $c =~ /^\d+$/;
    }
    is("$logged", "$want", '$x402_charged in the access logs adds up to the total');

    my $lk = http_request($A, 'GET /receipts', { 'PAYMENT-SIGNATURE' => $header });
    my $pub = eval { decode_json($lk->{content}) } // {};
    my $ss = $pub->{session} // {};
    is($ss->{id}, substr($id, 0, 8), 'x402_receipts: the session, by its id\'s first 8 only');
    unlike($lk->{content}, qr/\Q$id\E/, 'never the whole id');
    is_deeply([@$ss{qw(total requests cap)}], ["$want", 20, '1' . ('0' x 18)],
              'its total, requests and cap');
    my $sum = Math::BigInt->new(0);
    $sum += $_ for @{ $ss->{charges} // [] };
    is(scalar @{ $ss->{charges} // [] }, 20, 'each request\'s charge');
    is("$sum", "$want", 'which add up to the total');
    is($pub->{transaction}, $rc->{transaction}, 'and the settlement\'s transaction');

    my $late = chat($B, '/v1/chat/completions', { 'X-Upto-Session' => $id });
    is($late->{status}, 402, 'a settled session serves no more');
    is_deeply(eval { decode_json($late->{content}) }, { error => 'Session expired or exhausted' },
              "og-x402's body");
    ok(decode_json_b64($late->{headers}{'payment-required'}), 'and a fresh challenge');
    my $again = chat($A, '/v1/chat/completions', { 'PAYMENT-SIGNATURE' => $header });
    is($again->{status}, 402, 'its payment sent again: refused too');

    my $m = http_request($A, 'GET /metrics')->{content} . http_request($B, 'GET /metrics')->{content};
    my %sum;
    $sum{$1} += $2 while $m =~ /^(x402_session\w+_total) (\d+)/mg;
    is($sum{x402_sessions_opened_total}, 1, 'metrics: one session opened');
    is($sum{x402_session_requests_total}, 19, 'metrics: 19 requests resumed');
    is($sum{x402_sessions_settled_total}, 1, 'metrics: one session settled');
}

# --- refusals: unknown, malformed, another location; nothing charged
{
    my $header = sign_for($A, '/v1/chat/completions?x');
    my $r = chat($A, '/v1/chat/completions?x', { 'PAYMENT-SIGNATURE' => $header });
    my $id = $r->{headers}{'x-upto-session'};
    my $total = session_of($id)->{total};
    for my $case (['another location', $A, '/other/chat/completions', $id],
                  ['an unknown id', $B, '/v1/chat/completions?x', '3f2a1b4c-0d9e-4f8a-9b7c-6d5e4f3a2b1c'],
                  ['a malformed id', $B, '/v1/chat/completions?x', 'x402:*'],
                  ['another method', $A, '/v1/chat/completions?x', $id, 'GET'])
    {
        my ($what, $srv, $path, $sid, $method) = @$case;
        my $res = $method
            ? http_request($srv, "$method $path", { 'X-Upto-Session' => $sid })
            : chat($srv, $path, { 'X-Upto-Session' => $sid });
        is($res->{status}, 402, "$what: 402");
        like($res->{content}, qr/Session expired or exhausted/, "$what: og-x402's body");
    }
    is(redis_cli('EXISTS', 'x402:s:3f2a1b4c-0d9e-4f8a-9b7c-6d5e4f3a2b1c'), 0,
       'a made-up id leaves nothing in Redis');
    is(session_of($id)->{total}, $total, 'the refusals charged nothing');
    is(scalar(grep { /^t:/ } split /\n/, redis_cli('HKEYS', "x402:s:$id")), 0,
       'and hold no place in it');
    my $rc = wait_settled(session_of($id)->{key}, 20);
    is($rc && $rc->{charged}, $total, 'settled for what was served');
}

# --- exhaustion, and 16 concurrent requests near the cap
{
    my ($m0, $t0) = (asset_balance($C->{X402_PAY_TO}), settler_tx_count());
    my $header = sign_for($A, '/tiny/chat/completions');
    my $cap = atomic('0.00002');
    my $r = chat($A, '/tiny/chat/completions', { 'PAYMENT-SIGNATURE' => $header });
    my $id = $r->{headers}{'x-upto-session'};
    ok($id, 'a small session opened');
    my @kids;
    for my $i (1 .. 16) {
        push @kids, in_child(sub {
            my $res = chat($i % 2 ? $A : $B, '/tiny/chat/completions', { 'X-Upto-Session' => $id });
            return $res->{status};
        });
    }
    my %st;
    for (@kids) { my ($status) = collect_child($_); $st{$status // 'none'}++ }
    ok(($st{200} // 0) >= 1, "concurrent requests: some served ($st{200})");
    my $s = session_of($id);
    is($s->{total}, "$cap", 'the total reached the cap and never passed it');
    is($s->{status} =~ /^(exhausted|settling)$/ ? 1 : 0, 1, 'the session is exhausted');
    my $after = chat($B, '/tiny/chat/completions', { 'X-Upto-Session' => $id });
    is($after->{status}, 402, 'exhausted: 402');
    like($after->{content}, qr/Session expired or exhausted/, 'with the body');
    my $rc = wait_settled($s->{key}, 20);
    is($rc && $rc->{charged}, "$cap", 'settled at once for the cap');
    is(asset_balance($C->{X402_PAY_TO}), $m0 + $cap, 'the chain moved exactly the cap');
    is(settler_tx_count(), $t0 + 1, 'in one transaction');
}

# --- a cap of 1000 OPG, charges far above 2^53 units, added exactly
{
    my $key = $C->{X402_PAYER2_KEY};
    my $m0 = asset_balance($C->{X402_PAY_TO});
    my $header = sign_for($A, '/big/chat/completions', $key);
    my @costs = ('123.456789012345678901', '400.000000000000000007', '0.5');
    my $r = chat($A, '/big/chat/completions', { 'PAYMENT-SIGNATURE' => $header, 'X-Cost' => $costs[0] });
    is($r->{status}, 200, 'a 1000 OPG cap opens a session');
    my $id = $r->{headers}{'x-upto-session'};
    chat($B, '/big/chat/completions', { 'X-Upto-Session' => $id, 'X-Cost' => $_ }) for @costs[1, 2];
    my $want = atomic($costs[0]) + atomic($costs[1]) + atomic($costs[2]);
    my $s = session_of($id);
    is($s->{cap}, '1000' . ('0' x 18), 'the cap: 10^21 units');
    is($s->{total}, "$want", 'the total is exact (523.956789012345678908 OPG)');
    my $rc = wait_settled($s->{key}, 20);
    is($rc && $rc->{charged}, "$want", 'settled for it');
    is(asset_balance($C->{X402_PAY_TO}), $m0 + $want, 'the chain moved exactly that');
}

# --- a session's response is cut at x402_max_response_time, and charged
{
    my $header = sign_for($A, '/slow/chat/completions');
    my $t = time;
    my $r = chat($A, '/slow/chat/completions', { 'PAYMENT-SIGNATURE' => $header }, stream => 1);
    my $took = time - $t;
    ok($took >= 2.5 && $took < 6, sprintf('a 8 s stream ends after %.1f s', $took));
    unlike($r->{content} // '', qr/\[DONE\]/, 'cut: no [DONE]');
    # (the client saw the connection close: the receipt lookup tells)
    sleep 0.2;
    my $ss = eval { decode_json(http_request($A, 'GET /receipts',
                        { 'PAYMENT-SIGNATURE' => $header })->{content})->{session} } // {};
    ok(($ss->{total} // 0) > 0, "what it delivered is charged to the session ($ss->{total})");
    my $rc;
    for (1 .. 200) {
        $rc = eval { decode_json(http_request($A, 'GET /receipts',
                        { 'PAYMENT-SIGNATURE' => $header })->{content}) };
        last if $rc && $rc->{status} eq 'settled';
        sleep 0.1;
    }
    is($rc && $rc->{charged}, $ss->{total}, 'and settled');
}

# --- a session whose requests all failed: nothing charged, nothing sent
{
    my $t0 = settler_tx_count();
    my $header = sign_for($A, '/v1/nothing');
    my $r = chat($A, '/v1/nothing', { 'PAYMENT-SIGNATURE' => $header });
    is($r->{status}, 404, 'the backend fails: a 404');
    my $id = $r->{headers}{'x-upto-session'};
    ok($id, 'which still names its session');
    is(chat($B, '/v1/nothing', { 'X-Upto-Session' => $id })->{status}, 404, 'so does the next');
    my $rc = wait_settled(session_of($id)->{key}, 20);
    is($rc && $rc->{status}, 'settled', 'the session is closed');
    is($rc && $rc->{charged}, '0', 'for nothing');
    is(settler_tx_count(), $t0, 'without a transaction');
}

# --- the deadline: resumes stop in time, the settlement lands before it
{
    my $t0 = settler_tx_count();
    my $header = sign_for($A, '/short/chat/completions');
    my $second = sign_for($A, '/short/chat/completions');
    my $signed = time;
    my $r = chat($A, '/short/chat/completions', { 'PAYMENT-SIGNATURE' => $header });
    my $id = $r->{headers}{'x-upto-session'};
    my $s = session_of($id);
    ok($s->{stop} < $s->{hard} && $s->{hard} < $s->{deadline} * 1000,
       'resumes stop before the hard limit, which is before the deadline');
    my $res = chat($B, '/short/chat/completions', { 'X-Upto-Session' => $id });
    is($res->{status}, 200, 'resumed well before the deadline');
    my $left = $s->{stop} / 1000 - time;
    sleep $left + 0.5 if $left > -0.5;
    $res = chat($B, '/short/chat/completions', { 'X-Upto-Session' => $id });
    is($res->{status}, 402, 'refused once the deadline less margin and longest response is near');
    my $adm = chat($A, '/short/chat/completions', { 'PAYMENT-SIGNATURE' => $second });
    is($adm->{status}, 402, 'a permit with less than margin + longest response left opens nothing');
    is(error_of($adm), 'permit2_deadline_expired', 'with its reason');
    my $rc = wait_settled($s->{key}, 40);
    is($rc && $rc->{status}, 'settled', 'settled before the permit expired');
    ok(time < $s->{deadline}, 'with time left');
    is(settler_tx_count(), $t0 + 1, 'in one transaction');
}

# --- kill -9 of the worker that took the settlement, its transaction out
{
    my ($m0, $t0) = (asset_balance($C->{X402_PAY_TO}), settler_tx_count());
    my $header = sign_for($A, '/v1/chat/completions?lease');
    my $r = chat($A, '/v1/chat/completions?lease', { 'PAYMENT-SIGNATURE' => $header });
    my $s = session_of($r->{headers}{'x-upto-session'});
    my $want = Math::BigInt->new($s->{total});
    ok($want > 0, 'a session to settle');
    mining_stop();
    my $rc;
    for (1 .. 150) {
        $rc = eval { decode_json(redis_cli('GET', $s->{key})) };
        last if $rc && $rc->{status} eq 'broadcast';
        sleep 0.1;
    }
    is($rc && $rc->{status}, 'broadcast', 'a reconciler took it and sent it; not mined');
    my $killed = 0;
    for my $srv ($A, $B) {
        next unless read_file("$srv->{dir}/logs/error.log") =~ /sent \Q$rc->{transaction}\E/;
        my @w = split ' ', `pgrep -P $srv->{pid}` // '';
        $killed += kill 'KILL', @w;
    }
    ok($killed, 'kill -9 of the worker that sent it');
    mining_start();
    rpc_call('evm_setIntervalMining', 1);
    $rc = wait_settled($s->{key}, 40);
    is($rc && $rc->{status}, 'settled', 'another worker followed it to its block');
    is($rc && $rc->{charged}, "$want", 'for the session\'s total');
    is(asset_balance($C->{X402_PAY_TO}), $m0 + $want, 'the chain moved it once');
    is(settler_tx_count(), $t0 + 1, 'in one transaction');
}

# --- kill -9 on the node whose reconciler would settle: the other does
{
    my $m0 = asset_balance($C->{X402_PAY_TO});
    my $t0 = settler_tx_count();
    my $header = sign_for($A, '/v1/chat/completions?k');
    my $r = chat($A, '/v1/chat/completions?k', { 'PAYMENT-SIGNATURE' => $header });
    my $id = $r->{headers}{'x-upto-session'};
    chat($A, '/v1/chat/completions?k', { 'X-Upto-Session' => $id });
    my $want = Math::BigInt->new(session_of($id)->{total});
    ok($want > 0, 'its charges are in');
    # node A's workers and master die before the session is due
    my @workers = split ' ', `pgrep -P $A->{pid}` // '';
    kill 'KILL', $A->{pid}, @workers;
    my $rc = wait_settled(session_of($id)->{key}, 30);
    is($rc && $rc->{status}, 'settled', 'node A died: node B settled its session');
    is(asset_balance($C->{X402_PAY_TO}), $m0 + $want, 'for its total, once');
    is(settler_tx_count(), $t0 + 1, 'in one transaction');
}

my $logs = server_stop($B, 'node B', qr/exited on signal 9/)
         . read_file("$A->{dir}/logs/error.log");
like($logs, qr/session \Q@{[substr($IDS[0], 0, 8)]}\E\.\.\. resumed/, 'the log follows a session by its prefix');
# (nginx's own debug lines show every request header, as they show
# PAYMENT-SIGNATURE: a production log level has none of them)
$logs = join '', grep { !/^\S+ \S+ \[debug\]/ } split /(?=^\d{4}\/\d\d\/\d\d )/m, $logs;
unlike($logs, qr/\Q$_\E/, 'and never shows its whole id') for @IDS;
done_testing();
