# libx402's cmocka unit tests (lib/test/test_<name>.c, built by "make -C lib
# tests"), one subtest per binary with its TAP passed through: a new test
# file is picked up by its name; a missing binary is a failure, not a skip.
# And the benchmark's C program still builds against the library.
use strict;
use warnings;
use FindBin;
use Test::More;
use TAP::Parser;

my $root = "$FindBin::Bin/..";
my $build = $ENV{X402_BUILD} || "$root/build";
my @names = map { m{/test_(\w+)\.c$} ? $1 : () } sort glob("$root/lib/test/test_*.c");

ok(@names >= 11, sprintf('%d unit test files in lib/test', scalar @names));

# make bench's micro-benchmark links libx402 too: it must follow its API
my $micro = "$root/scripts/bench.d/micro.c";
my $out = `cc -std=c99 -Wall -Werror -I$root/lib/include -o /dev/null $micro $build/lib/libx402.a -lsecp256k1 -ljansson 2>&1`;
is($?, 0, 'scripts/bench.d/micro.c builds against libx402') or diag($out);

$ENV{CMOCKA_MESSAGE_OUTPUT} = 'TAP';

for my $name (@names) {
    my $bin = "$build/lib/test_$name";
    subtest "lib/test/test_$name.c" => sub {
        ok(-x $bin, "$bin is built") or return;
        my $parser = TAP::Parser->new({ exec => [$bin] });
        my $n = 0;
        while (my $r = $parser->next) {
            next unless $r->is_test;
            $n++;
            ok($r->is_ok, $r->description =~ s/^\s*-\s*//r)
                or diag($r->as_string);
        }
        ok($n > 0, "$n tests ran");
        is($parser->exit, 0, 'the binary exited 0');
    };
}

done_testing();
