# Scale-out Redis: three nginx nodes on one Redis primary with two replicas
# and three sentinels (Debian's redis-server and redis-sentinel, loopback).
# Under 16 concurrent payers the primary is killed -9: the sentinels fail
# over, every node finds the new primary without a reload, and with
# x402_redis_wait 1 no payment is served twice.  Checked on chain: every
# 200 paid (Permit2's nonce bit), no refusal charged.  Then
# x402_redis_wait with fewer replicas than it asks for: 503, the
# reservation released, the same payment served once they are back.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use HTTP::Tiny;
use Math::BigInt;
use Time::HiRes qw(time sleep);
use X402Test;
use X402Sentinel;

my $T0 = time;
ok(system('sh', '-c', 'command -v redis-sentinel >/dev/null') == 0,
   'redis-sentinel is installed (scripts/install-deps)')
    or BAIL_OUT('no redis-sentinel');

start_services(devchain => 1);
my $C = chain_env();
my $PRICE = '1000000000000000';
my $PAYER = $C->{X402_PAYER_ADDRESS};

my $cl = sentinel_cluster(replicas => 2, sentinels => 3);
my $p0 = sentinel_primary($cl);
is($p0, $cl->{redis}[0]{port}, 'the sentinels name the primary');

my $KEY = settler_key_file();
my $HTTP = "x402_rpc \$RPC;\n" . sentinel_directive($cl)
         . "x402_redis_wait 1;\nx402_settler_key_file $KEY;\n"
         . "x402_reconcile_interval 1s;\n";
my @nodes = map {
    server_start({ http_config => $HTTP, workers => 2,
                   config => paid_location('/paid/') . status_location() })
} 1 .. 3;
pass('three nodes started on sentinel:' . $cl->{master});

my $DEADLINE = int(time) + 900;
sub header {
    my ($nonce, $key) = @_;
    return pay('--key ' . ($key // $C->{X402_PAYER_KEY}) . " --amount $PRICE "
             . "--pay-to $C->{X402_PAY_TO} --nonce $nonce --deadline $DEADLINE");
}

my $http = HTTP::Tiny->new(timeout => 20);
sub get {
    my ($node, $uri, $hdr) = @_;
    return $http->get("http://127.0.0.1:$node->{port}$uri",
                      { headers => $hdr ? { 'PAYMENT-SIGNATURE' => $hdr } : {} });
}

# every node works before the fault
for my $i (0 .. 2) {
    my $r = get($nodes[$i], "/paid/warm$i", header(500_000_000 + $i));
    is($r->{status}, 200, "node $i serves a paid request through the primary");
}

# ---- 16 payers; the primary killed -9 mid-load -----------------------------
my $LOAD = 14;          # s
my $KILL_AT = 4;        # s into the load
my $t_start = time + 1;
my @kids;
for my $k (0 .. 15) {
    push @kids, in_child(sub {
        sleep($t_start - time) if $t_start > time;
        my @out;
        my $i = 0;
        while (time < $t_start + $LOAD) {
            my $nonce = 1_000_000 * ($k + 1) + $i;
            my $node = ($k + $i) % 3;
            my $hdr = header($nonce);
            my $t = time;
            my $r = get($nodes[$node], "/paid/k$k-$i", $hdr);
            push @out, join(' ', $t, time, $node, $r->{status}, $nonce);
            $i++;
        }
        return @out;
    });
}
sleep($t_start + $KILL_AT - time);
my $t_kill = time;
cluster_kill($cl, $p0);
diag(sprintf 'primary on %d killed -9 at +%.1f s', $p0, $t_kill - $t_start);

my @rows;
for my $kid (@kids) {
    push @rows, map { [split ' '] } collect_child($kid);
}
my %by;
$by{$_->[3]}++ for @rows;
diag('statuses: ' . join(', ', map { "$_ x$by{$_}" } sort keys %by));

my $p1 = sentinel_primary($cl);
ok($p1 && $p1 != $p0, "failover: the sentinels name a new primary ($p1)");
is((grep { $_->[3] != 200 && $_->[3] != 503 } @rows), 0,
   'every answer is 200 or 503 (unavailable while Redis fails over)');
cmp_ok($by{200} // 0, '>', 50, 'paid requests served');

# time from the kill to the next paid 200, and each node resumed
my ($first) = sort { $a <=> $b } map { $_->[1] } grep { $_->[0] > $t_kill && $_->[3] == 200 } @rows;
ok(defined $first, 'paid requests resumed after the kill');
diag(sprintf 'kill to the next paid 200: %.2f s', ($first // $t_kill) - $t_kill);
for my $n (0 .. 2) {
    ok((grep { $_->[2] == $n && $_->[0] > $t_kill && $_->[3] == 200 } @rows),
       "node $n served paid requests after the failover, without a reload");
}
cmp_ok(($first // 1e9) - $t_kill, '<', 10, 'within 10 s of the kill');

# ---- on chain: every 200 paid; replays refused on every node ----------------
my @paid = grep { $_->[3] == 200 } @rows;
my @unpaid = grep { $_->[3] != 200 } @rows;
my $ok = 0;
for (1 .. 300) {
    $ok = !grep { !nonce_used($PAYER, $_->[4]) } @paid;
    last if $ok;
    sleep 0.2;
}
ok($ok, 'every 200 is paid on chain (Permit2 nonce bit set), ' . scalar(@paid) . ' of them');
my @charged = grep { nonce_used($PAYER, $_->[4]) } @unpaid;
is(scalar @charged, 0, 'no refused request was charged') or diag(explain \@charged);

# each served payment sent again, to another node: never served twice
my $again = 0;
for my $row (@paid) {
    my $r = get($nodes[($row->[2] + 1) % 3], '/paid/replay', header($row->[4]));
    $again++ if $r->{status} == 200;
}
is($again, 0, 'no payment served twice: each 200 replayed on another node is refused');

# the settler: no nonce left unused after the failover
{
    my $settler = $C->{X402_SETTLER_ADDRESS};
    my $done = 0;
    for (1 .. 300) {
        last if $done = hex(rpc_call('eth_getTransactionCount', $settler, 'pending'))
                     == hex(rpc_call('eth_getTransactionCount', $settler, 'latest'));
        sleep 0.1;
    }
    ok($done, 'nothing of the settler\'s waits in the node');
}

# ---- x402_redis_wait 2 with one replica left: unavailable, released ---------
{
    # the old primary is gone: one replica remains behind the new primary
    my $wait2 = server_start({
        http_config => "x402_rpc \$RPC;\n" . sentinel_directive($cl)
                     . "x402_redis_wait 2 200ms;\nx402_settler_key_file $KEY;\n",
        config => paid_location('/paid/') });
    my $hdr = header(600_000_001);
    my $r = get($wait2, '/paid/w2', $hdr);
    is($r->{status}, 503, 'x402_redis_wait 2 with one replica: 503');
    ok(!nonce_used($PAYER, 600_000_001), '... not charged');
    my $log = read_file("$wait2->{dir}/logs/error.log");
    like($log, qr/a write reached 1 of the 2 replicas x402_redis_wait asks for/,
         '... the log says how many replicas had it');
    my $key = sprintf 'x402:8453:%s:%064x', lc(substr($PAYER, 2)), 600_000_001;
    my $left = '';
    for (1 .. 50) {
        $left = cli_port($p1, 'EXISTS', $key);
        last if $left eq '0';
        sleep 0.1;
    }
    is($left, '0', '... and its reservation released');
    server_stop($wait2, 'wait-2 node');

    # the same payment on a node asking for one replica: served once
    $r = get($nodes[0], '/paid/w1', $hdr);
    is($r->{status}, 200, 'the same payment where one replica suffices: 200');
    ok(nonce_used($PAYER, 600_000_001), '... and paid');
}

# ---- a sentinel that names a replica: READONLY, never written to ---------
# (a sentinel whose view is stale does this during a failover): the node
# forgets the address at the first READONLY and asks again; nothing it
# sends is written, and nothing is served
my $p2;
{
    ($p2) = map { $_->{port} } grep { $_->{port} != $p1 && $_->{port} != $p0 } @{$cl->{redis}};
    like(cli_port($p2, 'ROLE'), qr/^slave/, "$p2 is a replica of the new primary");
    my $sport = free_port();
    my $conf = "$cl->{dir}/stale-$sport.conf";
    write_file($conf, "port $sport\nbind 127.0.0.1\ndaemonize yes\n"
                    . "pidfile $cl->{dir}/stale-$sport.pid\nlogfile $cl->{dir}/stale-$sport.log\n"
                    . "dir $cl->{dir}\nsentinel monitor stale 127.0.0.1 $p2 1\n"
                    . "sentinel down-after-milliseconds stale 60000\n");
    system('redis-sentinel', $conf) == 0 or die 'redis-sentinel failed';
    my $spid;
    for (1 .. 100) {
        last if ($spid = eval { read_file("$cl->{dir}/stale-$sport.pid") }) && cli_port($sport, 'PING') eq 'PONG';
        sleep 0.05;
    }
    chomp $spid;
    like(cli_port($sport, 'SENTINEL', 'get-master-addr-by-name', 'stale'), qr/\n$p2$/,
         'a sentinel that names the replica');
    my $stale = server_start({
        http_config => "x402_rpc \$RPC;\nx402_redis sentinel:stale 127.0.0.1:$sport;\n"
                     . "x402_settler_key_file $KEY;\n",
        config => paid_location('/paid/') });
    my @st = map { get($stale, "/paid/s$_", header(800_000_000 + $_))->{status} } 1 .. 5;
    is(join(' ', @st), '503 503 503 503 503', 'nothing served through a replica: 503');
    ok(!grep({ nonce_used($PAYER, 800_000_000 + $_) } 1 .. 5), '... nothing charged');
    my @keys = map { sprintf 'x402:8453:%s:%064x', lc(substr($PAYER, 2)), 800_000_000 + $_ } 1 .. 5;
    is(cli_port($p2, 'EXISTS', @keys) . ' ' . cli_port($p1, 'EXISTS', @keys), '0 0',
       '... and no reservation written, on the replica or the primary');
    my $log = server_stop($stale, 'stale-sentinel node');
    like($log, qr/redis 127\.0\.0\.1:$p2 answers READONLY: a replica now; asking the sentinels of "stale"/,
         'the node says why, and asks again');
    kill 'KILL', $spid;
}

for my $i (0 .. 2) {
    my $log = server_stop($nodes[$i], "node $i");
    like($log, qr/redis primary of "\Q$cl->{master}\E" is 127\.0\.0\.1:$p1, was 127\.0\.0\.1:$p0/,
         "node $i: the log names the new primary");

}

diag(sprintf 'took %.1f s', time - $T0);
done_testing();
