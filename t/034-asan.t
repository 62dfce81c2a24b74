#!/usr/bin/perl
# The module built with AddressSanitizer + UBSan (scripts/asan-build →
# build/asan/ngx_http_x402_module.so) inside Debian's uninstrumented nginx:
# re-runs a representative set of the e2e test files with that .so, nginx
# started through a wrapper that preloads libasan and libubsan (so the
# runtimes reach nginx only, never perl, node or redis).  Each sub-suite
# must pass, and no sanitizer report may be written.  docs/security.md
# "Memory safety".
#
# ASAN_SUITES="t/003-verify.t t/009-settle.t" overrides the set.
use strict;
use warnings;
use Cwd qw(abs_path);
use File::Temp qw(tempdir);
use Test::More;
use Time::HiRes qw(time);

my $root = abs_path("$0/../..");
chdir $root or die "chdir $root: $!";

my @SUITES = $ENV{ASAN_SUITES}
    ? split(' ', $ENV{ASAN_SUITES})
    : qw(t/001-config.t t/002-unpaid.t t/003-verify.t t/004-client.t
         t/005-onchain.t t/007-eip1271.t t/008-slow-rpc.t t/009-settle.t
         t/010-settle-reload.t t/011-reconcile.t t/021-mockllm.t
         t/023-facilitator-mode.t t/024-upto.t t/030-conf-examples.t
         t/048-channels.t t/050-erc6492.t t/052-settlers.t);

my $asan  = `gcc -print-file-name=libasan.so`;
my $ubsan = `gcc -print-file-name=libubsan.so`;
chomp($asan, $ubsan);
plan skip_all => 'libasan/libubsan not found (gcc -print-file-name)'
    unless -e $asan && -e $ubsan;

# 1. build (reconfigures only when needed)
my $t0 = time;
my $out = `scripts/asan-build 2>&1`;
my $built = ok($? == 0, 'scripts/asan-build builds build/asan/ngx_http_x402_module.so');
diag($out) unless $built;
my $so = "$root/build/asan/ngx_http_x402_module.so";
unless ($built && -f $so) {
    done_testing();
    exit;
}
note(sprintf 'asan build: %.1f s', time - $t0);
my $ldd = `ldd $so`;
like($ldd, qr/libasan\.so/, 'the .so links libasan');
like($ldd, qr/libubsan\.so/, 'the .so links libubsan');

# 2. the wrapper nginx and the report directory (workers run as nobody when
# the tests run as root: the directory must be writable by them)
my $reports = tempdir('x402-asan-XXXXXX', DIR => "$root/build/asan",
                      CLEANUP => !$ENV{TEST_LEAVE});
chmod 0777, $reports;
chmod 0755, "$root/build", "$root/build/asan";
my $wrapper = "$root/build/asan/nginx-asan";
open my $fh, '>', "$wrapper.tmp.$$" or die "$wrapper: $!";
print $fh <<"SH";
#!/bin/sh
# written by t/034-asan.t: Debian's nginx with the sanitizer runtimes
export LD_PRELOAD="$asan $ubsan"
export ASAN_OPTIONS="\${X402_ASAN_OPTIONS:-detect_leaks=0:abort_on_error=0:log_path=$reports/asan}"
export UBSAN_OPTIONS="\${X402_UBSAN_OPTIONS:-print_stacktrace=1:log_path=$reports/ubsan}"
exec /usr/sbin/nginx "\$@"
SH
close $fh;
chmod 0755, "$wrapper.tmp.$$";
rename "$wrapper.tmp.$$", $wrapper or die "rename: $!";

my $v = `$wrapper -v 2>&1`;
like($v, qr/nginx version: nginx\/1\.22/, 'the wrapper runs nginx with the runtimes preloaded');

# Controls: (a) the report files really land where this test looks (a
# tiny program with a heap overflow and one with a signed overflow, same
# options); (b) a worker started through the wrapper has libasan and the
# instrumented .so mapped.
{
    my $ctl = tempdir('x402-asanctl-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    open my $c, '>', "$ctl/bad.c" or die $!;
    print $c <<'C';
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {
    char *p = malloc(8);
    int   i = 0x7fffffff;
    if (argc > 1) { i += argc; return i == 0; }   /* UBSan: signed overflow */
    memset(p, 0, 9);                              /* ASan: heap overflow */
    return p[0];
}
C
    close $c;
    system("gcc -g -fsanitize=address -o $ctl/bad-asan $ctl/bad.c 2>/dev/null "
         . "&& gcc -g -fsanitize=undefined -o $ctl/bad-ubsan $ctl/bad.c 2>/dev/null");
    {
        local $ENV{ASAN_OPTIONS} = "detect_leaks=0:abort_on_error=0:log_path=$ctl/asan";
        local $ENV{UBSAN_OPTIONS} = "print_stacktrace=1:log_path=$ctl/ubsan";
        system("$ctl/bad-asan");
        system("$ctl/bad-ubsan", 'x');
    }
    my ($a) = glob("$ctl/asan.*");
    my ($u) = glob("$ctl/ubsan.*");
    like($a ? `cat $a` : '', qr/heap-buffer-overflow/,
         'control: an ASan report lands in <log_path>.<pid>');
    like($u ? `cat $u` : '', qr/signed integer overflow/,
         'control: a UBSan report lands in <log_path>.<pid>');

    my $p = tempdir('x402-asanrun-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    chmod 0755, $p;
    mkdir "$p/logs";
    open my $n, '>', "$p/nginx.conf" or die $!;
    print $n "load_module $so;\ndaemon off;\nmaster_process on;\n"
           . "worker_processes 1;\nerror_log logs/error.log;\n"
           . "pid logs/nginx.pid;\nevents { worker_connections 16; }\n";
    close $n;
    my $pid = fork // die $!;
    if ($pid == 0) {
        open STDERR, '>', "$p/logs/stderr.log";
        exec $wrapper, '-p', "$p/", '-c', "$p/nginx.conf", '-e', 'logs/error.log';
        exit 127;
    }
    my $maps = '';
    for (1 .. 100) {
        my ($w) = `pgrep -P $pid` =~ /(\d+)/;
        if ($w) { $maps = `cat /proc/$w/maps 2>/dev/null`; last if $maps =~ /x402/ }
        select(undef, undef, undef, 0.05);
    }
    like($maps, qr/libasan\.so/, 'an nginx worker runs with libasan mapped');
    like($maps, qr{\Q$so\E}, 'and the instrumented module');
    kill 'QUIT', $pid;
    waitpid($pid, 0);
}

sub reports {
    return sort glob("$reports/asan.* $reports/ubsan.*");
}

sub show_reports {
    for my $f (@_) {
        open my $r, '<', $f or next;
        local $/;
        my $text = <$r>;
        diag("==== $f\n" . substr($text, 0, 20000));
    }
}

# 3. the sub-suites, one after another
my %timing;
for my $suite (@SUITES) {
    my @before = reports();
    local $ENV{TEST_X402_MODULE} = $so;
    local $ENV{TEST_NGINX_BINARY} = $wrapper;
    local $ENV{X402_BUILD} = $ENV{X402_BUILD} || "$root/build";
    my $s = time;
    my $log = `prove $suite 2>&1`;
    my $rc = $? >> 8;
    $timing{$suite} = time - $s;
    my ($tests) = $log =~ /Tests=(\d+)/;
    ok($rc == 0 && $log =~ /Result: PASS/,
       sprintf('%s passes with the ASan module (%d tests, %.1f s)',
               $suite, $tests // 0, $timing{$suite}))
        or diag(join "\n", grep { /^(not ok|#\s+(Failed|got|expected|at )|Dubious|Result)|Sanitizer|runtime error/ }
                               split /\n/, $log);
    my %seen = map { $_ => 1 } @before;
    my @new = grep { !$seen{$_} } reports();
    is(scalar @new, 0, "$suite: no sanitizer report") or show_reports(@new);
}

my @all = reports();
is(scalar @all, 0, 'no ASan/UBSan report file in ' . $reports)
    or show_reports(@all);
my $total = 0;
$total += $_ for values %timing;
note(sprintf "%-22s %6.1f s\n", $_, $timing{$_}) for @SUITES;
note(sprintf "sub-suites: %.1f s in total", $total);

done_testing();
