# Local verification of PAYMENT-SIGNATURE: freshly signed payments (libx402's
# signer, same JSON as @x402/fetch) and the official client's vectors.
use strict;
use warnings;
use lib 't/lib';
use Test::Base;
use X402Test;

start_services(redis => 1, devchain => 1);

my $PAY_TO = '0x209693Bc6afc0C5328bA36FaF03C514EF312287C';
set_defaults(config => paid_location('/', pay_to => $PAY_TO, echo => 'result')
    . upto_location('/upto/', pay_to => $PAY_TO, price => '0.1', echo => 'result'));

run_blocks(blocks());

__DATA__

=== a valid exact payment reaches the backend, with the payer in variables
--- request
POST /v1/chat/completions
--- more_headers
PAYMENT-SIGNATURE: {{pay --amount 1000000000000000 --pay-to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C}}
--- request_body
{"model":"m"}
--- error_code: 200
--- response_body
backend POST /v1/chat/completions payer=0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266 amount=1000000000000000 result=paid
--- response_headers
!PAYMENT-REQUIRED
--- error_log
payment verified locally

=== the header name is case-insensitive
--- more_headers
payment-signature: {{pay --amount 1000000000000000 --pay-to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C}}
--- error_code: 200

=== signed with another key for another payer (from replaced)
--- more_headers
PAYMENT-SIGNATURE: {{pay --amount 1000000000000000 --pay-to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C --from 0x70997970C51812dc3A010C7d01b50e0d17dc79C8}}
--- error_code: 402
--- payment_required
error: invalid_permit2_signature
accepts.0.amount: 1000000000000000
--- error_log
invalid_permit2_signature

=== signed for another chain
--- more_headers
PAYMENT-SIGNATURE: {{pay --amount 1000000000000000 --pay-to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C --sign-chain 84532}}
--- error_code: 402
--- body_json
error: invalid_permit2_signature

=== accepted for another network: no matching offer
--- more_headers
PAYMENT-SIGNATURE: {{pay --amount 1000000000000000 --pay-to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C --network eip155:84532}}
--- error_code: 402
--- payment_required
error: No matching payment requirements

=== accepted with another amount: no matching offer
--- more_headers
PAYMENT-SIGNATURE: {{pay --amount 1000000000000000 --pay-to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C --accepted-amount 1}}
--- error_code: 402
--- payment_required
error: No matching payment requirements

=== accepted for the upto scheme on an exact offer: no matching offer
--- more_headers
PAYMENT-SIGNATURE: {{pay --amount 1000000000000000 --pay-to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C --accepted-scheme upto}}
--- error_code: 402
--- payment_required
error: No matching payment requirements

=== signed for another token
--- more_headers
PAYMENT-SIGNATURE: {{pay --amount 1000000000000000 --pay-to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C --asset 0x0000000000000000000000000000000000000002 --accepted-asset 0xFbC2051AE2265686a469421b2C5A2D5462FbF5eB}}
--- error_code: 402
--- payment_required
error: permit2_token_mismatch

=== signed for another recipient
--- more_headers
PAYMENT-SIGNATURE: {{pay --amount 1000000000000000 --pay-to 0x0000000000000000000000000000000000000001 --accepted-pay-to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C}}
--- error_code: 402
--- payment_required
error: invalid_permit2_recipient_mismatch

=== signed for a smaller amount
--- more_headers
PAYMENT-SIGNATURE: {{pay --amount 999999999999999 --accepted-amount 1000000000000000 --pay-to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C}}
--- error_code: 402
--- payment_required
error: permit2_amount_mismatch

=== signed for a larger amount (exact means equal)
--- more_headers
PAYMENT-SIGNATURE: {{pay --amount 1000000000000001 --accepted-amount 1000000000000000 --pay-to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C}}
--- error_code: 402
--- payment_required
error: permit2_amount_mismatch

=== signed for another spender (the upto proxy)
--- more_headers
PAYMENT-SIGNATURE: {{pay --amount 1000000000000000 --pay-to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C --spender 0x4020A4f3b7b90ccA423B9fabCc0CE57C6C240002}}
--- error_code: 402
--- payment_required
error: invalid_permit2_spender

=== expired deadline
--- more_headers
PAYMENT-SIGNATURE: {{pay --amount 1000000000000000 --pay-to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C --deadline 1740672389}}
--- error_code: 402
--- payment_required
error: permit2_deadline_expired

=== deadline inside the 6 s block-time margin
--- more_headers
PAYMENT-SIGNATURE: {{pay --amount 1000000000000000 --pay-to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C --ttl 3}}
--- error_code: 402
--- payment_required
error: permit2_deadline_expired

=== not valid yet
--- more_headers
PAYMENT-SIGNATURE: {{pay --amount 1000000000000000 --pay-to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C --valid-after 4102444800}}
--- error_code: 402
--- payment_required
error: permit2_not_yet_valid

=== tampered signature
--- more_headers
PAYMENT-SIGNATURE: {{pay --amount 1000000000000000 --pay-to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C --tamper-sig}}
--- error_code: 402
--- payment_required
error: invalid_permit2_signature

=== v as y-parity (0/1) is refused: Permit2 would revert on chain
--- more_headers
PAYMENT-SIGNATURE: {{pay --amount 1000000000000000 --pay-to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C --sig-v01}}
--- error_code: 402
--- payment_required
error: invalid_permit2_signature

=== signature without 0x is refused
--- more_headers
PAYMENT-SIGNATURE: {{pay --amount 1000000000000000 --pay-to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C --signature 1a3ab0cdec56cb6e3b5c966b59928a982c026216079ff6ecce073f3314af6ee638d44db5896beabd143ba44427c5369aea712968da4b43ab25b375d2fc293fec1c}}
--- error_code: 402
--- payment_required
error: invalid_permit2_signature

=== two PAYMENT-SIGNATURE headers are not a payment
--- more_headers
PAYMENT-SIGNATURE: {{pay --amount 1000000000000000 --pay-to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C}}
PAYMENT-SIGNATURE: {{pay --amount 1000000000000000 --pay-to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C}}
--- error_code: 402
--- payment_required
error: Payment required

=== the official client's header (8453 vector) decodes; its accepted has extra.name and version, which this offer has not
--- config
location / {
    x402 on;
    x402_asset 0x240b09731D96979f50B2C649C9CE10FcF9C7987F;
    x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C;
    x402_price 1;
    proxy_pass http://127.0.0.1:$BACKEND;
}
--- more_headers
PAYMENT-SIGNATURE: {{vector chains.8453.paymentSignatureHeader}}
--- error_code: 402
--- payment_required
error: No matching payment requirements
--- error_log
payer 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266

=== the official client's unpadded header (E07, 84532) decodes too
--- config
location / {
    x402 on;
    x402_network eip155:84532;
    x402_asset 0x240b09731D96979f50B2C649C9CE10FcF9C7987F;
    x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C;
    x402_price 1;
    proxy_pass http://127.0.0.1:$BACKEND;
}
--- more_headers
PAYMENT-SIGNATURE: {{vector encodingVariants.cases.6.paymentSignatureHeader}}
--- error_code: 402
--- payment_required
error: No matching payment requirements
--- error_log
payer 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266

=== a url-safe character makes the header undecodable: unpaid
--- config
location / {
    x402 on;
    x402_asset 0x240b09731D96979f50B2C649C9CE10FcF9C7987F;
    x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C;
    x402_price 1;
    proxy_pass http://127.0.0.1:$BACKEND;
}
--- more_headers
PAYMENT-SIGNATURE: {{urlsafe chains.8453.paymentSignatureHeader}}
--- error_code: 402
--- payment_required
error: Payment required
--- error_log
undecodable PAYMENT-SIGNATURE

=== a space inside the header makes it undecodable: unpaid
--- config
location / {
    x402 on;
    x402_asset 0x240b09731D96979f50B2C649C9CE10FcF9C7987F;
    x402_pay_to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C;
    x402_price 1;
    proxy_pass http://127.0.0.1:$BACKEND;
}
--- more_headers
PAYMENT-SIGNATURE: {{spaced chains.8453.paymentSignatureHeader}}
--- error_code: 402
--- payment_required
error: Payment required

=== a valid upto payment (cap signed, facilitator bound) reaches the backend
--- request
GET /upto/x
--- more_headers
PAYMENT-SIGNATURE: {{pay --scheme upto --facilitator 0x90F79bf6EB2c4f870365E785982E1f101E93b906 --amount 100000000000000000 --pay-to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C}}
--- error_code: 200
--- response_body
backend GET /upto/x payer=0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266 amount=100000000000000000 result=paid

=== upto signed for another facilitator
--- request
GET /upto/x
--- more_headers
PAYMENT-SIGNATURE: {{pay --scheme upto --facilitator 0x0000000000000000000000000000000000000003 --amount 100000000000000000 --pay-to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C}}
--- error_code: 402
--- payment_required
error: No matching payment requirements

=== upto with the right offer copy but a witness for another facilitator
--- request
GET /upto/x
--- more_headers
PAYMENT-SIGNATURE: {{pay --scheme upto --facilitator 0x0000000000000000000000000000000000000003 --accepted-facilitator 0x90F79bf6EB2c4f870365E785982E1f101E93b906 --amount 100000000000000000 --pay-to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C}}
--- error_code: 402
--- payment_required
error: upto_facilitator_mismatch

=== an exact payment on an upto offer
--- request
GET /upto/x
--- more_headers
PAYMENT-SIGNATURE: {{pay --amount 100000000000000000 --pay-to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C}}
--- error_code: 402
--- payment_required
error: No matching payment requirements
