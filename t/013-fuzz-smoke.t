#!/usr/bin/perl
# Smoke run of the libFuzzer harnesses of lib/fuzz/ (the long run is
# `make fuzz`, see docs/security.md "Fuzzing"): builds them when missing or
# stale, then runs each over its seeds plus a bounded number of mutations
# (FUZZ_SMOKE_RUNS inputs, at most FUZZ_SMOKE_SECONDS seconds, fixed seed).
# A crash fails the test and leaves its input in build/fuzz/crashes/.
# Skipped only when clang is absent (scripts/install-deps installs it).
use strict;
use warnings;
use FindBin;
use File::Temp qw(tempdir);
use Test::More;

my $root  = "$FindBin::Bin/..";
my $build = $ENV{X402_BUILD} || "$root/build";
my $fb    = "$build/fuzz";
my $runs  = $ENV{FUZZ_SMOKE_RUNS} || 3000;
my $secs  = $ENV{FUZZ_SMOKE_SECONDS} || 2;
my @harnesses = qw(payment_header payment_json rpc_checks rpc_settle
                   receipt codec facilitator usage);

if (system('command -v clang >/dev/null 2>&1') != 0) {
    plan skip_all => 'clang is not installed (scripts/install-deps installs'
                   . ' clang and libclang-rt-14-dev)';
}

plan tests => 1 + @harnesses;

my $out = `make -s -j4 -C '$root/lib/fuzz' all BUILD='$fb' 2>&1`;
ok($? == 0, 'harnesses and seeds build') or do {
    diag($out);
    fail("fuzz_$_: not built") for @harnesses;
    exit 1;
};

mkdir "$fb/crashes";

for my $h (@harnesses) {
    my $corpus = tempdir(CLEANUP => 1);
    my @dirs = ($corpus, grep { -d } "$fb/seeds/$h", "$root/lib/fuzz/seeds/$h");
    my @cmd = ("$fb/fuzz_$h", "-runs=$runs", "-max_total_time=$secs",
               '-seed=1', '-timeout=25', '-rss_limit_mb=2048',
               "-dict=$root/lib/fuzz/x402.dict",
               "-artifact_prefix=$fb/crashes/$h-", @dirs);

    my $log = '';
    if (open(my $fh, '-|', join(' ', map { "'$_'" } @cmd) . ' 2>&1')) {
        local $/;
        $log = <$fh> // '';
        close($fh);
    }
    my $rc = $? >> 8;

    my ($done) = $log =~ /^Done (\d+) runs/m;
    my ($cov, $ft) = ($log =~ /cov: (\d+) ft: (\d+)/g)[-2, -1];
    if (ok($rc == 0 && defined $done, "fuzz_$h: no crash")) {
        note("fuzz_$h: $done runs, cov $cov ft $ft");
    } else {
        my @why = grep { /ERROR|SUMMARY|invariant failed|runtime error|Test unit written/ }
                  split /\n/, $log;
        diag("fuzz_$h exited $rc:\n" . join("\n", @why[0 .. ($#why < 9 ? $#why : 9)]));
    }
}
