// Prints the devchain's shell `export` lines (see accounts.mjs).
// Usage: node env.mjs [RPC_URL]
import { envLines, rpcUrl } from './accounts.mjs';
console.log(envLines(process.argv[2] || rpcUrl()).join('\n'));
