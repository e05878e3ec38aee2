/** Writes: submit, cancel, resume. A refused request is a diagnostic in the payload, never a GraphQL error. */
import type { JobAction } from '../../service/job-service.ts';
import { refusalDiagnostic, toApiDiagnostics } from '../diagnostics.ts';
import type { MutationResolvers } from '../generated/schema-types.ts';

const payload = (r: JobAction) => ({ job: r.job, diagnostics: r.refusal ? [refusalDiagnostic(r.refusal)] : [] });

export const Mutation: MutationResolvers = {
  submitJob: async (_, { input }, { service }) => {
    const r = await service.submit({ source: input.source, name: input.name ?? null });
    return { job: r.job, diagnostics: [...toApiDiagnostics(r.diagnostics, input.source), ...(r.refusal ? [refusalDiagnostic(r.refusal)] : [])] };
  },
  cancelJob: (_, { id }, { service }) => payload(service.cancel(id)),
  resumeJob: (_, { id }, { service }) => payload(service.resume(id)),
};
