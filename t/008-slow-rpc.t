# A slow chain node: a delaying loopback HTTP proxy (written here) between
# nginx (x402_rpc) and the devchain.  A slow-but-in-time RPC still serves the
# payment; an RPC slower than x402_timeout is answered 503 at the deadline
# while the same worker keeps serving other requests; a graceful reload with
# a request parked on the RPC lets that request finish (503 at its deadline)
# while the new worker serves; a client that goes away while parked is
# logged 499 and the worker stays healthy.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Fcntl qw(O_WRONLY O_APPEND O_CREAT);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use JSON::PP;
use POSIX qw(WNOHANG _exit);
use Time::HiRes qw(time sleep);
use X402Test;

my $T0 = time;
start_services(redis => 1, devchain => 1);

my $C = chain_env();
my $PAY_TO = $C->{X402_PAY_TO};
my $PRICE_ATOMIC = '1000000000000000';
my ($RPC_PORT) = services()->{rpc} =~ /:(\d+)$/ or die 'no devchain port';
my $REDIS = services()->{redis};

my $CONFIG = paid_location('/paid/', more => <<'MORE') . <<'CONF';
proxy_set_header X-Payer $x402_payer;
proxy_set_header X-Result $x402_result;
MORE
location /free/ {
    proxy_pass http://127.0.0.1:$BACKEND;
}
location = /pid {
    default_type text/plain;
    return 200 "$pid";
}
CONF

# ---- the delaying proxy ---------------------------------------------------
# One process (own process group) accepting; one forked child per connection:
# reads one request (headers + Content-Length body), sleeps, forwards it to
# the devchain with "Connection: close", relays the answer and closes.  Each
# connection appends "accepted <t>" and "relayed <t> <bytes>" to its log.

my @PROXIES;
my $PROXY_DIR = tempdir('x402-proxy-XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{TEST_LEAVE});
END {
    local $?;
    for my $pid (@PROXIES) {
        kill 'TERM', -$pid;
        kill 'TERM', $pid;
        waitpid($pid, 0);
    }
}

sub proxy_log {
    my ($file, $line) = @_;
    sysopen(my $fh, $file, O_WRONLY | O_APPEND | O_CREAT) or return;
    syswrite($fh, sprintf("%s %.3f\n", $line, time));
    close $fh;
}

sub read_http {
    my ($s) = @_;
    my $buf = '';
    while ($buf !~ /\r\n\r\n/) {
        my $n = sysread($s, $buf, 65536, length $buf);
        return unless $n;
    }
    my ($head, $body) = split /\r\n\r\n/, $buf, 2;
    my ($len) = $head =~ /^Content-Length:\s*(\d+)\s*$/mi;
    if (defined $len) {
        while (length($body) < $len) {
            my $n = sysread($s, $body, 65536, length $body);
            return unless $n;
        }
    } else {
        1 while sysread($s, $body, 65536, length $body);
    }
    return ($head, $body);
}

sub proxy_one {
    my ($c, $delay, $log) = @_;
    proxy_log($log, 'accepted');
    my ($head, $body) = read_http($c) or return;
    sleep $delay;
    my @h = grep { !/^(Connection|Keep-Alive|Proxy-Connection):/i } split /\r\n/, $head;
    my $up = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$RPC_PORT", Timeout => 5)
        or return;
    syswrite($up, join("\r\n", @h, 'Connection: close', '', '') . $body);
    my ($rhead, $rbody) = read_http($up) or return;
    close $up;
    my @rh = grep { !/^(Connection|Keep-Alive):/i } split /\r\n/, $rhead;
    my $out = join("\r\n", @rh, 'Connection: close', '', '') . $rbody;
    my $n = syswrite($c, $out) // 0;
    proxy_log($log, "relayed $n");
}

sub start_proxy {
    my ($delay) = @_;
    my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Proto => 'tcp', Listen => 128, ReuseAddr => 1)
        or die "proxy bind: $!";
    my $port = $l->sockport;
    my $log = "$PROXY_DIR/proxy-$port.log";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        # never return into the test (its END blocks stop the services)
        eval {
            setpgrp(0, 0);
            $SIG{CHLD} = 'IGNORE';
            $SIG{PIPE} = 'IGNORE';
            $SIG{TERM} = sub { _exit(0) };
            while (1) {
                my $c = $l->accept or next;
                my $k = fork;
                if (defined $k && $k == 0) {
                    close $l;
                    eval { proxy_one($c, $delay, $log) };
                    _exit(0);
                }
                close $c;
            }
        };
        _exit(1);
    }
    close $l;
    push @PROXIES, $pid;
    return { pid => $pid, port => $port, log => $log, delay => $delay };
}

sub proxy_count {
    my ($p, $what) = @_;
    my @l = grep { /^\Q$what\E / } split /\n/, read_file($p->{log});
    return scalar @l;
}

# ---- helpers ----------------------------------------------------------------

sub http_config {
    my ($proxy, $timeout, $rpc_timeout) = @_;
    return <<"HTTP";
x402_rpc http://127.0.0.1:$proxy->{port};
x402_redis $REDIS;
x402_rpc_timeout $rpc_timeout;
x402_timeout $timeout;
HTTP
}

sub payment { pay("--amount $PRICE_ATOMIC --pay-to $PAY_TO " . ($_[0] // '')) }

sub timed {
    my ($srv, $req, $headers) = @_;
    my $t0 = time;
    my $res = http_request($srv, $req, $headers);
    return ($res, time - $t0);
}

# runs a request in a child; returns a handle for collect()
sub background {
    my ($srv, $req, $headers) = @_;
    pipe(my $r, my $w) or die $!;
    my $pid = fork // die $!;
    if ($pid == 0) {
        close $r;
        my ($res, $dt) = eval { timed($srv, $req, $headers) };
        print $w encode_json({ status => $res ? $res->{status} : 0,
                               content => $res ? $res->{content} : '',
                               dt => $dt // 0 });
        close $w;
        _exit(0);
    }
    close $w;
    return { pid => $pid, fh => $r };
}

sub collect {
    my ($bg) = @_;
    my $fh = $bg->{fh};
    my $out = do { local $/; <$fh> };
    waitpid($bg->{pid}, 0);
    return eval { decode_json($out) } // { status => 0, dt => 0, content => '' };
}

sub worker_pid {
    my ($srv) = @_;
    my $res = http_request($srv, 'GET /pid');
    return $res->{status} == 200 ? $res->{content} : undef;
}

sub alive {
    my ($pid) = @_;
    return 0 unless $pid && kill 0, $pid;
    my $st = read_file("/proc/$pid/stat");
    return $st =~ /\) Z /s ? 0 : 1;
}

my $fast = start_proxy(0.3);
my $slow = start_proxy(3);

# ---- 1. 300 ms RPC, x402_timeout 2s: served ------------------------------------
{
    my $srv = server_start({ config => $CONFIG, http_config => http_config($fast, '2s', '5s') });
    my ($res, $dt) = timed($srv, 'GET /paid/x', { 'PAYMENT-SIGNATURE' => payment() });
    is($res->{status}, 200, '300 ms RPC, 2 s deadline: valid payment served')
        or diag($res->{content});
    like($res->{content}, qr/result=paid/, 'backend saw result=paid');
    cmp_ok($dt, '>=', 0.3, sprintf('answered after the RPC delay (%.3f s)', $dt));
    cmp_ok($dt, '<', 2, 'and before the deadline');
    cmp_ok(proxy_count($fast, 'relayed'), '>=', 1, 'the RPC went through the delaying proxy');
    server_stop($srv, '300 ms RPC');
}

# ---- 2. 3 s RPC, x402_timeout 1s: 503 at the deadline, worker not blocked ----
# x402_rpc_timeout 2s: below the proxy's 3 s, so an orphaned RPC transfer
# (the module lets it run on after the deadline) ends at 2 s
my $srv = server_start({ config => $CONFIG, http_config => http_config($slow, '1s', '2s') });
{
    my $bg = background($srv, 'GET /paid/slow', { 'PAYMENT-SIGNATURE' => payment() });
    sleep 0.3;
    my ($free, $dt_free) = timed($srv, 'GET /free/x');
    my $pid_during = worker_pid($srv);
    my $r = collect($bg);
    is($free->{status}, 200, 'free location answered while a payment is parked');
    cmp_ok($dt_free, '<', 0.3, sprintf('at once (%.3f s): the worker is not blocked', $dt_free));
    is($r->{status}, 503, '3 s RPC, 1 s deadline: 503');
    cmp_ok($r->{dt}, '>=', 0.95, sprintf('at the deadline (%.3f s)', $r->{dt}));
    cmp_ok($r->{dt}, '<', 1.6, 'not later');
    my $body = eval { decode_json($r->{content}) } // {};
    ok(defined $body->{error} && length $body->{error}, "503 body is JSON with an error ($r->{content})");
    cmp_ok(proxy_count($slow, 'accepted'), '>=', 1, 'the RPC was parked on the slow proxy');
    my $log = read_file("$srv->{dir}/logs/error.log");
    like($log, qr/timed out after 1000 ms/, 'log: the deadline is explained');
    is(worker_pid($srv), $pid_during, 'same worker throughout');
}

# ---- 3. the client goes away while parked: 499, worker healthy ----------------
{
    my $pid0 = worker_pid($srv);
    my $before = proxy_count($slow, 'accepted');
    my $h = payment();
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$srv->{port}", Timeout => 2)
        or die "connect: $!";
    print $s "GET /paid/gone HTTP/1.1\r\nHost: localhost\r\n"
           . "PAYMENT-SIGNATURE: $h\r\n\r\n";
    sleep 0.2;
    close $s;
    my $t_close = time;
    my $access = '';
    for (1 .. 40) {
        $access = read_file("$srv->{dir}/logs/access.log");
        last if $access =~ m{"GET /paid/gone };
        sleep 0.05;
    }
    my $dt_log = time - $t_close;
    like($access, qr{"GET /paid/gone HTTP/1\.1" 499 }, 'client gone while parked: 499 in access.log');
    cmp_ok($dt_log, '<', 0.7, sprintf('logged when the client left (%.3f s), not at the deadline', $dt_log));
    cmp_ok(proxy_count($slow, 'accepted'), '>', $before, 'that request had reached the RPC');
    sleep 1.2;    # past the deadline the request would have had
    my ($free, $dt) = timed($srv, 'GET /free/x');
    is($free->{status}, 200, 'worker healthy afterwards');
    is(worker_pid($srv), $pid0, 'same worker (no crash, no respawn)');
    my $unpaid = http_request($srv, 'GET /paid/x');
    is($unpaid->{status}, 402, 'unpaid request still answered 402');
}

# ---- 4. graceful reload with a request parked on the 3 s RPC -------------------
# The request parked in the old worker must get its 503 at its deadline; the
# reload points x402_rpc at the 300 ms proxy, so the new worker serves
# payments (200) meanwhile.
{
    my $old = worker_pid($srv);
    ok($old, "worker pid $old");
    my $h = payment();
    my $t_start = time;
    my $bg = background($srv, 'GET /paid/reload', { 'PAYMENT-SIGNATURE' => $h });
    sleep 0.25;
    my $conf = read_file("$srv->{dir}/conf/nginx.conf");
    $conf =~ s{x402_rpc http://127\.0\.0\.1:$slow->{port};}{x402_rpc http://127.0.0.1:$fast->{port};}
        or die 'no x402_rpc line';
    open my $fh, '>', "$srv->{dir}/conf/nginx.conf" or die $!;
    print $fh $conf;
    close $fh;
    my $t_hup = time;
    kill 'HUP', $srv->{pid};
    my $new;
    while (time - $t_hup < 5) {
        my $p = worker_pid($srv);
        if (defined $p && $p ne $old) { $new = $p; last }
        sleep 0.02;
    }
    ok($new, sprintf('a new worker (%s) answers %.3f s after the HUP', $new // '-', time - $t_hup));
    # the old worker accepts until it has handled the master's QUIT (sent
    # 100 ms after the new worker started): wait for it to say so
    my $quit = 0;
    while (time - $t_hup < 5) {
        if (read_file("$srv->{dir}/logs/error.log") =~ /\b$old#\d+: gracefully shutting down/) {
            $quit = 1;
            last;
        }
        sleep 0.02;
    }
    ok($quit, sprintf('the old worker is shutting down gracefully (%.3f s after the HUP)', time - $t_hup));
    sleep 0.05;
    ok(alive($old), 'the old worker is still there, finishing its request');
    my ($free, $dt_free) = timed($srv, 'GET /free/x');
    is($free->{status}, 200, 'after the reload: free request served');
    my ($paid, $dt_paid) = timed($srv, 'GET /paid/x', { 'PAYMENT-SIGNATURE' => payment() });
    is($paid->{status}, 200, sprintf('after the reload: payment served through the new RPC (%.3f s)', $dt_paid))
        or diag($paid->{content});
    my $r = collect($bg);
    my $t_done = time;
    ok(alive($old), 'the old worker was still alive to answer it');
    is($r->{status}, 503, 'the request parked across the reload: 503');
    cmp_ok($r->{dt}, '>=', 0.95, sprintf('at its deadline (%.3f s)', $r->{dt}));
    cmp_ok($r->{dt}, '<', 1.6, 'not later');
    like($r->{content}, qr/"error"/, '503 body has an error');
    # its RPC transfer outlives the request until x402_rpc_timeout (2 s
    # after it started); the worker must exit then, not wait for the 3 s proxy
    my $gone = 0;
    while (time - $t_start < 2.8) {
        if (!alive($old)) { $gone = 1; last }
        sleep 0.02;
    }
    ok($gone, sprintf('the old worker exits within x402_rpc_timeout of its last RPC (%.3f s after it started)',
                      time - $t_start));
    is(worker_pid($srv), $new, 'the new worker keeps serving');
}

my $log = server_stop($srv, 'slow RPC node');
unlike($log, qr/\[alert\]/, 'no [alert] in error.log');
like($log, qr/reconfiguring/, 'log: the reload happened');

diag(sprintf 'took %.1f s', time - $T0);
done_testing();
