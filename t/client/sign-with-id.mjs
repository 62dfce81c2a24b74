// Signs one payment (exact or upto, as offered) for a URL with the
// official packages, with the
// payment-identifier extension's own client helper
// (appendPaymentIdentifierToExtensions, @x402/extensions 2.27) adding the
// id, and prints the PAYMENT-SIGNATURE header value: a test then sends the
// very same payment as often as it likes, as an agent that retries does.
//
//   node t/client/sign-with-id.mjs URL [--key 0x..] [--id ID|auto] [--method M]
import { x402Client } from '@x402/fetch';
import { ExactEvmScheme } from '@x402/evm/exact/client';
import { UptoEvmScheme } from '@x402/evm/upto/client';
import { toClientEvmSigner } from '@x402/evm';
import { encodePaymentSignatureHeader } from '@x402/core/http';
import { appendPaymentIdentifierToExtensions } from '@x402/extensions/payment-identifier';
import { privateKeyToAccount } from 'viem/accounts';

// anvil/hardhat account #0: a public test key, never fund it for real
const opt = { key: '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80',
              id: undefined, method: 'GET', url: null };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--key') opt.key = argv[++i];
  else if (argv[i] === '--id') opt.id = argv[++i] === 'auto' ? null : argv[i];
  else if (argv[i] === '--method') opt.method = argv[++i];
  else opt.url = argv[i];
}

const res = await fetch(opt.url, { method: opt.method });
const required = JSON.parse(Buffer.from(res.headers.get('payment-required'), 'base64').toString());

const signer = toClientEvmSigner(privateKeyToAccount(opt.key));
const client = new x402Client()
  .register('eip155:*', new ExactEvmScheme(signer))
  .register('eip155:*', new UptoEvmScheme(signer))
  .setSpendControls(false)
  .onBeforePaymentCreation(async ({ paymentRequired }) => {
    // the server declared the extension: the helper adds the id to it
    // (without --id, none: what a client that ignores the extension sends)
    if (opt.id !== undefined) {
      appendPaymentIdentifierToExtensions(paymentRequired.extensions ?? {}, opt.id ?? undefined);
    }
  });

const payload = await client.createPaymentPayload(required);
console.log(JSON.stringify({
  header: encodePaymentSignatureHeader(payload),
  id: payload.extensions?.['payment-identifier']?.info?.id ?? null,
  declared: required.extensions?.['payment-identifier'] ?? null,
}));
