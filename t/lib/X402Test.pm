package X402Test;

# Data-driven harness for the module: each Test::Base block starts a real
# nginx (Debian's /usr/sbin/nginx with the built module) on a free loopback
# port, sends one request and checks the answer and the error log.
#
# Sections: main_config, http_config, config (inside the test server),
# request ("METHOD /uri"), more_headers, request_body, error_code,
# response_body, response_body_like, response_headers ("Name: value" or
# "!Name"), payment_required / body_json ("dotted.path: value" checks on the
# decoded PAYMENT-REQUIRED header / JSON body), error_log, no_error_log,
# must_die (nginx -t must fail with this message), client ("URI args": the
# official x402 client pays it) with client_json checks on its JSON output.
#
# In config texts: $PORT (test server), $BACKEND (a built-in backend that
# echoes what it got).  In more_headers: {{pay ARGS}} expands to a freshly
# signed PAYMENT-SIGNATURE built by build/tools/x402-pay ARGS, and
# {{vector PATH}} to a string of t/fixtures/vectors.json.

use strict;
use warnings;

use Test::More;
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;
use MIME::Base64 qw(decode_base64);
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);
use Exporter 'import';

our @EXPORT = qw(run_blocks set_defaults pay vector decode_json_b64 json_path
                 start_services services redis_cli rpc_call chain_env
                 mining_stop mining_start
                 redis_start redis_stop free_port settler_key_file
                 server_start server_stop http_request read_file
                 token_balance nonce_used invalidate_nonce random_nonce
                 fault_rpc_start fault_rpc_stop fault_rpc_exited kill_nginx
                 settler_http paid_location paid_server status_location asset_balance
                 settler_tx_count error_of receipt_for wait_status
                 client_pays stop_child in_child collect_child write_file
                 upto_location);

my $NGINX  = $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx';
my $BUILD  = $ENV{X402_BUILD} || 'build';
my $MODULE = $ENV{TEST_X402_MODULE} || "$BUILD/ngx_http_x402_module.so";
my $TOOL   = "$BUILD/tools/x402-pay";
my $VECTORS;
my %DEFAULTS;

# Services started for this test file (start_services), stopped at exit.
# Without them x402_rpc and x402_redis point at a closed port: fine for
# tests that never get past the local checks.
my %SVC = (rpc => 'http://127.0.0.1:9', redis => '127.0.0.1:9');
my %CHAIN;
my @STOPS;
my %LIVE;       # nginx masters server_start started and nothing stopped yet

END {
    local $?;
    $_->() for reverse @STOPS;
    @STOPS = ();
}

sub services { return \%SVC }

sub chain_env { return \%CHAIN }

# The devchain settler's key in a file only its owner can read.
sub settler_key_file {
    my $dir = tempdir('x402-key-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    chmod 0755, $dir;
    my $f = "$dir/settler.key";
    open my $fh, '>', $f or die $!;
    print $fh "$CHAIN{X402_SETTLER_KEY}\n";
    close $fh;
    chmod 0600, $f;
    return $f;
}

# start_services(redis => 1, devchain => 1)
sub start_services {
    my %want = @_;
    my $dir = tempdir('x402-svc-XXXXXX', TMPDIR => 1,
                      CLEANUP => !$ENV{TEST_LEAVE});
    chmod 0755, $dir;
    $SVC{dir} = $dir;
    if ($want{redis}) {
        $SVC{redis_port} = free_port();
        $SVC{redis_dir} = $dir;
        $SVC{redis} = "127.0.0.1:$SVC{redis_port}";
        redis_start();
        push @STOPS, sub { redis_stop() };
    }
    if ($want{devchain}) {
        my $port = free_port();
        local $ENV{DEVCHAIN_DIR} = "$dir/chain";
        local $ENV{DEVCHAIN_PORT} = $port;
        system('scripts/devchain', 'start') == 0 or die "devchain failed";
        push @STOPS, sub {
            local $ENV{DEVCHAIN_DIR} = "$dir/chain";
            system('scripts/devchain', 'stop');
        };
        for (`DEVCHAIN_DIR=$dir/chain DEVCHAIN_PORT=$port scripts/devchain env`) {
            $CHAIN{$1} = $2 if /^export (\w+)=['"]?([^'"\n]*)/;
        }
        $SVC{rpc} = "http://127.0.0.1:$port";
        $SVC{chain_log} = "$dir/chain/anvil.log";   # a line per RPC method
    }
    if ($want{mockllm}) {
        $SVC{mockllm} = node_service($dir, 'mockllm', '--quiet');
    }
    if ($want{facilitator}) {
        my $port = node_service($dir, 'facilitator', '--rpc', $SVC{rpc},
                                '--key', $CHAIN{X402_SETTLER_KEY});
        $SVC{facilitator} = "http://127.0.0.1:$port";
        $SVC{facilitator_log} = "$dir/facilitator.log";
    }
}

# t/tools/x402-fault-rpc.pl on a loopback port in front of the devchain,
# misbehaving as $mode says (see the tool); stopped at exit.  Returns
# { pid, port, log }: the log lists the methods of every request.
my @FAULT_RPC;

sub fault_rpc_start {
    my ($port, $mode) = @_;
    my $dir = $SVC{dir} // die 'fault_rpc_start needs start_services';
    my $log = "$dir/fault-rpc-$port.log";
    my $pid = fork // die $!;
    if ($pid == 0) {
        open STDOUT, '>>', "$dir/fault-rpc.out";
        open STDERR, '>>', "$dir/fault-rpc.out";
        { exec $^X, 't/tools/x402-fault-rpc.pl', '--port', $port,
               '--upstream', $SVC{rpc}, '--mode', $mode, '--log', $log }
        POSIX::_exit(127);
    }
    wait_port($port) or die "fault proxy did not listen on $port";
    my $p = { pid => $pid, port => $port, log => $log };
    if (!@FAULT_RPC) {
        push @STOPS, sub { fault_rpc_stop($_) for @FAULT_RPC };
    }
    push @FAULT_RPC, $p;
    return $p;
}

sub fault_rpc_stop {
    my ($p) = @_;
    kill 'TERM', $p->{pid} if kill 0, $p->{pid};
    waitpid($p->{pid}, 0);
    @FAULT_RPC = grep { $_ != $p } @FAULT_RPC;
}

# whether the proxy exited by itself (the exit-* modes) within 2 s
sub fault_rpc_exited {
    my ($p) = @_;
    for (1 .. 40) {
        if (waitpid($p->{pid}, WNOHANG) == $p->{pid}) {
            @FAULT_RPC = grep { $_ != $p } @FAULT_RPC;
            return 1;
        }
        sleep 0.05;
    }
    return 0;
}

# Start (again) / stop the test Redis, on the same port (fault tests).
sub redis_start {
    my $dir = $SVC{redis_dir};
    system('redis-server', '--port', $SVC{redis_port}, '--bind', '127.0.0.1',
           '--save', '', '--appendonly', 'no', '--daemonize', 'yes',
           '--pidfile', "$dir/redis.pid", '--logfile', "$dir/redis.log",
           '--dir', $dir) == 0 or die "redis-server failed";
    wait_port($SVC{redis_port})
        or die "redis did not listen on $SVC{redis_port}";
}

sub redis_stop {
    my $pidfile = "$SVC{redis_dir}/redis.pid";
    open my $fh, '<', $pidfile or return;
    my $pid = <$fh>;
    chomp $pid;
    kill 'TERM', $pid;
    for (1 .. 100) { last unless kill 0, $pid; sleep 0.05 }
    unlink $pidfile;
}

sub redis_cli {
    my @args = @_;
    open my $fh, '-|', 'redis-cli', '-p', $SVC{redis_port}, '--raw', @args
        or die "redis-cli: $!";
    local $/;
    my $out = <$fh> // '';
    close $fh;
    $out =~ s/\s+\z//;
    return $out;
}

# the devchain mines on arrival and every second (scripts/devchain): stop
# both, or go back to mining on arrival
sub mining_stop {
    rpc_call('evm_setIntervalMining', 0);
    rpc_call('evm_setAutomine', JSON::PP::false);
}

sub mining_start { rpc_call('evm_setAutomine', JSON::PP::true) }

sub rpc_call {
    my ($method, @params) = @_;
    my $res = HTTP::Tiny->new(timeout => 10)->post($SVC{rpc}, {
        headers => { 'Content-Type' => 'application/json' },
        content => encode_json({ jsonrpc => '2.0', id => 1,
                                 method => $method, params => \@params }),
    });
    my $doc = eval { decode_json($res->{content}) } or return undef;
    return $doc->{result};
}

# The chain's own view (never the module's receipts): an ERC-20 balance
# (Math::BigInt), and whether Permit2 has used an owner's nonce.
sub token_balance {
    my ($token, $who) = @_;
    require Math::BigInt;
    my $data = '0x70a08231' . ('0' x 24) . lc(substr($who, 2));
    my $r = rpc_call('eth_call', { to => $token, data => $data }, 'latest');
    return Math::BigInt->from_hex(substr($r // '0x0', 2));
}

sub nonce_used {
    my ($owner, $nonce) = @_;
    require Math::BigInt;
    my $n = Math::BigInt->new($nonce);
    my $word = substr(('0' x 64) . substr($n->copy->brsft(8)->as_hex, 2), -64);
    my $bit = $n->copy->band(255)->numify;
    my $data = '0x4fe02b44' . ('0' x 24) . lc(substr($owner, 2)) . $word;
    my $r = rpc_call('eth_call', { to => '0x000000000022D473030F116dDEE9F6B43aC78BA3',
                                   data => $data }, 'latest')
        // die "nonceBitmap: no answer";
    return Math::BigInt->from_hex(substr($r, 2))->brsft($bit)->band(1)->numify;
}

# $owner spends its Permit2 nonce without paying (invalidateUnorderedNonces),
# as a payer who takes a payment back would; the transaction hash.
sub invalidate_nonce {
    my ($owner, $nonce) = @_;
    require Math::BigInt;
    my $n = Math::BigInt->new($nonce);
    my $word = substr(('0' x 64) . substr($n->copy->brsft(8)->as_hex, 2), -64);
    my $mask = substr(('0' x 64) . substr(Math::BigInt->new(1)->blsft($n->copy->band(255))->as_hex, 2), -64);
    rpc_call('anvil_impersonateAccount', $owner);
    my $tx = rpc_call('eth_sendTransaction', { from => $owner,
        to => '0x000000000022D473030F116dDEE9F6B43aC78BA3', data => "0x3ff9dcb1$word$mask" });
    rpc_call('anvil_stopImpersonatingAccount', $owner);
    return $tx;
}

# scripts/$name (node) on a free loopback port, logs in $dir, stopped at
# exit; its port.
sub node_service {
    my ($dir, $name, @args) = @_;
    my $port = free_port();
    my $pid = fork // die $!;
    if ($pid == 0) {
        open STDOUT, '>', "$dir/$name.out";
        open STDERR, '>', "$dir/$name.log";
        exec 'node', "scripts/$name", '--port', $port, @args;
        exit 127;
    }
    wait_port($port) or die "$name did not listen on $port";
    push @STOPS, sub { kill 'TERM', $pid; waitpid($pid, 0) };
    return $port;
}

# Runs $code in a child process; what it returns (a list of lines) comes
# back through collect_child, which also reaps the child.
sub in_child {
    my ($code) = @_;
    pipe(my $r, my $w) or die $!;
    my $pid = fork // die $!;
    if ($pid == 0) {
        close $r;
        my @lines = eval { $code->() };
        print $w map { "$_\n" } @lines;
        close $w;
        POSIX::_exit(0);
    }
    close $w;
    return { pid => $pid, fh => $r };
}

sub collect_child {
    my ($child) = @_;
    my $fh = $child->{fh};
    my @lines = map { chomp; $_ } <$fh>;
    waitpid($child->{pid}, 0);
    return @lines;
}

# Writes $text to $path and sets its mode (a key file, a password file).
sub write_file {
    my ($path, $text, $mode) = @_;
    open my $fh, '>', $path or die "$path: $!";
    print $fh $text;
    close $fh;
    chmod $mode, $path if defined $mode;
    return $path;
}

# An upto location (cap $price) whose facilitator is the devchain's public
# account #3; options as paid_location.
sub upto_location {
    my ($path, %o) = @_;
    return paid_location($path, %o, more => "x402_scheme upto;\n"
        . "x402_facilitator_address 0x90F79bf6EB2c4f870365E785982E1f101E93b906;\n"
        . ($o{more} // ''));
}

# The devchain asset's balance of $who (Math::BigInt).
sub asset_balance { token_balance($CHAIN{X402_ASSET}, $_[0]) }

# Transactions the settler has sent (its account nonce).
sub settler_tx_count {
    my $r = rpc_call('eth_getTransactionCount', $CHAIN{X402_SETTLER_ADDRESS},
                     'latest');
    return hex($r // '0x0');
}

# The http{} lines of a node that settles itself: the test's RPC and Redis,
# the settler key ($key, or one key file for the whole test), then $more.
my $SHARED_KEY;

sub settler_http {
    my ($more, $key) = @_;
    $key //= $SHARED_KEY //= settler_key_file();
    return "x402_rpc \$RPC;\nx402_redis \$REDIS;\nx402_settler_key_file $key;\n"
         . ($more // '');
}

# A location gated by x402 in front of the test backend.  Options: pay_to
# ($X402_PAY_TO), price (0.001), more (directives, one a line), echo
# ('result' or 'tx': the payer, the amount and $x402_<echo> are passed to
# the backend, which echoes them), pass (the proxy_pass URL).
sub paid_location {
    my ($path, %o) = @_;
    my @lines = ('x402 on;', map({ s/^\s+//r } split /\n/, $o{more} // ''),
                 'x402_pay_to ' . ($o{pay_to} // '$X402_PAY_TO') . ';',
                 'x402_price ' . ($o{price} // '0.001') . ';');
    push @lines, 'proxy_set_header X-Payer $x402_payer;',
                 'proxy_set_header X-Amount $x402_amount;',
                 "proxy_set_header X-Result \$x402_$o{echo};" if $o{echo};
    push @lines, 'proxy_pass ' . ($o{pass} // 'http://127.0.0.1:$BACKEND') . ';';
    return "location $path {\n" . join('', map { "    $_\n" } grep { /\S/ } @lines)
         . "}\n";
}

# x402 on for the whole server at the standard offer, /paid/ proxied to the
# backend (what the module's own locations must stay ungated under).
sub paid_server {
    return "x402 on;\nx402_pay_to \$X402_PAY_TO;\nx402_price 0.001;\n"
         . "location /paid/ {\n    proxy_pass http://127.0.0.1:\$BACKEND;\n}\n";
}

# The Prometheus status location, ungated.
sub status_location { "location = /metrics {\n    x402_status;\n}\n" }

# The reason of a refusal (PAYMENT-REQUIRED's error), undef without one.
sub error_of {
    my ($res) = @_;
    my $pr = decode_json_b64($res->{headers}{'payment-required'});
    return $pr ? $pr->{error} : undef;
}

# The receipt in Redis for the request of $resource, undef if none.
sub receipt_for {
    my ($resource) = @_;
    for my $k (grep { length } split /\n/, redis_cli('--scan', '--pattern', 'x402:8453:*')) {
        my $r = eval { decode_json(redis_cli('GET', $k)) };
        return $r if $r && $r->{resource} eq $resource;
    }
    return undef;
}

# That receipt once its status is $want (up to $secs), else as it is then.
sub wait_status {
    my ($resource, $want, $secs) = @_;
    my $r;
    for (1 .. $secs * 10) {
        $r = receipt_for($resource);
        return $r if $r && $r->{status} eq $want;
        sleep 0.1;
    }
    return $r;
}

# The official client (t/client/pay.mjs) pays $uri on $srv with $key (the
# devchain payer's by default); its JSON report.
sub client_pays {
    my ($srv, $uri, $key) = @_;
    my $url = "http://127.0.0.1:$srv->{port}$uri";
    $key //= $CHAIN{X402_PAYER_KEY};
    my $out = `node t/client/pay.mjs $url --key $key`;
    return eval { decode_json($out) } // { error => "bad output: $out" };
}

# SIGTERM to a child, SIGKILL after $secs: 1 if it exited by itself.
sub stop_child {
    my ($pid, $secs) = @_;
    kill 'TERM', $pid;
    my $deadline = time + $secs;
    while (time < $deadline) {
        return 1 if waitpid($pid, WNOHANG) == $pid;
        sleep 0.05;
    }
    kill 'KILL', $pid;
    waitpid($pid, 0);
    return 0;
}

# A fresh Permit2 nonce in decimal (256 random bits, as the client draws).
sub random_nonce {
    require Math::BigInt;
    open my $fh, '<:raw', '/dev/urandom' or die $!;
    read($fh, my $b, 32) == 32 or die "urandom";
    return Math::BigInt->from_hex(unpack('H*', $b))->bstr;
}

sub wait_port {
    my ($port) = @_;
    for (1 .. 200) {
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
                                      Timeout => 1);
        if ($s) { close $s; return 1 }
        sleep 0.05;
    }
    return 0;
}

# Sections used by blocks that do not have their own (e.g. one config).
sub set_defaults {
    %DEFAULTS = @_;
}

sub section {
    my ($block, $name) = @_;
    my $v = $block->$name;
    return defined $v ? $v : $DEFAULTS{$name};
}

# a port nothing listens on, never one this process was given before: the
# kernel may hand the same free port out twice in a row, and a test server
# and its backend on one port answer each other's requests
my %GIVEN;

sub free_port {
    for (1 .. 100) {
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                      Proto => 'tcp', Listen => 1, ReuseAddr => 1)
            or die "cannot bind: $!";
        my $port = $s->sockport;
        close $s;
        return $port unless $GIVEN{$port}++;
    }
    die "no fresh free port";
}

sub pay {
    my ($args) = @_;
    my $out = `$TOOL $args`;
    die "x402-pay $args failed (exit $?)" if $? != 0;
    chomp $out;
    return $out;
}

sub vector {
    my ($path) = @_;
    unless ($VECTORS) {
        open my $fh, '<', 't/fixtures/vectors.json' or die "vectors: $!";
        local $/;
        $VECTORS = decode_json(<$fh>);
    }
    my $v = json_path($VECTORS, $path);
    die "no vector $path" unless defined $v;
    return $v;
}

# A header with one character of the url-safe alphabet ('-') in place of a
# standard one, and with a space inside: neither may decode.
sub urlsafe {
    my ($b64) = @_;
    substr($b64, 100, 1) = '-';
    return $b64;
}

sub spaced {
    my ($b64) = @_;
    substr($b64, 100, 0) = ' ';
    return $b64;
}

sub json_path {
    my ($doc, $path) = @_;
    my $v = $doc;
    for my $k (split /\./, $path) {
        return undef unless ref $v;
        $v = ref $v eq 'ARRAY' ? $v->[$k] : $v->{$k};
    }
    return $v;
}

sub decode_json_b64 {
    my ($b64) = @_;
    return undef unless defined $b64;
    return eval { decode_json(decode_base64($b64)) };
}

sub write_conf {
    my ($dir, $block, $port, $backend) = @_;
    my $expand = sub {
        my $t = shift // '';
        $t =~ s/\$PORT\b/$port/g;
        $t =~ s/\$BACKEND\b/$backend/g;
        $t =~ s/\$RPC\b/$SVC{rpc}/g;
        $t =~ s/\$REDIS\b/$SVC{redis}/g;
        $t =~ s/\$MOCKLLM\b/$SVC{mockllm} \/\/ die "no mockllm"/ge;
        $t =~ s/\$FACILITATOR\b/$SVC{facilitator} \/\/ die "no facilitator"/ge;
        $t =~ s/\$(X402_\w+)/$CHAIN{$1} \/\/ die "no chain value $1"/ge;
        return $t;
    };
    my $main = $expand->(section($block, 'main_config'));
    my $workers = section($block, 'workers') // 1;
    my $http = $expand->(section($block, 'http_config'));
    unless (defined $block->no_deps || $http =~ /x402_rpc|x402_redis/) {
        $http = "    x402_rpc $SVC{rpc};\n    x402_redis $SVC{redis};\n$http";
    }
    my $conf = $expand->(section($block, 'config'));
    # a gated location with nothing to settle it must say so: tests of
    # what comes before settlement run without a settler
    $http = "    x402_settle off;\n$http"
        unless defined $block->settle_unset
            || "$http$conf" =~ /x402_settler_key_file|x402_facilitator\s|x402_settle\s/;

    open my $fh, '>', "$dir/conf/nginx.conf" or die $!;
    print $fh <<"CONF";
load_module $MODULE;
daemon off;
master_process on;
worker_processes $workers;
error_log logs/error.log debug;
pid logs/nginx.pid;
$main
events { worker_connections 128; }
http {
    access_log logs/access.log;
    client_body_temp_path tmp/body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;
$http
    server {
        listen 127.0.0.1:$backend;
        location / {
            default_type text/plain;
            return 200 "backend \$request_method \$request_uri payer=\$http_x_payer amount=\$http_x_amount result=\$http_x_result\\n";
        }
    }
    server {
        listen 127.0.0.1:$port;
        server_name localhost;
$conf
    }
}
CONF
    close $fh;
}

sub read_file {
    my ($f) = @_;
    open my $fh, '<', $f or return '';
    local $/;
    return <$fh>;
}

sub start_nginx {
    my ($dir, $port) = @_;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>', "$dir/logs/stdout.log";
        open STDERR, '>', "$dir/logs/stderr.log";
        exec $NGINX, '-p', "$dir/", '-c', 'conf/nginx.conf',
             '-e', 'logs/error.log';
        exit 127;
    }
    my $deadline = time + 10;
    while (time < $deadline) {
        if (waitpid($pid, WNOHANG) == $pid) {
            die "nginx exited at start-up:\n" . read_file("$dir/logs/stderr.log")
                . read_file("$dir/logs/error.log");
        }
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
                                      Timeout => 1);
        if ($s) { close $s; return $pid; }
        sleep 0.05;
    }
    kill_nginx($pid);
    die "nginx did not listen on $port";
}

# SIGKILL to nginx, the master first: a master that outlives its workers
# starts new ones, and a worker whose master is gone runs on, orphaned,
# with its timers (a reconciler acting on the next test's chain)
sub kill_nginx {
    my ($pid) = @_;
    delete $LIVE{$pid};
    my @workers = map { /(\d+)/ ? $1 : () } `pgrep -P $pid`;
    kill 'KILL', $pid;
    waitpid($pid, 0);
    kill 'KILL', @workers if @workers;
}

sub stop_nginx {
    my ($pid) = @_;
    kill 'QUIT', $pid;
    my $deadline = time + 10;
    while (time < $deadline) {
        if (waitpid($pid, WNOHANG) == $pid) {
            delete $LIVE{$pid};
            return 1;
        }
        sleep 0.05;
    }
    # never leave workers behind a master that would not stop
    kill_nginx($pid);
    return 0;
}

sub expand_headers {
    my ($text) = @_;
    my %h;
    for my $line (split /\n/, $text // '') {
        next unless $line =~ /\S/;
        $line =~ s/\$(X402_\w+)/$CHAIN{$1} \/\/ die "no chain value $1"/ge;
        $line =~ s/\{\{pay ([^}]*)\}\}/pay($1)/ge;
        $line =~ s/\{\{vector ([^}]*)\}\}/vector($1)/ge;
        $line =~ s/\{\{urlsafe ([^}]*)\}\}/urlsafe(vector($1))/ge;
        $line =~ s/\{\{spaced ([^}]*)\}\}/spaced(vector($1))/ge;
        my ($k, $v) = $line =~ /^([^:]+):\s?(.*)$/ or die "bad header '$line'";
        if (exists $h{$k}) {
            $h{$k} = [ ref $h{$k} ? @{$h{$k}} : $h{$k}, $v ];
        } else {
            $h{$k} = $v;
        }
    }
    return \%h;
}

sub check_json {
    my ($name, $doc, $spec) = @_;
    ok(defined $doc, "$name: decodes as JSON") or return;
    for my $line (split /\n/, $spec) {
        next unless $line =~ /\S/;
        my ($path, $want) = $line =~ /^\s*(\S+):\s?(.*?)\s*$/
            or die "bad json check '$line'";
        my $got = json_path($doc, $path);
        if ($want eq '(absent)') {
            ok(!defined $got, "$name: $path absent");
        } elsif ($want =~ m{^/(.*)/$}) {
            like($got // '(undef)', qr/$1/, "$name: $path");
        } else {
            $got = '(undef)' unless defined $got;
            $got = $got ? 'true' : 'false' if JSON::PP::is_bool($got);
            is("$got", $want, "$name: $path");
        }
    }
}

sub lines {
    my ($t) = @_;
    return grep { /\S/ } map { s/^\s+|\s+$//gr } split /\n/, $t // '';
}

sub run_must_die {
    my ($block, $dir) = @_;
    my $out = `$NGINX -p $dir/ -c conf/nginx.conf -e logs/error.log -t 2>&1`;
    isnt($? >> 8, 0, $block->name . ': nginx -t fails');
    for my $want (lines($block->must_die)) {
        # $LINE{text}: the line of the written nginx.conf that holds text
        $want =~ s/\$LINE\{([^}]*)\}/line_of("$dir\/conf\/nginx.conf", $1)/ge;
        like($out, qr/\Q$want\E/, $block->name . ": nginx -t says '$want'");
    }
}

sub line_of {
    my ($file, $text) = @_;
    open my $fh, '<', $file or die "$file: $!";
    while (<$fh>) { return $. if index($_, $text) >= 0 }
    die "$file has no line with '$text'";
}

sub run_block {
    my ($block) = @_;
    my $name = $block->name;
    my $dir = tempdir('x402-XXXXXX', TMPDIR => 1,
                      CLEANUP => !$ENV{TEST_LEAVE});
    chmod 0755, $dir;
    mkdir "$dir/$_" for qw(conf logs tmp html);
    chmod 0755, "$dir/$_" for qw(conf logs tmp html);
    my ($port, $backend) = (free_port(), free_port());
    write_conf($dir, $block, $port, $backend);

    if (defined $block->must_die) {
        run_must_die($block, $dir);
        return;
    }

    my $pid = start_nginx($dir, $port);
    if (defined $block->client) {
        run_client($block, $dir, $port, $pid);
        return;
    }
    my ($method, $uri) = split ' ', ($block->request // 'GET /') =~ s/\s+$//r, 2;
    my $headers = expand_headers($block->more_headers);
    my $http = HTTP::Tiny->new(timeout => 10, max_redirect => 0);
    my %opt = (headers => $headers);
    $opt{content} = $block->request_body if defined $block->request_body;
    my $res = $http->request($method, "http://127.0.0.1:$port$uri", \%opt);
    stop_nginx($pid) or fail("$name: nginx stopped within 10 s");
    my $log = read_file("$dir/logs/error.log");
    my $x = sub { ($_[0] // '') =~ s/\$PORT\b/$port/gr };

    if (defined $block->error_code) {
        is($res->{status}, $block->error_code + 0, "$name: status")
            or diag($res->{content});
    }
    if (defined $block->response_body) {
        is($res->{content}, $block->response_body, "$name: body");
    }
    for my $re (lines($x->($block->response_body_like))) {
        like($res->{content}, qr/$re/, "$name: body like $re");
    }
    for my $line (lines($block->response_headers)) {
        if ($line =~ /^!\s*(\S+)/) {
            ok(!defined $res->{headers}{lc $1}, "$name: no $1 header");
            next;
        }
        my ($k, $v) = $line =~ /^([^:]+):\s*(.*)$/;
        is($res->{headers}{lc $k}, $v, "$name: header $k");
    }
    if (defined $block->payment_required) {
        check_json("$name: PAYMENT-REQUIRED",
                   decode_json_b64($res->{headers}{'payment-required'}),
                   $x->($block->payment_required));
    }
    if (defined $block->body_json) {
        check_json("$name: body", eval { decode_json($res->{content}) },
                   $x->($block->body_json));
    }
    for my $want (lines($block->error_log)) {
        like($log, qr/\Q$want\E/, "$name: error log has '$want'");
    }
    for my $bad (lines($block->no_error_log)) {
        unlike($log, qr/\Q$bad\E/, "$name: error log lacks '$bad'");
    }
    unlike($log, qr/\[(alert|crit|emerg)\]|Sanitizer/,
           "$name: no alerts in error.log");
}

# The official x402 client (t/client/pay.mjs) pays the block's URL.
sub run_client {
    my ($block, $dir, $port, $pid) = @_;
    my $name = $block->name;
    my ($uri, @rest) = split ' ', $block->client =~ s/\s+$//r;
    my @cmd = ('node', 't/client/pay.mjs', "http://127.0.0.1:$port$uri", @rest);
    open my $fh, '-|', @cmd or die "node: $!";
    my $out = do { local $/; <$fh> };
    close $fh;
    stop_nginx($pid) or fail("$name: nginx stopped within 10 s");
    my $log = read_file("$dir/logs/error.log");
    my $doc = eval { decode_json($out) };
    check_json("$name: client", $doc,
               ($block->client_json // '') =~ s/\$PORT\b/$port/gr);
    diag($out) if $ENV{TEST_VERBOSE};
    for my $want (lines($block->error_log)) {
        like($log, qr/\Q$want\E/, "$name: error log has '$want'");
    }
    unlike($log, qr/\[(alert|crit|emerg)\]|Sanitizer/,
           "$name: no alerts in error.log");
}

# Scripted tests: server_start({config => ..., http_config => ...}) starts
# nginx and returns a handle; http_request($srv, 'GET /x', {headers}) sends
# one request; server_stop($srv) stops nginx, checks error.log for alerts
# and returns the log.
{
    package X402Test::Spec;
    sub new { my ($c, %h) = @_; bless {%h}, $c }
    our $AUTOLOAD;
    sub AUTOLOAD { my $k = $AUTOLOAD =~ s/.*:://r; $_[0]{$k} }
    sub DESTROY {}
}

sub server_start {
    my ($spec) = @_;
    my $block = X402Test::Spec->new(%$spec);
    my $dir = tempdir('x402-XXXXXX', TMPDIR => 1,
                      CLEANUP => !$ENV{TEST_LEAVE});
    chmod 0755, $dir;
    mkdir "$dir/$_" for qw(conf logs tmp html);
    chmod 0755, "$dir/$_" for qw(conf logs tmp html);
    my ($port, $backend) = ($spec->{port} // free_port(), free_port());
    if (defined $spec->{full_conf}) {
        # a whole configuration file (conf/*.conf), already adapted
        open my $fh, '>', "$dir/conf/nginx.conf" or die $!;
        print $fh $spec->{full_conf};
        close $fh;
    } else {
        write_conf($dir, $block, $port, $backend);
    }
    my $pid = start_nginx($dir, $port);
    if (!%LIVE) {
        # a test that dies before server_stop leaves no nginx behind
        push @STOPS, sub { kill_nginx($_) for keys %LIVE };
    }
    $LIVE{$pid} = 1;
    return { dir => $dir, port => $port, pid => $pid };
}

sub http_request {
    my ($srv, $req, $headers, $body) = @_;
    my ($method, $uri) = split ' ', $req, 2;
    my %opt = (headers => $headers // {});
    $opt{content} = $body if defined $body;
    return HTTP::Tiny->new(timeout => 20, max_redirect => 0)
        ->request($method, "http://127.0.0.1:$srv->{port}$uri", \%opt);
}

# $expected: a pattern of alert lines the test caused itself (a worker it
# killed, say), not counted
sub server_stop {
    my ($srv, $name, $expected) = @_;
    stop_nginx($srv->{pid}) or fail("$name: nginx stopped within 10 s");
    my $log = read_file("$srv->{dir}/logs/error.log");
    my $checked = $expected ? join('', grep { !/$expected/ } split /^/m, $log) : $log;
    unlike($checked, qr/\[(alert|crit|emerg)\]|Sanitizer/,
           "$name: no alerts in error.log");
    return $log;
}

sub run_blocks {
    my @blocks = @_;
    run_block($_) for @blocks;
    done_testing();
}

1;
