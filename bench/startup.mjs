#!/usr/bin/env node
// Cold start of `patchwork --help` as a ratio to `node -e ''`, measured in the same run,
// interleaved so machine load affects both alike. Usage: npm run bench:startup [-- --runs 20]
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const runs = Number(process.argv[process.argv.indexOf('--runs') + 1]) || 15;
const bin = fileURLToPath(new URL('../bin/run.js', import.meta.url));
const cases = {
  baseline: ['-e', ''],
  'patchwork --help': [bin, '--help'],
  'patchwork deploy --help': [bin, 'deploy', '--help'],
};

function time(args) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { stdio: 'ignore' });
  if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}`);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

for (const args of Object.values(cases)) time(args); // warm the file cache
const samples = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
for (let i = 0; i < runs; i++) for (const [k, args] of Object.entries(cases)) samples[k].push(time(args));

const base = median(samples.baseline);
const rows = Object.keys(cases).map((k) => {
  const m = median(samples[k]);
  return { case: k, medianMs: Math.round(m), ratio: +(m / base).toFixed(2), overBaselineMs: Math.round(m - base) };
});
console.log(`| case | median ms | × node -e '' | ms over baseline |\n|---|---|---|---|`);
for (const r of rows) console.log(`| ${r.case} | ${r.medianMs} | ${r.ratio} | ${r.overBaselineMs} |`);
console.log(
  `\n${runs} runs each, node ${process.version}, NODE_EXTRA_CA_CERTS ${process.env.NODE_EXTRA_CA_CERTS ? 'set' : 'unset'}`,
);
if (process.argv.includes('--json')) console.log(JSON.stringify(rows));
