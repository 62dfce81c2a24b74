# EIP-1271: a payment whose `from` is a contract wallet (scripts/devchain.d/
# TestWallet.sol at $X402_WALLET_ADDRESS, owner $X402_WALLET_OWNER_KEY).
# Permit2's digest does not contain the owner, so the owner's signature with
# `from` replaced by the wallet (x402-pay --from) is exactly a contract-wallet
# payment: local ecrecover yields the owner, not `from`, and only the wallet's
# isValidSignature on chain can accept it.  Checks that the module accepts it
# (and names the wallet as the payer), refuses the same payment signed by
# another key, and that the accepted payload really settles on chain.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp ();
use JSON::PP;
use Math::BigInt;
use Time::HiRes qw(time);
use X402Test;

my $T0 = time;
start_services(redis => 1, devchain => 1);

my $C = chain_env();
for my $k (qw(X402_WALLET_ADDRESS X402_WALLET_OWNER_KEY X402_PAY_TO X402_ASSET
              X402_SETTLER_KEY X402_PAYER2_KEY X402_PAYER2_ADDRESS X402_RPC_URL)) {
    ok(length($C->{$k} // ''), "devchain env has $k") or BAIL_OUT("no $k");
}
my $WALLET = $C->{X402_WALLET_ADDRESS};
my $OWNER_KEY = $C->{X402_WALLET_OWNER_KEY};
my $PAY_TO = $C->{X402_PAY_TO};
my $PRICE_ATOMIC = '1000000000000000';   # x402_price 0.001, 18 decimals

my $CONFIG = paid_location('/paid/', echo => 'result');

sub word { my $a = lc shift; $a =~ s/^0x//; return ('0' x (64 - length $a)) . $a }

sub u256 {
    my $h = shift // '';
    $h =~ s/^0x//;
    return Math::BigInt->from_hex($h eq '' ? '0' : $h);
}

sub eth_call {
    my ($to, $data) = @_;
    return rpc_call('eth_call', { to => $to, data => $data }, 'latest');
}

sub balance { u256(eth_call($C->{X402_ASSET}, '0x70a08231' . word(shift))) }

# The payload's Permit2 digest (EIP-712, the exact proxy as spender) and the
# address ecrecover gives for its signature, computed with viem.
my $RECOVER_JS = <<'JS';
import { hashTypedData, recoverAddress } from 'viem';
const p = JSON.parse(process.argv[process.argv.length - 1]);
const a = p.payload.permit2Authorization;
const digest = hashTypedData({
  domain: { name: 'Permit2', chainId: Number(p.accepted.network.split(':')[1]),
            verifyingContract: '0x000000000022D473030F116dDEE9F6B43aC78BA3' },
  types: {
    PermitWitnessTransferFrom: [
      { name: 'permitted', type: 'TokenPermissions' }, { name: 'spender', type: 'address' },
      { name: 'nonce', type: 'uint256' }, { name: 'deadline', type: 'uint256' },
      { name: 'witness', type: 'Witness' }],
    TokenPermissions: [{ name: 'token', type: 'address' }, { name: 'amount', type: 'uint256' }],
    Witness: [{ name: 'to', type: 'address' }, { name: 'validAfter', type: 'uint256' }],
  },
  primaryType: 'PermitWitnessTransferFrom',
  message: { permitted: { token: a.permitted.token, amount: BigInt(a.permitted.amount) },
             spender: a.spender, nonce: BigInt(a.nonce), deadline: BigInt(a.deadline),
             witness: { to: a.witness.to, validAfter: BigInt(a.witness.validAfter) } },
});
const recovered = await recoverAddress({ hash: digest, signature: p.payload.signature });
console.log(JSON.stringify({ digest, recovered }));
JS

sub recover {
    my ($json) = @_;
    open my $fh, '-|', 'node', '--input-type=module', '-e', $RECOVER_JS, '--', $json
        or die "node: $!";
    my $out = do { local $/; <$fh> };
    close $fh;
    return eval { decode_json($out) } // {};
}

# isValidSignature(bytes32,bytes) 0x1626ba7e on the wallet
sub is_valid_signature {
    my ($digest, $sig) = @_;
    $sig =~ s/^0x//;
    my $len = length($sig) / 2;
    my $padded = $sig . ('0' x ((64 - length($sig) % 64) % 64));
    my $data = '0x1626ba7e' . word($digest) . word(sprintf '%x', 64)
             . word(sprintf '%x', $len) . $padded;
    my $r = eth_call($WALLET, $data) // '';
    return substr($r, 0, 10);
}

# ---- the wallet is a contract, its owner an EOA -----------------------------
my $code = rpc_call('eth_getCode', $WALLET, 'latest') // '0x';
cmp_ok(length($code), '>', 2, 'the wallet has code');
my $owner_addr = pay("--key $OWNER_KEY --amount 1 --pay-to $PAY_TO --json");
$owner_addr = decode_json($owner_addr)->{payload}{permit2Authorization}{from};
is(lc $owner_addr, lc($C->{X402_WALLET_OWNER_ADDRESS} // ''), 'owner address');
is(rpc_call('eth_getCode', $owner_addr, 'latest'), '0x', 'the owner has no code');
is(lc eth_call($WALLET, '0x8da5cb5b'), '0x' . word($owner_addr), 'wallet owner() is the owner key');

my $srv = server_start({ config => $CONFIG });

# ---- (a) signed by the owner, from = wallet: accepted via EIP-1271 ----------
my $nonce = int(rand(1e12)) + 1;
my $args = "--key $OWNER_KEY --from $WALLET --amount $PRICE_ATOMIC --pay-to $PAY_TO "
         . "--nonce $nonce --deadline " . (int(time()) + 600);
my $header = pay($args);
my $json = pay("$args --json");
my $doc = decode_json($json);
my $hdoc = decode_json_b64($header);
is($hdoc->{payload}{signature}, $doc->{payload}{signature},
   'header and --json carry the same signature');
is_deeply($hdoc->{payload}{permit2Authorization}, $doc->{payload}{permit2Authorization},
          'header and --json carry the same authorization');
is(lc $doc->{payload}{permit2Authorization}{from}, lc $WALLET, 'from is the wallet');

my $rec = recover($json);
like($rec->{digest} // '', qr/^0x[0-9a-f]{64}$/, 'Permit2 digest computed');
is(lc($rec->{recovered} // ''), lc $owner_addr, 'local ecrecover gives the owner ...');
isnt(lc($rec->{recovered} // ''), lc $WALLET, '... not the wallet (from)');
is(is_valid_signature($rec->{digest}, $doc->{payload}{signature}), '0x1626ba7e',
   'wallet.isValidSignature(digest, sig) returns the EIP-1271 magic');

my $res = http_request($srv, 'GET /paid/x', { 'PAYMENT-SIGNATURE' => $header });
is($res->{status}, 200, 'wallet payment signed by the owner: 200')
    or diag($res->{content}, explain decode_json_b64($res->{headers}{'payment-required'}));
like($res->{content}, qr/^backend GET \/paid\/x /, 'answered by the backend');
like($res->{content}, qr/result=paid/, 'backend saw result=paid');
my ($payer) = ($res->{content} // '') =~ /payer=(\S*)/;
is(lc($payer // ''), lc $WALLET, '$x402_payer is the wallet');
is($res->{content} =~ /amount=(\d+)/ ? $1 : undef, $PRICE_ATOMIC, '$x402_amount');

# control: the same owner signature with an EOA (no code) as from is refused,
# so (a) passes only through the wallet's isValidSignature
{
    my $r = http_request($srv, 'GET /paid/x', { 'PAYMENT-SIGNATURE' =>
        pay("--key $OWNER_KEY --from $C->{X402_PAYER2_ADDRESS} "
            . "--amount $PRICE_ATOMIC --pay-to $PAY_TO") });
    is($r->{status}, 402, 'owner signature, from = an EOA: 402');
    is(error_of($r), 'invalid_permit2_signature', '... invalid_permit2_signature');
}

# ---- (b) from = wallet, signed by another key: refused -----------------------
{
    my $bargs = "--key $C->{X402_PAYER2_KEY} --from $WALLET --amount $PRICE_ATOMIC "
              . "--pay-to $PAY_TO --nonce " . (int(rand(1e12)) + 1)
              . " --deadline " . (int(time()) + 600);
    my $bjson = pay("$bargs --json");
    my $brec = recover($bjson);
    is(lc($brec->{recovered} // ''), lc $C->{X402_PAYER2_ADDRESS}, 'other key: recovers payer2');
    is(is_valid_signature($brec->{digest}, decode_json($bjson)->{payload}{signature}),
       '0xffffffff', 'wallet.isValidSignature refuses payer2\'s signature');
    my $r = http_request($srv, 'GET /paid/x', { 'PAYMENT-SIGNATURE' => pay($bargs) });
    is($r->{status}, 402, 'wallet payment signed by another key: 402');
    is(error_of($r), 'invalid_permit2_signature', '... invalid_permit2_signature');
    unlike($r->{content} // '', qr/^backend/, '... not forwarded');
}

my $log = server_stop($srv, 'eip1271 node');
like($log, qr/x402: payment (?:accepted|verified and reserved)[^\n]*\Q$WALLET\E/i,
     'log: the wallet payment accepted');
like($log, qr/x402: payment rejected[^\n]*\Q$WALLET\E[^\n]*invalid_permit2_signature/i,
     'log: the other key\'s wallet payment rejected');

# ---- (c) the accepted payload settles on chain -------------------------------
{
    my $w0 = balance($WALLET);
    my $m0 = balance($PAY_TO);
    is($w0->bstr, Math::BigInt->new(10)->bpow(21)->bstr, 'wallet holds 1000 OPG before settling');
    my $tmp = File::Temp->new;
    print $tmp $json;
    close $tmp;
    my $out = `node scripts/devchain.d/settle.mjs --rpc $C->{X402_RPC_URL} --key $C->{X402_SETTLER_KEY} --payload - < $tmp`;
    is($?, 0, 'settle.mjs exit 0') or diag($out);
    my $r = eval { decode_json($out) } // {};
    ok($r->{ok}, 'settled on chain') or diag($out);
    is(balance($WALLET)->bstr, $w0->copy->bsub($PRICE_ATOMIC)->bstr,
       'wallet OPG balance dropped by the amount');
    is(balance($PAY_TO)->bstr, $m0->copy->badd($PRICE_ATOMIC)->bstr,
       'merchant OPG balance rose by the amount');
}

# ---- (d) a signature longer than an EOA's (multisig, passkey wallets) -------
# Permit2 hands the whole signature to isValidSignature; the module carries it
# unchanged through the checks, the reservation and the settlement
{
    my $settling = server_start({ http_config => settler_http(),
                                  config => paid_location('/paid/') });
    my $dargs = "--key $OWNER_KEY --from $WALLET --amount $PRICE_ATOMIC --pay-to $PAY_TO "
              . "--nonce " . (int(rand(1e12)) + 1) . " --deadline " . (int(time()) + 600);
    my $djson = pay("$dargs --json");
    my $sig = decode_json($djson)->{payload}{signature};
    my $long = $sig . substr($sig, 2) . substr($sig, 2);        # 195 bytes
    my $drec = recover($djson);
    is(is_valid_signature($drec->{digest}, $long), '0x1626ba7e',
       'the wallet accepts a 195-byte signature (three of its owner\'s)');

    # one part by another key: the wallet refuses, so must the module
    my $other = decode_json(pay("--key $C->{X402_PAYER2_KEY} --from $WALLET "
        . ($dargs =~ s/^--key \S+ --from \S+ //r) . " --json"))->{payload}{signature};
    my $bad = $sig . substr($other, 2);
    is(is_valid_signature($drec->{digest}, $bad), '0xffffffff',
       'and refuses one with a part by another key');
    my ($w0, $m0) = (balance($WALLET), balance($PAY_TO));
    my $r = http_request($settling, 'GET /paid/long', { 'PAYMENT-SIGNATURE' =>
        pay("$dargs --signature $bad") });
    is($r->{status}, 402, 'long signature with a foreign part: 402');
    is(error_of($r), 'invalid_permit2_signature', '... invalid_permit2_signature');
    is(balance($WALLET)->bstr, $w0->bstr, '... and the wallet is not charged');

    $r = http_request($settling, 'GET /paid/long', { 'PAYMENT-SIGNATURE' =>
        pay("$dargs --signature $long") });
    is($r->{status}, 200, 'long signature: verified on chain and served')
        or diag($r->{content});
    my $pr = decode_json_b64($r->{headers}{'payment-response'}) // {};
    ok($pr->{success}, 'and settled (PAYMENT-RESPONSE)');
    is(balance($WALLET)->bstr, $w0->copy->bsub($PRICE_ATOMIC)->bstr,
       'the wallet paid the price');
    is(balance($PAY_TO)->bstr, $m0->copy->badd($PRICE_ATOMIC)->bstr,
       'the merchant got it');
    my $rc = receipt_for('/paid/long');
    is(length($rc && $rc->{signature} // ''), 2 + 2 * 195, 'the receipt keeps the whole signature');
    server_stop($settling, 'eip1271 settling node');
}

diag(sprintf 'took %.1f s', time - $T0);
done_testing();
