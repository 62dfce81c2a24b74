# A real browser: headless Chromium on one origin fetches a gated location
# on another (x402_cors), reads the 402's PAYMENT-REQUIRED, pays with a
# PAYMENT-SIGNATURE (signed ahead by the test, as a wallet would), reads
# PAYMENT-RESPONSE, and sends what the OpenAI SDK sends (Authorization,
# x-stainless-*), which needs its preflight's headers echoed.  Then it
# opens the 402 page itself, as a phone would.
use strict;
use warnings;
use lib 't/lib';
use File::Temp qw(tempdir);
use JSON::PP;
use Test::More;
use X402Test;

my $CHROMIUM = `sh -c "command -v chromium"`;
chomp $CHROMIUM;
$CHROMIUM or die "chromium is missing (scripts/install-deps installs it)";

start_services(redis => 1, devchain => 1);

my $C = chain_env();
my $PRICE = '1000000000000000';
my $page = tempdir('x402-page-XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{TEST_LEAVE});
chmod 0755, $page;
my $PAGE = free_port();

my $srv = server_start({
    http_config => settler_http("server {\n    listen 127.0.0.1:$PAGE;\n    root $page;\n}\n"),
    config => paid_location('/cors/', more => 'x402_cors *;'),
});

# the page the browser opens: three fetches to the gated origin, their
# outcome written into the DOM
sub browse {
    my (%h) = @_;
    my $js = <<"JS";
const base = 'http://127.0.0.1:$srv->{port}/cors/';
const out = {};
const decode = (v) => v ? JSON.parse(atob(v)) : null;
(async () => {
  let r = await fetch(base + 'unpaid');
  out.unpaid = { status: r.status, required: decode(r.headers.get('PAYMENT-REQUIRED')) };
  r = await fetch(base + 'paid', { headers: { 'PAYMENT-SIGNATURE': '$h{paid}' } });
  out.paid = { status: r.status, response: decode(r.headers.get('PAYMENT-RESPONSE')),
               body: await r.text() };
  r = await fetch(base + 'sdk', { method: 'POST', body: '{}', headers: {
      'PAYMENT-SIGNATURE': '$h{sdk}', 'Authorization': 'Bearer sk-test',
      'Content-Type': 'application/json', 'x-stainless-os': 'Linux',
      'x-stainless-lang': 'js', 'x-stainless-retry-count': '0' } });
  out.sdk = { status: r.status, body: await r.text() };
})().catch((e) => { out.error = String(e); })
   .finally(() => document.body.setAttribute('data-result', JSON.stringify(out)));
JS
    open my $fh, '>', "$page/index.html" or die $!;
    print $fh "<!doctype html><html><head><title>x402</title></head><body>\n<script>\n$js</script>\n</body></html>\n";
    close $fh;
    chmod 0644, "$page/index.html";
    my $dom = `timeout 60 $CHROMIUM --headless --no-sandbox --disable-gpu --virtual-time-budget=20000 --dump-dom http://127.0.0.1:$PAGE/index.html 2>/dev/null`;
    my ($json) = $dom =~ /data-result="([^"]*)"/;
    return {} unless defined $json;
    $json =~ s/&quot;/"/g;
    $json =~ s/&lt;/</g;
    $json =~ s/&gt;/>/g;
    $json =~ s/&amp;/&/g;
    return eval { decode_json($json) } // { error => "bad result: $json" };
}

my ($m0) = asset_balance($C->{X402_PAY_TO});
my $res = browse(
    paid => pay("--amount $PRICE --pay-to $C->{X402_PAY_TO}"),
    sdk  => pay("--key $C->{X402_PAYER2_KEY} --amount $PRICE --pay-to $C->{X402_PAY_TO}"),
);
is($res->{error}, undef, 'every fetch completed') or diag(explain $res);

is($res->{unpaid}{status}, 402, 'the browser sees the 402');
is($res->{unpaid}{required}{accepts}[0]{amount}, $PRICE,
   'and reads the terms from PAYMENT-REQUIRED (exposed)');

is($res->{paid}{status}, 200, 'a paid fetch is served');
ok($res->{paid}{response} && $res->{paid}{response}{success},
   'and the browser reads PAYMENT-RESPONSE');
like($res->{paid}{body} // '', qr/^backend GET \/cors\/paid/, 'with the content');

is($res->{sdk}{status}, 200, 'a fetch with Authorization and x-stainless-* headers passes its preflight');
like($res->{sdk}{body} // '', qr/^backend POST \/cors\/sdk/, 'and is served');

is(asset_balance($C->{X402_PAY_TO}), $m0 + 2 * $PRICE, 'both payments settled on chain');

# the 402 page as a phone shows it: opened directly, rendered, its title,
# price and token symbol in the DOM, and a screenshot of the phone's width
{
    my $url = "http://127.0.0.1:$srv->{port}/cors/page";
    my $dom = `timeout 60 $CHROMIUM --headless --no-sandbox --disable-gpu --dump-dom '$url' 2>/dev/null`;
    like($dom, qr{<title>402 Payment Required</title>}, 'the page: its title');
    like($dom, qr{<p class="price">0\.001 OPG</p>}, 'the page: the price with the token symbol');
    like($dom, qr{Base \(eip155:8453\)}, 'the page: the network by name');
    my $png = "$page/402.png";
    system("timeout 60 $CHROMIUM --headless --no-sandbox --disable-gpu --hide-scrollbars "
         . "--window-size=390,844 --screenshot=$png '$url' >/dev/null 2>&1");
    my $img = -f $png ? do { open my $fh, '<:raw', $png; local $/; <$fh> } : '';
    system('cp', $png, $ENV{X402_SCREENSHOT}) if $ENV{X402_SCREENSHOT};   # to look at it
    is(substr($img, 0, 8), "\x89PNG\r\n\x1a\n", 'a screenshot was taken');
    is(unpack('N', substr($img, 16, 4)), 390, 'at the width of a phone');
    cmp_ok(length $img, '>', 8000, 'with something drawn on it (' . length($img) . ' bytes)');
}

server_stop($srv, 'chromium');
done_testing();
