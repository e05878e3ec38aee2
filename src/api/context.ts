/** What every resolver receives. */
import type { JobService } from '../service/job-service.ts';

export interface Context {
  readonly service: JobService;
}
