# Every example configuration in conf/ loads (nginx -t) and serves one paid
# request as written; only the host-specific parts are adapted: the module
# path, log and pid files, ports, the chain node, Redis, the backend, the
# facilitator and the settler key.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use X402Test;

start_services(redis => 1, devchain => 1, mockllm => 1, facilitator => 1);

my $C = chain_env();
my $S = services();
my $KEY = settler_key_file();
my $MODULE = $ENV{TEST_X402_MODULE} || 'build/ngx_http_x402_module.so';

# conf/<name>.conf adapted to this host; returns (text, port)
sub adapt {
    my ($name) = @_;
    open my $fh, '<', "conf/$name" or die "conf/$name: $!";
    my $t = do { local $/; <$fh> };
    close $fh;
    my $port = free_port();
    $t =~ s{^load_module \S+;}{load_module $MODULE;}m
        or die "$name: no load_module";
    $t =~ s{^pid \S+;}{pid logs/nginx.pid;}m
        or $t =~ s{^(load_module \S+;)}{$1\npid logs/nginx.pid;}m;
    $t =~ /^daemon off;/m or $t =~ s{^(load_module \S+;)}{$1\ndaemon off;}m;
    $t =~ s{^(\s*)error_log \S+}{$1error_log logs/error.log}mg;
    $t =~ s{access_log /\S+}{access_log logs/access.log}g;
    $t =~ s{listen 127\.0\.0\.1:\d+}{listen 127.0.0.1:$port}g;
    $t =~ s{http://127\.0\.0\.1:8545}{$S->{rpc}}g;
    $t =~ s{x402_redis \S+;}{x402_redis $S->{redis};}g;
    $t =~ s{127\.0\.0\.1:8403}{127.0.0.1:$S->{mockllm}}g;
    $t =~ s{http://127\.0\.0\.1:4022}{$S->{facilitator}}g;
    $t =~ s{x402_settler_key_file \S+;}{x402_settler_key_file $KEY;}g;
    my $temp = join '', map { "\n    ${_}_temp_path tmp/$_;" }
                          qw(client_body proxy fastcgi uwsgi scgi);
    $t =~ s/^http \x7b/http \x7b$temp/m unless $t =~ /_temp_path/;
    return ($t, $port);
}

sub client {
    my ($url, @args) = @_;
    open my $fh, '-|', 'node', 't/client/pay.mjs', $url, '--key',
        $C->{X402_PAYER_KEY}, @args or die $!;
    my $out = do { local $/; <$fh> };
    close $fh;
    return eval { decode_json($out) } // { error => "bad output: $out" };
}

my $chat = encode_json({ model => 'demo', messages => [{ role => 'user', content => 'hello there' }] });

for my $case (
    [ 'demo.conf', '/v1/chat/completions', [ '--method', 'POST', '--body', $chat ] ],
    [ 'inference-gateway.conf', '/v1/chat/completions', [ '--method', 'POST', '--body', $chat ] ],
    [ 'policy-gateway.conf', '/policy', [ '--method', 'POST', '--body',
        encode_json({ jsonrpc => '2.0', id => 1, method => 'evaluate', params => { model => 'demo' } }) ] ],
    [ 'facilitator.conf', '/v1/chat/completions', [ '--method', 'POST', '--body', $chat ] ],
    [ 'node.conf', '/v1/chat/completions', [ '--method', 'POST', '--body', $chat ] ],
) {
    my ($name, $uri, $args) = @$case;
    my ($conf, $port) = adapt($name);
    my $srv = eval { server_start({ full_conf => $conf, port => $port }) };
    ok($srv, "$name: nginx starts") or do { diag($@); next };
    my $r = client("http://127.0.0.1:$port$uri", @$args);
    is_deeply($r->{attempts}, [402, 200], "$name: 402, then paid and served")
        or diag(explain $r);
    server_stop($srv, $name);
}

# node.conf twice, sharing one Redis: one payment is served once
{
    my ($conf_a, $port_a) = adapt('node.conf');
    my ($conf_b, $port_b) = adapt('node.conf');
    my $a = server_start({ full_conf => $conf_a, port => $port_a });
    my $b = server_start({ full_conf => $conf_b, port => $port_b });
    my $h = pay("--amount 1000000000000000 --pay-to $C->{X402_PAY_TO}");
    my %hdr = ('PAYMENT-SIGNATURE' => $h, 'Content-Type' => 'application/json');
    is(http_request($a, 'POST /v1/chat/completions', \%hdr, $chat)->{status}, 200,
       'node A serves the payment');
    is(http_request($b, 'POST /v1/chat/completions', \%hdr, $chat)->{status}, 402,
       'node B refuses it');
    server_stop($a, 'node A');
    server_stop($b, 'node B');
}

# the free routes of the gateway stay free
{
    my ($conf, $port) = adapt('inference-gateway.conf');
    my $srv = server_start({ full_conf => $conf, port => $port });
    is(http_request($srv, 'GET /health')->{status}, 200, 'gateway: /health is free');
    is(http_request($srv, 'GET /v1/models')->{status}, 200, 'gateway: /v1/models is free');
    my $res = http_request($srv, 'POST /v1/chat/completions', { 'Content-Type' => 'application/json' },
        encode_json({ model => 'gpt-unknown', messages => [] }));
    is($res->{status}, 400, 'gateway: an unknown model is a 400');
    like($res->{content}, qr/priced: demo, demo-large/, 'gateway: naming the models it prices');
    server_stop($srv, 'gateway free routes');
}

# the policy service as shipped: a free method, a batch, an unpriced method
{
    my ($conf, $port) = adapt('policy-gateway.conf');
    my $srv = server_start({ full_conf => $conf, port => $port });
    my $call = sub { encode_json({ jsonrpc => '2.0', id => $_[1], method => $_[0],
                                   params => { model => 'demo' } }) };
    my %json = ('Content-Type' => 'application/json');
    my $res = http_request($srv, 'POST /policy', \%json, $call->('ping', 1));
    is($res->{status}, 200, 'policy: ping is free');
    my $batch = '[' . $call->('evaluate', 1) . ',' . $call->('ping', 2) . ']';
    my $r = client("http://127.0.0.1:$port/policy", '--method', 'POST', '--body', $batch);
    is_deeply($r->{attempts}, [402, 200], 'policy: a batch, paid and served');
    is($r->{paymentRequired}{accepts}[0]{amount}, '500000000000000',
       'policy: priced the sum of its calls');
    $res = http_request($srv, 'POST /policy', \%json, $call->('admin_reset', 3));
    is($res->{status}, 400, 'policy: an unpriced method is refused');
    server_stop($srv, 'policy methods');
}

done_testing();
