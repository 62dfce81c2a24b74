# ERC-6492: a smart wallet that pays before it exists.  The official client
# (t/client/pay.mjs) signs as the wallet, its owner's signatures wrapped with
# the wallet's deployment (serializeErc6492Signature, as smart-wallet SDKs
# do); the wallet is a CREATE2 TestWalletFactory wallet that holds OPG at its
# address before it has code (t/client/smart-wallet.mjs).  The module must
# do what the reference facilitator does: deploy it with the settler when its
# factory is allowed (x402_eip6492_factories), refuse it otherwise, and never
# spend gas on a wallet whose payment would fail.  Checked on chain: the
# wallet's code, balances, Permit2's nonce bit, the settler's transactions.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Math::BigInt;
use Time::HiRes qw(time sleep);
use X402Test;

my $T0 = time;
start_services(redis => 1, devchain => 1);

my $C = chain_env();
my $RPC = $C->{X402_RPC_URL};
my $OWNER_KEY = $C->{X402_WALLET_OWNER_KEY};
my $PAY_TO = $C->{X402_PAY_TO};
my $PRICE = Math::BigInt->new('1000000000000000');     # 0.001 OPG

my $check = `node scripts/gen-probe.mjs --check 2>&1`;
is($?, 0, 'lib/src/erc6492_probe.c is lib/sol/Erc6492Probe.sol compiled')
    or diag($check);

sub wallet_setup {
    my ($salt, @more) = @_;
    my $out = `node t/client/smart-wallet.mjs --rpc $RPC --salt $salt @more`;
    my $w = eval { decode_json($out) } // {};
    ok($w->{factory}, "counterfactual wallet of salt $salt") or diag($out);
    return $w;
}

sub code_of { rpc_call('eth_getCode', $_[0], 'latest') // '0x' }

# the official client pays as the wallet; its JSON report
sub wallet_pays {
    my ($srv, $uri, %o) = @_;
    my $url = "http://127.0.0.1:$srv->{port}$uri";
    my $key = $o{key} // $OWNER_KEY;
    my $wrap = "$o{factory}:$o{data}";
    my $out = `node t/client/pay.mjs $url --key $key --from $o{wallet} --erc6492 $wrap`;
    return eval { decode_json($out) } // { error => "bad output: $out" };
}

# within 15 s, $node's log says the deployment of $wallet was sent
sub deployment_sent {
    my ($node, $wallet) = @_;
    for (1 .. 150) {
        return 1 if read_file("$node->{dir}/logs/error.log")
                    =~ /deployment of wallet \Q$wallet\E \(ERC-6492\)[^\n]*sent 0x/i;
        sleep 0.1;
    }
    return 0;
}

sub metric {
    my ($srv, $name) = @_;
    my $body = http_request($srv, 'GET /metrics')->{content} // '';
    return $body =~ /^\Q$name\E (\d+)/m ? $1 : 0;
}

my $w1 = wallet_setup(1001);
my ($FACTORY, $W1, $DATA1) = @{$w1}{qw(factory wallet factoryData)};
is($w1->{code}, '0x', 'the wallet has no code yet');
is(asset_balance($W1)->bstr, Math::BigInt->new(10)->bpow(21)->bstr,
   'and holds 1000 OPG at its address already');

my $srv = server_start({
    http_config => settler_http(),
    config => paid_location('/paid/', more => "x402_eip6492_factories $FACTORY;")
            . paid_location('/other/',
                            more => 'x402_eip6492_factories '
                                  . '0x4020074e9dF2ce1deE5A9C1b5c3f541D02a10003;')
            . paid_location('/upto/', more => "x402_scheme upto;\n"
                                            . "x402_eip6492_factories $FACTORY;")
            . status_location(),
});

sub untouched {
    my ($what, $n0, $b0) = @_;
    is(code_of($W1), '0x', "$what: the wallet is not deployed");
    is(settler_tx_count(), $n0, "$what: the settler sent nothing");
    is(asset_balance($W1)->bstr, $b0->bstr, "$what: the wallet paid nothing");
}

# ---- refusals: nothing deployed, nothing sent, nothing paid ------------------
{
    my ($n0, $b0) = (settler_tx_count(), asset_balance($W1));

    my $r = wallet_pays($srv, '/other/x', factory => $FACTORY, data => $DATA1,
                        wallet => $W1);
    is($r->{status}, 402, 'a factory the location does not allow: 402');
    is($r->{finalPaymentRequired}{error}, 'eip6492_factory_not_allowed',
       '... eip6492_factory_not_allowed (the reference\'s reason)');
    untouched('not allowed', $n0, $b0);

    # signed by a key that does not own the wallet: the probe sees the
    # deployed wallet's isValidSignature refuse it
    $r = wallet_pays($srv, '/paid/x', factory => $FACTORY, data => $DATA1,
                     wallet => $W1, key => $C->{X402_PAYER2_KEY});
    is($r->{status}, 402, 'another key\'s signature for the wallet: 402');
    is($r->{finalPaymentRequired}{error}, 'invalid_permit2_signature',
       '... invalid_permit2_signature');
    untouched('foreign signature', $n0, $b0);

    # an allowed factory whose call deploys another wallet (another salt)
    my $other = decode_json(`node t/client/smart-wallet.mjs --rpc $RPC --salt 1002 --data-only`);
    $r = wallet_pays($srv, '/paid/x', factory => $FACTORY,
                     data => $other->{factoryData}, wallet => $W1);
    is($r->{status}, 402, 'a deployment that does not give the payer code: 402');
    is($r->{finalPaymentRequired}{error}, 'smart_wallet_deployment_failed',
       '... smart_wallet_deployment_failed');
    untouched('wrong deployment', $n0, $b0);
    is(code_of(decode_json(`node t/client/smart-wallet.mjs --rpc $RPC --salt 1002 --fund 0`)->{wallet}),
       '0x', '... and the probe deployed nothing either');

    # the same signature wrapped for a factory of 0: no deployment, so the
    # wallet (no code) cannot sign
    $r = wallet_pays($srv, '/paid/x', factory => '0x0000000000000000000000000000000000000000',
                     data => $DATA1, wallet => $W1);
    is($r->{status}, 402, 'a wrapper with the factory 0: 402');
    is($r->{finalPaymentRequired}{error}, 'invalid_permit2_signature',
       '... invalid_permit2_signature');
    untouched('factory 0', $n0, $b0);
}

# ---- the wallet deployed by the settler, then paid ---------------------------
my $paid_header;
{
    my ($n0, $b0, $m0) = (settler_tx_count(), asset_balance($W1), asset_balance($PAY_TO));
    my $r = wallet_pays($srv, '/paid/first', factory => $FACTORY, data => $DATA1,
                        wallet => $W1);
    is($r->{status}, 200, 'allowed factory: the wallet is deployed and the request served')
        or diag(explain $r);
    like($r->{body} // '', qr/^backend GET \/paid\/first/, '... by the backend');
    ok($r->{paymentResponse} && $r->{paymentResponse}{success}, '... with PAYMENT-RESPONSE');
    is(lc($r->{paymentResponse}{payer} // ''), lc $W1, '... naming the wallet as the payer');
    $paid_header = $r->{paymentSignature};
    my $sent = decode_json_b64($paid_header // '') // {};
    my $sig = $sent->{payload}{signature} // '';
    cmp_ok(length($sig), '>', 2 + 2 * 65 * 2, 'the client sent a wrapped signature');
    like($sig, qr/(?:6492){16}$/, '... ending in the ERC-6492 magic');

    isnt(code_of($W1), '0x', 'the wallet has code now');
    is(settler_tx_count(), $n0 + 2, 'the settler sent two transactions: the deployment and the settlement');
    is(asset_balance($W1)->bstr, $b0->copy->bsub($PRICE)->bstr, 'the wallet paid the price');
    is(asset_balance($PAY_TO)->bstr, $m0->copy->badd($PRICE)->bstr, 'the merchant got it');
    ok(nonce_used($W1, $sent->{payload}{permit2Authorization}{nonce}),
       'Permit2 spent the payment\'s nonce');
    my $rc = receipt_for('/paid/first');
    is(length($rc && $rc->{signature} // ''), 2 + 2 * 65,
       'the receipt keeps the inner signature (what Permit2 was given)');
    is(metric($srv, 'x402_wallets_deployed_total'), 1, 'x402_wallets_deployed_total 1');
}

# ---- replayed: refused, not charged, not deployed twice ----------------------
{
    my ($n0, $b0) = (settler_tx_count(), asset_balance($W1));
    my $r = http_request($srv, 'GET /paid/first', { 'PAYMENT-SIGNATURE' => $paid_header });
    is($r->{status}, 402, 'the same payment again: 402');
    is(error_of($r), 'permit2_invalid_nonce', '... permit2_invalid_nonce');
    is(settler_tx_count(), $n0, '... nothing sent');
    is(asset_balance($W1)->bstr, $b0->bstr, '... nothing paid');
}

# ---- a deployed wallet that still wraps its signatures: no second deployment
{
    my ($n0, $b0) = (settler_tx_count(), asset_balance($W1));
    my $r = wallet_pays($srv, '/paid/again', factory => $FACTORY, data => $DATA1,
                        wallet => $W1);
    is($r->{status}, 200, 'the deployed wallet pays with a wrapped signature: 200')
        or diag(explain $r);
    is(settler_tx_count(), $n0 + 1, '... one transaction: the settlement alone');
    is(asset_balance($W1)->bstr, $b0->copy->bsub($PRICE)->bstr, '... the price paid');
    is(metric($srv, 'x402_wallets_deployed_total'), 1, '... no deployment counted');
}

# ---- upto: the settler deploys, then settles as the witness's facilitator --
{
    my $w2 = wallet_setup(1003);
    my ($b0, $n0) = (asset_balance($w2->{wallet}), settler_tx_count());
    my $r = wallet_pays($srv, '/upto/x', factory => $FACTORY, data => $w2->{factoryData},
                        wallet => $w2->{wallet});
    is($r->{status}, 200, 'upto: a counterfactual wallet is deployed and served')
        or diag(explain $r);
    isnt(code_of($w2->{wallet}), '0x', 'upto: the wallet has code');
    my $rc = wait_status('/upto/x', 'settled', 30);
    is($rc && $rc->{status}, 'settled', 'upto: settled');
    my $paid = $b0->copy->bsub(asset_balance($w2->{wallet}));
    is($paid->bstr, $PRICE->bstr, 'upto: the wallet paid the price, once');
    is(settler_tx_count(), $n0 + 2, 'upto: two transactions, the deployment and the settlement');
}

my $srv2 = server_start({ http_config => settler_http(), workers => 2,
                          config => paid_location('/paid/', more => "x402_eip6492_factories $FACTORY;") });

my $log = server_stop($srv, 'erc6492 node');
like($log, qr/its factory \S+ is not in x402_eip6492_factories/,
     'log: the refused factory named');
like($log, qr/the deployment of wallet \Q$W1\E \(ERC-6492\) mined/i,
     'log: the deployment mined');
unlike($log, qr/\[(?:alert|crit|emerg)\]/, 'log: nothing alarming');

# ---- a second payment while the wallet's deployment is under way: 503, and
# one deployment only ----------------------------------------------------------
{
    my $w5 = wallet_setup(1005);
    my $n0 = settler_tx_count();
    mining_stop();
    my $first = in_child(sub {
        my $r = wallet_pays($srv2, '/paid/first5', factory => $FACTORY,
                            data => $w5->{factoryData}, wallet => $w5->{wallet});
        return $r->{status} // 'none';
    });
    ok(deployment_sent($srv2, $w5->{wallet}),
       'the first payment\'s deployment is sent, not mined');
    my $r = wallet_pays($srv2, '/paid/second5', factory => $FACTORY,
                        data => $w5->{factoryData}, wallet => $w5->{wallet});
    is($r->{status}, 503, 'a second payment of the wallet meanwhile: 503');
    like($r->{body} // '', qr/being deployed/, '... saying the wallet is being deployed');
    mining_start();
    my ($st) = collect_child($first);
    is($st, 200, 'the first payment is served once its wallet is deployed');
    $r = wallet_pays($srv2, '/paid/third5', factory => $FACTORY,
                     data => $w5->{factoryData}, wallet => $w5->{wallet});
    is($r->{status}, 200, 'the next one is served, the wallet deployed');
    is(settler_tx_count() - $n0, 3, 'one deployment and two settlements');
    my @deploys = read_file("$srv2->{dir}/logs/error.log")
                  =~ /deployment of wallet \Q$w5->{wallet}\E \(ERC-6492\): sent/gi;
    is(scalar @deploys, 1, 'the settler sent one deployment');
}

# ---- a deployment over x402_settle_gas_max: refused, nothing sent ----------
{
    my $w6 = wallet_setup(1006);
    my $cap = server_start({ http_config => settler_http("x402_settle_gas_max 100000;\n"),
                             config => paid_location('/paid/', more => "x402_eip6492_factories $FACTORY;") });
    my $n0 = settler_tx_count();
    my $r = wallet_pays($cap, '/paid/cap', factory => $FACTORY, data => $w6->{factoryData},
                        wallet => $w6->{wallet});
    is($r->{status}, 402, 'a deployment over x402_settle_gas_max: 402');
    is($r->{finalPaymentRequired}{error}, 'smart_wallet_deployment_failed',
       '... smart_wallet_deployment_failed');
    is(settler_tx_count(), $n0, '... nothing sent');
    is(code_of($w6->{wallet}), '0x', '... nothing deployed');
    like(server_stop($cap, 'gas-capped node'), qr/its wallet's deployment needs \d+ gas, above x402_settle_gas_max 100000/,
         '... the log says why');
}

# ---- fault: every worker killed with the deployment sent and not mined, and
# the node forgetting it: the reconciler sends it again; no settler nonce is
# left unused, and the wallet's next payment needs no second deployment
{
    my $w3 = wallet_setup(1004);
    my $node = server_start({ http_config => settler_http("x402_reconcile_interval 1s;\n"),
                              workers => 2,
                              config => paid_location('/paid/', more => "x402_eip6492_factories $FACTORY;")
                                      . status_location() });
    mining_stop();
    my $child = in_child(sub {
        my $r = wallet_pays($node, '/paid/killed', factory => $FACTORY,
                            data => $w3->{factoryData}, wallet => $w3->{wallet});
        return $r->{status} // 'none';
    });
    ok(deployment_sent($node, $w3->{wallet}), 'the deployment is sent; not mined');
    rpc_call('anvil_dropAllTransactions');
    my @w = split ' ', `pgrep -P $node->{pid}` // '';
    is(kill('KILL', @w), scalar @w, 'the node forgot it, and every worker is killed -9');
    collect_child($child);
    mining_start();
    my $deployed = 0;
    for (1 .. 300) {
        last if $deployed = code_of($w3->{wallet}) ne '0x';
        sleep 0.1;
    }
    ok($deployed, 'the reconciler sent the deployment again: the wallet has code');
    my $settler = $C->{X402_SETTLER_ADDRESS};
    my $done = 0;
    for (1 .. 300) {
        last if $done = (redis_cli('HLEN', "x402:settler:$settler:txs") // '') eq '0';
        sleep 0.1;
    }
    ok($done, 'every settler nonce allocated is mined');
    is(hex(rpc_call('eth_getTransactionCount', $settler, 'pending')),
       hex(rpc_call('eth_getTransactionCount', $settler, 'latest')),
       'nothing of the settler\'s waits in the node');
    is(asset_balance($w3->{wallet})->bstr, Math::BigInt->new(10)->bpow(21)->bstr,
       'the killed request\'s payment was not charged');
    my $n0 = settler_tx_count();
    my $r = wallet_pays($node, '/paid/after', factory => $FACTORY,
                        data => $w3->{factoryData}, wallet => $w3->{wallet});
    is($r->{status}, 200, 'the wallet\'s next payment is served') or diag(explain $r);
    is(settler_tx_count(), $n0 + 1, '... with its settlement alone');
    server_stop($node, 'erc6492 fault node', qr/exited on signal 9/);
}

server_stop($srv2, 'erc6492 second node');
diag(sprintf 'took %.1f s', time - $T0);
done_testing();
