#!/usr/bin/perl
# Runs the cmocka binary test_compose of lib/ (built by "make -C lib tests")
# and passes its TAP through.  A missing binary is a failure, not a skip.
use strict;
use warnings;
use FindBin;

my $build = $ENV{X402_BUILD} || "$FindBin::Bin/../../build";
my $bin = "$build/lib/test_compose";

$ENV{CMOCKA_MESSAGE_OUTPUT} = 'TAP';

unless (-x $bin) {
    print "1..1\n";
    print "not ok 1 - $bin is missing: run make -C lib tests BUILD=$build/lib\n";
    exit 1;
}

exec { $bin } $bin or do {
    print "1..1\nnot ok 1 - cannot exec $bin: $!\n";
    exit 1;
};
