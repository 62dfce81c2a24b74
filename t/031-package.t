# make install (with DESTDIR) lays the module out the Debian way, and the
# installed files load into /usr/sbin/nginx; make deb builds a package that
# depends on exactly the nginx ABI it was built for.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);

my $dest = tempdir('x402-install-XXXXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0755, $dest;
is(system("scripts/package install $dest > /dev/null"), 0, 'install into DESTDIR');

my $so = "$dest/usr/lib/nginx/modules/ngx_http_x402_module.so";
ok(-f $so, 'the module is in /usr/lib/nginx/modules');
my $snippet = "$dest/usr/share/nginx/modules-available/mod-http-x402.conf";
open my $fh, '<', $snippet or die "$snippet: $!";
is(scalar <$fh>, "load_module modules/ngx_http_x402_module.so;\n",
   'modules-available snippet, as Debian modules do');
close $fh;
is(readlink("$dest/etc/nginx/modules-enabled/50-mod-http-x402.conf"),
   '/usr/share/nginx/modules-available/mod-http-x402.conf', 'enabled by a symlink');

# the installed .so with the snippet, relative to a prefix like Debian's
mkdir "$dest/prefix";
symlink "$dest/usr/lib/nginx/modules", "$dest/prefix/modules";
open $fh, '>', "$dest/nginx.conf" or die $!;
print $fh "include $snippet;\nevents {}\n";
close $fh;
is(system("/usr/sbin/nginx -p $dest/prefix/ -c $dest/nginx.conf -g 'error_log /dev/null; pid /dev/null;' -t -q 2>/dev/null"),
   0, 'nginx -t loads the installed module');

my $deb = `scripts/package deb`;
chomp $deb;
ok(-f $deb, "make deb: $deb");
my $info = `dpkg-deb --info $deb`;
my ($abi) = `sed -n 's/^nginx:abi=//p' /usr/share/nginx/src/debian/libnginx-mod.abisubstvars` =~ /(\S+)/;
like($info, qr/^ Depends: \Q$abi\E,/m, "depends on the nginx ABI ($abi)");
like(`dpkg-deb --contents $deb`, qr{\./usr/lib/nginx/modules/ngx_http_x402_module\.so},
     'the package holds the module');

done_testing();
