#!/usr/bin/perl
# x402-fault-rpc: a tiny JSON-RPC HTTP endpoint for fault tests
# (t/033-faults.t).  It answers one request per connection (Connection:
# close), logs the methods of every request, and misbehaves on purpose:
#
#   --mode garbage           200 with a body that is not JSON
#   --mode badids            forwards, then answers with every id + 1000
#   --mode http500           500 with an HTML body
#   --mode chainid=N         forwards, but eth_chainId answers N
#   --mode pass              forwards
#   --mode exit-before=M     forwards until a request calls method M: that
#                            one is dropped unanswered and the server exits
#                            (the port is closed from then on)
#   --mode exit-after=M      forwards the request calling M, answers it,
#                            then exits
#   --mode drop-reply=M      forwards the request calling M to the node
#                            (it executes) but drops the reply, then exits
#   --mode hold-from=M       forwards until a request calls method M: that
#                            one and every later one is held open,
#                            unanswered (a node that stopped answering)
#
# Usage: x402-fault-rpc.pl --port P [--upstream URL] --mode MODE --log FILE
use strict;
use warnings;
use Getopt::Long;
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;

my ($port, $upstream, $mode, $logfile) = (0, '', 'pass', '/dev/null');
GetOptions('port=i' => \$port, 'upstream=s' => \$upstream,
           'mode=s' => \$mode, 'log=s' => \$logfile) or die "bad options\n";

my $srv = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
                                Listen => 64, ReuseAddr => 1, Proto => 'tcp')
    or die "x402-fault-rpc: cannot listen on $port: $!\n";
$SIG{PIPE} = 'IGNORE';
$SIG{TERM} = sub { exit 0 };

open my $log, '>>', $logfile or die "$logfile: $!\n";
$log->autoflush(1);

my $json = JSON::PP->new->utf8->canonical;
my $http = HTTP::Tiny->new(timeout => 10);

sub forward {
    my ($body) = @_;
    my $res = $http->post($upstream, {
        headers => { 'Content-Type' => 'application/json' },
        content => $body });
    return $res->{content};
}

sub reply {
    my ($c, $status, $type, $body) = @_;
    my $reason = $status == 200 ? 'OK' : 'Internal Server Error';
    print $c "HTTP/1.1 $status $reason\r\nContent-Type: $type\r\n"
           . "Content-Length: " . length($body) . "\r\nConnection: close\r\n\r\n"
           . $body;
}

sub methods_of {
    my ($doc) = @_;
    return () unless ref $doc;
    return map { ref $_ eq 'HASH' ? ($_->{method} // '?') : '?' }
           (ref $doc eq 'ARRAY' ? @$doc : ($doc));
}

# rewrites the answers of a (batch) reply; $fix->(request, answer)
sub rewrite {
    my ($req, $text, $fix) = @_;
    my $ans = eval { $json->decode($text) } or return $text;
    my %by_id = map { (($_->{id} // '') => $_) }
                (ref $req eq 'ARRAY' ? @$req : ($req));
    for my $a (ref $ans eq 'ARRAY' ? @$ans : ($ans)) {
        $fix->($by_id{$a->{id} // ''}, $a);
    }
    return $json->encode($ans);
}

my ($holding, @held) = (0);

while (my $c = $srv->accept) {
    binmode $c;
    my $buf = '';
    while ($buf !~ /\r\n\r\n/) {
        my $n = sysread($c, $buf, 65536, length $buf);
        last unless $n;
    }
    my ($head, $body) = split /\r\n\r\n/, $buf, 2;
    $body //= '';
    my ($len) = ($head // '') =~ /^Content-Length:\s*(\d+)/mi;
    $len //= 0;
    while (length($body) < $len) {
        my $n = sysread($c, $body, $len - length($body), length $body);
        last unless $n;
    }
    my $req = eval { $json->decode($body) };
    my @m = methods_of($req);
    print $log join(',', @m), "\n";
    my $calls = sub { my $want = shift; grep { $_ eq $want } @m };

    if ($holding || ($mode =~ /^hold-from=(\w+)$/ && $calls->($1))) {
        print $log "held\n";
        $holding = 1;
        push @held, $c;
        next;

    } elsif ($mode eq 'garbage') {
        reply($c, 200, 'application/json', "this is not JSON\n");

    } elsif ($mode eq 'http500') {
        reply($c, 500, 'text/html', "<html>bad gateway</html>\n");

    } elsif ($mode eq 'badids') {
        my $out = rewrite($req, forward($body),
                          sub { $_[1]{id} += 1000 if defined $_[1]{id} });
        reply($c, 200, 'application/json', $out);

    } elsif ($mode =~ /^chainid=(\d+)$/) {
        my $id = sprintf('0x%x', $1);
        my $out = rewrite($req, forward($body), sub {
            $_[1]{result} = $id
                if $_[0] && ($_[0]{method} // '') eq 'eth_chainId';
        });
        reply($c, 200, 'application/json', $out);

    } elsif ($mode =~ /^exit-before=(\w+)$/ && $calls->($1)) {
        print $log "exit before $1\n";
        close $c;
        exit 0;

    } elsif ($mode =~ /^drop-reply=(\w+)$/ && $calls->($1)) {
        forward($body);
        print $log "dropped the reply to $1\n";
        close $c;
        exit 0;

    } else {
        reply($c, 200, 'application/json', forward($body));
        if ($mode =~ /^exit-after=(\w+)$/ && $calls->($1)) {
            print $log "exit after $1\n";
            close $c;
            exit 0;
        }
    }
    close $c;
}
