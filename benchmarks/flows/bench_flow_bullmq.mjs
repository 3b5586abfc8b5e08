// Node BullMQ FlowProducer: PARENTS parents x CHILDREN children each, added with addBulk (chunks of
// 100 trees), then drained by one Worker per queue (concurrency 50) in this process. Prints one JSON line.
import { FlowProducer, Worker, Queue } from 'bullmq';

const url = new URL(process.env.BENCH_URL || 'redis://127.0.0.1:7350');
const connection = { host: url.hostname, port: parseInt(url.port || '6379') };
const prefix = process.env.BENCH_PREFIX || 'bflow';
const PARENTS = parseInt(process.env.BENCH_PARENTS || '1000');
const CHILDREN = parseInt(process.env.BENCH_CHILDREN || '10');
const CHUNK = 100;

const perf = () => performance.now() / 1000;
const flow = new FlowProducer({ connection, prefix });
const trees = [];
for (let p = 0; p < PARENTS; p++) {
  const children = [];
  for (let c = 0; c < CHILDREN; c++) children.push({ name: 'child', queueName: 'fkids', data: { i: c } });
  trees.push({ name: 'parent', queueName: 'fparents', data: { p }, children });
}
const t0 = perf();
for (let i = 0; i < trees.length; i += CHUNK) await flow.addBulk(trees.slice(i, i + CHUNK));
const added = perf();

let parentsDone = 0;
let resolveDone;
const done = new Promise((r) => { resolveDone = r; });
const kids = new Worker('fkids', async (job) => job.data.i, { connection, prefix, concurrency: 50 });
const parents = new Worker('fparents', async (job) => {
  const values = await job.getChildrenValues();
  const n = Object.keys(values).length;
  if (n !== CHILDREN) throw new Error(`parent saw ${n} children`);
  parentsDone++;
  if (parentsDone === PARENTS) resolveDone();
  return n;
}, { connection, prefix, concurrency: 50 });
await done;
const drained = perf();
console.log(JSON.stringify({
  system: 'bullmq-node', parents: PARENTS, children: CHILDREN, add_s: added - t0, drain_s: drained - added,
}));
await Promise.all([kids.close(), parents.close(), flow.close()]);
const q1 = new Queue('fkids', { connection, prefix }); const q2 = new Queue('fparents', { connection, prefix });
await q1.obliterate({ force: true }); await q2.obliterate({ force: true });
await Promise.all([q1.close(), q2.close()]);
process.exit(0);
