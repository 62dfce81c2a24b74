# The glue's layering (docs/architecture.md): scripts/layers reads the call
# graph from the objects of `make module` and passes on this tree; planted
# back-calls (into the real objects, and into a small tree of its own) make
# it fail and name the symbol.
use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use File::Path qw(make_path);
use File::Basename qw(basename dirname);
use Cwd qw(abs_path);

my $root = abs_path(dirname(__FILE__) . '/..');
my $build = $ENV{X402_BUILD} || "$root/build";

my $out = `$root/scripts/layers $build 2>&1`;
is($? >> 8, 0, 'the module\'s layering holds') or diag($out);
like($out, qr/^layers: \d+ files, \d+ file-to-file calls, all downward or within a layer, no cycle$/m,
     'and says so');

my $tmp = tempdir('x402-layers-XXXXXX', TMPDIR => 1, CLEANUP => 1);

# writes ROOT/ngx_x402_module/<layer>/<name>.c and its object under BUILD
sub plant {
    my ($tree, $layer, $name, $code) = @_;
    my $dir = $layer eq 'module' ? 'ngx_x402_module' : $layer;
    my $src = "$tree/ngx_x402_module/" . ($layer eq 'module' ? '' : "$layer/") . "$name.c";
    make_path(dirname($src), "$tree/build/addon/$dir");
    open my $fh, '>', $src or die "$src: $!";
    print $fh $code;
    close $fh;
    system('cc', '-c', '-o', "$tree/build/addon/$dir/$name.o", $src) == 0 or die "cc $src";
}

sub layers {
    my ($tree) = @_;
    my $o = `$root/scripts/layers $tree/build $tree 2>&1`;
    return ($? >> 8, $o);
}

# 1. the real objects, and one more io file that calls the park kernel
{
    my $tree = "$tmp/real";
    for my $src (glob("$root/ngx_x402_module/*.c"), glob("$root/ngx_x402_module/*/*.c")) {
        my $dir = basename(dirname($src));
        my $rel = $dir eq 'ngx_x402_module' ? '' : "$dir/";
        make_path("$tree/ngx_x402_module/$rel", "$tree/build/addon/$dir");
        symlink $src, "$tree/ngx_x402_module/$rel" . basename($src) or die $!;
        my $o = "$build/addon/$dir/" . basename($src, '.c') . '.o';
        symlink $o, "$tree/build/addon/$dir/" . basename($o) or die $!;
    }
    my ($rc, $o) = layers($tree);
    is($rc, 0, 'a copy of the tree passes') or diag($o);

    plant($tree, 'io', 'ngx_http_x402_planted',
          "void ngx_http_x402_finish(void);\nvoid ngx_http_x402_planted(void) { ngx_http_x402_finish(); }\n");
    ($rc, $o) = layers($tree);
    is($rc, 1, 'an io file calling the park kernel fails');
    like($o, qr{io/ngx_http_x402_planted\.c -> core/ngx_http_x402_park\.c: ngx_http_x402_finish: calls up \(io -> core\)},
         'naming the file, the symbol and the layers');
}

# 2. a tree of its own: each rule
{
    my $tree = "$tmp/own";
    plant($tree, 'io', 'ngx_http_x402_a', "void ngx_http_x402_a(void) {}\n");
    plant($tree, 'steps', 'ngx_http_x402_s1', "void ngx_http_x402_a(void);\nvoid ngx_http_x402_s1(void) { ngx_http_x402_a(); }\n");
    plant($tree, 'flow', 'ngx_http_x402_f', "void ngx_http_x402_s1(void);\nvoid ngx_http_x402_f(void) { ngx_http_x402_s1(); }\n");
    my ($rc, $o) = layers($tree);
    is($rc, 0, 'flow -> steps -> io passes') or diag($o);

    plant($tree, 'steps', 'ngx_http_x402_s2', "void ngx_http_x402_s1(void);\nvoid ngx_http_x402_s2(void) { ngx_http_x402_s1(); }\n");
    ($rc, $o) = layers($tree);
    is($rc, 1, 'a step calling another step fails');
    like($o, qr/steps\/ngx_http_x402_s2\.c -> steps\/ngx_http_x402_s1\.c: ngx_http_x402_s1: a step calls another step/,
         'and is named');
    unlink "$tree/ngx_x402_module/steps/ngx_http_x402_s2.c";

    plant($tree, 'outputs', 'ngx_http_x402_o', "void ngx_http_x402_s1(void);\nvoid ngx_http_x402_o(void) { ngx_http_x402_s1(); }\n");
    ($rc, $o) = layers($tree);
    like($o, qr/outputs\/ngx_http_x402_o\.c -> steps\/ngx_http_x402_s1\.c: ngx_http_x402_s1: calls across \(outputs -> steps\)/,
         'an output calling a step fails');
    unlink "$tree/ngx_x402_module/outputs/ngx_http_x402_o.c";

    plant($tree, 'flow', 'ngx_http_x402_g', "void ngx_http_x402_h(void);\nvoid ngx_http_x402_g(void) { ngx_http_x402_h(); }\n");
    plant($tree, 'flow', 'ngx_http_x402_h', "void ngx_http_x402_g(void);\nvoid ngx_http_x402_h(void) { ngx_http_x402_g(); }\n");
    ($rc, $o) = layers($tree);
    is($rc, 1, 'a cycle within a layer fails');
    like($o, qr/a cycle: flow\/ngx_http_x402_g\.c \(ngx_http_x402_h\) -> flow\/ngx_http_x402_h\.c \(ngx_http_x402_g\) -> flow\/ngx_http_x402_g\.c/,
         'and is named with the calls that close it');
}

done_testing();
