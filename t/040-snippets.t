# Every nginx configuration snippet in README.md and docs/ passes nginx -t
# as written: a whole configuration as it is, a part (directives, a
# location, a server) inside the least it needs around it.  Only the
# host-specific parts are adapted: the module path, the key and password
# files.
use strict;
use warnings;
use File::Temp qw(tempdir);
use Test::More;

my $NGINX  = $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx';
my $MODULE = $ENV{TEST_X402_MODULE} || 'build/ngx_http_x402_module.so';
$MODULE = "$ENV{PWD}/$MODULE" unless $MODULE =~ m{^/};

my $dir = tempdir('x402-snip-XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{TEST_LEAVE});
mkdir "$dir/$_" for qw(conf logs);
open my $kf, '>', "$dir/settler.key" or die $!;
print $kf "47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a\n";
close $kf;
chmod 0600, "$dir/settler.key";
open my $pw, '>', "$dir/htpasswd" or die $!;
close $pw;

sub slurp { my ($f) = @_; open my $fh, '<', $f or die "$f: $!"; local $/; <$fh> }

# a part's surroundings: what a gated location needs and the part leaves out
sub wrap {
    my ($t) = @_;
    my $around = '';
    $around .= "    x402_rpc http://127.0.0.1:8545;\n" unless $t =~ /x402_rpc\s/;
    $around .= "    x402_redis 127.0.0.1:6379;\n" unless $t =~ /x402_redis\s/;
    $around .= "    x402_settler_key_file /etc/nginx/x402-settler.key;\n"
        unless $t =~ /x402_settler_key_file\s/ || $t =~ /x402_settle off/;
    $around .= "    x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C;\n"
        unless $t =~ /x402_pay_to\s/;
    $t = "server {\n    listen 127.0.0.1:8080;\n$t\n}\n" unless $t =~ /^\s*server\s*\{/m;
    return "events {}\nhttp {\n$around$t\n}\n";
}

my $n = 0;
for my $file ('README.md', glob 'docs/*.md') {
    my $doc = slurp($file);
    my $i = 0;
    while ($doc =~ /^```nginx\n(.*?)^```/msg) {
        my $t = $1;
        my $name = "$file, snippet " . ++$i;
        $t = wrap($t) unless $t =~ /^\s*http\s*\{/m;
        $t = "load_module $MODULE;\n$t" unless $t =~ /^load_module /m;
        $t =~ s{^load_module \S+;}{load_module $MODULE;}m;
        $t =~ s{x402_settler_key_file \S+;}{x402_settler_key_file $dir/settler.key;}g;
        $t =~ s{auth_basic_user_file \S+;}{auth_basic_user_file $dir/htpasswd;}g;
        open my $fh, '>', "$dir/conf/nginx.conf" or die $!;
        print $fh $t;
        close $fh;
        my $out = `$NGINX -p $dir/ -c conf/nginx.conf -e $dir/logs/error.log -g 'pid $dir/logs/nginx.pid;' -t 2>&1`;
        is($? >> 8, 0, "$name passes nginx -t") or diag("$out\n$t");
        $n++;
    }
}
cmp_ok($n, '>=', 3, 'snippets found');

done_testing();
