/** Reads: jobs, compile-only checks, a script with a rate written in, the zoo and the backends. */
import { hasErrors } from '../../diagnostics/diagnostic.ts';
import { setPhaseRate } from '../../format/set-rate.ts';
import { ZOO } from '../../zoo/catalog.ts';
import { decodeCursor, encodeCursor } from '../cursor.ts';
import { refusalDiagnostic, toApiDiagnostics } from '../diagnostics.ts';
import type { QueryResolvers } from '../generated/schema-types.ts';
import { intArg } from './errors.ts';

/** The order `--backend auto` tries them in (the API does not import the executor's tfjs module). */
const BACKEND_ORDER = ['tensorflow', 'webgpu', 'wasm', 'cpu'];

export const Query: QueryResolvers = {
  job: (_, { id }, { service }) => service.get(id),

  jobs: (_, args, { service }) => {
    const first = intArg('first', args.first, 20, 0, 100);
    const status = args.status ?? undefined;
    const page = service.list({ status, first, before: args.after ? decodeCursor(args.after) : undefined });
    const last = page.jobs.at(-1);
    return {
      edges: page.jobs.map((job) => ({ cursor: encodeCursor(job.cursor), node: job })),
      pageInfo: { hasNextPage: page.hasNextPage, endCursor: last ? encodeCursor(last.cursor) : null },
      totalCount: service.count(status),
    };
  },

  check: async (_, { source }, { service }) => {
    const r = await service.compile(source);
    const diagnostics = [...toApiDiagnostics(r.diagnostics, source), ...(r.refusal ? [refusalDiagnostic(r.refusal)] : [])];
    return { ok: !r.refusal && !hasErrors(r.diagnostics), diagnostics };
  },

  plan: async (_, { source }, { service }) => {
    const r = await service.compile(source);
    return { plan: r.plan, diagnostics: [...toApiDiagnostics(r.diagnostics, source), ...(r.refusal ? [refusalDiagnostic(r.refusal)] : [])] };
  },

  withLearningRate: (_, { source, phase, lr }, { service }) => {
    const bytes = Buffer.byteLength(source, 'utf8');
    if (bytes > service.limits.maxScriptBytes) return { source: null, error: `the script is ${bytes} bytes; this server accepts at most ${service.limits.maxScriptBytes}` };
    const edit = setPhaseRate(source, phase, lr);
    return { source: edit.source ?? null, error: edit.error ?? null };
  },

  starterScript: (_, { data, model }, { service }) => service.starterScript(data, model ?? undefined),

  models: () => ZOO,

  backends: async (_, _args, { service }) => {
    const report = await service.backends();
    const selected = report.configured === 'auto' ? report.auto : report.configured;
    return [...report.backends]
      .sort((a, b) => BACKEND_ORDER.indexOf(a.name) - BACKEND_ORDER.indexOf(b.name))
      .map((b) => ({ name: b.name, available: b.available, detail: b.detail, selected: b.available && b.name === selected }));
  },
};
