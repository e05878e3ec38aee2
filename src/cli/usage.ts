/** Usage errors (exit 2): a wrong option or an unreadable file, said in one line by `tl`. */
import { BACKENDS, type BackendName } from '../executor/backends/names.ts';

export class UsageError extends Error {}

/** The `--backend` value, or a UsageError naming the ones there are. */
export function backendOption(name: string): BackendName {
  if (!(BACKENDS as readonly string[]).includes(name)) throw new UsageError(`--backend must be one of ${BACKENDS.join(', ')}, found '${name}'`);
  return name as BackendName;
}
