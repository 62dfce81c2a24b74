# Hostile PAYMENT-SIGNATURE values against a real stack (devchain, Redis,
# settler, x402_settle sync): every refused value gets its 4xx and reason,
# reserves nothing (no new x402:8453:* key) and settles nothing (the
# settler's transaction count does not move); every value that is a valid
# re-encoding of a payment settles exactly once; nginx never crashes (no
# alerts, the same worker pids across the whole table).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use Math::BigInt;
use MIME::Base64 qw(encode_base64 decode_base64);
use Time::HiRes qw(time sleep);
use X402Test;

my $T0 = time;

start_services(redis => 1, devchain => 1);

my $C = chain_env();
my $PAY_TO = $C->{X402_PAY_TO};
my $PRICE = '1000000000000000';
my $TOKEN = '0xFbC2051AE2265686a469421b2C5A2D5462FbF5eB';
my $OTHER = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
my $UPTO_PROXY = '0x4020A4f3b7b90ccA423B9fabCc0CE57C6C240002';
my $OLD_PROXY = '0x4020615294c913F045dc10f0a5cdEbd86c280001';
my $N = Math::BigInt->from_hex(
    'fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141');
my $TWO256 = Math::BigInt->new(2)->bpow(256);
my $J = JSON::PP->new->utf8;

my $HTTP = settler_http("x402_settle_timeout 10s;\nx402_timeout 5s;\n");
my $CONFIG = paid_location('/paid/', echo => 'tx');

# ---- helpers -------------------------------------------------------------

sub pay_args { "--amount $PRICE --pay-to $PAY_TO " . ($_[0] // '') }

# a freshly signed payment: JSON text (the client's key order), as a hash
sub ptext { my $t = pay(pay_args($_[0]) . ' --json'); return $t }
sub pjson { return $J->decode(ptext($_[0])) }
sub b64   { return encode_base64($_[0], '') }
sub enc   { return b64($J->encode($_[0])) }

# a fresh payment changed by $code (on the decoded hash), re-encoded
sub mutated {
    my ($code, $args) = @_;
    my $j = pjson($args);
    $code->($j, $j->{payload}{permit2Authorization});
    return enc($j);
}

# a fresh payment's JSON text changed by $code (on the text), encoded
sub textual {
    my ($code, $args) = @_;
    local $_ = ptext($args);
    $code->();
    return b64($_);
}

sub keys_now {
    return { map { $_ => 1 } grep { length }
             split /\n/, redis_cli('--scan', '--pattern', 'x402:8453:*') };
}

sub replay_key {
    my ($j) = @_;
    my $a = $j->{payload}{permit2Authorization};
    my $n = Math::BigInt->new($a->{nonce})->as_hex =~ s/^0x//r;
    return sprintf('x402:8453:%s:%064s', lc substr($a->{from}, 2), $n) =~ tr/ /0/r;
}

sub worker_pids {
    my ($master) = @_;
    my @p = grep { /\d/ } map { s/\s+//gr } `ps -o pid= --ppid $master`;
    return join ',', sort @p;
}

# One request on a raw socket, so that any byte can be sent.  Returns
# {status, headers{lc}, body, secs}.
sub raw_get {
    my ($port, $lines) = @_;
    local $SIG{PIPE} = 'IGNORE';
    my $t0 = time;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Timeout => 5) or die "connect: $!";
    binmode $s;
    my $req = "GET /paid/x HTTP/1.1\r\nHost: localhost\r\n"
            . "Connection: close\r\n$lines\r\n";
    while (length $req) {
        my $n = syswrite($s, $req);
        last unless $n;
        substr($req, 0, $n) = '';
    }
    my $buf = '';
    my $sel = IO::Select->new($s);
    my $end = time + 30;
    while (time < $end && $sel->can_read($end - time)) {
        my $n = sysread($s, $buf, 65536, length $buf);
        last unless $n;
    }
    close $s;
    my ($head, $body) = split /\r\n\r\n/, $buf, 2;
    my ($status) = ($head // '') =~ m{^HTTP/1\.\d (\d{3})};
    my %h;
    for (split /\r\n/, $head // '') {
        $h{lc $1} = $2 if /^([^:]+):\s*(.*)$/;
    }
    if (($h{'transfer-encoding'} // '') =~ /chunked/i) {
        my $out = '';
        while ($body =~ s/^([0-9a-f]+)\r\n//i) {
            my $len = hex $1;
            last if $len == 0;
            $out .= substr($body, 0, $len, '');
            $body =~ s/^\r\n//;
        }
        $body = $out;
    }
    return { status => $status // 0, headers => \%h, body => $body // '',
             secs => time - $t0 };
}

sub receipt {
    my ($key) = @_;
    my $r;
    for (1 .. 40) {
        $r = eval { decode_json(redis_cli('GET', $key)) };
        last if $r && $r->{status} ne 'reserved' && $r->{status} ne 'broadcast';
        sleep 0.05;
    }
    return $r // {};
}

# ---- the table -----------------------------------------------------------
#
# name, value (a sub returning the header value, or raw => header lines),
# status, error (the PAYMENT-REQUIRED reason; undef for 200/400), valid
# (settles once), note.

my $PR = 'Payment required';
my $NM = 'No matching payment requirements';
my $BADSIG = 'invalid_permit2_signature';

my %shared;     # payments reused by later cases (replay, high-s)

sub sig_with {
    my ($code, $args) = @_;
    return mutated(sub {
        my ($j) = @_;
        my $hex = substr($j->{payload}{signature}, 2);
        $j->{payload}{signature} = $code->($hex);
    }, $args);
}

sub set_v { my $v = shift; sig_with(sub { substr($_[0], 0, 128) . sprintf('%02x', $v) }) }

sub high_s_twin {
    my ($j) = @_;
    my $hex = substr($j->{payload}{signature}, 2);
    my $r = substr($hex, 0, 64);
    my $s = Math::BigInt->from_hex(substr($hex, 64, 64));
    my $v = hex substr($hex, 128, 2);
    my $s2 = $N->copy->bsub($s)->as_hex =~ s/^0x//r;
    $s2 = ('0' x (64 - length $s2)) . $s2;
    my %t = %$j;
    $t{payload} = { %{ $j->{payload} },
                    signature => '0x' . $r . $s2 . sprintf('%02x', $v == 27 ? 28 : 27) };
    return \%t;
}

my $nested_ok = '[' x 1000 . ']' x 1000;
my $nested_bad = '[' x 2100 . ']' x 2100;
my $big_pad = 'p' x 4000;

my @CASES = (
    # -- baseline
    [ 'valid payment (baseline)', sub { $shared{base} = pjson(); enc($shared{base}) },
      200, undef, 1 ],
    [ 'replay of the baseline', sub { enc($shared{base}) },
      402, 'permit2_invalid_nonce', 0, 'settled: refused by the chain\'s nonce bitmap' ],

    # -- base64 level
    [ 'truncated base64 (last 4 chars cut)', sub { substr(enc(pjson()), 0, -4) }, 402, $PR ],
    [ 'truncated base64 (length 1 mod 4)', sub { my $h = enc(pjson()); substr($h, 0, 4 * int(length($h) / 8) + 1) }, 402, $PR ],
    [ 'truncated base64 (half)', sub { my $h = enc(pjson()); substr($h, 0, 4 * int(length($h) / 8)) }, 402, $PR ],
    [ 'not base64 (!!!!)', sub { '!!!!' }, 402, $PR ],
    [ 'raw JSON instead of base64', sub { ptext() }, 402, $PR ],
    [ 'base64url alphabet (- and _)', sub { my $h = enc(pjson()); substr($h, 100, 1) = '-'; substr($h, 200, 1) = '_'; $h }, 402, $PR ],
    [ 'three = of padding', sub { (enc(pjson()) =~ s/=*$//r) . '===' }, 402, $PR ],
    [ '== in the middle', sub { my $h = enc(pjson()); substr($h, 100, 0) = '=='; $h }, 402, $PR ],
    [ 'unpadded base64 of a valid payment', sub {
          my $j = pjson();
          $j->{resource}{url} .= 'a' while length($J->encode($j)) % 3 == 0;
          enc($j) =~ s/=+$//r }, 200, undef, 1, 'padding optional (E07)' ],
    [ 'embedded space', sub { my $h = enc(pjson()); substr($h, 100, 0) = ' '; $h }, 402, $PR ],
    [ 'embedded tab', sub { my $h = enc(pjson()); substr($h, 100, 0) = "\t"; $h }, 402, $PR ],
    [ 'leading and trailing spaces (HTTP OWS)', sub { '   ' . enc(pjson()) . '  ' },
      200, undef, 1, 'nginx strips OWS: the value is the payment' ],
    [ 'empty value', sub { '' }, 402, $PR ],
    [ 'raw 8-bit bytes in the value', sub { my $h = enc(pjson()); substr($h, 100, 0) = "\xc3\xa9"; $h }, 402, $PR ],
    [ 'obs-fold (CRLF SP) inside the value',
      raw => sub { my $h = enc(pjson()); "PAYMENT-SIGNATURE: " . substr($h, 0, 100) . "\r\n " . substr($h, 100) . "\r\n" },
      400, undef, 0, 'nginx refuses the folded line' ],
    [ 'bare LF inside the value',
      raw => sub { my $h = enc(pjson()); "PAYMENT-SIGNATURE: " . substr($h, 0, 100) . "\n" . substr($h, 100) . "\r\n" },
      402, $PR, 0, 'nginx ends the line at LF: a truncated value' ],
    [ 'NUL byte inside the value', sub { my $h = enc(pjson()); substr($h, 100, 0) = "\0"; $h },
      400, undef, 0, 'nginx: invalid header line' ],
    [ 'two PAYMENT-SIGNATURE headers (same valid payment)',
      raw => sub { my $h = enc(pjson()); "PAYMENT-SIGNATURE: $h\r\npayment-signature: $h\r\n" }, 402, $PR ],
    [ '7 KB of base64 zeros (not JSON)', sub { 'A' x 7000 }, 402, $PR ],
    [ '7 KB valid payment (4 KB unknown field)', sub { my $j = pjson(); $j->{padding} = $big_pad; enc($j) },
      200, undef, 1, 'size alone is no reason to refuse' ],
    [ '9 KB header (over the 8k buffer)', sub { 'A' x 9000 }, 400, undef, 0,
      "nginx's own 400 (Request Header Or Cookie Too Large)" ],

    # -- JSON level
    [ 'base64 of non-JSON text', sub { b64('hello world') }, 402, $PR ],
    [ 'JSON array, not an object', sub { b64('[' . ptext() . ']') }, 402, $PR ],
    [ 'JSON null', sub { b64('null') }, 402, $PR ],
    [ 'JSON string', sub { b64('"' . enc(pjson()) . '"') }, 402, $PR ],
    [ 'trailing garbage after the JSON', sub { b64(ptext() . 'x') }, 402, $PR ],
    [ 'trailing whitespace after the JSON', sub { b64(ptext() . "\n  ") }, 200, undef, 1, 'JSON whitespace' ],
    [ 'truncated JSON (valid base64)', sub { b64(substr(ptext(), 0, -1)) }, 402, $PR ],
    [ 'nested 2100 deep (over the parser limit)', sub { textual(sub { s/^\{/{"deep":$nested_bad,/ }) }, 402, $PR ],
    [ 'nested 1000 deep in an unknown field', sub { textual(sub { s/^\{/{"deep":$nested_ok,/ }) }, 200, undef, 1, 'no stack issue' ],
    [ 'duplicate key: nonce twice', sub { textual(sub { s/"nonce":"(\d+)"/"nonce":"$1","nonce":"1"/ }) }, 402, $PR, 0, 'JSON_REJECT_DUPLICATES' ],
    [ 'duplicate key: x402Version twice', sub { textual(sub { s/^\{/{"x402Version":2,/ }) }, 402, $PR ],
    [ 'duplicate key: same from twice', sub { textual(sub { s/"from":("0x\w+")/"from":$1,"from":$1/ }) }, 402, $PR ],
    [ 'UTF-8 BOM before the JSON', sub { b64("\xef\xbb\xbf" . ptext()) }, 402, $PR ],
    [ 'invalid UTF-8 byte in resource.url', sub { textual(sub { s{"url":"http://}{"url":"\xff//} }) }, 402, $PR ],
    [ 'overlong UTF-8 (/ as C0 AF) in resource.url', sub { textual(sub { s{"url":"http://127.0.0.1/}{"url":"http://127.0.0.1\xc0\xaf} }) }, 402, $PR ],
    [ 'overlong UTF-8 (0 as C0 B0) in the amount', sub { textual(sub { s/"amount":"1000000000000000"\}/"amount":"\xc0\xb0$PRICE"}/ }) }, 402, $PR ],
    [ 'NUL (\u0000) in resource.url', sub { textual(sub { s{"url":"http://}{"url":"\\u0000http://} }) }, 402, $PR ],
    [ 'NUL (\u0000) after from', sub { textual(sub { s/"from":"(0x\w+)"/"from":"$1\\u0000"/ }) }, 402, $PR ],
    [ 'lone surrogate (\ud800) in resource.url', sub { textual(sub { s{"url":"http://}{"url":"\\ud800http://} }) }, 402, $PR ],
    [ 'fullwidth digits in the amount', sub { mutated(sub { $_[1]{permitted}{amount} = "\x{ff11}" . ('0' x 15) }) }, 402, $PR ],
    [ 'from written with \u escapes (\u0030\u0078...)', sub { textual(sub { s/"from":"0x/"from":"\\u0030\\u0078/ }) },
      200, undef, 1, 'the same string once decoded' ],

    # -- version
    [ 'x402Version 1', sub { mutated(sub { $_[0]{x402Version} = 1 }) }, 402, $PR ],
    [ 'x402Version 3', sub { mutated(sub { $_[0]{x402Version} = 3 }) }, 402, $PR ],
    [ 'x402Version "2" (string)', sub { mutated(sub { $_[0]{x402Version} = '2' }) }, 402, $PR ],
    [ 'x402Version 2.0 (real)', sub { textual(sub { s/"x402Version":2/"x402Version":2.0/ }) }, 200, undef, 1, 'JavaScript reads 2.0 as 2' ],
    [ 'x402Version 2.5', sub { textual(sub { s/"x402Version":2/"x402Version":2.5/ }) }, 402, $PR ],
    [ 'x402Version missing', sub { mutated(sub { delete $_[0]{x402Version} }) }, 402, $PR ],

    # -- wrong types, every field
    (map {
        my ($path, $val) = @$_;
        [ "wrong type: $path = " . JSON::PP->new->allow_nonref->encode($val),
          sub { mutated(sub { my $o = $_[0]; my @p = split /\./, $path; my $k = pop @p; $o = $o->{$_} for @p; $o->{$k} = $val }) },
          402, $PR ]
    } (
        [ 'payload', 'x' ],
        [ 'payload.permit2Authorization', [] ],
        [ 'payload.permit2Authorization.from', 1 ],
        [ 'payload.permit2Authorization.from', undef ],
        [ 'payload.permit2Authorization.permitted', 'x' ],
        [ 'payload.permit2Authorization.permitted.token', 7 ],
        [ 'payload.permit2Authorization.permitted.amount', 1000000000000000 ],
        [ 'payload.permit2Authorization.spender', JSON::PP::true ],
        [ 'payload.permit2Authorization.nonce', 5 ],
        [ 'payload.permit2Authorization.deadline', 4102444800 ],
        [ 'payload.permit2Authorization.witness', 'x' ],
        [ 'payload.permit2Authorization.witness.to', [] ],
        [ 'payload.permit2Authorization.witness.validAfter', 0 ],
        [ 'payload.permit2Authorization.witness.facilitator', 3 ],
        [ 'payload.signature', 12 ],
        [ 'payload.signature', undef ],
        [ 'accepted', [] ],
        [ 'accepted.scheme', 1 ],
        [ 'accepted.network', 8453 ],
        [ 'accepted.amount', 1000000000000000 ],
        [ 'accepted.asset', {} ],
        [ 'accepted.payTo', JSON::PP::false ],
        [ 'accepted.maxTimeoutSeconds', '300' ],
        [ 'accepted.extra', 'permit2' ],
        [ 'accepted.extra.assetTransferMethod', 2 ],
        [ 'accepted.extra.facilitatorAddress', 9 ],
        [ 'resource', 'http://127.0.0.1/' ],
        [ 'extensions', [] ],
    )),
    [ 'required field missing: payload.signature', sub { mutated(sub { delete $_[0]{payload}{signature} }) }, 402, $PR ],
    [ 'required field missing: accepted', sub { mutated(sub { delete $_[0]{accepted} }) }, 402, $PR ],
    [ 'accepted.extra missing (no permit2 method)', sub { mutated(sub { delete $_[0]{accepted}{extra} }) }, 402, $NM ],
    [ 'accepted.extra null (no permit2 method)', sub { mutated(sub { $_[0]{accepted}{extra} = undef }) }, 402, $NM ],

    # -- numbers
    [ 'amount = 2^256', sub { mutated(sub { $_[1]{permitted}{amount} = $TWO256->bstr }) }, 402, $PR ],
    [ 'nonce = 2^256', sub { mutated(sub { $_[1]{nonce} = $TWO256->bstr }) }, 402, $PR ],
    [ 'deadline = 2^256', sub { mutated(sub { $_[1]{deadline} = $TWO256->bstr }) }, 402, $PR ],
    [ 'nonce = 2^256 as 0x1 + 64 zeros', sub { mutated(sub { $_[1]{nonce} = '0x1' . ('0' x 64) }) }, 402, $PR ],
    [ 'amount with 79 digits (leading zeros)', sub { mutated(sub { $_[1]{permitted}{amount} = ('0' x 63) . $PRICE }) }, 402, $PR, 0, 'length bound' ],
    [ 'amount with 78 digits (leading zeros)', sub { mutated(sub { $_[1]{permitted}{amount} = ('0' x 62) . $PRICE }) },
      200, undef, 1, 'numeric comparison (E05)' ],
    [ 'negative amount', sub { mutated(sub { $_[1]{permitted}{amount} = "-$PRICE" }) }, 402, $PR ],
    [ 'negative deadline', sub { mutated(sub { $_[1]{deadline} = '-1' }) }, 402, $PR ],
    [ 'negative maxTimeoutSeconds', sub { mutated(sub { $_[0]{accepted}{maxTimeoutSeconds} = -300 }) }, 402, $PR ],
    [ 'maxTimeoutSeconds 2^40', sub { mutated(sub { $_[0]{accepted}{maxTimeoutSeconds} = 2**40 }) }, 402, $PR ],
    [ 'amount 1e15', sub { mutated(sub { $_[1]{permitted}{amount} = '1e15' }) }, 402, $PR ],
    [ 'amount +1000000000000000', sub { mutated(sub { $_[1]{permitted}{amount} = "+$PRICE" }) }, 402, $PR ],
    [ 'amount with a leading space', sub { mutated(sub { $_[1]{permitted}{amount} = " $PRICE" }) }, 402, $PR ],
    [ 'empty nonce', sub { mutated(sub { $_[1]{nonce} = '' }) }, 402, $PR ],
    [ 'nonce "0x"', sub { mutated(sub { $_[1]{nonce} = '0x' }) }, 402, $PR ],
    [ 'nonce with 0X (uppercase prefix)', sub { mutated(sub { $_[1]{nonce} = '0X' . Math::BigInt->new($_[1]{nonce})->as_hex =~ s/^0x//r }) }, 402, $PR ],
    [ 'nonce as 0x hex', sub { mutated(sub { $_[1]{nonce} = Math::BigInt->new($_[1]{nonce})->as_hex }) },
      200, undef, 1, '0x nonce accepted (E03), keyed as the integer' ],
    [ 'deadline as 0x hex', sub { mutated(sub { $_[1]{deadline} = sprintf('0x%x', $_[1]{deadline}) }) }, 200, undef, 1, 'E04' ],
    [ 'amount as 0x hex', sub { mutated(sub { $_[1]{permitted}{amount} = Math::BigInt->new($PRICE)->as_hex }) }, 200, undef, 1 ],
    [ 'nonce 2^256 - 1 (largest)', sub { my $n = $TWO256->copy->bdec->bstr; enc(pjson("--nonce $n")) }, 200, undef, 1 ],
    [ 'deadline 2^64 (far future, signed)', sub { enc(pjson('--deadline 18446744073709551616')) }, 200, undef, 1,
      'reservation TTL bounded' ],
    [ 'validAfter 2^64', sub { mutated(sub { $_[1]{witness}{validAfter} = '18446744073709551616' }) }, 402, 'permit2_not_yet_valid' ],

    # -- signatures
    [ 'high-s twin first (s\' = n - s, v flipped)', sub { $shared{hs} = pjson(); enc(high_s_twin($shared{hs})) },
      200, undef, 1, 'accepted: Permit2 has no low-s rule' ],
    [ 'then the original low-s signature', sub { enc($shared{hs}) },
      402, 'permit2_invalid_nonce', 0, 'the SAME payment: same key, reserved once' ],
    [ 'v = 0', sub { set_v(0) }, 402, $BADSIG ],
    [ 'v = 1', sub { set_v(1) }, 402, $BADSIG ],
    [ 'v = 29', sub { set_v(29) }, 402, $BADSIG ],
    [ '64-byte EIP-2098 signature', sub { sig_with(sub { '0x' . substr($_[0], 0, 128) }) }, 402, $BADSIG ],
    [ '66-byte signature', sub { sig_with(sub { "0x$_[0]00" }) }, 402, $BADSIG ],
    [ 'odd-length signature hex', sub { sig_with(sub { "0x$_[0]0" }) }, 402, $BADSIG ],
    [ 'signature without 0x', sub { sig_with(sub { $_[0] }) }, 402, $BADSIG ],
    [ 'signature with 0X', sub { sig_with(sub { "0X$_[0]" }) }, 402, $BADSIG ],
    [ 'empty signature', sub { sig_with(sub { '' }) }, 402, $BADSIG ],
    [ 'non-hex signature', sub { sig_with(sub { '0x' . ('zz' x 65) }) }, 402, $BADSIG ],
    [ 'r = 0', sub { sig_with(sub { '0x' . ('0' x 64) . substr($_[0], 64) }) }, 402, $BADSIG ],
    [ 's = n', sub { sig_with(sub { '0x' . substr($_[0], 0, 64) . ($N->as_hex =~ s/^0x//r) . substr($_[0], 128) }) }, 402, $BADSIG ],
    [ 'signature hex uppercase', sub { sig_with(sub { '0x' . uc $_[0] }) }, 200, undef, 1, 'E02' ],

    # -- semantics
    [ 'zero address as from', sub { enc(pjson('--from 0x0000000000000000000000000000000000000000')) }, 402, $BADSIG ],
    [ 'signer is not from', sub { enc(pjson("--from $OTHER")) }, 402, $BADSIG ],
    [ 'signed for another chain (84532)', sub { enc(pjson('--sign-chain 84532')) }, 402, $BADSIG ],
    [ 'accepted for another network', sub { enc(pjson('--network eip155:84532')) }, 402, $NM ],
    [ 'spender: the upto proxy', sub { enc(pjson("--spender $UPTO_PROXY")) }, 402, 'invalid_permit2_spender' ],
    [ 'spender: the pre-2.5 exact proxy', sub { enc(pjson("--spender $OLD_PROXY")) }, 402, 'invalid_permit2_spender' ],
    [ 'payTo mismatch (witness.to)', sub { enc($J->decode(pay("--amount $PRICE --pay-to $OTHER --accepted-pay-to $PAY_TO --json"))) },
      402, 'invalid_permit2_recipient_mismatch' ],
    [ 'expired deadline', sub { enc(pjson('--deadline ' . (int(time) - 60))) }, 402, 'permit2_deadline_expired' ],
    [ 'not yet valid', sub { enc(pjson('--valid-after ' . (int(time) + 3600))) }, 402, 'permit2_not_yet_valid' ],
    [ 'payer without Permit2 allowance', sub { enc(pjson("--key $C->{X402_NOALLOW_KEY}")) }, 412, 'permit2_allowance_required' ],
    [ 'all addresses lowercase', sub { mutated(sub {
          my ($j, $a) = @_;
          $_ = lc for $a->{from}, $a->{spender}, $a->{permitted}{token}, $a->{witness}{to},
                      $j->{accepted}{asset}, $j->{accepted}{payTo} }) }, 200, undef, 1, 'E01' ],
    [ 'mixed case with a wrong checksum', sub { mutated(sub {
          my ($j, $a) = @_;
          $a->{from} = '0x' . uc substr($a->{from}, 2);
          $a->{witness}{to} = '0x' . (lc substr($a->{witness}{to}, 2, 20)) . uc substr($a->{witness}{to}, 22) }) },
      200, undef, 1, 'checksum not enforced' ],
    [ 'address with 0X prefix', sub { mutated(sub { $_[1]{from} = '0X' . substr($_[1]{from}, 2) }) }, 402, $PR ],
    [ 'address with 41 hex digits', sub { mutated(sub { $_[1]{from} .= 'a' }) }, 402, $PR ],
    [ 'unknown fields at every level but accepted', sub { mutated(sub {
          my ($j, $a) = @_;
          $j->{zzz} = { a => [1, 2] }; $j->{payload}{extraSig} = '0x00';
          $a->{note} = 'hi'; $a->{witness}{extra} = '0x' }) }, 200, undef, 1, 'ignored, as the reference' ],
    [ 'an unknown field in accepted', sub { mutated(sub { $_[0]{accepted}{foo} = 1 }) },
      402, 'No matching payment requirements', 0, 'accepted must equal the offer' ],
    [ 'an unknown field in accepted.extra', sub { mutated(sub { $_[0]{accepted}{extra}{name} = 'OPG' }) },
      402, 'No matching payment requirements', 0, 'accepted must equal the offer' ],
    [ 'null optional fields', sub { mutated(sub {
          my ($j, $a) = @_;
          $j->{resource} = undef; $j->{extensions} = undef;
          $a->{witness}{facilitator} = undef; $j->{accepted}{extra}{facilitatorAddress} = undef }) },
      200, undef, 1, 'null = absent (docs/protocol.md#header-encoding)' ],
);

# ---- run -----------------------------------------------------------------

my $srv = server_start({ http_config => $HTTP, config => $CONFIG, workers => 2 });
my $pids0 = worker_pids($srv->{pid});
ok($pids0 =~ /^\d+,\d+$/, "two workers ($pids0)");

my (@rows, $nvalid, $nrefused);
for my $case (@CASES) {
    my ($name, @rest) = @$case;
    my $raw = 0;
    if ($rest[0] eq 'raw') { shift @rest; $raw = 1 }
    my ($make, $status, $error, $valid, $note) = @rest;

    my $keys0 = keys_now();
    my $tx0 = settler_tx_count();
    my $value = $make->();
    my $res = raw_get($srv->{port},
                      $raw ? $value : "PAYMENT-SIGNATURE: $value\r\n");
    my $keys1 = keys_now();
    my @new = grep { !$keys0->{$_} } keys %$keys1;
    my $dtx = settler_tx_count() - $tx0;
    my $got_err = error_of($res);

    is($res->{status}, $status, "$name: status $status")
        or diag("body: $res->{body}");
    is($got_err, $error, "$name: error " . ($error // '(none)'));
    if ($valid) {
        is(scalar @new, 1, "$name: one reservation");
        my $rc = @new ? receipt($new[0]) : {};
        is($rc->{status}, 'settled', "$name: receipt settled");
        is($dtx, 1, "$name: one settlement transaction");
        my $pr = decode_json_b64($res->{headers}{'payment-response'}) // {};
        ok($pr->{success} && ($pr->{transaction} // '') eq ($rc->{transaction} // '-'),
           "$name: PAYMENT-RESPONSE success with the receipt's hash");
        $nvalid++;
    } else {
        is(scalar @new, 0, "$name: nothing reserved") or diag("new: @new");
        is($dtx, 0, "$name: nothing settled");
        $nrefused++;
    }
    if ($status == 402 || $status == 412) {
        ok($res->{headers}{'payment-required'}, "$name: PAYMENT-REQUIRED sent");
    }
    is(worker_pids($srv->{pid}), $pids0, "$name: same workers");
    push @rows, sprintf('%-52s %3s %-36s %s%s', $name, $res->{status},
                        $got_err // '-', $valid ? 'settled' : 'nothing reserved',
                        $note ? " ($note)" : '');

    # per-case extras
    if ($name =~ /^high-s twin/) {
        is($new[0], replay_key($shared{hs}), 'high-s twin: keyed by (chain, from, nonce)');
    }
    if ($name eq 'then the original low-s signature') {
        ok($keys1->{replay_key($shared{hs})}, 'original: the same key exists (reserved once)');
    }
    if ($name =~ /^9 KB header/) {
        like($res->{body}, qr/Request Header Or Cookie Too Large/, '9 KB: nginx\'s own page');
    }
    if ($name eq 'nonce as 0x hex' && @new) {
        like($new[0], qr/^x402:8453:[0-9a-f]{40}:[0-9a-f]{64}$/, 'hex nonce: key in canonical form');
    }
    if ($name =~ /^deadline 2\^64/ && @new) {
        my $ttl = redis_cli('PTTL', $new[0]);
        cmp_ok($ttl, '<=', (10 * 365 + 7) * 86400 * 1000, 'far deadline: TTL bounded (10 y + receipt ttl)');
    }
}

my $log = server_stop($srv, 'hostile headers');
like($log, qr/undecodable PAYMENT-SIGNATURE: payload\.permit2Authorization\.nonce/,
     'log names the field of an undecodable header');
like($log, qr/client sent too long header line/,
     'log: the 9 KB header was nginx\'s business');
cmp_ok(scalar @CASES, '>=', 40, scalar(@CASES) . ' cases');

# the decoded-size limit (16384 bytes of JSON), with buffers that let it in
{
    my $big = server_start({ http_config => "$HTTP    large_client_header_buffers 4 32k;\n",
                             config => $CONFIG });
    for my $t ([16384, 200], [16385, 402]) {
        my ($size, $want) = @$t;
        my $j = pjson();
        $j->{padding} = '';
        my $len = length $J->encode($j);
        $j->{padding} = 'p' x ($size - $len);
        is(length $J->encode($j), $size, "payload JSON of $size bytes");
        my $keys0 = keys_now();
        my $tx0 = settler_tx_count();
        my $res = raw_get($big->{port}, "PAYMENT-SIGNATURE: " . enc($j) . "\r\n");
        my @new = grep { !$keys0->{$_} } keys %{ keys_now() };
        is($res->{status}, $want, "JSON of $size bytes: $want");
        if ($want == 200) {
            is(scalar @new, 1, "JSON of $size bytes: reserved once");
            is(settler_tx_count() - $tx0, 1, "JSON of $size bytes: settled");
        } else {
            is(error_of($res), $PR, "JSON of $size bytes: Payment required");
            is(scalar @new, 0, "JSON of $size bytes: nothing reserved");
            is(settler_tx_count() - $tx0, 0, "JSON of $size bytes: nothing settled");
        }
        push @rows, sprintf('%-52s %3s %-36s %s', "payload JSON of $size bytes (32k buffers)",
                            $res->{status}, error_of($res) // '-',
                            $want == 200 ? 'settled' : 'nothing reserved');
        $want == 200 ? $nvalid++ : $nrefused++;
    }
    server_stop($big, 'big buffers');
}

# The high-s twin and its original in Redis alone: a node that verifies and
# reserves but does not settle (no key) shares the Redis.  The twin is
# reserved; the original is refused by the reservation (not by the chain:
# nothing was sent), with the twin's receipt; the settling node refuses it
# too, and nothing is settled.
{
    my $reserve_only = server_start({ config => $CONFIG, http_config => <<"HTTP" });
x402_rpc \$RPC;
x402_redis \$REDIS;
HTTP
    my $j = pjson();
    my $key = replay_key($j);
    my $tx0 = settler_tx_count();
    my $keys0 = keys_now();
    my $res = raw_get($reserve_only->{port}, "PAYMENT-SIGNATURE: " . enc(high_s_twin($j)) . "\r\n");
    is($res->{status}, 200, 'reserve-only node: the high-s twin is served');
    my @new = grep { !$keys0->{$_} } keys %{ keys_now() };
    is_deeply(\@new, [$key], 'the twin is reserved under the original\'s key');
    is(receipt($key)->{status}, 'reserved', 'receipt reserved');

    $res = raw_get($reserve_only->{port}, "PAYMENT-SIGNATURE: " . enc($j) . "\r\n");
    is($res->{status}, 402, 'reserve-only node: the original is refused');
    is(error_of($res), 'permit2_invalid_nonce', 'as a replay');
    my $body = eval { decode_json($res->{body}) } // {};
    is($body->{receipt}{status}, 'reserved', 'with the twin\'s receipt in the body');
    ok(!exists $body->{receipt}{signature}, 'whose signature is not shown');
    is(receipt($key)->{signature}, high_s_twin($j)->{payload}{signature},
       'the stored receipt keeps the twin\'s (high-s) signature');

    is(scalar(keys %{ keys_now() }) - scalar(keys %$keys0), 1, 'one key for both encodings');
    is(settler_tx_count() - $tx0, 0, 'nothing settled');
    server_stop($reserve_only, 'reserve-only node');
    push @rows, sprintf('%-52s %3s %-36s %s', 'reserve-only node: high-s twin', 200, '-', 'reserved');
    push @rows, sprintf('%-52s %3s %-36s %s', 'reserve-only node: then the original', 402,
                        'permit2_invalid_nonce', 'receipt reserved (same key)');
}

note("case                                                 st  error                                result");
note($_) for @rows;
note(sprintf('%d cases: %d settled, %d refused; %.1f s', scalar @rows, $nvalid,
             $nrefused, time - $T0));

done_testing();
