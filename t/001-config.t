# Directive parsing and validation: every bad value is a clear nginx -t error.
use strict;
use warnings;
use lib 't/lib';
use Test::Base;
use File::Temp qw(tempdir);
use X402Test;

# a settler key (anvil's public test account #4) for the blocks that need one
my $keydir = tempdir('x402-cfg-XXXXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0755, $keydir;
my $TEST_KEY = "47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a\n";
write_file("$keydir/settler.key", $TEST_KEY, 0600);

write_file("$keydir/open.key", $TEST_KEY, 0644);
write_file("$keydir/same.key", "0x$TEST_KEY", 0600);
# anvil's public test account #6, a second settler account
write_file("$keydir/second.key",
           "92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e\n", 0600);

filters { http_config => [qw(keyfile)] };
sub keyfile {
    my $t = shift;
    $t =~ s/\$KEYFILE_OPEN\b/$keydir\/open.key/g;
    $t =~ s/\$KEYFILE\b/$keydir\/settler.key/g;
    $t =~ s/\$KEYFILE_SAME\b/$keydir\/same.key/g;
    $t =~ s/\$KEYFILE_2\b/$keydir\/second.key/g;
    $t
}

run_blocks(blocks());

__DATA__

=== pay_to must be an address
--- config
location / { x402 on; x402_pay_to 0x12; x402_price 1; }
--- must_die
x402_pay_to "0x12" is not a valid address

=== pay_to without 0x is refused
--- config
location / { x402 on; x402_pay_to 209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1; }
--- must_die
x402_pay_to

=== asset must be an address
--- config
location / { x402 on; x402_asset 0xnothex0000000000000000000000000000000000; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1; }
--- must_die
x402_asset "0xnothex0000000000000000000000000000000000" is not a valid address

=== network must be CAIP-2 eip155
--- config
location / { x402 on; x402_network base; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1; }
--- must_die
x402_network "base" is invalid

=== network chain id must be a number
--- config
location / { x402 on; x402_network eip155:0x2105; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1; }
--- must_die
x402_network "eip155:0x2105" is invalid

=== price with more decimals than the token has
--- config
location / { x402 on; x402_asset_decimals 6; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 0.0000001; }
--- must_die
x402_price "0.0000001"
x402_asset_decimals 6

=== price must be a number
--- config
location / { x402 on; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1e5; }
--- must_die
x402_price "1e5"

=== negative price is refused
--- config
location / { x402 on; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price -1; }
--- must_die
x402_price "-1"

=== price that overflows uint256 is refused
--- config
location / { x402 on; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1000000000000000000000000000000000000000000000000000000000000000000000000; }
--- must_die
x402_price

=== decimals above 77 are refused
--- config
location / { x402 on; x402_asset_decimals 78; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1; }
--- must_die
x402_asset_decimals

=== pay_to is required where x402 is on
--- config
location / { x402 on; x402_price 1; }
--- must_die
"x402_pay_to" is required

=== price is required where x402 is on
--- config
location / { x402 on; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; }
--- must_die
"x402_price" is required

=== scheme must be exact or upto
--- config
location / { x402 on; x402_scheme batch; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1; }
--- must_die
x402_scheme

=== upto needs a facilitator address
--- config
location / { x402 on; x402_scheme upto; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1; }
--- must_die
"x402_facilitator_address" (or "x402_settler_key_file") is required

=== upto whose facilitator address is not the settler, with no x402_facilitator: every settlement would revert
--- http_config
x402_settler_key_file $KEYFILE;
--- config
location / { x402 on; x402_scheme upto; x402_facilitator_address 0x90F79bf6EB2c4f870365E785982E1f101E93b906; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1; }
--- must_die
"x402_facilitator_address" 0x90F79bf6EB2c4f870365E785982E1f101E93b906 is not the settler
UnauthorizedFacilitator

=== upto with the settler's own address is fine
--- http_config
x402_settler_key_file $KEYFILE;
--- config
location / { x402 on; x402_scheme upto; x402_facilitator_address 0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1; }
--- request
GET /
--- error_code: 402
--- payment_required
accepts.0.extra.facilitatorAddress: 0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65

=== x402_settle_batch: a size from 2 to 300
--- http_config
x402_settler_key_file $KEYFILE;
--- config
location / { x402 on; x402_settle async; x402_settle_batch 1; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1; }
--- must_die
x402_settle_batch "1" is invalid (expected "off" or a size from 2 to 300

=== x402_settle_batch: past Base's gas cap
--- http_config
x402_settler_key_file $KEYFILE;
--- config
location / { x402 on; x402_settle_batch 301; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1; }
--- must_die
x402_settle_batch "301" is invalid

=== x402_settle_batch: an interval from 100ms to 60s
--- http_config
x402_settler_key_file $KEYFILE;
--- config
location / { x402 on; x402_settle_batch 10 50ms; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1; }
--- must_die
x402_settle_batch interval "50ms" is invalid (expected 100ms to 60s

=== x402_settle_batch: exact only
--- http_config
x402_settler_key_file $KEYFILE;
--- config
location / { x402 on; x402_scheme upto; x402_settle_batch 10; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1; }
--- must_die
"x402_settle_batch" requires "x402_scheme exact", "x402_settler_key_file", no "x402_facilitator" and settlement on

=== x402_settle_batch: the settler's own settlements only
--- config
location / { x402 on; x402_settle off; x402_settle_batch 10; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1; }
--- must_die
"x402_settle_batch" requires "x402_scheme exact"

=== x402_settle_batch: its interval counts in the permit's minimum
--- http_config
x402_settler_key_file $KEYFILE;
--- config
location / { x402 on; x402_settle_batch 10 5s; x402_max_timeout 46; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1; }
--- must_die
(x402_settle_margin 30 + 6 s of block time + x402_settle_batch interval 5 s)
set it to at least 51

=== x402_settle_batch twice
--- http_config
x402_settler_key_file $KEYFILE;
--- config
location / { x402 on; x402_settle_batch 10; x402_settle_batch off; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1; }
--- must_die
"x402_settle_batch" directive is duplicate

=== batch-settlement needs the settler (the channels' receiverAuthorizer)
--- config
location / { x402 on; x402_scheme batch-settlement; x402_facilitator http://127.0.0.1:1; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1; }
--- must_die
"x402_scheme batch-settlement" requires "x402_settler_key_file"

=== batch-settlement: a withdraw delay within the contract's range
--- http_config
x402_settler_key_file $KEYFILE;
--- config
location / { x402 on; x402_scheme batch-settlement; x402_channel_withdraw_delay 60s; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1; }
--- must_die
"x402_channel_withdraw_delay" 60 s is out of the contract's range (15m to 30d)

=== batch-settlement: claims well before a withdrawal completes
--- http_config
x402_settler_key_file $KEYFILE;
--- config
location / { x402 on; x402_scheme batch-settlement; x402_claim_interval 10m; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1; }
--- must_die
"x402_claim_interval" 600000 ms must be at least 1s and at most a third of "x402_channel_withdraw_delay" (900 s)

=== batch-settlement: a deposit that is an amount
--- http_config
x402_settler_key_file $KEYFILE;
--- config
location / { x402 on; x402_scheme batch-settlement; x402_channel_deposit 0.0000000000000000001; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1; }
--- must_die
"x402_channel_deposit" "0.0000000000000000001" is not an amount of the asset

=== batch-settlement: the offer
--- http_config
x402_settler_key_file $KEYFILE;
--- config
location / { x402 on; x402_scheme batch-settlement; x402_channel_withdraw_delay 1h; x402_claim_interval 20m; x402_channel_deposit 2.5; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 0.01; }
--- request
GET /
--- error_code: 402
--- payment_required
accepts.0.scheme: batch-settlement
accepts.0.amount: 10000000000000000
accepts.0.extra.receiverAuthorizer: 0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65
accepts.0.extra.withdrawDelay: 3600
accepts.0.extra.minDeposit: 2500000000000000000
accepts.0.extra.assetTransferMethod: permit2

=== an unknown scheme names the three
--- config
location / { x402 on; x402_scheme deferred; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1; }
--- must_die
x402_scheme "deferred" is invalid (expected "exact", "upto" or "batch-settlement")

=== x402_models: names a client can be shown
--- config
location / { x402 on; x402_models "gpt\"4"; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1; }
--- must_die
x402_models "gpt"4" is invalid (a model name has no quote, backslash or control character)

=== x402_models twice
--- config
location / { x402 on; x402_models a; x402_models b; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1; }
--- must_die
"x402_models" directive is duplicate

=== x402_eip6492_factories: each one checksummed
--- http_config
x402_settler_key_file $KEYFILE;
--- config
location / { x402 on; x402_eip6492_factories 0x6492FAC70A7E5E5e5E5E5e5e5e5E5e5e5E5E6493; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1; }
--- must_die
x402_eip6492_factories "0x6492FAC70A7E5E5e5E5E5e5e5e5E5e5e5E5E6493" fails its EIP-55 checksum

=== x402_eip6492_factories: one listed twice
--- http_config
x402_settler_key_file $KEYFILE;
--- config
location / { x402 on; x402_eip6492_factories 0x209693Bc6afc0C5328bA36FaF03C514EF312287C 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1; }
--- must_die
x402_eip6492_factories "0x209693Bc6afc0C5328bA36FaF03C514EF312287C" is listed twice

=== x402_eip6492_factories: the settler deploys, not a facilitator
--- config
location / { x402 on; x402_eip6492_factories 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_facilitator http://127.0.0.1:1; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1; }
--- must_die
"x402_eip6492_factories" needs the settler ("x402_settler_key_file"), which deploys the wallets

=== x402_redis sentinel: a name and at least one sentinel
--- http_config
x402_rpc $RPC;
x402_redis sentinel:mymaster;
--- config
location / { x402 on; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1; }
--- must_die
x402_redis "sentinel:mymaster" is invalid (expected "sentinel:NAME" followed by the sentinels' addresses

=== x402_redis: one address, unless sentinels
--- http_config
x402_rpc $RPC;
x402_redis 127.0.0.1:6379 127.0.0.1:6380;
--- config
location / { x402 on; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1; }
--- must_die
x402_redis takes one address, or "sentinel:NAME" and the sentinels' addresses

=== x402_redis sentinel: an unpaid request needs no Redis
--- http_config
x402_rpc $RPC;
x402_redis sentinel:mymaster 127.0.0.1:1 127.0.0.1;
x402_redis_wait 1;
--- config
location / { x402 on; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1; }
--- request
GET /
--- error_code: 402

=== x402_redis_wait: a number of replicas
--- http_config
x402_redis_wait 0;
--- config
location / { x402 on; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1; }
--- must_die
x402_redis_wait "0" is invalid (expected the number of replicas, 1 to 16)

=== x402_redis_wait: within x402_redis_timeout
--- http_config
x402_redis_wait 1 2s;
--- config
location / { x402 on; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1; }
--- must_die
x402_redis_wait's timeout 2000 ms must be above 0 and below x402_redis_timeout 1000 ms

=== x402_settler_key_file: one account once
--- http_config
x402_settler_key_file $KEYFILE;
x402_settler_key_file $KEYFILE_SAME;
--- config
location / { x402 on; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1; }
--- must_die
holds the key of an account given before (0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65): two files of one account would send two transactions of one nonce

=== x402_settler_key_file twice: two accounts, upto names the first
--- http_config
x402_settler_key_file $KEYFILE;
x402_settler_key_file $KEYFILE_2;
--- config
location / { x402 on; x402_scheme upto; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1; }
--- request
GET /
--- error_code: 402
--- payment_required
accepts.0.extra.facilitatorAddress: 0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65

=== x402_session needs upto
--- http_config
x402_settler_key_file $KEYFILE;
--- config
location / { x402 on; x402_session on; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1; }
--- must_die
"x402_session on" requires "x402_scheme upto"

=== x402_session needs our own settler, not a facilitator
--- config
location / { x402 on; x402_scheme upto; x402_session on; x402_facilitator http://127.0.0.1:1; x402_facilitator_address 0x90F79bf6EB2c4f870365E785982E1f101E93b906; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1; }
--- must_die
"x402_session on" requires "x402_settler_key_file", no "x402_facilitator"

=== x402_session_margin below its settlement's time is refused
--- http_config
x402_settler_key_file $KEYFILE;
--- config
location / { x402 on; x402_scheme upto; x402_session on; x402_session_margin 5s; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1; }
--- must_die
"x402_session_margin" must be at least 20 s

=== a session's margin counts in the permit's minimum: refused with the minimum
--- http_config
x402_settler_key_file $KEYFILE;
--- config
location / { x402 on; x402_scheme upto; x402_session on; x402_max_timeout 250; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1; }
--- must_die
x402_session_margin 120 + 6 s of block time), plus 10 s for its way here: set it to at least 256

=== max_timeout must leave the settlement margin: refused with the minimum
--- config
location / { x402 on; x402_max_timeout 40; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1; }
--- must_die
"x402_max_timeout" 40 is too short here
(x402_settle_margin 30 + 6 s of block time)
set it to at least 46

=== upto: max_timeout must leave the longest response and the margin
--- http_config
x402_settler_key_file $KEYFILE;
--- config
location / { x402 on; x402_scheme upto; x402_max_response_time 100s; x402_settle_margin 20s; x402_max_timeout 2m; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1; }
--- must_die
an upto payment must arrive with 126 s left
(x402_max_response_time 100 + x402_settle_margin 20 + 6 s of block time)
set it to at least 136

=== settle margin must be above zero
--- config
location / { x402 on; x402_settle_margin 0; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1; }
--- must_die
"x402_settle_margin" and (with upto) "x402_max_response_time" must be above zero

=== the fee ceiling is a fee in gwei
--- http_config
x402_settle_max_fee 0.0000000001;
--- config
location / { x402 on; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1; }
--- must_die
x402_settle_max_fee "0.0000000001" is invalid (expected a fee per gas in gwei

=== the fee ceiling is above zero
--- http_config
x402_settle_max_fee 0;
--- config
location / { x402 on; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1; }
--- must_die
x402_settle_max_fee "0" is invalid

=== x402_receipt_uri is path or full
--- config
location / { x402 on; x402_receipt_uri query; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1; }
--- must_die
x402_receipt_uri "query" is invalid (expected path or full)

=== max_timeout must be positive
--- config
location / { x402 on; x402_max_timeout 0; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1; }
--- must_die
x402_max_timeout

=== settings inherited from http level, enabled in a location
--- http_config
x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C;
x402_price 0.5;
x402_max_timeout 2m;
--- config
location /paid/ { x402 on; proxy_pass http://127.0.0.1:$BACKEND; }
--- request
GET /paid/x
--- error_code: 402
--- payment_required
accepts.0.amount: 500000000000000000
accepts.0.maxTimeoutSeconds: 120
accepts.0.payTo: 0x209693Bc6afc0C5328bA36FaF03C514EF312287C

=== an error found at merge names the location and points at its "x402 on"
--- config
location /other/ { proxy_pass http://127.0.0.1:$BACKEND; }
location /chat/ {
    x402_price 1;
    x402 on;
}
--- must_die
"x402_pay_to" is required where "x402 on" is set, in location "/chat/" (its "x402 on" is in
conf/nginx.conf:$LINE{x402 on;})

=== an "x402 on" of the server is pointed at for the location that inherits it
--- config
x402 on;
x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C;
x402_price 1;
location /inherits/ { x402_price 0.0000000000000000001; }
--- must_die
x402_price "0.0000000000000000001"
in location "/inherits/" (its "x402 on" is in
conf/nginx.conf:$LINE{x402 on;})

=== a key file others can read is refused at its own line
--- http_config
x402_settler_key_file $KEYFILE_OPEN;
--- config
location / { x402 on; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1; }
--- must_die
is accessible by others
conf/nginx.conf:$LINE{x402_settler_key_file}

=== x402_settle sync: send_timeout must outlast a held response's settlement
--- http_config
x402_settler_key_file $KEYFILE;
--- config
location / { x402 on; send_timeout 10s; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1; }
--- must_die
"send_timeout" 10000 ms is not longer than x402_settle_timeout 30000 ms
raise send_timeout or lower x402_settle_timeout

=== x402_settle sync: a send_timeout shorter than the settler's whole bound is a warning
--- http_config
x402_settler_key_file $KEYFILE;
x402_settle_timeout 50s;
--- config
location / { x402 on; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1; }
--- request
GET /
--- error_code: 402
--- error_log
is shorter than the longest x402_settle sync may hold a response

=== a gated location nothing settles for is refused unless x402_settle off says so
--- settle_unset
--- config
location /paid/ { x402 on; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1; }
--- must_die
payments would never be settled here: no "x402_settler_key_file" and no "x402_facilitator"
"x402_settle off"

=== x402_settle off: verified and reserved, never settled, without a key
--- settle_unset
--- config
location /paid/ { x402 on; x402_settle off; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1; }
--- request
GET /paid/x
--- error_code: 402

=== x402_settle takes sync, sync before_content, async or off
--- config
location / { x402 on; x402_settle async before_content; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1; }
--- must_die
x402_settle "async before_content" is invalid (expected "sync", "sync before_content", "async" or "off")

=== x402_settle names its values
--- config
location / { x402 on; x402_settle later; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1; }
--- must_die
x402_settle "later" is invalid (expected sync or async or off)

=== an address with a wrong EIP-55 checksum (a one-letter typo) is refused
--- config
location / { x402 on; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287D; x402_price 1; }
--- must_die
x402_pay_to "0x209693Bc6afc0C5328bA36FaF03C514EF312287D" fails its EIP-55 checksum

=== the asset and facilitator address are checked too
--- config
location / { x402 on; x402_asset 0x240B09731D96979f50B2C649C9CE10FcF9C7987F; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1; }
--- must_die
x402_asset "0x240B09731D96979f50B2C649C9CE10FcF9C7987F" fails its EIP-55 checksum

=== an all-lowercase address is accepted with a warning that nothing was checked
--- config
location / { x402 on; x402_pay_to 0x209693bc6afc0c5328ba36faf03c514ef312287c; x402_price 1; }
--- request
GET /
--- error_code: 402
--- payment_required
accepts.0.payTo: 0x209693Bc6afc0C5328bA36FaF03C514EF312287C
--- error_log
x402_pay_to "0x209693bc6afc0c5328ba36faf03c514ef312287c" is all one case: its EIP-55 checksum could not be checked

=== x402 off (the default) means no gate and no warning
--- http_config
x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C;
x402_price 1;
--- config
location / { proxy_pass http://127.0.0.1:$BACKEND; }
--- request
GET /free
--- error_code: 200
--- response_body_like
^backend GET /free
--- no_error_log
not settled

=== x402 off in an inner location switches the gate off
--- config
x402 on;
x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C;
x402_price 1;
location /paid/ { proxy_pass http://127.0.0.1:$BACKEND; }
location /free/ { x402 off; proxy_pass http://127.0.0.1:$BACKEND; }
--- request
GET /free/x
--- error_code: 200

=== x402_rpc and x402_redis are required where x402 is on
--- no_deps
--- config
location / { x402 on; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1; }
--- must_die
"x402_rpc" (or "x402_facilitator") and "x402_redis" are required

=== x402_redis takes a numeric address only (no blocking name lookups)
--- http_config
x402_rpc http://127.0.0.1:8545;
x402_redis localhost:6379;
--- config
location / { x402 on; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1; }
--- must_die
x402_redis "localhost:6379" is invalid

=== x402_rpc must be an http(s) URL
--- http_config
x402_rpc 127.0.0.1:8545;
x402_redis 127.0.0.1:6379;
--- config
location / { x402 on; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1; }
--- must_die
x402_rpc "127.0.0.1:8545" is invalid

=== timeouts must be above zero
--- http_config
x402_rpc http://127.0.0.1:8545;
x402_redis 127.0.0.1:6379;
x402_timeout 0;
--- config
location / { x402 on; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1; }
--- must_die
must be above zero
