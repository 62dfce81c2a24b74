# The documentation covers the module: every directive and variable in the
# sources has its entry in docs/directives.md, and every reason string the
# module can answer is in docs/troubleshooting.md, every metric in
# docs/metrics.md.
use strict;
use warnings;
use Test::More;

sub slurp { my ($f) = @_; open my $fh, '<', $f or die "$f: $!"; local $/; <$fh> }

my $src = join '', map { slurp($_) } glob 'ngx_x402_module/*.c ngx_x402_module/*/*.c';
my $ref = slurp('docs/directives.md');
my $trouble = slurp('docs/troubleshooting.md');

# directives: the ngx_command_t names; variables: the ngx_http_variable_t names
my (%dir, %var);
$dir{$1}++ while $src =~ /\{\s*ngx_string\("(x402[a-z_]*)"\),\s*\n\s*NGX_HTTP_/g;
$var{$1}++ while $src =~ /\{\s*ngx_string\("(x402[a-z_]*)"\),\s*NULL,/g;

cmp_ok(scalar keys %dir, '>=', 25, 'directives found in the sources');
cmp_ok(scalar keys %var, '>=', 5, 'variables found in the sources');

for my $d (sort keys %dir) {
    like($ref, qr/^### \Q$d\E\n    Syntax:  \Q$d\E[ ;]/m, "directive $d has a reference entry");
}
for my $v (sort keys %var) {
    like($ref, qr/`\$\Q$v\E`/, "variable \$$v is documented");
}

# reason strings of libx402 (reason.c) and the settlement's
my $reasons = slurp('lib/src/reason.c');
my @r = $reasons =~ /"((?:permit2|invalid|unsupported|upto|asset)_[a-z0-9_]+)"/g;
cmp_ok(scalar @r, '>=', 15, 'reason strings found');
for my $r (sort { $a cmp $b } keys %{{ map { $_ => 1 } @r }}) {
    like($trouble, qr/`\Q$r\E`/, "reason $r is in troubleshooting.md");
}

# the settlement's own reasons (module sources), and every metric
my %settle = map { $_ => 1 } $src =~ /"(settlement_[a-z_]+)"/g;
cmp_ok(scalar keys %settle, '>=', 10, 'settlement reasons found');
for my $r (sort keys %settle) {
    like($trouble, qr/`\Q$r\E`/, "reason $r is in troubleshooting.md");
}
my $metrics = slurp('docs/metrics.md');
my %metric = map { $_ => 1 } $src =~ /"(x402_[a-z_]+_(?:total|ms|requests|jobs))\b/g;
cmp_ok(scalar keys %metric, '>=', 20, 'metric names found');
for my $m (sort keys %metric) {
    like($metrics, qr/`\Q$m\E`/, "metric $m is in metrics.md");
}

done_testing();
