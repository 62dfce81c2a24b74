# Interop with the official client (@x402/fetch 2.27 + @x402/evm): it must
# accept the module's 402, sign with Permit2, and be let through.
use strict;
use warnings;
use lib 't/lib';
use Test::Base;
use X402Test;

start_services(redis => 1, devchain => 1);

my $PAY_TO = '0x209693Bc6afc0C5328bA36FaF03C514EF312287C';
set_defaults(config => paid_location('/v1/', pay_to => $PAY_TO, echo => 'result',
                                     more => 'x402_description "chat";')
    . upto_location('/upto/', pay_to => $PAY_TO, price => '0.1', echo => 'result'));

run_blocks(blocks());

__DATA__

=== the official client accepts the exact offer, signs it, and is let through
--- client
/v1/chat/completions --method POST --body {"model":"m"}
--- client_json
error: (absent)
attempts.0: 402
attempts.1: 200
attempts.2: (absent)
status: 200
paymentRequired.x402Version: 2
paymentRequired.resource.url: http://127.0.0.1:$PORT/v1/chat/completions
paymentRequired.accepts.0.extra.assetTransferMethod: permit2
body: /^backend POST \/v1\/chat\/completions payer=0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266 amount=1000000000000000 result=paid\n$/
--- error_log
payment verified locally

=== the official client signs the upto cap for the advertised facilitator
--- client
/upto/generate --method POST --body {"prompt":"hi"}
--- client_json
error: (absent)
attempts.0: 402
attempts.1: 200
status: 200
paymentRequired.accepts.0.scheme: upto
body: /^backend POST \/upto\/generate payer=0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266 amount=100000000000000000 result=paid\n$/

=== a payer key other than the test key works too
--- client
/v1/x --key 0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d
--- client_json
status: 200
body: /^backend GET \/v1\/x payer=0x70997970C51812dc3A010C7d01b50e0d17dc79C8 amount=1000000000000000 result=paid\n$/
