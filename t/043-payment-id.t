# The payment-identifier extension (@x402/extensions 2.27), signed by the
# official client's own helper: a 402 declares it; an agent that retries
# the same payment with its id gets the stored answer (status and
# PAYMENT-RESPONSE) and is charged once; the same id on another payment is
# a 409; a retry while the first attempt runs is not processed twice; a
# refused or not-charged attempt lets the id go; "required" refuses a
# payment without a valid id.  Charges are checked on chain.
use strict;
use warnings;
use lib 't/lib';
use JSON::PP;
use MIME::Base64 qw(decode_base64 encode_base64);
use POSIX qw(_exit);
use Test::More;
use X402Test;

start_services(redis => 1, devchain => 1, mockllm => 1);

my $C = chain_env();
my $PRICE = '1000000000000000';
my $CONFIG = paid_location('/pid/', pass => 'http://127.0.0.1:$MOCKLLM/',
                           more => 'x402_payment_identifier on;')
           . paid_location('/req/', pass => 'http://127.0.0.1:$MOCKLLM/',
                           more => 'x402_payment_identifier required;')
           . paid_location('/off/', pass => 'http://127.0.0.1:$MOCKLLM/');
my $srv = server_start({ http_config => settler_http(), config => $CONFIG, workers => 2 });

my $CHAT = '{"model":"m","messages":[{"role":"user","content":"hi"}]}';

# the official client signs one payment, with the helper adding the id
sub signed {
    my ($path, $id, $key) = @_;
    my @args = ("http://127.0.0.1:$srv->{port}$path", '--method', 'POST');
    push @args, '--id', $id if defined $id;
    push @args, '--key', $key if defined $key;
    open my $fh, '-|', 'node', 't/client/sign-with-id.mjs', @args or die $!;
    my $out = do { local $/; <$fh> };
    close $fh;
    return decode_json($out);
}

sub chat {
    my ($path, $h, %more) = @_;
    return http_request($srv, "POST $path", { 'PAYMENT-SIGNATURE' => $h,
        'Content-Type' => 'application/json', %more }, $CHAT);
}

sub balances { (asset_balance($C->{X402_PAYER_ADDRESS}), asset_balance($C->{X402_PAY_TO})) }

# the 402 declares the extension (not on a location without it)
{
    my $pr = decode_json_b64(http_request($srv, 'GET /pid/x')->{headers}{'payment-required'});
    is_deeply($pr->{extensions}{'payment-identifier'}{info}, { required => JSON::PP::false },
              'on: declared, not required');
    is($pr->{extensions}{'payment-identifier'}{schema}{properties}{id}{minLength}, 16,
       'with the extension\'s schema');
    $pr = decode_json_b64(http_request($srv, 'GET /req/x')->{headers}{'payment-required'});
    is_deeply($pr->{extensions}{'payment-identifier'}{info}, { required => JSON::PP::true },
              'required: declared required');
    $pr = decode_json_b64(http_request($srv, 'GET /off/x')->{headers}{'payment-required'});
    ok(!exists $pr->{extensions}, 'off: no extensions');
}

# a retry of the same payment gets the stored answer and pays once
{
    my $s = signed('/pid/v1/chat/completions', 'pay_retry_0123456789ab');
    is($s->{id}, 'pay_retry_0123456789ab', 'the helper put the id in the payment');
    my ($p0, $m0) = balances();
    my $first = chat('/pid/v1/chat/completions', $s->{header});
    is($first->{status}, 200, 'first attempt: served');
    like($first->{content}, qr/chat\.completion/, 'with the content');
    my $pr1 = decode_json_b64($first->{headers}{'payment-response'}) // {};
    ok($pr1->{success}, 'and PAYMENT-RESPONSE');
    for my $n (1, 2) {
        my $again = chat('/pid/v1/chat/completions', $s->{header});
        is($again->{status}, 200, "retry $n: the stored status");
        is($again->{headers}{'payment-response'}, $first->{headers}{'payment-response'},
           "retry $n: the stored PAYMENT-RESPONSE");
        my $b = eval { decode_json($again->{content}) } // {};
        is_deeply($b, { paymentIdentifier => 'pay_retry_0123456789ab',
                        processed => JSON::PP::true }, "retry $n: processed, the content not sent twice");
    }
    is(asset_balance($C->{X402_PAYER_ADDRESS}), $p0 - $PRICE, 'the payer paid once');
    is(asset_balance($C->{X402_PAY_TO}), $m0 + $PRICE, 'the merchant got it once');

    # the same id on another payment
    my $other = signed('/pid/v1/chat/completions', 'pay_retry_0123456789ab');
    isnt($other->{header}, $s->{header}, 'another payment with the same id');
    my $res = chat('/pid/v1/chat/completions', $other->{header});
    is($res->{status}, 409, 'the same id on another payment: 409');
    is((eval { decode_json($res->{content}) } // {})->{error}, 'payment_identifier_conflict',
       'payment_identifier_conflict');
    is(asset_balance($C->{X402_PAY_TO}), $m0 + $PRICE, 'and nothing charged');
}

# a retry while the first attempt runs is not processed twice
{
    my $s = signed('/pid/v1/chat/completions', 'pay_inflight_0123456789');
    my ($p0, $m0) = balances();
    my $pid = fork // die $!;
    if ($pid == 0) {
        my $r = chat('/pid/v1/chat/completions', $s->{header}, 'X-Mock-Delay-Ms' => 1500);
        _exit($r->{status} == 200 ? 0 : 1);
    }
    sleep 1;
    my $res = chat('/pid/v1/chat/completions', $s->{header});
    is($res->{status}, 409, 'a retry while the first runs: 409');
    is((eval { decode_json($res->{content}) } // {})->{error}, 'payment_identifier_in_progress',
       'payment_identifier_in_progress');
    waitpid $pid, 0;
    is($? >> 8, 0, 'the first attempt is served');
    is(asset_balance($C->{X402_PAY_TO}), $m0 + $PRICE, 'charged once');
}

# an attempt that was not charged (the backend failed) lets the id go: the
# retry is processed and paid
{
    my $s = signed('/pid/v1/chat/completions', 'pay_failed_0123456789ab');
    my ($p0, $m0) = balances();
    my $res = chat('/pid/v1/chat/completions', $s->{header}, 'X-Mock-Status' => 500);
    is($res->{status}, 500, 'the backend failed: its 500');
    is(asset_balance($C->{X402_PAY_TO}), $m0, 'nothing charged');
    $res = chat('/pid/v1/chat/completions', $s->{header});
    is($res->{status}, 200, 'the retry is processed and served');
    like($res->{content}, qr/chat\.completion/, 'with the content');
    is(asset_balance($C->{X402_PAY_TO}), $m0 + $PRICE, 'and paid once');
}

# required: a payment without an id, or with a malformed one, is refused
{
    my ($p0, $m0) = balances();
    my $s = signed('/req/v1/chat/completions', undef);
    my $res = chat('/req/v1/chat/completions', $s->{header});
    is($res->{status}, 400, 'required, no id: 400');
    is((eval { decode_json($res->{content}) } // {})->{error}, 'payment_identifier_required',
       'payment_identifier_required');

    my $p = decode_json(decode_base64($s->{header}));
    $p->{extensions}{'payment-identifier'}{info}{id} = 'short!';
    $res = chat('/req/v1/chat/completions', encode_base64(encode_json($p), ''));
    is($res->{status}, 400, 'a malformed id: 400');
    is((eval { decode_json($res->{content}) } // {})->{error}, 'payment_identifier_invalid',
       'payment_identifier_invalid');
    is(asset_balance($C->{X402_PAY_TO}), $m0, 'neither charged');

    $s = signed('/req/v1/chat/completions', 'auto');
    like($s->{id} // '', qr/^pay_[0-9a-f]{32}$/, 'the helper\'s own id (generatePaymentId)');
    is(chat('/req/v1/chat/completions', $s->{header})->{status}, 200, 'with an id: served');
}

server_stop($srv, 'payment-identifier');
done_testing();
