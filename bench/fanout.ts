/**
 * Event fan-out: one job's events to 200 graphql-ws subscribers.
 *
 *   npm run bench:fanout [-- --subscribers 200 --rates 10,50,100,max --seconds 4]
 *
 * The server is the real one (JobService with its SQLite store and bus, yoga, graphql-ws) in this
 * process; the subscribers are real graphql-ws clients over `ws` in a child process, so they do not
 * share the server's event loop. Events enter at the JobRunner seam, from a runner that emits
 * batchProgress events at a set rate instead of training: each is stored (a SQLite transaction),
 * published, and sent to every subscriber. Delay = receipt in the child minus the moment the runner
 * handed the event over, both on `performance.timeOrigin + performance.now()` of the same machine.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExecutorEvent } from '../src/executor/events.ts';
import { InProcessEventBus } from '../src/service/event-bus.ts';
import type { BackendReport, JobRunner, RunHooks, RunOutcome } from '../src/service/job-runner.ts';
import type { RunRequest } from '../src/service/worker-protocol.ts';
import { numberOption, option } from './args.ts';

const clock = () => performance.timeOrigin + performance.now();

// ---------------------------------------------------------------- the subscribers' process

interface Summary {
  readonly deliveries: number;
  readonly complete: number;
  readonly delays: number[];
  readonly lastReceipt: number;
}

type ToClients = { type: 'subscribe'; url: string; jobId: string; subscribers: number } | { type: 'emitted'; times: number[] };
type FromClients = { type: 'subscribed' } | { type: 'summary'; summary: Summary };

async function clientsMain(): Promise<void> {
  const [{ createClient }, { default: WebSocket }] = await Promise.all([import('graphql-ws'), import('ws')]);
  const send = (m: FromClients) => process.send!(m);
  // Exit when the bench lets go (not killed: a --cpu-prof profile is written on a normal exit).
  process.on('disconnect', () => process.exit(0));
  let receipts: { batch: number; at: number }[][] = [];
  let done: Promise<number[]> = Promise.resolve([]);
  process.on('message', async (m: ToClients) => {
    if (m.type === 'subscribe') {
      receipts = Array.from({ length: m.subscribers }, () => []);
      const clients = receipts.map(() => createClient({ url: m.url, webSocketImpl: WebSocket, retryAttempts: 0 }));
      let acked = 0;
      done = Promise.all(
        clients.map(
          (client, i) =>
            new Promise<number>((resolve, reject) => {
              client.on('connected', () => ++acked === clients.length && send({ type: 'subscribed' }));
              client.subscribe<{ jobEvents: { seq: number; batch?: number } }>(
                { query: 'subscription($id: ID!) { jobEvents(jobId: $id) { seq ... on BatchProgressEvent { batch } } }', variables: { id: m.jobId } },
                {
                  next: (r) => {
                    const batch = r.data?.jobEvents.batch;
                    if (batch !== undefined) receipts[i]!.push({ batch, at: clock() });
                  },
                  error: reject,
                  complete: () => {
                    void client.dispose();
                    resolve(1);
                  },
                },
              );
            }),
        ),
      );
    } else {
      const completed = await done;
      const delays: number[] = [];
      let lastReceipt = 0;
      for (const list of receipts) {
        for (const r of list) {
          delays.push(r.at - m.times[r.batch]!);
          lastReceipt = Math.max(lastReceipt, r.at);
        }
      }
      send({ type: 'summary', summary: { deliveries: delays.length, complete: completed.length, delays, lastReceipt } });
    }
  });
}

// ---------------------------------------------------------------- the server's process

/** Emits `count` batchProgress events at `rate` per second (Infinity: as fast as the loop allows), then jobFinished. */
class RateRunner implements JobRunner {
  emitted: number[] = [];
  private go: (() => void) | null = null;
  private ready = new Promise<void>((resolve) => (this.go = resolve));
  constructor(private readonly plan: { rate: number; count: number }) {}

  start(): void {
    this.go?.();
  }

  async run(_request: RunRequest, hooks: RunHooks): Promise<RunOutcome> {
    await this.ready;
    const { rate, count } = this.plan;
    const at = () => new Date().toISOString();
    const t0 = performance.now();
    let batch = 0;
    while (batch < count) {
      const due = rate === Infinity ? Math.min(count, batch + 50) : Math.min(count, Math.floor(((performance.now() - t0) / 1000) * rate) + 1);
      for (; batch < due; batch++) {
        this.emitted[batch] = clock();
        hooks.onEvent({ type: 'batchProgress', at: at(), phase: 0, epoch: 1, batch, batches: count, loss: 1, lr: 0.001 });
      }
      // Yield so the server can write to its sockets, as a real worker's IPC messages would let it.
      await new Promise((r) => (rate === Infinity ? setImmediate(r) : setTimeout(r, 5)));
    }
    const finished: ExecutorEvent = {
      type: 'jobFinished', at: at(), exportPath: null, seconds: (performance.now() - t0) / 1000,
      metrics: { loss: 1, accuracy: 0, valLoss: null, valAccuracy: null, valTop5: null, testAccuracy: null, testTop5: null, perClass: [], confusion: [], classes: [] },
    };
    hooks.onEvent(finished);
    return { kind: 'finished' };
  }

  async probe(): Promise<BackendReport> {
    return { backends: [], auto: null };
  }

  warm(): void {}

  async close(): Promise<void> {}
}

function once<T extends FromClients['type']>(child: ChildProcess, type: T): Promise<Extract<FromClients, { type: T }>> {
  return new Promise((resolve) => {
    const on = (m: FromClients) => {
      if (m.type !== type) return;
      child.off('message', on);
      resolve(m as Extract<FromClients, { type: T }>);
    };
    child.on('message', on);
  });
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;

async function scenario(rate: number, seconds: number, subscribers: number) {
  const [{ JobService }, { startServer }] = await Promise.all([import('../src/service/job-service.ts'), import('../src/api/server.ts')]);
  const dir = mkdtempSync(join(tmpdir(), 'tl-fanout-'));
  mkdirSync(join(dir, 'data'));
  const count = rate === Infinity ? 2000 : Math.round(rate * seconds);
  const runner = new RateRunner({ rate, count });
  const bus = new InProcessEventBus();
  const service = JobService.open({ dbFile: join(dir, 'tl.db'), dataRoot: join(dir, 'data'), runsDir: join(dir, 'runs'), runner, bus, limits: { maxSubscribersPerJob: subscribers } });
  const server = await startServer({ service, port: 0, host: '127.0.0.1', auth: { token: null, publicRead: false } });
  const child = fork(fileURLToPath(import.meta.url), ['--clients'], { execArgv: process.execArgv, stdio: 'inherit' });
  const { job } = await service.submit({ source: 'use tiny\ndata "imgs"\nepochs 1' });
  const jobId = job!.id;
  const subscribed = once(child, 'subscribed');
  child.send({ type: 'subscribe', url: server.url.replace(/^http/, 'ws'), jobId, subscribers } satisfies ToClients);
  await subscribed;
  while (bus.count('job:events', jobId) < subscribers) await new Promise((r) => setTimeout(r, 20));
  runner.start();
  const summaryP = once(child, 'summary');
  while (service.get(jobId)?.status !== 'SUCCEEDED') await new Promise((r) => setTimeout(r, 20));
  child.send({ type: 'emitted', times: runner.emitted } satisfies ToClients);
  const { summary } = await summaryP;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.disconnect();
  await exited;
  await server.close();
  await service.stop();
  const sorted = summary.delays.sort((a, b) => a - b);
  return {
    rate: rate === Infinity ? 'max' : String(rate),
    events: count,
    subscribers,
    deliveries: summary.deliveries,
    complete: summary.complete,
    perSecond: summary.deliveries / ((summary.lastReceipt - runner.emitted[0]!) / 1000),
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    max: sorted.at(-1) ?? NaN,
  };
}

async function main(): Promise<void> {
  const subscribers = numberOption('subscribers', 200);
  const seconds = numberOption('seconds', 4);
  const rates = option('rates', '10,50,100,max').split(',').map((r) => (r === 'max' ? Infinity : Number(r)));
  const rows = [];
  for (const rate of rates) {
    const r = await scenario(rate, seconds, subscribers);
    rows.push(r);
    process.stderr.write(`rate ${r.rate}: ${r.deliveries}/${r.events * r.subscribers} delivered, p99 ${r.p99.toFixed(1)} ms\n`);
  }
  const line = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;
  console.log(line(['emit rate (events/s)', 'events', 'subscribers', 'delivered', 'streams completed', 'delivered events/s', 'p50 ms', 'p99 ms', 'max ms']));
  console.log(line(['---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:']));
  for (const r of rows) {
    console.log(line([r.rate, r.events, r.subscribers, r.deliveries, r.complete, Math.round(r.perSecond).toLocaleString('en-US'), r.p50.toFixed(1), r.p99.toFixed(1), r.max.toFixed(1)]));
  }
}

if (process.argv.includes('--clients')) void clientsMain();
else await main();
