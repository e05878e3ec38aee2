/** Writes: submit, search a learning rate, evaluate a model, cancel, resume. A refused request is a diagnostic in the payload, never a GraphQL error. */
import type { JobAction, JobService } from '../../service/job-service.ts';
import type { JobTask } from '../../service/types.ts';
import { refusalDiagnostic, toApiDiagnostics } from '../diagnostics.ts';
import type { MutationResolvers } from '../generated/schema-types.ts';

const payload = (r: JobAction) => ({ job: r.job, diagnostics: r.refusal ? [refusalDiagnostic(r.refusal)] : [] });

/** Queues the script for `task`: the job, or the compiler's diagnostics and why it was refused. */
async function submit(service: JobService, input: { readonly source: string; readonly name?: string | null }, task?: JobTask) {
  const r = await service.submit({ source: input.source, name: input.name ?? null, ...(task && { task }) });
  return { job: r.job, diagnostics: [...toApiDiagnostics(r.diagnostics, input.source), ...(r.refusal ? [refusalDiagnostic(r.refusal)] : [])] };
}

export const Mutation: MutationResolvers = {
  submitJob: (_, { input }, { service }) => submit(service, input),
  findLearningRate: (_, { input }, { service }) =>
    submit(service, input, { kind: 'lrFind', phase: input.phase ?? null, fromStart: input.fromStart ?? false, steps: input.steps ?? 100 }),
  evaluateJob: async (_, { input }, { service }) =>
    payload(await service.evaluate({ job: input.job, data: input.data, name: input.name ?? null, ...(input.worst != null && { worst: input.worst }), ...(input.tta != null && { tta: input.tta }) })),
  cancelJob: (_, { id }, { service }) => payload(service.cancel(id)),
  resumeJob: (_, { id }, { service }) => payload(service.resume(id)),
};
