# make run, as a new user sees it: the demo comes up on its fixed loopback
# ports, pays one request with the official client, and says what the
# merchant holds in OPG, which key pays the demo, how to pay once more, and
# how to reload; the reload it prints works, and so do its metrics and
# receipts locations.
use strict;
use warnings;
use lib 't/lib';
use POSIX qw(setsid);
use Test::More;
use Time::HiRes qw(sleep);
use X402Test qw(http_request);

my $out = "/tmp/x402-run-$$.out";
my $pid = fork // die "fork: $!";
if ($pid == 0) {
    setsid();
    open STDOUT, '>', $out or die $!;
    open STDERR, '>&', \*STDOUT or die $!;
    exec 'scripts/run' or die "scripts/run: $!";
}
END {
    my $status = $?;
    if ($pid) {
        kill 'TERM', -$pid;     # scripts/run stops what it started
        waitpid $pid, 0;
    }
    unlink $out;
    $? = $status;
}

sub text { open my $fh, '<', $out or return ''; local $/; <$fh> }

my $t;
for (1 .. 240) {
    $t = text();
    last if $t =~ /^Reload after/m || waitpid($pid, POSIX::WNOHANG()) > 0;
    sleep 0.5;
}
like($t, qr/^Reload after/m, 'make run came up') or diag($t);

like($t, qr/"attempts":\[402,200\]/, 'the official client paid one request');
like($t, qr/^merchant 0x[0-9a-fA-F]{40} now holds 0\.001 OPG$/m, 'the merchant balance in OPG');
like($t, qr/^  export X402_PAYER_KEY=0x[0-9a-f]{64}$/m, 'the demo payer\'s key variable');
like($t, qr{^  node t/client/pay\.mjs http://127\.0\.0\.1:8402/\S+ --key \$X402_PAYER_KEY }m,
     'a one-line paid example');
unlike($t, qr/X402_SETTLER_KEY|settler\.key.*[0-9a-f]{64}/, 'the settler key is not printed');

my ($reload) = $t =~ /^  (\S+nginx -p \S+ -c \S+ -s reload)$/m;
ok($reload, 'the reload command is printed');
my $srv = { port => 8402 };
SKIP: {
    skip 'no reload command', 3 unless $reload;
    system($reload);
    is($? >> 8, 0, 'the printed reload runs');
    sleep 1;
    is(http_request($srv, 'GET /health')->{status}, 200, 'the demo serves after the reload');
    my $m = http_request($srv, 'GET /x402/status');
    like($m->{content} // '', qr/^x402_location_requests_total\{location="\/v1\/",outcome="paid"\} 1$/m,
         'its metrics location counts the paid request');
}
my $h = http_request($srv, 'OPTIONS /v1/chat/completions', { Origin => 'https://app.example',
    'Access-Control-Request-Method' => 'POST' });
is($h->{status}, 204, 'the demo answers browsers (x402_cors)');

done_testing();
