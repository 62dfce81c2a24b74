# On-chain checks and Redis reservations against the real devchain and a
# real Redis: refusals with their reasons, replays refused on one node and
# across nodes, dependency faults answered 503 within the deadline while the
# worker keeps serving.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Socket::INET;
use JSON::PP;
use MIME::Base64 ();
use POSIX qw(WNOHANG _exit);
use Time::HiRes qw(time sleep);
use X402Test;

start_services(redis => 1, devchain => 1);

my $C = chain_env();
my $PAY_TO = $C->{X402_PAY_TO};
my $PRICE_ATOMIC = '1000000000000000';

my $CONFIG = paid_location('/paid/', echo => 'result')
           . paid_location('/big/', price => 2000) . <<'CONF';
location /free/ {
    proxy_pass http://127.0.0.1:$BACKEND;
}
CONF

sub payment {
    my ($args) = @_;
    return pay("--amount $PRICE_ATOMIC --pay-to $PAY_TO " . ($args // ''));
}

sub paid_get {
    my ($srv, $header, $uri) = @_;
    return http_request($srv, 'GET ' . ($uri // '/paid/x'),
                        { 'PAYMENT-SIGNATURE' => $header });
}

sub balance {
    my ($who) = @_;
    my $data = '0x70a08231' . ('0' x 24) . lc(substr($who, 2));
    my $r = rpc_call('eth_call', { to => $C->{X402_ASSET}, data => $data },
                     'latest');
    return $r;
}

my $srv = server_start({ config => $CONFIG });

# a valid payment: forwarded once, then refused as a replay with the receipt
{
    my $h = payment();
    my $res = paid_get($srv, $h);
    is($res->{status}, 200, 'valid payment forwarded');
    like($res->{content}, qr/result=paid/, 'backend saw result=paid');

    my $again = paid_get($srv, $h);
    is($again->{status}, 402, 'replay refused');
    is(error_of($again), 'permit2_invalid_nonce', 'replay reason');
    my $body = eval { decode_json($again->{content}) } // {};
    is($body->{receipt}{status}, 'reserved', 'replay answer carries the receipt');
    is($body->{receipt}{payer}, $C->{X402_PAYER_ADDRESS}, 'receipt payer');
    is($body->{receipt}{amount}, $PRICE_ATOMIC, 'receipt amount');
    is($body->{receipt}{resource}, '/paid/x', 'receipt resource');

    my @keys = grep { length } split /\n/, redis_cli('--scan', '--pattern', 'x402:*');
    is(scalar @keys, 1, 'one reservation key in redis');
    my $ttl = redis_cli('PTTL', $keys[0]);
    cmp_ok($ttl, '>', 300 * 1000, 'reservation outlives the permit deadline');
}

# once a full batch has shown the node on the chain with the asset, a
# payment costs the node one call: the settlement simulation (a revert
# falls back to the batch: the refusals below go that way)
{
    my $log = services()->{chain_log};
    my $h = payment();
    my $mark = -s $log;
    my $res = paid_get($srv, $h);
    is($res->{status}, 200, 'second payment forwarded');
    open my $fh, '<', $log or die $!;
    seek $fh, $mark, 0;
    my @methods = grep { /^(eth|net|web3|anvil|evm)_\w+$/ } map { s/\s+$//r } <$fh>;
    close $fh;
    is_deeply(\@methods, ['eth_call'],
              'a known chain: the payment is checked with one eth_call');
}

# the same authorization in another encoding (lowercase addresses, hex
# nonce) is the same payment
{
    my $nonce = int(rand(1e12)) + 1;
    my $h1 = payment("--nonce $nonce");
    my $json = decode_json(MIME::Base64::decode_base64($h1));
    my $a = $json->{payload}{permit2Authorization};
    $a->{from} = lc $a->{from};
    $a->{nonce} = sprintf('0x%x', $nonce);
    my $h2 = MIME::Base64::encode_base64(encode_json($json), '');
    is(paid_get($srv, $h2)->{status}, 200, 're-encoded payment first: paid');
    my $res = paid_get($srv, $h1);
    is($res->{status}, 402, 'original encoding of the same payment: replay');
    is(error_of($res), 'permit2_invalid_nonce', 'replay reason');
}

# refusals by the chain's state
{
    my $res = paid_get($srv, pay("--key $C->{X402_NOALLOW_KEY} "
                                 . "--amount $PRICE_ATOMIC --pay-to $PAY_TO"));
    is($res->{status}, 412, 'payer without Permit2 allowance: 412');
    is(error_of($res), 'permit2_allowance_required', 'allowance reason');
    ok($res->{headers}{'payment-required'}, '412 carries PAYMENT-REQUIRED');

    $res = http_request($srv, 'GET /big/x', { 'PAYMENT-SIGNATURE' =>
        pay("--key $C->{X402_PAYER2_KEY} --amount 2000000000000000000000 "
            . "--pay-to $PAY_TO") });
    is($res->{status}, 402, 'payment above the balance refused');
    is(error_of($res), 'permit2_insufficient_balance', 'balance reason');

    # a nonce already used on chain (settled elsewhere) is refused
    my $nonce = int(rand(1e12)) + 1;
    my $args = "--nonce $nonce --deadline " . (int(time()) + 600);
    my $json = `build/tools/x402-pay --amount $PRICE_ATOMIC --pay-to $PAY_TO $args --json`;
    open my $fh, '|-', "node scripts/devchain.d/settle.mjs --rpc $C->{X402_RPC_URL} "
        . "--key $C->{X402_SETTLER_KEY} --payload - > /dev/null" or die $!;
    print $fh $json;
    close $fh;
    is($?, 0, 'payment settled directly on chain');
    $res = paid_get($srv, payment($args));
    is($res->{status}, 402, 'payment whose nonce is used on chain refused');
    is(error_of($res), 'permit2_invalid_nonce', 'used nonce reason');

    $res = paid_get($srv, payment('--tamper-sig'));
    is(error_of($res), 'invalid_permit2_signature',
       'tampered signature refused after the EIP-1271 probe');
}

# 50 concurrent requests carrying the same payment: exactly one forwarded
{
    my $h = payment();
    my %status;
    my @kids = map { in_child(sub { paid_get($srv, $h)->{status} }) } 1 .. 50;
    $status{(collect_child($_))[0] // 'none'}++ for @kids;
    is($status{200}, 1, '50 concurrent uses of one payment: exactly one 200')
        or diag(explain \%status);
    is($status{402}, 49, 'the other 49 refused with 402');
}

# two nginx nodes sharing one Redis: one payment is forwarded once
{
    my $other = server_start({ config => $CONFIG });
    my $h = payment();
    my $a = paid_get($srv, $h);
    my $b = paid_get($other, $h);
    is($a->{status}, 200, 'node A forwards the payment');
    is($b->{status}, 402, 'node B refuses the same payment');
    is(error_of($b), 'permit2_invalid_nonce', 'node B: replay reason');
    server_stop($other, 'second node');
}

# Redis down: 503 quickly, never forwarded; back up: served, no reload
{
    X402Test::redis_stop();
    my $t0 = time;
    my $res = paid_get($srv, payment());
    my $dt = time - $t0;
    is($res->{status}, 503, 'redis down: 503');
    like($res->{content}, qr/"error":"payment reservation unavailable"/,
         'redis down: JSON error');
    ok(!$res->{headers}{'payment-required'}, '503 has no PAYMENT-REQUIRED');
    cmp_ok($dt, '<', 5, 'redis down: answered within the deadline');

    X402Test::redis_start();
    my $ok = 0;
    for (1 .. 40) {
        $res = paid_get($srv, payment());
        if ($res->{status} == 200) { $ok = 1; last }
        sleep 0.25;
    }
    ok($ok, 'redis back: payments served again without a reload');
}

my $log = server_stop($srv, 'main node');
like($log, qr/payment accepted, payer 0x/, 'log: payment accepted');
like($log, qr/payment replayed/, 'log: replay');
like($log, qr/redis reservation failed/, 'log: redis failure explained');

# RPC down and RPC slow: 503 within the deadline, the worker keeps serving
{
    my $hole = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                     Listen => 128, ReuseAddr => 1) or die $!;
    my $hport = $hole->sockport;
    my $cfg = { config => $CONFIG, http_config => <<"HTTP" };
x402_rpc http://127.0.0.1:$hport;
x402_redis @{[ services()->{redis} ]};
x402_rpc_timeout 1500ms;
x402_timeout 1s;
HTTP
    my $s = server_start($cfg);

    pipe(my $r, my $w) or die $!;
    my $pid = fork // die $!;
    if ($pid == 0) {
        close $r;
        my $t0 = time;
        my $res = paid_get($s, payment());
        printf $w "%d %.3f\n", $res->{status}, time - $t0;
        close $w;
        _exit(0);
    }
    close $w;
    sleep 0.2;
    my $t0 = time;
    my $free = http_request($s, 'GET /free/x');
    my $dt_free = time - $t0;
    my ($st, $dt) = split ' ', (<$r> // '0 0');
    waitpid($pid, 0);
    is($free->{status}, 200, 'a free request while another is parked');
    cmp_ok($dt_free, '<', 0.5, 'answered at once (worker not blocked)');
    is($st, 503, 'slow RPC: 503');
    cmp_ok($dt, '>=', 0.9, 'after the x402_timeout deadline');
    cmp_ok($dt, '<', 3, 'but not much later');

    my $log = server_stop($s, 'black-hole RPC');
    like($log, qr/timed out after 1000 ms/, 'log: the deadline is explained');
    close $hole;

    # a closed port: refused at once
    my $closed = free_port();
    $cfg->{http_config} =~ s/x402_rpc \S+;/x402_rpc http:\/\/127.0.0.1:$closed;/;
    $s = server_start($cfg);
    $t0 = time;
    my $res = paid_get($s, payment());
    is($res->{status}, 503, 'RPC down: 503');
    like($res->{content}, qr/chain node did not answer/, 'RPC down: JSON error');
    cmp_ok(time - $t0, '<', 1, 'RPC down: answered at once');
    $log = server_stop($s, 'RPC down');
    like($log, qr/RPC node failed/, 'log: RPC failure explained');
}

# a chain without the settlement proxy (last: it removes the proxy's code):
# a call to it would return like settle(...), so the simulation alone is
# never trusted there, and the log says why
{
    my $code = rpc_call('eth_getCode', $C->{X402_EXACT_PROXY}, 'latest');
    rpc_call('anvil_setCode', $C->{X402_EXACT_PROXY}, '0x');
    my $s = server_start({ config => $CONFIG });
    my $log = services()->{chain_log};
    is(paid_get($s, payment())->{status}, 200, 'no proxy code: first payment (full batch)');
    sleep 0.3;
    my $mark = -s $log;
    paid_get($s, payment());
    open my $fh, '<', $log or die $!;
    seek $fh, $mark, 0;
    my @methods = grep { /^eth_\w+$/ } map { s/\s+$//r } <$fh>;
    close $fh;
    ok((grep { $_ eq 'eth_chainId' } @methods),
       'no proxy code: the next payment still gets the full batch')
        or diag("@methods");
    like(server_stop($s, 'no proxy code'),
         qr/the x402 settlement proxy has no code on the node's chain/,
         'no proxy code: the log says why');
    rpc_call('anvil_setCode', $C->{X402_EXACT_PROXY}, $code);
}

done_testing();
