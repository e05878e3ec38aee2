/**
 * How many times each variable was written in its own buffer (webgpu/in-place.ts). A tensor's data
 * id names its buffer, and tfjs gives a variable new data at every assign, so caches of values
 * derived from variables key on data ids (fold-batchnorm.ts). A write in place keeps the data id,
 * so those caches key on this count as well.
 */
const writes = new WeakMap<object, number>();

/** Records a write into `variable`'s own buffer. */
export function noteWriteInPlace(variable: object): void {
  writes.set(variable, (writes.get(variable) ?? 0) + 1);
}

/** The writes into `variable`'s own buffer so far (0 where there were none). */
export function writesInPlace(variable: object): number {
  return writes.get(variable) ?? 0;
}
