# An unpaid request gets 402 with x402 v2 payment terms.
use strict;
use warnings;
use lib 't/lib';
use Test::Base;
use X402Test;

# blocks without a config section use this one
set_defaults(config => <<'CONF');
location / {
    x402 on;
    x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C;
    x402_price 1;
    proxy_pass http://127.0.0.1:$BACKEND;
}
CONF

run_blocks(blocks());

__DATA__

=== GET without payment: 402, PAYMENT-REQUIRED, no-store, JSON body
--- config
location /v1/ {
    x402 on;
    x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C;
    x402_price 0.001;
    x402_description "chat completions";
    proxy_pass http://127.0.0.1:$BACKEND;
}
--- request
GET /v1/chat/completions?model=a
--- error_code: 402
--- response_headers
Cache-Control: no-store
Content-Type: application/json
--- payment_required
x402Version: 2
error: Payment required
resource.url: http://127.0.0.1:$PORT/v1/chat/completions?model=a
resource.description: chat completions
accepts.0.scheme: exact
accepts.0.network: eip155:8453
accepts.0.amount: 1000000000000000
accepts.0.asset: 0xFbC2051AE2265686a469421b2C5A2D5462FbF5eB
accepts.0.payTo: 0x209693Bc6afc0C5328bA36FaF03C514EF312287C
accepts.0.maxTimeoutSeconds: 300
accepts.0.extra.assetTransferMethod: permit2
accepts.0.extra.facilitatorAddress: (absent)
accepts.1: (absent)
--- body_json
x402Version: 2
error: Payment required
accepts.0.amount: 1000000000000000
accepts.0.extra.assetTransferMethod: permit2

=== lowercase addresses in the config are offered EIP-55 checksummed
--- config
location / {
    x402 on;
    x402_network eip155:84532;
    x402_asset 0x240b09731d96979f50b2c649c9ce10fcf9c7987f;
    x402_pay_to 0x209693bc6afc0c5328ba36faf03c514ef312287c;
    x402_price 1;
    proxy_pass http://127.0.0.1:$BACKEND;
}
--- request
GET /
--- error_code: 402
--- payment_required
accepts.0.network: eip155:84532
accepts.0.asset: 0x240b09731D96979f50B2C649C9CE10FcF9C7987F
accepts.0.payTo: 0x209693Bc6afc0C5328bA36FaF03C514EF312287C
accepts.0.amount: 1000000000000000000

=== HEAD gets the 402 headers without a body
--- request
HEAD /thing
--- error_code: 402
--- response_body_like
\A\z
--- payment_required
error: Payment required

=== POST with a body gets 402 (body discarded, connection fine)
--- request
POST /v1/chat/completions
--- more_headers
Content-Type: application/json
--- request_body
{"model":"m","messages":[{"role":"user","content":"hi"}]}
--- error_code: 402
--- body_json
error: Payment required

=== a real CORS preflight (Origin, Access-Control-Request-Method, no body) is never gated
--- request
OPTIONS /v1/chat/completions
--- more_headers
Origin: https://app.example.com
Access-Control-Request-Method: POST
--- error_code: 200
--- response_body_like
^backend OPTIONS

=== any other OPTIONS is gated like every method: it could reach the backend's work unpaid
--- request
OPTIONS /v1/chat/completions
--- error_code: 402
--- payment_required
error: Payment required

=== an OPTIONS without Origin is no preflight: gated
--- request
OPTIONS /v1/chat/completions
--- more_headers
Access-Control-Request-Method: POST
--- error_code: 402

=== an OPTIONS with a body is no preflight: gated
--- request
OPTIONS /v1/chat/completions
--- more_headers
Origin: https://app.example.com
Access-Control-Request-Method: POST
Content-Type: application/json
--- request_body
{"model":"m","messages":[{"role":"user","content":"work for free"}]}
--- error_code: 402

=== upto offer carries the cap and the facilitator address
--- config
location / {
    x402 on;
    x402_scheme upto;
    x402_facilitator_address 0x90f79bf6eb2c4f870365e785982e1f101e93b906;
    x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C;
    x402_price 0.1;
    proxy_pass http://127.0.0.1:$BACKEND;
}
--- request
GET /
--- error_code: 402
--- payment_required
accepts.0.scheme: upto
accepts.0.amount: 100000000000000000
accepts.0.extra.assetTransferMethod: permit2
accepts.0.extra.facilitatorAddress: 0x90F79bf6EB2c4f870365E785982E1f101E93b906

=== price from a variable (a map on a request header)
--- http_config
map $http_x_model $x402_model_price {
    default   0.002;
    big       1.5;
}
--- config
location / {
    x402 on;
    x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C;
    x402_price $x402_model_price;
    proxy_pass http://127.0.0.1:$BACKEND;
}
--- request
GET /
--- more_headers
X-Model: big
--- error_code: 402
--- payment_required
accepts.0.amount: 1500000000000000000

=== a variable price that is not a valid amount is a 500, never served
--- http_config
map $http_x_model $x402_model_price {
    default   0.002;
    broken    0.1234567;
}
--- config
location / {
    x402 on;
    x402_asset_decimals 6;
    x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C;
    x402_price $x402_model_price;
    proxy_pass http://127.0.0.1:$BACKEND;
}
--- request
GET /
--- more_headers
X-Model: broken
--- error_code: 500
--- error_log
evaluated to an invalid amount

=== an undecodable PAYMENT-SIGNATURE is treated as unpaid
--- request
GET /
--- more_headers
PAYMENT-SIGNATURE: bm90IGpzb24=
--- error_code: 402
--- payment_required
error: Payment required
--- error_log
undecodable PAYMENT-SIGNATURE
