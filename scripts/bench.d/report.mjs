// report: turn scripts/bench's results (NAME<TAB>JSON lines) into the
// markdown comparison table of build/bench/results.md.
//   node scripts/bench.d/report.mjs build/bench/run/results.tsv
import { readFileSync } from 'node:fs';

const r = {};
for (const line of readFileSync(process.argv[2], 'utf8').split('\n')) {
  const i = line.indexOf('\t');
  if (i > 0) r[line.slice(0, i)] = JSON.parse(line.slice(i + 1));
}
const m = r.meta || {};

const rps = (x) => Math.round(x).toLocaleString('en-US');
const ms = (us) => (us / 1000).toFixed(2);
const x = (a, b) => (b > 0 ? `${(a / b).toFixed(2)}×` : 'n/a');
const yes = (c) => (c ? '**met**' : '**not met**');

const cpuUs = (c, n) => (c && n > 0 ? (c.ticks * 1e6) / c.tick_hz / n : NaN);
const anvilPct = (c) => (c && c.wall_ms > 0 ? `${Math.round((c.anvil_ticks * 1e5) / c.tick_hz / c.wall_ms)} %` : '');
const out = [];
const p = (s = '') => out.push(s);

p('# ngx_x402 benchmark');
p();
p(`${m.date || ''}: ${m.cores} cores (${m.cpu}), ${m.nginx}, node ${m.node}; `
  + `wrk -t${m.threads} -c${m.conns} -d${m.secs}s for every run; nginx worker_processes ${m.workers}; `
  + `the reference is one Node process. Loopback only; everything (wrk, nginx, the backend, anvil, `
  + `Redis, Node) shares the same ${m.cores} cores.`);
p();
p(`Module and reference offer the same terms (accepts[] equal): ${m.same_offer}.`);
p();
p(m.block_time > 0
  ? `The devchain (anvil) mines a block every ${m.block_time} s, as Base does, once it is set up.`
  : 'The devchain (anvil) mines a block per transaction (automine).');
p();

// 1. challenge
const cm = r.challenge_module, cs = r.challenge_static, cr = r.challenge_ref;
const non402 = (w) => w.requests - w.status_ge400;
p('## 1. Challenge path (unpaid GET → 402 with PAYMENT-REQUIRED)');
p();
p('| server | req/s | p50 ms | p99 ms | server CPU µs / request | non-4xx answers | socket errors |');
p('|---|---:|---:|---:|---:|---:|---:|');
for (const [name, w, c] of [['nginx + ngx_x402 (`x402 on`)', cm, r['challenge_module.cpu']],
  ['same nginx, static `return 402` + add_header (ceiling)', cs, r['challenge_static.cpu']],
  ['@x402/express 2.27 reference (paymentMiddleware)', cr, r['challenge_ref.cpu']]]) {
  p(`| ${name} | ${rps(w.rps)} | ${ms(w.p50_us)} | ${ms(w.p99_us)} | ${cpuUs(c, w.requests).toFixed(1)} | ${non402(w)} | `
    + `${w.connect_err + w.read_err + w.write_err + w.timeouts} |`);
}
p();
p(`module / plain nginx: **${x(cm.rps, cs.rps)}** (target ≥ 0.9×: ${yes(cm.rps >= 0.9 * cs.rps)}); `
  + `module / reference: **${x(cm.rps, cr.rps)}** (target ≥ 15×: ${yes(cm.rps >= 15 * cr.rps)})`);
p();

// 2. paid
const pm = r.paid_module, pv = r.paid_module_verify, pr = r.paid_ref;
const st = r['paid_module.settle'] || {};
const sr = r['paid_ref.settle'] || {};
p('## 2. Paid path (each request carries a fresh pre-signed payment, used once)');
p();
const codes = (w) => Object.entries(w.statuses || {}).sort().map(([k, v]) => `${v}×${k}`).join(', ');
p('| server | verified + forwarded req/s | p50 ms | p99 ms | answers | settled on chain | devchain CPU (100 % = one core) |');
p('|---|---:|---:|---:|---:|---|---:|');
const settleRate = st.last_ms > 0 ? ` (${(st.total / (st.last_ms / 1000)).toFixed(0)}/s; last one ${((st.last_ms - st.run_ms) / 1000).toFixed(1)} s after the run)` : '';
p(`| nginx + ngx_x402, \`x402_settle async\` | ${rps(pm.ok_rps)} | ${ms(pm.p50_us)} | ${ms(pm.p99_us)} | `
  + `${codes(pm)} | ${st.during} during the run, ${st.total} in all${settleRate} | ${anvilPct(r['paid_module.cpu'])} |`);
p(`| nginx + ngx_x402, no settler key (verify + reserve only) | ${rps(pv.ok_rps)} | ${ms(pv.p50_us)} | `
  + `${ms(pv.p99_us)} | ${codes(pv)} | (none: no key) | ${anvilPct(r['paid_module_verify.cpu'])} |`);
p(`| @x402/express 2.27 + reference facilitator (in-process; settles before answering${m.ref_nonce_manager ? '; viem nonceManager' : ''}) | ${rps(pr.ok_rps)} | `
  + `${ms(pr.p50_us)} | ${ms(pr.p99_us)} | ${codes(pr)} | ${sr.total} | ${anvilPct(r['paid_ref.cpu'])} |`);
const an = r.anvil_eth_call;
if (an) p(`| (the devchain node alone: anvil, one \`eth_call\` balanceOf per request) | ${rps(an.rps)} | ${ms(an.p50_us)} | ${ms(an.p99_us)} | | | ${anvilPct(r['anvil_eth_call.cpu'])} |`);
p();
p(`module (async) / reference: **${x(pm.ok_rps, pr.ok_rps)}**, p99 ${ms(pm.p99_us)} vs ${ms(pr.p99_us)} ms `
  + `(target ≥ 10× at a lower p99: ${yes(pm.ok_rps >= 10 * pr.ok_rps && pm.p99_us < pr.p99_us)}); `
  + `module (verify only) / reference: ${x(pv.ok_rps, pr.ok_rps)}`);
for (const [n, w] of [['module async', pm], ['module verify', pv], ['reference', pr]]) {
  if (!w.first_other) continue;
  // "STATUS BODY PAYMENT-RESPONSE": decode the header (it may be cut short)
  const parts = w.first_other.trim().split(' ');
  const last = parts[parts.length - 1];
  const dec = Buffer.from(last, 'base64').toString('utf8');
  if (parts.length > 2 && /^[A-Za-z0-9+/=]{16,}$/.test(last) && dec.startsWith('{')) {
    parts[parts.length - 1] = `PAYMENT-RESPONSE ${dec.replace(/[\x00-\x1f]/g, ' ')}`;
  }
  p(`\nFirst non-200 answer of ${n}: \`${parts.join(' ').slice(0, 300).replace(/`/g, "'")}\``);
}
const lg = r['paid_module.log'];
if (lg && lg.warn_or_worse > 0) {
  p(`\nModule settlement log after the async run: ${lg.warn_or_worse} lines at warn or above, `
    + `${lg.pending} settlements "not mined within x402_settle_timeout, recorded as pending", `
    + `${lg.unconfirmed} broadcasts unconfirmed (RPC timeout); see build/bench/run/front-settle-error.log.`);
}
const exh = [['module async', pm], ['module verify', pv], ['reference', pr]]
  .filter(([, w]) => w.threads_exhausted > 0).map(([n]) => n);
if (exh.length) p(`\nPool used up before the end of the run (rate is over the shorter run): ${exh.join(', ')}.`);
p();

// 3. CPU
const mc = r.micro;
const tick = (c) => 1e6 / c.tick_hz;  // us per tick
const per = (c, ticks, n) => (n > 0 ? (ticks * tick(c)) / n : NaN);
const dr = r['paid_module.drain'] || {};
const pc = r['paid_module.cpu'], vc = r['paid_module_verify.cpu'], bc = r['proxy_plain.cpu'], rc = r['paid_ref.cpu'];
const bp = r.proxy_plain;
const proxyUs = per(bc, bc.ticks, bp.requests);
const asyncUs = per(pc, pc.ticks, pm.requests);
const asyncDrainUs = per(pc, dr.ticks_drained, pm.ok);
const verifyUs = per(vc, vc.ticks, pv.requests);
const refUs = per(rc, rc.ticks, pr.requests);
const f1 = (v) => (Number.isFinite(v) ? v.toFixed(1) : 'n/a');
p('## 3. CPU per request (nginx worker utime+stime from /proc, ÷ requests answered)');
p();
p('| what | CPU µs / request | worker RSS before → after |');
p('|---|---:|---|');
p(`| nginx, plain proxy_pass to the same backend (no x402) | ${f1(proxyUs)} | ${bc.rss0_kb} → ${bc.rss1_kb} kB |`);
p(`| nginx + ngx_x402, paid, no settler (verify + on-chain checks + Redis + proxy) | ${f1(verifyUs)} | ${vc.rss0_kb} → ${vc.rss1_kb} kB |`);
p(`| nginx + ngx_x402, paid, \`async\` (during the run) | ${f1(asyncUs)} | ${pc.rss0_kb} → ${pc.rss1_kb} kB |`);
p(`| nginx + ngx_x402, paid, \`async\`, including its settlements until drained (per 200) | ${f1(asyncDrainUs)} | → ${dr.rss2_kb} kB |`);
p(`| reference Node process, paid (verify + settle + proxy, per request) | ${f1(refUs)} | ${rc.rss0_kb} → ${rc.rss1_kb} kB |`);
p(`| libx402: x402_permit2_digest + x402_ecrecover (${mc.iterations} iterations) | ${mc.digest_ecrecover_us.toFixed(1)} | |`);
p(`| libx402: x402_payment_decode_header + x402_verify_local | ${mc.decode_verify_local_us.toFixed(1)} | |`);
p();
const net = verifyUs - proxyUs;
p(`Module's own work per paid request (verify-only run minus the plain proxy): **${f1(net)} µs** = `
  + `${(net / mc.digest_ecrecover_us).toFixed(2)}× one recovery + hashing (target ≤ 2×: ${yes(net <= 2 * mc.digest_ecrecover_us)}); `
  + `gross (whole worker, verify-only run): ${(verifyUs / mc.digest_ecrecover_us).toFixed(2)}×.`);
const userUs = (c, n) => per(c, c.user_ticks, n);
const netUser = userUs(vc, pv.requests) - userUs(bc, bp.requests);
p(`Of which in user space (utime: the module, libx402, libsecp256k1, jansson, libcurl, hiredis, nginx): `
  + `**${f1(netUser)} µs** = ${(netUser / mc.digest_ecrecover_us).toFixed(2)}× one recovery + hashing; `
  + `the rest, ${f1(net - netUser)} µs, is kernel time (stime), mostly the sockets of the JSON-RPC call and the Redis command each payment needs.`);
p(`Clock-tick resolution: 1 tick = ${tick(bc).toFixed(0)} µs of CPU over the whole run.`);
p();
// 4. upto sessions
const ss = r.session_resume, um = r.upto_module, sg = r['session.gas'];
if (ss && um && sg) {
  const ok = (w) => (w.requests - w.status_ge400) / w.duration_us * 1e6;
  p('## 4. upto sessions (one signed cap, many requests, one settlement)');
  p();
  p('| what | served req/s | p50 ms | p99 ms | CPU µs / request |');
  p('|---|---:|---:|---:|---:|');
  p(`| nginx, plain proxy_pass to the same backend | ${rps(bp.rps)} | ${ms(bp.p50_us)} | ${ms(bp.p99_us)} | ${f1(proxyUs)} |`);
  p(`| ngx_x402, requests resumed on one session (\`X-Upto-Session\`) | ${rps(ok(ss))} | ${ms(ss.p50_us)} | ${ms(ss.p99_us)} | ${f1(per(r['session_resume.cpu'], r['session_resume.cpu'].ticks, ss.requests))} |`);
  p(`| ngx_x402, \`upto\` with a payment and a settlement per request | ${rps(um.ok_rps)} | ${ms(um.p50_us)} | ${ms(um.p99_us)} | ${f1(per(r['upto_module.cpu'], r['upto_module.cpu'].ticks, um.requests))} |`);
  p();
  p(`session / plain proxy: **${x(ok(ss), bp.rps)}** (target ≥ 0.5×: ${yes(ok(ss) >= 0.5 * bp.rps)}); `
    + `session / per-request upto: **${x(ok(ss), um.ok_rps)}**.`);
  const gs = sg.session_gas / sg.requests;
  p(`Gas per served request: a ${sg.requests}-request session ${Math.round(gs).toLocaleString('en-US')} `
    + `(one settlement of ${sg.session_gas.toLocaleString('en-US')}) against ${sg.upto_gas.toLocaleString('en-US')} per request `
    + `settled alone: **${(gs / sg.upto_gas).toFixed(3)}×** (target ≤ 1/15 = 0.067: ${yes(gs <= sg.upto_gas / 15)}).`);
  p();
}
// 5. batched settlement
const pb = r.paid_batch, bg = r['batch.gas'];
if (pb && bg && pv) {
  const sb = r['paid_batch.settle'] || {}, lb = r['paid_batch.log'] || {};
  const db = r['paid_batch.drain'] || {}, cb = r['paid_batch.cpu'] || {};
  const gb = bg.batch_paid > 0 ? bg.batch_gas / bg.batch_paid : NaN;
  p('## 5. Batched settlement (`x402_settle_batch 100 2s`, `async`)');
  p();
  p('| run | served req/s | p50 ms | p99 ms | settled / served | settler transactions | recorded pending | worker RSS start → drained |');
  p('|---|---:|---:|---:|---:|---:|---:|---|');
  p(`| paid, no settler (verify + reserve only) | ${rps(pv.ok_rps)} | ${ms(pv.p50_us)} | ${ms(pv.p99_us)} | | | | |`);
  p(`| paid, \`async\`, one transaction per payment | ${rps(pm.ok_rps)} | ${ms(pm.p50_us)} | ${ms(pm.p99_us)} | ${st.total} / ${pm.ok} | ${st.total} | ${lg ? lg.pending : ''} | ${pc.rss0_kb} → ${dr.rss2_kb} kB |`);
  p(`| paid, \`async\`, batched | ${rps(pb.ok_rps)} | ${ms(pb.p50_us)} | ${ms(pb.p99_us)} | ${sb.total} / ${pb.ok} | ${bg.batches} | ${lb.pending} | ${cb.rss0_kb} → ${db.rss2_kb} kB |`);
  p();
  const an = r['paid_batch.anon'] || {};
  const memOk = an.start_kb > 0 && an.drained_kb <= 1.1 * an.start_kb;
  p(`Goodput, batched / verify-only: **${x(pb.ok_rps, pv.ok_rps)}** (target ≥ 0.9×: ${yes(pb.ok_rps >= 0.9 * pv.ok_rps)}), `
    + `with ${lb.pending} settlements outliving x402_settle_timeout (target 0: ${yes(lb.pending === 0)}) and worker private memory `
    + `(RssAnon) ${an.start_kb} → ${an.drained_kb} kB once drained (target within 10 %: ${yes(memOk)}; VmRSS above also counts the `
    + `shared zones the worker touched, x402_admitted among them).`);
  p(`Gas per settled payment: batched ${Math.round(gb).toLocaleString('en-US')} (${bg.batch_gas.toLocaleString('en-US')} for `
    + `${bg.batch_paid} payments in ${bg.batches} transactions) against ${bg.single_gas.toLocaleString('en-US')} alone: `
    + `**${(gb / bg.single_gas).toFixed(2)}×** (target ≤ 0.7×: ${yes(gb <= 0.7 * bg.single_gas)}).`);
  p();
}
// 6. payment channels
const cv = r.channel_vouchers, cg = r['channel.gas'];
if (cv && cg && bp) {
  const cc = r['channel_vouchers.cpu'];
  const total = cg.deposit_gas + cg.claim_gas + cg.sweep_gas;
  const perReq = total / cg.requests;
  p('## 6. Payment channels (`x402_scheme batch-settlement`)');
  p();
  p('| what | served req/s | p50 ms | p99 ms | answers | CPU µs / request |');
  p('|---|---:|---:|---:|---|---:|');
  p(`| nginx, plain proxy_pass to the same backend | ${rps(bp.rps)} | ${ms(bp.p50_us)} | ${ms(bp.p99_us)} | | ${f1(proxyUs)} |`);
  const chs = (r['channel.setup'] || {}).channels;
  p(`| ngx_x402, a voucher per request (${chs} channels, each request its channel's next voucher) | ${rps(cv.ok_rps)} | ${ms(cv.p50_us)} | ${ms(cv.p99_us)} | ${codes(cv)} | ${f1(per(cc, cc.ticks, cv.requests))} |`);
  p(`| ngx_x402, exact, a payment and a settlement per request (\`async\`, section 2) | ${rps(pm.ok_rps)} | ${ms(pm.p50_us)} | ${ms(pm.p99_us)} | | ${f1(asyncUs)} |`);
  p();
  p(`Vouchers / plain proxy: **${x(cv.ok_rps, bp.rps)}** (target ≥ 0.5×: ${yes(cv.ok_rps >= 0.5 * bp.rps)})`
    + `${cv.threads_exhausted ? ' — the voucher pool ran out before the end of the run: a lower bound' : ''}; `
    + `vouchers / exact verify-only (section 2): ${x(cv.ok_rps, pv.ok_rps)}; CPU per voucher request `
    + `${f1(per(cc, cc.ticks, cv.requests))} µs against ${f1(proxyUs)} µs for the plain proxy and `
    + `${f1(verifyUs)} µs for an exact payment verified on chain.`);
  p(`Gas per served request over ${cg.requests} requests of one channel: its deposit ${cg.deposit_gas.toLocaleString('en-US')}, `
    + `its claim ${cg.claim_gas.toLocaleString('en-US')} (${cg.claim_rows} row${cg.claim_rows === 1 ? '' : 's'}), its sweep `
    + `${cg.sweep_gas.toLocaleString('en-US')}: ${Math.round(perReq).toLocaleString('en-US')} a request against `
    + `${cg.single_gas.toLocaleString('en-US')} for an exact payment settled alone: **${(perReq / cg.single_gas).toFixed(3)}×** `
    + `(target ≤ 1/20 = 0.05: ${yes(perReq <= cg.single_gas / 20)}).`);
  p();
}
// 8. several settler accounts
const a1 = r.accounts_settle, a4 = r.accounts_settle4;
const sa1 = r['accounts_settle.settle'] || {}, sa4 = r['accounts_settle4.settle'] || {};
if (a1 && a4 && sa1.last_ms > 0 && sa4.last_ms > 0) {
  const rate1 = sa1.total / (sa1.last_ms / 1000), rate4 = sa4.total / (sa4.last_ms / 1000);
  const acc = r['accounts_settle4.accounts'];
  const cpu = (n) => anvilPct(r[`${n}.cpu`]);
  p('## 8. Settler accounts: one against four (`x402_settler_key_file` four times)');
  p();
  p('| `x402_settle async`, run after run on one chain | served req/s | settled on chain | settled / s (to the last one) | devchain CPU |');
  p('|---|---:|---:|---:|---:|');
  p(`| one settler account | ${rps(a1.ok_rps)} | ${sa1.total} | ${rate1.toFixed(0)} | ${cpu('accounts_settle')} |`);
  p(`| four settler accounts | ${rps(a4.ok_rps)} | ${sa4.total} | ${rate4.toFixed(0)} | ${cpu('accounts_settle4')} |`);
  p();
  p(`Settled payments per second, four accounts / one: **${x(rate4, rate1)}**`
    + `${acc && acc.length ? `; the four accounts' transactions: ${acc.join(', ')}` : ''}.`);
  p();
}
// 7. x402_redis_wait
const rn = r.replica_verify, rw = r.replica_verify_wait;
if (rn && rw) {
  p('## 7. Redis with a replica: `x402_redis_wait 1` against without');
  p();
  p('| verify + reserve only, a replica attached | req/s | p50 ms | p99 ms | answers | CPU µs / request |');
  p('|---|---:|---:|---:|---|---:|');
  for (const [name, w, c] of [['without `x402_redis_wait`', rn, r['replica_verify.cpu']],
    ['`x402_redis_wait 1` (each write acknowledged by the replica)', rw, r['replica_verify_wait.cpu']]]) {
    p(`| ${name} | ${rps(w.ok_rps)} | ${ms(w.p50_us)} | ${ms(w.p99_us)} | ${codes(w)} | ${f1(per(c, c.ticks, w.requests))} |`);
  }
  p();
  p(`Paid goodput with \`x402_redis_wait 1\` / without: **${x(rw.ok_rps, rn.ok_rps)}**; p50 `
    + `${ms(rw.p50_us)} ms against ${ms(rn.p50_us)} ms.`);
  p();
}
process.stdout.write(`${out.join('\n')}\n`);
