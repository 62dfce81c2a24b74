# Redis with failover for the tests: a primary, replicas and sentinels
# (Debian's redis-server and redis-sentinel), each its own process on a
# free loopback port, all stopped at exit.
package X402Sentinel;

use strict;
use warnings;
use Exporter 'import';
use File::Temp qw(tempdir);
use Time::HiRes qw(time sleep);
use X402Test qw(free_port);

our @EXPORT = qw(sentinel_cluster sentinel_primary sentinel_directive
                 cluster_kill cluster_stop_proc cluster_cont_proc cli_port);

my @PIDS;

END { kill 'KILL', @PIDS if @PIDS }

sub wait_listen {
    my ($port) = @_;
    for (1 .. 100) {
        my $r = `redis-cli -p $port PING 2>/dev/null`;
        return 1 if $r =~ /PONG/;
        sleep 0.05;
    }
    return 0;
}

sub pid_of {
    my ($file) = @_;
    for (1 .. 100) {
        if (open my $fh, '<', $file) {
            my $pid = <$fh>;
            chomp $pid if defined $pid;
            return $pid if $pid;
        }
        sleep 0.05;
    }
    die "no pid in $file";
}

sub cli_port {
    my ($port, @args) = @_;
    my $out = `redis-cli -p $port @args 2>&1`;
    chomp $out;
    return $out;
}

# { dir, master => NAME, redis => [{port, pid}...] (0: the primary),
#   sentinels => [{port, pid}...] }
sub sentinel_cluster {
    my (%o) = @_;
    my $replicas = $o{replicas} // 2;
    my $n = $o{sentinels} // 3;
    my $dir = tempdir('x402-sentinel-XXXXXX', TMPDIR => 1,
                      CLEANUP => !$ENV{TEST_LEAVE});
    my $c = { dir => $dir, master => $o{master} // 'x402main', redis => [],
              sentinels => [] };
    for my $i (0 .. $replicas) {
        my $port = free_port();
        my @repl = $i ? ('--replicaof', '127.0.0.1', $c->{redis}[0]{port}) : ();
        system('redis-server', '--port', $port, '--bind', '127.0.0.1',
               '--save', '', '--appendonly', 'no', '--daemonize', 'yes',
               '--pidfile', "$dir/redis-$port.pid",
               '--logfile', "$dir/redis-$port.log", '--dir', $dir,
               '--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0',
               @repl) == 0 or die 'redis-server failed';
        wait_listen($port) or die "redis on $port did not start";
        my $pid = pid_of("$dir/redis-$port.pid");
        push @PIDS, $pid;
        push @{$c->{redis}}, { port => $port, pid => $pid };
    }
    # the replicas in sync before the sentinels look
    for my $r (@{$c->{redis}}[1 .. $replicas]) {
        for (1 .. 100) {
            last if cli_port($r->{port}, 'INFO', 'replication') =~ /master_link_status:up/;
            sleep 0.05;
        }
    }
    for (1 .. $n) {
        my $port = free_port();
        my $conf = "$dir/sentinel-$port.conf";
        open my $fh, '>', $conf or die $!;
        print $fh <<"CONF";
port $port
bind 127.0.0.1
daemonize yes
pidfile $dir/sentinel-$port.pid
logfile $dir/sentinel-$port.log
dir $dir
sentinel monitor $c->{master} 127.0.0.1 $c->{redis}[0]{port} 2
sentinel down-after-milliseconds $c->{master} 1000
sentinel failover-timeout $c->{master} 2000
sentinel parallel-syncs $c->{master} 2
CONF
        close $fh;
        system('redis-sentinel', $conf) == 0 or die 'redis-sentinel failed';
        wait_listen($port) or die "sentinel on $port did not start";
        my $pid = pid_of("$dir/sentinel-$port.pid");
        push @PIDS, $pid;
        push @{$c->{sentinels}}, { port => $port, pid => $pid };
    }
    # every sentinel sees the replicas and the others
    for my $s (@{$c->{sentinels}}) {
        for (1 .. 200) {
            my $m = cli_port($s->{port}, 'SENTINEL', 'master', $c->{master});
            my ($rep) = $m =~ /num-slaves\n(\d+)/;
            my ($oth) = $m =~ /num-other-sentinels\n(\d+)/;
            last if ($rep // 0) == $replicas && ($oth // 0) == $n - 1;
            sleep 0.1;
        }
    }
    return $c;
}

# the port the sentinels name as the primary (the first that answers)
sub sentinel_primary {
    my ($c) = @_;
    for my $s (@{$c->{sentinels}}) {
        my $out = cli_port($s->{port}, 'SENTINEL', 'get-master-addr-by-name', $c->{master});
        return $1 if $out =~ /^127\.0\.0\.1\n(\d+)$/;
    }
    return undef;
}

# the x402_redis line for this cluster
sub sentinel_directive {
    my ($c) = @_;
    return "x402_redis sentinel:$c->{master} "
         . join(' ', map { "127.0.0.1:$_->{port}" } @{$c->{sentinels}}) . ";\n";
}

sub find_redis {
    my ($c, $port) = @_;
    my ($r) = grep { $_->{port} == $port } @{$c->{redis}};
    return $r;
}

# kill -9 the Redis on $port
sub cluster_kill { my ($c, $port) = @_; kill 'KILL', find_redis($c, $port)->{pid} }
sub cluster_stop_proc { my ($c, $port) = @_; kill 'STOP', find_redis($c, $port)->{pid} }
sub cluster_cont_proc { my ($c, $port) = @_; kill 'CONT', find_redis($c, $port)->{pid} }

1;
