# Directive parsing and validation: every bad value is a clear nginx -t error.
use strict;
use warnings;
use lib 't/lib';
use Test::Base;
use X402Test;

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

=== max_timeout must be positive
--- config
location / { x402 on; x402_max_timeout 0; x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C; x402_price 1; }
--- must_die
x402_max_timeout

=== settings inherited from http level, enabled in a location; warns at start-up
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
--- error_log
not settled

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
