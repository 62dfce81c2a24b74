// refserver: the REFERENCE x402 resource server for scripts/bench.
// Express 5 + @x402/express 2.27 paymentMiddleware, with the reference
// facilitator in-process (@x402/core/facilitator x402Facilitator + the
// @x402/evm 2.27 ExactEvmScheme facilitator, built as scripts/facilitator
// builds it) on the same devchain, and the same offer as the module's
// location: exact, Permit2, 0.001 OPG, maxTimeoutSeconds 300.  No x402 logic
// lives here.  A paid request is forwarded to --backend (keep-alive, as
// nginx's upstream keepalive) and its body returned.
//
//   node scripts/bench.d/refserver.mjs --port N --rpc URL --key 0x.. \
//        --backend http://127.0.0.1:P --pay-to 0x.. --asset 0x.. \
//        [--amount 1000000000000000] [--network eip155:8453] [--nonce-manager]
//
// --nonce-manager gives the settler account viem's nonceManager (local
// nonce counter); without it viem asks the node for the pending nonce on
// every settlement, as scripts/facilitator does.
// Prints "refserver: listening on http://127.0.0.1:PORT" once listening.
import http from 'node:http';
import { parseArgs } from 'node:util';
import express from 'express';
import { createWalletClient, defineChain, http as viemHttp, publicActions } from 'viem';
import { privateKeyToAccount, nonceManager } from 'viem/accounts';
import { paymentMiddleware, x402ResourceServer } from '@x402/express';
import { x402Facilitator } from '@x402/core/facilitator';
import { toFacilitatorEvmSigner } from '@x402/evm';
import { ExactEvmScheme as ExactFacilitator } from '@x402/evm/exact/facilitator';
import { ExactEvmScheme as ExactServer } from '@x402/evm/exact/server';

const { values: opt } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    rpc: { type: 'string' },
    key: { type: 'string' },
    backend: { type: 'string' },
    'pay-to': { type: 'string' },
    asset: { type: 'string' },
    amount: { type: 'string', default: '1000000000000000' },
    network: { type: 'string', default: 'eip155:8453' },
    'nonce-manager': { type: 'boolean', default: false },
  },
});
for (const k of ['rpc', 'key', 'backend', 'pay-to', 'asset']) {
  if (!opt[k]) { console.error(`refserver: --${k} is required`); process.exit(2); }
}
const CHAIN_ID = Number(opt.network.split(':')[1]);

// the reference facilitator, in-process (as scripts/facilitator)
const chain = defineChain({
  id: CHAIN_ID, name: `x402-${opt.network}`,
  nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
  rpcUrls: { default: { http: [opt.rpc] } },
});
const transport = viemHttp(opt.rpc, { retryCount: 0, timeout: 20_000 });
const account = privateKeyToAccount(opt.key, opt['nonce-manager'] ? { nonceManager } : undefined);
const client = createWalletClient({ chain, transport, account, pollingInterval: 100 }).extend(publicActions);
const signer = toFacilitatorEvmSigner({
  address: account.address,
  getCode: (a) => client.getCode(a),
  readContract: (a) => client.readContract({ ...a, args: a.args || [] }),
  verifyTypedData: (a) => client.verifyTypedData(a),
  writeContract: (a) => client.writeContract({ ...a, args: a.args || [] }),
  sendTransaction: (a) => client.sendTransaction(a),
  waitForTransactionReceipt: (a) => client.waitForTransactionReceipt(a),
  getTransactionCount: (a) => client.getTransactionCount(a),
  estimateFeesPerGas: () => client.estimateFeesPerGas(),
  signTransaction: (a) => client.signTransaction(a),
}, { confirmationTimeoutMs: 30_000 });
const facilitator = new x402Facilitator().register(opt.network, new ExactFacilitator(signer));
// x402ResourceServer takes a FacilitatorClient: the facilitator itself,
// called directly instead of over HTTP
const facilitatorClient = {
  verify: (p, r) => facilitator.verify(p, r),
  settle: (p, r) => facilitator.settle(p, r),
  getSupported: async () => facilitator.getSupported(),
};

const resourceServer = new x402ResourceServer(facilitatorClient)
  .register(opt.network, new ExactServer());

const routes = {
  'GET /v1/*': {
    accepts: {
      scheme: 'exact',
      network: opt.network,
      payTo: opt['pay-to'],
      price: { amount: opt.amount, asset: opt.asset, extra: { assetTransferMethod: 'permit2' } },
      maxTimeoutSeconds: 300,
    },
    description: 'chat completions',
  },
};

const backend = new URL(opt.backend);
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

const app = express();
app.disable('x-powered-by');
app.disable('etag');
app.use(paymentMiddleware(routes, resourceServer));
app.use('/v1', (req, res) => {
  const up = http.request({
    host: backend.hostname, port: backend.port, path: req.originalUrl, method: 'GET', agent,
  }, (ur) => {
    const chunks = [];
    ur.on('data', (c) => chunks.push(c));
    ur.on('end', () => {
      res.status(ur.statusCode).type(ur.headers['content-type'] || 'application/json')
        .send(Buffer.concat(chunks));
    });
  });
  up.on('error', (e) => res.status(502).json({ error: String(e.message) }));
  up.end();
});

const server = app.listen(Number(opt.port), '127.0.0.1', () => {
  console.log(`refserver: listening on http://127.0.0.1:${server.address().port}`);
});
server.keepAliveTimeout = 75_000;
for (const s of ['SIGTERM', 'SIGINT']) {
  process.on(s, () => { server.close(() => process.exit(0)); setTimeout(() => process.exit(0), 1000).unref(); });
}
