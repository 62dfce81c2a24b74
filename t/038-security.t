# Nothing free (issue 14): access rules decide before a payment is taken, one
# Permit2 nonce is one payment whatever the asset or scheme, exact payments
# keep time for their settlement, receipts keep no query string and show no
# signature, the settler's fee has a ceiling, `accepted` must equal the offer,
# and the master forgets the settler key of a configuration it drops.  Every
# outcome is checked against the chain (Permit2 nonce bits, balances).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use JSON::PP;
use Math::BigInt;
use MIME::Base64 qw(encode_base64 decode_base64);
use Time::HiRes qw(time sleep);
use X402Test;

start_services(redis => 1, devchain => 1);

my $C = chain_env();
my $KEY = settler_key_file();
my $PRICE = '1000000000000000';       # 0.001 OPG
my $PAYER = $C->{X402_PAYER_ADDRESS};
my $PAY_TO = $C->{X402_PAY_TO};

my $dir = tempdir('x402-sec-XXXXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0755, $dir;
write_file("$dir/htpasswd", "agent:{PLAIN}secret\n", 0644);

my $srv = server_start({ http_config => <<"HTTP", config => <<"CONF" });
x402_rpc \$RPC;
x402_redis \$REDIS;
x402_settler_key_file $KEY;
x402_settle_timeout 10s;
HTTP
location /deny/ {
    x402 on;
    deny all;
    x402_pay_to \$X402_PAY_TO;
    x402_price 0.001;
    proxy_pass http://127.0.0.1:\$BACKEND;
}
location /basic/ {
    auth_basic "agents";
    auth_basic_user_file $dir/htpasswd;
    x402 on;
    x402_pay_to \$X402_PAY_TO;
    x402_price 0.001;
    proxy_pass http://127.0.0.1:\$BACKEND;
}
location /any/ {
    satisfy any;
    allow 127.0.0.1;
    deny all;
    x402 on;
    x402_pay_to \$X402_PAY_TO;
    x402_price 0.001;
    proxy_pass http://127.0.0.1:\$BACKEND;
}
location /a/ {
    x402 on;
    x402_settle async;
    x402_pay_to \$X402_PAY_TO;
    x402_price 0.001;
    proxy_pass http://127.0.0.1:\$BACKEND;
}
location /b/ {
    x402 on;
    x402_settle async;
    x402_asset \$X402_ASSET2;
    x402_pay_to \$X402_PAY_TO;
    x402_price 0.001;
    proxy_pass http://127.0.0.1:\$BACKEND;
}
location /u/ {
    x402 on;
    x402_scheme upto;
    x402_pay_to \$X402_PAY_TO;
    x402_price 0.001;
    proxy_pass http://127.0.0.1:\$BACKEND;
}
location /margin/ {
    x402 on;
    x402_settle async;
    x402_settle_margin 20s;
    x402_max_timeout 40;
    x402_pay_to \$X402_PAY_TO;
    x402_price 0.001;
    proxy_pass http://127.0.0.1:\$BACKEND;
}
location /q/ {
    x402 on;
    x402_pay_to \$X402_PAY_TO;
    x402_price 0.001;
    proxy_pass http://127.0.0.1:\$BACKEND;
}
location /qfull/ {
    x402 on;
    x402_receipt_uri full;
    x402_pay_to \$X402_PAY_TO;
    x402_price 0.001;
    proxy_pass http://127.0.0.1:\$BACKEND;
}
location = /receipt {
    x402_receipts;
    allow 127.0.0.1;
    deny all;
}
location = /metrics {
    x402_status;
    allow 127.0.0.1;
    deny all;
}
CONF

sub payment {
    my ($args) = @_;
    return pay("--amount $PRICE --pay-to $PAY_TO $args");
}

sub get {
    my ($uri, $headers) = @_;
    return http_request($srv, "GET $uri", $headers);
}

sub receipt_key {
    my ($nonce) = @_;
    my $hex = substr(Math::BigInt->new($nonce)->as_hex, 2);
    return 'x402:8453:' . lc(substr($PAYER, 2)) . ':' . ('0' x (64 - length $hex)) . $hex;
}

sub receipt_of {
    my ($nonce, $want) = @_;
    for (1 .. 100) {
        my $r = eval { decode_json(redis_cli('GET', receipt_key($nonce))) };
        return $r if $r && (!$want || $r->{status} eq $want);
        sleep 0.1;
    }
    return eval { decode_json(redis_cli('GET', receipt_key($nonce))) };
}

sub metric {
    my ($name) = @_;
    my ($v) = get('/metrics')->{content} =~ /^\Q$name\E(?:\{[^}]*\})? (\d+)$/m;
    return $v // 0;
}

# ---- 1. access rules decide before any payment is offered or taken -------

{
    my $r = get('/deny/x');
    is($r->{status}, 403, 'deny all: an unpaid request is refused 403, not offered a 402');
    ok(!$r->{headers}{'payment-required'}, 'deny all: no payment terms');

    my $n = random_nonce();
    my $p0 = token_balance($C->{X402_ASSET}, $PAYER);
    $r = get('/deny/x', { 'PAYMENT-SIGNATURE' => payment("--nonce $n") });
    is($r->{status}, 403, 'deny all: a paid request is refused 403');
    ok(!$r->{headers}{'payment-response'}, 'deny all: no settlement answered');
    sleep 1.5;
    is(nonce_used($PAYER, $n), 0, 'deny all: the Permit2 nonce is unused on chain');
    is(token_balance($C->{X402_ASSET}, $PAYER), $p0, 'deny all: the payer was not charged');
    is(redis_cli('EXISTS', receipt_key($n)), '0', 'deny all: nothing reserved');

    $r = get('/basic/x', { 'PAYMENT-SIGNATURE' => payment('') });
    is($r->{status}, 401, 'auth_basic: no credentials is 401 even with a payment');
    ok(!$r->{headers}{'payment-required'}, 'auth_basic: no payment terms before authentication');
    $r = get('/basic/x', { Authorization => 'Basic ' . encode_base64('agent:secret', '') });
    is($r->{status}, 402, 'auth_basic: authenticated but unpaid is 402');
    $r = get('/basic/x', { Authorization => 'Basic ' . encode_base64('agent:secret', ''),
                           'PAYMENT-SIGNATURE' => payment('') });
    is($r->{status}, 200, 'auth_basic: authenticated and paid is served');

    $r = get('/any/x');
    is($r->{status}, 402, 'satisfy any + allow: x402 is no access rule, payment is still required');
}

# ---- 3. one Permit2 nonce is one payment, whatever the asset or scheme ----

{
    my $n = random_nonce();
    my ($m1, $m2) = (token_balance($C->{X402_ASSET}, $PAY_TO), token_balance($C->{X402_ASSET2}, $PAY_TO));
    my $r = get('/a/x', { 'PAYMENT-SIGNATURE' => payment("--nonce $n") });
    is($r->{status}, 200, 'nonce N for OPG on /a/: served');
    $r = get('/b/x', { 'PAYMENT-SIGNATURE' => payment("--nonce $n --asset $C->{X402_ASSET2}") });
    is($r->{status}, 402, 'the same nonce signed for another asset on /b/: refused');
    is(decode_json_b64($r->{headers}{'payment-required'})->{error}, 'permit2_invalid_nonce',
       'refused as the nonce already used');
    my $rc = receipt_of($n, 'settled');
    is($rc && $rc->{status}, 'settled', 'the first payment settled');
    is(nonce_used($PAYER, $n), 1, 'its nonce is used on chain');
    is(token_balance($C->{X402_ASSET}, $PAY_TO), $m1 + $PRICE, 'the merchant got one OPG payment');
    is(token_balance($C->{X402_ASSET2}, $PAY_TO), $m2, 'and nothing in the other asset');

    $n = random_nonce();
    $r = get('/a/x', { 'PAYMENT-SIGNATURE' => payment("--nonce $n") });
    is($r->{status}, 200, 'nonce M for exact: served');
    $r = get('/u/x', { 'PAYMENT-SIGNATURE' => payment("--nonce $n --scheme upto --facilitator $C->{X402_SETTLER_ADDRESS}") });
    is($r->{status}, 402, 'the same nonce signed for upto: refused');
    is(decode_json_b64($r->{headers}{'payment-required'})->{error}, 'permit2_invalid_nonce',
       'refused as the nonce already used');
}

# ---- 1. exact: the permit must leave x402_settle_margin for the settlement --

{
    my $n = random_nonce();
    my $r = get('/margin/x', { 'PAYMENT-SIGNATURE' => payment("--nonce $n --ttl 24 --max-timeout 40") });
    is($r->{status}, 402, 'a permit with 24 s left where 26 are needed is refused');
    is(decode_json_b64($r->{headers}{'payment-required'})->{error}, 'permit2_deadline_expired',
       'as a deadline too close');
    is(redis_cli('EXISTS', receipt_key($n)), '0', 'nothing reserved for it');
    $r = get('/margin/x', { 'PAYMENT-SIGNATURE' => payment('--ttl 30 --max-timeout 40') });
    is($r->{status}, 200, 'with 30 s left it is served');
}

# ---- 7. receipts: the path without its query, no signature shown ---------

{
    my $n = random_nonce();
    my $h = payment("--nonce $n");
    my $r = get('/q/report?user=alice&token=s3cret', { 'PAYMENT-SIGNATURE' => $h });
    is($r->{status}, 200, 'paid with a query string');
    my $rc = receipt_of($n, 'settled');
    is($rc && $rc->{resource}, '/q/report', 'the receipt keeps the path, not the query');
    unlike(redis_cli('GET', receipt_key($n)), qr/alice|s3cret/, 'nothing of the query is stored');

    $r = get("/receipt?payer=$PAYER&nonce=$n");
    is($r->{status}, 200, 'receipt lookup from an allowed address');
    my $doc = eval { decode_json($r->{content}) } // {};
    is($doc->{status}, 'settled', 'the lookup shows the receipt');
    ok(!exists $doc->{signature}, 'but not the payment signature');
    like(redis_cli('GET', receipt_key($n)), qr/"signature":"0x/, 'which Redis keeps for the reconciler');

    # a replay while the first settlement waits for its block meets the
    # reservation, and gets its receipt
    mining_stop();
    $n = random_nonce();
    $h = payment("--nonce $n");
    is(get('/a/report', { 'PAYMENT-SIGNATURE' => $h })->{status}, 200, 'async: served');
    $r = get('/a/report', { 'PAYMENT-SIGNATURE' => $h });
    mining_start();
    rpc_call('evm_mine');
    is($r->{status}, 402, 'a replay is refused');
    $doc = eval { decode_json($r->{content}) } // {};
    like($doc->{receipt}{status} // '', qr/^(reserved|broadcast)$/, 'with the stored receipt');
    ok($doc->{receipt} && !exists $doc->{receipt}{signature}, 'without its signature');

    $n = random_nonce();
    get('/qfull/report?day=1', { 'PAYMENT-SIGNATURE' => payment("--nonce $n") });
    $rc = receipt_of($n, 'settled');
    is($rc && $rc->{resource}, '/qfull/report?day=1', 'x402_receipt_uri full keeps the query');
}

# ---- 8. the settler's fee: never above x402_settle_max_fee ------------------

{
    my $n = random_nonce();
    get('/q/x', { 'PAYMENT-SIGNATURE' => payment("--nonce $n") });
    my $rc = receipt_of($n, 'settled');
    my $tx = rpc_call('eth_getTransactionByHash', $rc->{transaction} // '0x0') // {};
    ok(hex($tx->{maxFeePerGas} // '0xffffffffff') <= 100_000_000,
       'the settlement\'s maxFeePerGas is within the default ceiling, 0.1 gwei');
    ok(hex($tx->{maxPriorityFeePerGas} // '0xffffffffff') <= hex($tx->{maxFeePerGas} // '0'),
       'its tip within its max fee');
}

# ---- 10. accepted must equal the offer as a whole -------------------------

{
    my $n = random_nonce();
    my $doc = decode_json(pay("--amount $PRICE --pay-to $PAY_TO --nonce $n --json"));
    $doc->{accepted}{extra}{padding} = 'x' x 3000;
    my $h = encode_base64(JSON::PP->new->canonical->encode($doc), '');
    my $r = get('/q/x', { 'PAYMENT-SIGNATURE' => $h });
    is($r->{status}, 402, 'accepted with 3 KB of padding in extra: refused');
    is(decode_json_b64($r->{headers}{'payment-required'})->{error}, 'No matching payment requirements',
       'as no matching requirements');
    sleep 1;
    is(nonce_used($PAYER, $n), 0, 'and nothing settled');
    is(redis_cli('EXISTS', receipt_key($n)), '0', 'nor reserved');
}

my $log = server_stop($srv, 'security');
unlike($log, qr/\Q$C->{X402_SETTLER_KEY}\E|\Q@{[substr($C->{X402_SETTLER_KEY}, 2)]}\E/i,
       'the settler key is never logged');

# ---- 8. a node whose base fee is above the ceiling: nothing is signed -----

{
    my $fee = server_start({ http_config => settler_http("x402_settle_max_fee 0.000000001;\n", $KEY),
                             config => paid_location('/') . status_location() });
    my $n = random_nonce();
    my $h = payment("--nonce $n");
    my $r = http_request($fee, 'GET /x', { 'PAYMENT-SIGNATURE' => $h });
    is($r->{status}, 503, 'base fee above x402_settle_max_fee: sync answers 503');
    ok(!$r->{headers}{'payment-required'}, 'not a 402: the payment is not at fault');
    is(redis_cli('EXISTS', receipt_key($n)), '0', 'the reservation is released');
    my ($refused) = http_request($fee, 'GET /metrics')->{content}
        =~ /^x402_settlements_fee_refused_total (\d+)$/m;
    is($refused, 1, 'x402_settlements_fee_refused_total counts it');
    sleep 1.5;
    is(nonce_used($PAYER, $n), 0, 'nothing reached the chain');
    my $flog = server_stop($fee, 'fee ceiling');
    like($flog, qr/not signed: the node's base fee, \d+ wei per gas, is above x402_settle_max_fee \(1 wei\)/,
         'the error log says why');
}

# ---- 11. the master forgets the settler key of a configuration it drops ----

sub key_copies {
    no warnings qw(portable);
    my ($pid, $key) = @_;
    my $n = 0;
    open my $maps, '<', "/proc/$pid/maps" or return -1;
    open my $mem, '<:raw', "/proc/$pid/mem" or return -1;
    while (<$maps>) {
        my ($lo, $hi, $perm, $path) = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/ or next;
        next unless $perm =~ /^rw/ && $path !~ /\.so|\[v/;
        my $len = hex($hi) - hex($lo);
        next if $len > 256 * 1024 * 1024;
        sysseek($mem, hex($lo), 0) or next;
        my $got = sysread($mem, my $buf, $len) or next;
        $n++ while $buf =~ /\Q$key\E/g;
    }
    return $n;
}

{
    my $key = pack('H*', substr($C->{X402_SETTLER_KEY}, 2));
    my $m = server_start({ http_config => settler_http('', $KEY), config => paid_location('/') });
    is(key_copies($m->{pid}, $key), 1, 'the master holds one copy of the key (its configuration)');

    # a reload that reads the key, then fails on a later directive
    my $conf = "$m->{dir}/conf/nginx.conf";
    my $good = read_file($conf);
    open my $fh, '>>', $conf or die $!;
    print $fh "x402_no_such_directive on;\n";
    close $fh;
    kill 'HUP', $m->{pid};
    my $t0 = time;
    sleep 0.2 until read_file("$m->{dir}/logs/error.log") =~ /x402_no_such_directive/ || time - $t0 > 10;
    sleep 0.3;
    is(key_copies($m->{pid}, $key), 1, 'a failed reload leaves no second copy of the key in the master');
    # stopped by hand: the failed reload's [emerg] is this test's doing
    kill 'QUIT', $m->{pid};
    waitpid($m->{pid}, 0);
    my $mlog = read_file("$m->{dir}/logs/error.log");
    like($mlog, qr/unknown directive "x402_no_such_directive"/, 'the reload did fail');
    unlike($mlog, qr/\[(alert|crit)\]|Sanitizer/, 'reload: no alerts in error.log');
}

done_testing();
