/**
 * Why a `fetch` failed, in a word where there is one: Node's fetch throws "fetch failed" and keeps
 * the reason (ECONNREFUSED, ENOTFOUND, ECONNRESET...) in its cause.
 */
export function whyFetchFailed(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause as { readonly code?: string; readonly message?: string } | undefined;
  return cause?.code ?? cause?.message ?? err.message;
}
