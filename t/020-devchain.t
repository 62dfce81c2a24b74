#!/usr/bin/perl
# The local test chain (scripts/devchain): anvil with chain id 8453, the real
# Permit2, the x402 exact/upto proxies and an OPG test token at their Base
# addresses.  Starts its own chain on a free loopback port (own state dir),
# checks the set-up over JSON-RPC, settles real payments signed by
# build/tools/x402-pay, and stops the chain (also on failure).
use strict;
use warnings;

use Test::More;
use File::Temp qw(tempdir);
use FindBin;
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;
use Math::BigInt;
use Time::HiRes qw(time sleep);
use lib "$FindBin::Bin/lib";
use X402Test qw(free_port);

my $ROOT     = "$FindBin::Bin/..";
my $DEVCHAIN = "$ROOT/scripts/devchain";
my $SETTLE   = "$ROOT/scripts/devchain.d/settle.mjs";
my $PAY      = "$ROOT/build/tools/x402-pay";
my $STATE    = tempdir('x402-devchain-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $PORT     = free_port();
my $RPC      = "http://127.0.0.1:$PORT";
my $http     = HTTP::Tiny->new(timeout => 10);
my $json     = JSON::PP->new->canonical;
my $MAXU256  = Math::BigInt->new(2)->bpow(256)->bsub(1);

my $vectors = do {
    open my $fh, '<', "$ROOT/t/fixtures/vectors.json" or die "vectors.json: $!";
    local $/;
    decode_json(<$fh>);
};
my $C = $vectors->{constants};

my $started = 0;
sub stop_chain {
    return unless $started;
    $started = 0;
    local $ENV{DEVCHAIN_DIR} = $STATE;
    system($DEVCHAIN, 'stop');
}
END { local $?; stop_chain(); }
$SIG{INT} = $SIG{TERM} = sub { stop_chain(); exit 1 };

# a live (non-zombie) process
sub alive {
    my $pid = shift;
    return 0 unless $pid && kill(0, $pid);
    open my $fh, '<', "/proc/$pid/stat" or return 1;
    my $st = <$fh> // '';
    return $st =~ /\) Z /s ? 0 : 1;
}

# run a command, return (exit code, stdout); stderr passes through
sub run {
    my ($stdin, @cmd) = @_;
    my $out = '';
    if (defined $stdin) {
        my $f = "$STATE/stdin.txt";
        open my $w, '>', $f or die $!;
        print $w $stdin;
        close $w;
        open my $r, '-|', 'sh', '-c', '"$@" < "$0"', $f, @cmd or die "$cmd[0]: $!";
        local $/;
        $out = <$r> // '';
        close $r;
    } else {
        open my $r, '-|', @cmd or die "$cmd[0]: $!";
        local $/;
        $out = <$r> // '';
        close $r;
    }
    return ($? >> 8, $out);
}

sub rpc {
    my ($method, @params) = @_;
    my $res = $http->post($RPC, {
        headers => { 'Content-Type' => 'application/json' },
        content => encode_json({ jsonrpc => '2.0', id => 1, method => $method, params => \@params }),
    });
    die "RPC $method: HTTP $res->{status} $res->{content}" unless $res->{success};
    my $r = decode_json($res->{content});
    die "RPC $method: " . encode_json($r->{error}) if $r->{error};
    return $r->{result};
}

sub word { my $a = lc shift; $a =~ s/^0x//; return ('0' x (64 - length $a)) . $a }
sub call { my ($to, $data) = @_; return lc rpc('eth_call', { to => $to, data => $data }, 'latest') }
sub u256 { my $h = shift; $h =~ s/^0x//; return Math::BigInt->from_hex($h eq '' ? '0' : $h) }
sub balance { u256(call($ENV{X402_ASSET}, '0x70a08231' . word(shift))) }
sub allowance { u256(call($ENV{X402_ASSET}, '0xdd62ed3e' . word(shift) . word($ENV{X402_PERMIT2}))) }

sub pay { my (undef, $out) = run(undef, $PAY, '--json', @_); return $out }
sub settle {
    my ($payload, @args) = @_;
    my ($rc, $out) = run($payload, 'node', $SETTLE, '--rpc', $RPC, @args);
    my $r = eval { decode_json($out) } || { ok => JSON::PP::false, parse_error => $out };
    $r->{rc} = $rc;
    return $r;
}

# ---- prerequisites -------------------------------------------------------
if (!-x $PAY) {
    diag "building $PAY (make tools)";
    system("make -C '$ROOT' tools >/dev/null");
}
ok(-x $PAY, 'build/tools/x402-pay is built') or BAIL_OUT('no x402-pay: run make tools');
ok(-x "$ROOT/node_modules/.bin/anvil", 'anvil installed from npm') or BAIL_OUT('run npm ci');

# ---- start ---------------------------------------------------------------
$ENV{DEVCHAIN_DIR}  = $STATE;
$ENV{DEVCHAIN_PORT} = $PORT;
my $t0 = time;
$started = 1;
my ($rc, $out) = run(undef, $DEVCHAIN, 'start');
my $took = time - $t0;
is($rc, 0, "devchain start on port $PORT") or do {
    diag $out;
    for my $log ("$STATE/anvil.log", "$STATE/setup.log") {
        next unless -f $log;
        open my $fh, '<', $log;
        diag "--- $log\n", join('', <$fh>);
    }
    BAIL_OUT('devchain did not start');
};
diag sprintf('devchain start took %.2f s', $took);
cmp_ok($took, '<', 30, 'start takes less than 30 s');
like($out, qr/ready at \Q$RPC\E/, 'start reports the RPC URL');

($rc, $out) = run(undef, $DEVCHAIN, 'start');
is($rc, 0, 'second start succeeds');
like($out, qr/already running/, 'second start is a no-op');

($rc, $out) = run(undef, $DEVCHAIN, 'env');
is($rc, 0, 'devchain env');
my %env = $out =~ /^export (X402_\w+)='([^']*)'$/mg;
for my $k (qw(X402_RPC_URL X402_CHAIN_ID X402_PERMIT2 X402_EXACT_PROXY X402_UPTO_PROXY
              X402_ASSET X402_PAY_TO X402_SETTLER_ADDRESS X402_SETTLER_KEY
              X402_PAYER_ADDRESS X402_PAYER_KEY X402_PAYER2_ADDRESS X402_PAYER2_KEY
              X402_NOALLOW_ADDRESS X402_NOALLOW_KEY)) {
    ok(length($env{$k} // ''), "env has $k");
}
%ENV = (%ENV, %env);
is($env{X402_RPC_URL}, $RPC, 'env RPC URL is the running chain');
is($env{X402_CHAIN_ID}, '8453', 'env chain id');
is(lc $env{X402_PERMIT2}, lc $C->{addresses}{permit2}, 'env Permit2');
is(lc $env{X402_EXACT_PROXY}, lc $C->{addresses}{x402ExactPermit2Proxy}, 'env exact proxy');
is(lc $env{X402_UPTO_PROXY}, lc $C->{addresses}{x402UptoPermit2Proxy}, 'env upto proxy');
is(lc $env{X402_ASSET}, lc $C->{addresses}{opgBaseMainnet}, 'env asset is OPG on Base');

# ---- chain state ---------------------------------------------------------
is(rpc('eth_chainId'), '0x2105', 'chain id 8453');

my $p2code = do {
    my $f = "$ROOT/node_modules/\@uniswap/v4-periphery/lib/permit2/test/utils/DeployPermit2.sol";
    open my $fh, '<', $f or die "$f: $!";
    local $/;
    my $s = <$fh>;
    $s =~ /hex"([0-9a-fA-F]+)"/ ? '0x' . lc $1 : '';
};
ok(length $p2code > 1000, 'Permit2 bytecode found in @uniswap/v4-periphery');
is(lc rpc('eth_getCode', $ENV{X402_PERMIT2}, 'latest'), $p2code, 'Permit2 runtime code is the packaged one');
is(call($ENV{X402_PERMIT2}, '0x3644e515'), $vectors->{chains}{8453}{domainSeparator},
   'Permit2 DOMAIN_SEPARATOR() == vectors chains.8453.domainSeparator');
for my $p (['exact', $ENV{X402_EXACT_PROXY}], ['upto', $ENV{X402_UPTO_PROXY}]) {
    is(call($p->[1], '0x6afdd850'), '0x' . word($ENV{X402_PERMIT2}), "$p->[0] proxy PERMIT2() is Permit2");
}
is(u256(call($ENV{X402_ASSET}, '0x313ce567'))->bstr, '18', 'OPG decimals() == 18');

my $MINT = Math::BigInt->new(1000)->bmul(Math::BigInt->new(10)->bpow(18));
for my $who (qw(PAYER PAYER2 NOALLOW)) {
    is(balance($ENV{"X402_${who}_ADDRESS"})->bstr, $MINT->bstr, "$who holds 1000 OPG");
}
is(balance($ENV{X402_PAY_TO})->bstr, '0', 'merchant starts with 0 OPG');
is(allowance($ENV{X402_PAYER_ADDRESS})->bstr, $MAXU256->bstr, 'allowance(payer, Permit2) is max');
is(allowance($ENV{X402_PAYER2_ADDRESS})->bstr, $MAXU256->bstr, 'allowance(payer2, Permit2) is max');
is(allowance($ENV{X402_NOALLOW_ADDRESS})->bstr, '0', 'allowance(noallow, Permit2) is 0');
ok(u256(rpc('eth_getBalance', $ENV{X402_SETTLER_ADDRESS}, 'latest')) > 0, 'settler has ETH');

# Multicall3 at its canonical address answers as Base's does
{
    my $mc = '0xca11bde05977b3631167028862be2a173976ca11';
    ok(length(rpc('eth_getCode', $mc, 'latest')) > 100, 'Multicall3 has code at its canonical address');
    my ($rc, $out) = run(undef, 'node', "$ROOT/scripts/devchain.d/multicall.mjs", '--rpc', $RPC,
                         '--who', $ENV{X402_PAYER_ADDRESS}, '--token', $ENV{X402_ASSET});
    my $r = eval { decode_json($out) } // {};
    is($r->{chainId}, '8453', 'Multicall3 getChainId()');
    is($r->{ethBalance}, u256(rpc('eth_getBalance', $ENV{X402_PAYER_ADDRESS}, 'latest'))->bstr,
       'Multicall3 getEthBalance() == eth_getBalance');
    my $a3 = $r->{aggregate3} // [];
    ok($a3->[0] && $a3->[0]{success}, 'aggregate3: a call that succeeds');
    is(u256($a3->[0]{returnData} // '0x')->bstr, balance($ENV{X402_PAYER_ADDRESS})->bstr,
       'aggregate3: with its return data');
    ok($a3->[1] && !$a3->[1]{success}, 'aggregate3: a failure allowed is reported, not raised');
    like($r->{aggregate3Strict} // '', qr/Multicall3: call failed/, 'aggregate3: a failure not allowed reverts');
    is_deeply($r->{tryAggregate}, [JSON::PP::false, JSON::PP::true], 'tryAggregate(false): each call\'s success');
    like($r->{tryAggregateStrict} // '', qr/Multicall3: call failed/, 'tryAggregate(true): a failure reverts');
    like($r->{valueMismatch} // '', qr/Multicall3: value mismatch/, 'aggregate3Value: the value must add up');
}

# the helper encodes settle exactly as the spec's calldata vector
{
    my $r = settle(encode_json($vectors->{chains}{8453}{paymentPayload}), '--calldata-only');
    is($r->{calldata}, $vectors->{chains}{8453}{settleCalldata}, 'settle.mjs calldata == vectors settleCalldata');
}

# ---- exact settlement ----------------------------------------------------
my $amount = '1234500000000000000';    # 1.2345 OPG
my @common = ('--pay-to', $ENV{X402_PAY_TO}, '--asset', $ENV{X402_ASSET});
my $payment = pay('--key', $ENV{X402_PAYER_KEY}, '--amount', $amount, @common);
my $pp = eval { decode_json($payment) };
ok($pp && $pp->{payload}{permit2Authorization}, 'x402-pay built an exact payment') or diag $payment;
is($pp ? $pp->{accepted}{network} : undef, 'eip155:8453', 'payment is for eip155:8453');

my $payer0 = balance($ENV{X402_PAYER_ADDRESS});
my $merch0 = balance($ENV{X402_PAY_TO});
my $r = settle($payment, '--key', $ENV{X402_SETTLER_KEY});
is($r->{rc}, 0, 'exact settle succeeds') or diag explain $r;
is($r->{status}, 'success', 'settle receipt status success');
is($r->{calldataBytes}, 388, 'exact settle calldata is 388 bytes');
is(balance($ENV{X402_PAYER_ADDRESS})->bstr, $payer0->copy->bsub($amount)->bstr, 'payer balance fell by exactly the amount');
is(balance($ENV{X402_PAY_TO})->bstr, $merch0->copy->badd($amount)->bstr, 'merchant balance rose by exactly the amount');
is(balance($ENV{X402_SETTLER_ADDRESS})->bstr, '0', 'settler received no OPG');
{
    my $nonce = Math::BigInt->new($pp->{payload}{permit2Authorization}{nonce});
    my $wordPos = $nonce->copy->brsft(8);
    my $bit = $nonce->copy->band(255)->numify;
    my $bm = u256(call($ENV{X402_PERMIT2}, '0x4fe02b44' . word($ENV{X402_PAYER_ADDRESS})
                       . word($wordPos->as_hex)));
    ok($bm->copy->brsft($bit)->band(1)->is_one, 'Permit2 nonceBitmap has the nonce bit set');
}

$r = settle($payment, '--key', $ENV{X402_SETTLER_KEY});
is($r->{rc}, 3, 're-settling the same payment reverts');
is($r->{error}, '0x756688fe', 're-settle reverts with InvalidNonce()') or diag explain $r;
$r = settle($payment, '--key', $ENV{X402_SETTLER_KEY}, '--send-anyway');
is($r->{status}, 'reverted', 're-settle sent anyway is mined as reverted') or diag explain $r;
is(balance($ENV{X402_PAYER_ADDRESS})->bstr, $payer0->copy->bsub($amount)->bstr, 'replay moved nothing');

# payer without Permit2 approval
{
    my $na0 = balance($ENV{X402_NOALLOW_ADDRESS});
    my $m0 = balance($ENV{X402_PAY_TO});
    my $p = pay('--key', $ENV{X402_NOALLOW_KEY}, '--amount', '1000', @common);
    my $r = settle($p, '--key', $ENV{X402_SETTLER_KEY});
    is($r->{rc}, 3, 'payment from the payer without approval reverts') or diag explain $r;
    ok($r->{error}, 'revert carries error data') and diag "no-approval revert: $r->{error} "
        . ($r->{errorName} // '') . ' ' . ($r->{message} // '');
    is(balance($ENV{X402_NOALLOW_ADDRESS})->bstr, $na0->bstr, 'no-approval payer balance unchanged');
    is(balance($ENV{X402_PAY_TO})->bstr, $m0->bstr, 'merchant balance unchanged');
}

# ---- upto settlement -----------------------------------------------------
{
    my $cap    = '100000000000000000';    # 0.1 OPG
    my $charge = '12300000000000000';     # 0.0123 OPG
    my $p = pay('--key', $ENV{X402_PAYER2_KEY}, '--amount', $cap, @common,
                '--scheme', 'upto', '--facilitator', $ENV{X402_SETTLER_ADDRESS});
    my $u = eval { decode_json($p) };
    is(lc($u->{payload}{permit2Authorization}{witness}{facilitator} // ''), lc $ENV{X402_SETTLER_ADDRESS},
       'upto witness names the settler');
    my $b0 = balance($ENV{X402_PAYER2_ADDRESS});
    my $m0 = balance($ENV{X402_PAY_TO});

    my $r = settle($p, '--key', $ENV{X402_PAYER_KEY}, '--amount', $charge);
    is($r->{error}, '0x0f6fae87', 'upto settle from another account reverts UnauthorizedFacilitator()')
        or diag explain $r;
    $r = settle($p, '--key', $ENV{X402_SETTLER_KEY}, '--amount', Math::BigInt->new($cap)->binc->bstr);
    is($r->{error}, '0xfe64b4c7', 'upto settle above the cap reverts AmountExceedsPermitted()')
        or diag explain $r;
    is(balance($ENV{X402_PAYER2_ADDRESS})->bstr, $b0->bstr, 'failed upto settles moved nothing');

    $r = settle($p, '--key', $ENV{X402_SETTLER_KEY}, '--amount', $charge);
    is($r->{rc}, 0, 'upto settle by the named facilitator succeeds') or diag explain $r;
    is($r->{calldataBytes}, 452, 'upto settle calldata is 452 bytes');
    is(balance($ENV{X402_PAYER2_ADDRESS})->bstr, $b0->copy->bsub($charge)->bstr, 'payer2 paid exactly the charge');
    is(balance($ENV{X402_PAY_TO})->bstr, $m0->copy->badd($charge)->bstr, 'merchant got exactly the charge');

    $r = settle($p, '--key', $ENV{X402_SETTLER_KEY}, '--amount', $charge);
    is($r->{error}, '0x756688fe', 'a second upto settle reverts InvalidNonce()') or diag explain $r;
}

# ---- stop ----------------------------------------------------------------
my $pid = do { open my $fh, '<', "$STATE/anvil.pid"; <$fh> };
chomp $pid if defined $pid;
ok(alive($pid), 'anvil pid is alive before stop');
($rc, $out) = run(undef, $DEVCHAIN, 'stop');
$started = 0;
is($rc, 0, 'devchain stop');
ok(!alive($pid), 'anvil process is gone');
ok(!IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $PORT, Timeout => 1), 'RPC port is closed');

done_testing();
