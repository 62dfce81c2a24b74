#!/usr/bin/perl
# scripts/facilitator: the official x402 reference facilitator (@x402/core
# x402Facilitator + @x402/evm ExactEvmScheme / UptoEvmScheme 2.27) over
# HTTP (docs/protocol.md#facilitator-api), against the devchain.  Starts a
# private chain and the facilitator on free loopback ports, and stops both
# at the end (also on failure).  Payments are signed by
# build/tools/x402-pay; the requirements are built here as a server would
# configure them.  The reference's reason strings are asserted as observed.
use strict;
use warnings;

use FindBin;
BEGIN { chdir "$FindBin::Bin/.." or die "chdir: $!" }
use lib "$FindBin::Bin/lib";

use Test::More;
use File::Temp qw(tempdir);
use HTTP::Tiny;
use JSON::PP;
use Math::BigInt;
use POSIX qw(WNOHANG);
use Time::HiRes qw(time sleep);
use X402Test qw(start_services services chain_env free_port stop_child);

my $PAY  = 'build/tools/x402-pay';
my $FAC  = 'scripts/facilitator';
my $TMP  = tempdir('x402-fac-XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{TEST_LEAVE});
my $LOG  = "$TMP/facilitator.log";
my $http = HTTP::Tiny->new(timeout => 60);
my $fac_pid;

sub stop_facilitator {
    my $pid = $fac_pid or return;
    undef $fac_pid;
    return stop_child($pid, 5);
}
# runs before X402Test's END (which stops the chain)
END { local $?; stop_facilitator(); }
$SIG{INT} = $SIG{TERM} = sub { stop_facilitator(); exit 1 };

# ---- prerequisites -------------------------------------------------------
if (!-x $PAY) {
    diag "building $PAY (make tools)";
    system('make tools >/dev/null');
}
ok(-x $PAY, "$PAY is built") or BAIL_OUT('no x402-pay: run make tools');
ok(-d 'node_modules/@x402/evm', '@x402/evm installed') or BAIL_OUT('run npm ci');
ok(-x $FAC, "$FAC is executable");

start_services(devchain => 1);
my $E   = chain_env();
my $RPC = services()->{rpc};
is($E->{X402_RPC_URL}, $RPC, 'chain_env describes the test chain');

# ---- start the facilitator -----------------------------------------------
my $port = free_port();
my $pid = open(my $out, '-|');
defined $pid or die "fork: $!";
if ($pid == 0) {
    open STDERR, '>', $LOG or die "$LOG: $!";
    # its own environment must not matter: everything on the command line
    delete @ENV{grep /^(X402_|DEVCHAIN_)/, keys %ENV};
    exec $FAC, '--port', $port, '--rpc', $RPC, '--key', $E->{X402_SETTLER_KEY}
        or die "exec $FAC: $!";
}
$fac_pid = $pid;
my $ready = '';
{
    local $SIG{ALRM} = sub { die "timeout\n" };
    alarm 30;
    eval { $ready = <$out> // ''; alarm 0; 1 } or diag "no ready line: $@";
    alarm 0;
}
my $BASE = "http://127.0.0.1:$port";
is($ready, "facilitator: listening on $BASE\n", 'prints the ready line on stdout')
    or do { diag slurp($LOG); BAIL_OUT('facilitator did not start') };

my $calls = 0;

sub slurp {
    my ($f) = @_;
    open my $fh, '<', $f or return '';
    local $/;
    return <$fh> // '';
}

# (status, decoded body or undef, raw body)
sub request {
    my ($method, $path, $body) = @_;
    $calls++;
    my %opt = (headers => { 'Content-Type' => 'application/json' });
    $opt{content} = ref $body ? encode_json($body) : $body if defined $body;
    my $res = $http->request($method, "$BASE$path", \%opt);
    my $doc = eval { decode_json($res->{content}) };
    return ($res->{status}, $doc, $res->{content});
}

sub pay {
    my @args = @_;
    open my $fh, '-|', $PAY, '--json', @args or die "$PAY: $!";
    local $/;
    my $json = <$fh>;
    close $fh;
    die "x402-pay @args failed (exit $?)" if $? != 0;
    return decode_json($json);
}

sub rpc {
    my ($method, @params) = @_;
    my $res = HTTP::Tiny->new(timeout => 10)->post($RPC, {
        headers => { 'Content-Type' => 'application/json' },
        content => encode_json({ jsonrpc => '2.0', id => 1, method => $method,
                                 params => \@params }),
    });
    die "RPC $method: HTTP $res->{status}" unless $res->{success};
    my $r = decode_json($res->{content});
    die "RPC $method: " . encode_json($r->{error}) if $r->{error};
    return $r->{result};
}

sub word { my $a = lc shift; $a =~ s/^0x//; return ('0' x (64 - length $a)) . $a }

sub balance {
    my ($who) = @_;
    my $h = rpc('eth_call', { to => $E->{X402_ASSET},
                              data => '0x70a08231' . word($who) }, 'latest');
    $h =~ s/^0x//;
    return Math::BigInt->from_hex($h eq '' ? '0' : $h);
}

# the server's own offer (never the client's `accepted`)
sub requirements {
    my (%o) = @_;
    my $scheme = $o{scheme} // 'exact';
    my %extra = (assetTransferMethod => 'permit2');
    $extra{facilitatorAddress} = $E->{X402_SETTLER_ADDRESS} if $scheme eq 'upto';
    return {
        scheme => $scheme, network => 'eip155:8453', amount => $o{amount},
        asset => $E->{X402_ASSET}, payTo => $E->{X402_PAY_TO},
        maxTimeoutSeconds => 300, extra => \%extra,
    };
}

sub body {
    my ($payload, $req) = @_;
    return { x402Version => 2, paymentPayload => $payload,
             paymentRequirements => $req };
}

my $TRUE = JSON::PP::true;
my $FALSE = JSON::PP::false;

# ---- GET /supported ------------------------------------------------------
{
    my ($st, $doc) = request('GET', '/supported');
    is($st, 200, 'GET /supported: 200');
    my @kinds = @{ $doc->{kinds} // [] };
    my ($exact) = grep { $_->{scheme} eq 'exact' && $_->{network} eq 'eip155:8453' } @kinds;
    ok($exact, 'supported lists exact on eip155:8453');
    is($exact && $exact->{x402Version}, 2, 'exact kind is x402Version 2');
    my ($upto) = grep { $_->{scheme} eq 'upto' && $_->{network} eq 'eip155:8453' } @kinds;
    ok($upto, 'supported lists upto on eip155:8453');
    is($upto && $upto->{extra}{facilitatorAddress}, $E->{X402_SETTLER_ADDRESS},
       'upto kind: extra.facilitatorAddress is the signer');
    is_deeply($doc->{signers}, { 'eip155:*' => [ $E->{X402_SETTLER_ADDRESS} ] },
              'signers: eip155:* is the settler address');
    is_deeply($doc->{extensions}, [], 'no extensions');
}

# ---- exact: verify, tampered, settle, settle again -------------------------
my $amount = '1500000000000000000';    # 1.5 OPG
my @to = ('--pay-to', $E->{X402_PAY_TO}, '--asset', $E->{X402_ASSET});
my $req = requirements(amount => $amount);
my $payment = pay('--key', $E->{X402_PAYER_KEY}, '--amount', $amount, @to);
is($payment->{payload}{permit2Authorization}{from}, $E->{X402_PAYER_ADDRESS},
   'x402-pay signed for the payer');

{
    my ($st, $doc) = request('POST', '/verify', body($payment, $req));
    is($st, 200, 'verify fresh payment: 200');
    is_deeply($doc, { isValid => $TRUE, payer => $E->{X402_PAYER_ADDRESS} },
              'verify fresh payment: {"isValid":true,"payer":...}');
}
{
    my $bad = pay('--key', $E->{X402_PAYER_KEY}, '--amount', $amount, @to, '--tamper-sig');
    my ($st, $doc) = request('POST', '/verify', body($bad, $req));
    is($st, 200, 'verify tampered signature: 200');
    is_deeply($doc, { isValid => $FALSE, invalidReason => 'invalid_permit2_signature',
                      payer => $E->{X402_PAYER_ADDRESS} },
              'verify tampered signature: invalid_permit2_signature');
}
{
    my ($st, $doc) = request('POST', '/verify',
                             body($payment, requirements(amount => '1400000000000000000')));
    is($st, 200, 'verify against another price: 200');
    is($doc->{invalidReason}, 'permit2_amount_mismatch', 'another price: permit2_amount_mismatch');
}

my $payer0 = balance($E->{X402_PAYER_ADDRESS});
my $merch0 = balance($E->{X402_PAY_TO});
my $tx;
{
    my ($st, $doc, $raw) = request('POST', '/settle', body($payment, $req));
    is($st, 200, 'settle: 200');
    is($doc->{success}, $TRUE, 'settle: success true') or diag $raw;
    $tx = $doc->{transaction} // '';
    like($tx, qr/^0x[0-9a-f]{64}$/, 'settle: transaction hash');
    is($doc->{network}, 'eip155:8453', 'settle: network');
    is($doc->{payer}, $E->{X402_PAYER_ADDRESS}, 'settle: payer');
    ok(!exists $doc->{errorReason}, 'settle: no errorReason');
    ok(!exists $doc->{amount}, 'settle: no amount for exact');
}
{
    my $r = $tx ? rpc('eth_getTransactionReceipt', $tx) : undef;
    is($r && $r->{status}, '0x1', 'settle transaction mined with status 1');
    is($r && lc $r->{from}, lc $E->{X402_SETTLER_ADDRESS}, 'sent by the facilitator signer');
    is($r && lc $r->{to}, lc $E->{X402_EXACT_PROXY}, 'to the exact proxy');
}
my $A = Math::BigInt->new($amount);
is(($payer0 - balance($E->{X402_PAYER_ADDRESS}))->bstr, $A->bstr,
   'payer OPG balance dropped by exactly the amount');
is((balance($E->{X402_PAY_TO}) - $merch0)->bstr, $A->bstr,
   'merchant OPG balance rose by exactly the amount');

{
    my ($st, $doc, $raw) = request('POST', '/settle', body($payment, $req));
    is($st, 200, 'settle again: 200');
    is($doc->{success}, $FALSE, 'settle again: success false');
    is($doc->{transaction}, '', 'settle again: nothing broadcast');
    is($doc->{payer}, $E->{X402_PAYER_ADDRESS}, 'settle again: payer');
    # the reference maps InvalidNonce() by the error NAME in viem's message;
    # its proxy ABI does not declare Permit2's errors, so viem prints only
    # the selector 0x756688fe and the reason is the generic one
    like($doc->{errorReason} // '',
         qr/^invalid_exact_evm_transaction_failed: The contract function "settle" reverted with the following signature:\n0x756688fe\b/,
         'settle again: invalid_exact_evm_transaction_failed with InvalidNonce() 0x756688fe');
    unlike($doc->{errorReason} // '', qr/permit2_invalid_nonce/,
           'settle again: not permit2_invalid_nonce (reference 2.27 behaviour)');
    cmp_ok(length($doc->{errorReason} // ''), '<=', 600, 'errorReason is truncated');
}
is((balance($E->{X402_PAY_TO}) - $merch0)->bstr, $A->bstr, 'no second transfer');
{
    my ($st, $doc) = request('POST', '/verify', body($payment, $req));
    is($st, 200, 'verify a settled payment: 200');
    is($doc->{isValid}, $FALSE, 'verify a settled payment: invalid');
    is($doc->{invalidReason}, 'permit2_simulation_failed',
       'verify a settled payment: permit2_simulation_failed (the reference reads no nonce bitmap)');
}

# ---- upto: the charge is the requirements' amount at /settle ---------------
{
    my $cap = '3000000000000000000';
    my $charge = '1250000000000000000';
    my $p = pay('--key', $E->{X402_PAYER2_KEY}, '--amount', $cap, @to, '--scheme', 'upto',
                '--facilitator', $E->{X402_SETTLER_ADDRESS});
    my ($st, $doc) = request('POST', '/verify', body($p, requirements(scheme => 'upto', amount => $cap)));
    is($st, 200, 'upto verify: 200');
    is_deeply($doc, { isValid => $TRUE, payer => $E->{X402_PAYER2_ADDRESS} }, 'upto verify: valid');

    my ($b0, $m0) = (balance($E->{X402_PAYER2_ADDRESS}), balance($E->{X402_PAY_TO}));
    my $raw;
    ($st, $doc, $raw) = request('POST', '/settle', body($p, requirements(scheme => 'upto', amount => $charge)));
    is($st, 200, 'upto settle: 200');
    is($doc->{success}, $TRUE, 'upto settle: success') or diag $raw;
    like($doc->{transaction} // '', qr/^0x[0-9a-f]{64}$/, 'upto settle: transaction hash');
    is($doc->{amount}, $charge, 'upto settle: amount is the charge');
    is(($b0 - balance($E->{X402_PAYER2_ADDRESS}))->bstr, $charge, 'upto: payer paid the charge');
    is((balance($E->{X402_PAY_TO}) - $m0)->bstr, $charge, 'upto: merchant got the charge');

    my $other = pay('--key', $E->{X402_PAYER2_KEY}, '--amount', $cap, @to, '--scheme', 'upto',
                    '--facilitator', $E->{X402_PAYER_ADDRESS});
    ($st, $doc) = request('POST', '/verify', body($other, requirements(scheme => 'upto', amount => $cap)));
    is($doc->{invalidReason}, 'upto_facilitator_mismatch',
       'upto signed for another facilitator: upto_facilitator_mismatch');
}

# ---- HTTP errors -----------------------------------------------------------
{
    my ($st, $doc) = request('POST', '/verify', {});
    is($st, 400, 'verify without fields: 400');
    is($doc->{error}, 'Missing paymentPayload or paymentRequirements', 'verify without fields: error');
    ($st, $doc) = request('POST', '/settle', { x402Version => 2, paymentPayload => $payment });
    is($st, 400, 'settle without requirements: 400');
    ($st, $doc) = request('POST', '/settle', 'not json');
    is($st, 400, 'settle with a non-JSON body: 400');
    ok(defined $doc->{error}, 'non-JSON body: error');
    my $r = requirements(amount => $amount);
    $r->{network} = 'eip155:1';
    ($st, $doc) = request('POST', '/verify', body($payment, $r));
    is($st, 500, 'verify on an unregistered network: 500');
    is($doc->{error}, 'No facilitator registered for scheme: exact and network: eip155:1',
       'unregistered network: the reference exception text');
    ($st) = request('GET', '/verify');
    is($st, 405, 'GET /verify: 405');
    ($st) = request('GET', '/nope');
    is($st, 404, 'unknown path: 404');
}

ok(stop_facilitator(), 'facilitator stops on SIGTERM');

# ---- the log: one line per call on stderr --------------------------------
{
    my @lines = grep { /^facilitator: (GET|POST) \// } split /\n/, slurp($LOG);
    is(scalar @lines, $calls, "one log line per call ($calls)");
    like(join("\n", @lines), qr{POST /settle 200 success=true tx=0x}, 'log names the settlement');
}
diag slurp($LOG) if $ENV{TEST_VERBOSE};

done_testing();
