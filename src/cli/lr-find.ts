/**
 * `tl lr-find`: the learning-rate range test on a script's phase, a table of the loss by rate, and a
 * rate to use; here, or with --server on a tl serve (as a job, followed as it runs).
 */
import { writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { compile } from '../compile.ts';
import { formatDiagnostics } from '../diagnostics/print.ts';
import { printable } from '../diagnostics/printable.ts';
import { suggestedRate } from '../executor/events.ts';
import { rateText, setPhaseRate } from '../format/set-rate.ts';
import type { Origin } from '../plan/schema.ts';
import { clientFailure, serverOption } from './follow.ts';
import { lrReport, printEvent, printFailure } from './progress.ts';
import { sendScript } from './submit.ts';
import { readScript } from './read-script.ts';
import { backendOption, UsageError } from './usage.ts';

interface LrFindFlags {
  readonly phase?: string;
  readonly steps: string;
  readonly from: string;
  readonly to: string;
  readonly backend: string;
  readonly json?: boolean;
  readonly fromStart?: boolean;
  readonly server?: string;
  readonly token?: string;
  readonly write?: boolean;
}

/**
 * `--write`: the suggestion written into the script as the phase's rate (format/set-rate.ts),
 * nothing else changed. Returns the exit code: 1 where there is nothing to write or it cannot be.
 */
export function writeRate(file: string, source: string, found: { readonly phase: string; readonly suggested: number | null }): number {
  if (found.suggested === null) {
    process.stderr.write(`nothing written to ${file}: the search suggests no rate\n`);
    return 1;
  }
  const edit = setPhaseRate(source, found.phase, found.suggested);
  if (edit.error !== undefined) {
    process.stderr.write(`nothing written to ${file}: ${printable(edit.error)}\n`);
    return 1;
  }
  try {
    // The search took a while: an edit made meanwhile is the user's, not ours to overwrite.
    if (readScript(file) !== source) {
      process.stderr.write(`nothing written to ${file}: it changed while the search ran; write lr ${rateText(found.suggested, 2)} into phase '${printable(found.phase)}' yourself\n`);
      return 1;
    }
    writeFileSync(file, edit.source);
  } catch (err) {
    process.stderr.write(`cannot write ${file}: ${printable((err as Error).message)}\n`);
    return 1;
  }
  process.stderr.write(`wrote lr ${rateText(found.suggested, 2)} into phase '${printable(found.phase)}' of ${file}\n`);
  return 0;
}

export function registerLrFind(program: Command): void {
  program
    .command('lr-find')
    .description("find a learning rate: a phase's steps at rising rates, the loss after each, and where it falls fastest")
    .argument('<file>', 'a .tl script')
    .option('--phase <name>', 'the phase to run (default: the first that trains)')
    .option('--steps <n>', 'steps to take, each on the next batch', '100')
    .option('--from <lr>', 'the first rate', '1e-7')
    .option('--to <lr>', 'the last rate', '1')
    .option('--backend <name>', 'auto, tensorflow, webgpu, wasm or cpu', 'auto')
    .option('--from-start', 'search a later phase from the weights a run starts with, without training the phases before it first')
    .option('--json', 'print the rates, losses and suggestions as JSON (with --server: one event per line)')
    .option('--server <url>', 'search on a tl serve, e.g. http://127.0.0.1:4000, and follow it there')
    .option('--token <token>', 'with --server, the API token (default: $TL_API_TOKEN)')
    .option('--write', "write the suggested rate into the script as the phase's lr")
    .action(async (file: string, flags: LrFindFlags, cmd: Command) => {
      const steps = Number(flags.steps);
      const from = Number(flags.from);
      const to = Number(flags.to);
      if (!Number.isInteger(steps) || steps < 2) throw new UsageError(`--steps must be a whole number of at least 2, found '${flags.steps}'`);
      if (flags.write && file === '-') throw new UsageError('--write needs a file to write, not standard input');
      let source: string;
      try {
        source = readScript(file);
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
      if (flags.server !== undefined) {
        // The server picks the backend and searches from 1e-7 to 1.
        const own = ['from', 'to', 'backend'].filter((o) => cmd.getOptionValueSource(o) === 'cli');
        if (own.length) throw new UsageError(`${own.map((o) => `--${o}`).join(', ')}: a search on a server runs on its backend from 1e-7 to 1; drop ${own.length === 1 ? 'it' : 'them'} or search here without --server`);
        const client = serverOption(cmd, flags.server, flags.token ?? process.env.TL_API_TOKEN);
        const task = { kind: 'lrFind', fromStart: flags.fromStart === true, steps, ...(flags.phase !== undefined && { phase: flags.phase }) } as const;
        try {
          const sent = await sendScript({ client, file, source, task, follow: true, json: flags.json === true });
          process.exitCode = sent.code;
          if (flags.write && sent.code === 0 && sent.jobId !== null) {
            const data = await client.query<{ job: { lrFound: { phase: string; suggested: number | null } | null } | null }>('query($id: ID!) { job(id: $id) { lrFound { phase suggested } } }', { id: sent.jobId });
            const found = data.job?.lrFound;
            process.exitCode = found ? writeRate(file, source, found) : 1;
          }
        } catch (err) {
          process.stderr.write(`tl lr-find: ${printable(clientFailure(err))}\n`);
          process.exitCode = 1;
        }
        return;
      }
      if (!(from > 0) || !(to > from)) throw new UsageError(`--from and --to must be rates with 0 < from < to, found ${flags.from} and ${flags.to}`);
      const backend = backendOption(flags.backend);
      const { plan, diagnostics } = compile(source);
      if (diagnostics.length) process.stderr.write(`${formatDiagnostics(diagnostics.filter((d) => d.code !== 'missing-data' || !plan), { file, source, color: process.stderr.isTTY === true })}\n`);
      if (!plan) {
        process.exitCode = 1;
        return;
      }
      const names = plan.phases.map((p) => p.name);
      if (flags.phase !== undefined && !names.includes(flags.phase)) throw new UsageError(`--phase: the script has no phase '${flags.phase}'; its phases are ${names.map((n) => `'${n}'`).join(', ')}`);
      const { findLearningRate, phasesOfSearch } = await import('../executor/lr-find.ts');
      const { phase, before } = phasesOfSearch(plan, { ...(flags.phase !== undefined && { phase: flags.phase }), fromStart: flags.fromStart === true });
      if (before.length > 0) process.stderr.write(`training ${before.map((p) => `'${p.name}'`).join(', ')} first (without early stopping or adaptation) to search '${phase.name}' from the weights ${before.length === 1 ? 'it leaves' : 'they leave'} (--from-start skips this)\n`);
      const controller = new AbortController();
      const onSigint = () => controller.abort(new Error('cancelled'));
      process.once('SIGINT', onSigint);
      try {
        const found = await findLearningRate(plan, {
          baseDir: dirname(resolve(file)), backend, steps, from, to, signal: controller.signal,
          ...(flags.phase !== undefined && { phase: flags.phase }),
          warn: (m) => process.stderr.write(`warning: ${printable(m)}\n`),
          ...(flags.fromStart && { fromStart: true }),
          // The phases before, trained first: their progress, not their summary (stdout keeps the search's report).
          onEvent: (e) => {
            if (e.type === 'phaseStarted' || e.type === 'batchProgress' || e.type === 'epochEnded') printEvent(e, process.stderr, process.stderr);
          },
        });
        process.stdout.write(flags.json ? `${JSON.stringify(found, null, 2)}\n` : lrReport(found));
        const suggested = suggestedRate(found);
        process.exitCode = suggested === null ? 1 : 0;
        if (flags.write) process.exitCode = writeRate(file, source, { phase: found.phase, suggested });
      } catch (err) {
        const e = err as { message: string; origin?: Origin | null; code?: string };
        printFailure(file, source, { code: e.code ?? 'internal', message: e.message, origin: e.origin ?? null }, process.stderr);
        process.exitCode = controller.signal.aborted ? 130 : 1;
      } finally {
        process.off('SIGINT', onSigint);
      }
    });
}
