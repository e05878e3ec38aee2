/**
 * Bind groups kept by what they bind, so that a dispatch binding what an earlier one bound makes
 * none.
 *
 * tfjs-backend-webgpu 4.22 makes a new bind group for every dispatch, and so do TL's multi-output
 * programs. Through Dawn's Node bindings that is the dearest call of a dispatch: 13-22 us on the
 * development VM, against 3-5 us for setting the pipeline and the bind group and dispatching
 * (`bench/gpu/host.ts`). Yet a training step binds what the step before bound, once buffers
 * come out of the pool in an order that repeats: the pool hands out the free buffer made first
 * (buffer-pool.ts), the optimizers write the variables in place (in-place.ts), and the uniform
 * cache (uniform-cache.ts) gives the same uniform blocks.
 *
 * A bind group names buffers, offsets and sizes, never contents, so one made earlier for the same
 * layout and the same (buffer, offset, size) at every binding is the same bind group. Buffers are
 * told apart by identity: a destroyed buffer's groups are never asked for again (binding a
 * destroyed buffer is an error either way), and they leave with the least recently used once the
 * cache is full.
 */
import type { WebGPUBackend } from './backend.ts';
import { LruCache } from './lru.ts';

/** Groups kept; a ResNet50 training step makes about a thousand distinct ones. */
export const BIND_GROUP_CACHE_CAPACITY = 8192;

/** A binding's size when none is given (the rest of the buffer): no size a binding can have. */
const UNSIZED = 2 ** 48 - 1;

export interface BindGroupCache {
  /** Groups made (misses) and reused (hits) since installed, and how many are kept. */
  readonly stats: { readonly hits: number; readonly misses: number; readonly size: number };
  /** Puts the device's own `createBindGroup` back and drops the kept groups. */
  restore(): void;
}

/** Installs the cache on the device of one backend instance. */
export function cacheBindGroups(backend: WebGPUBackend, capacity = BIND_GROUP_CACHE_CAPACITY): BindGroupCache {
  const device = (backend as unknown as { device: GPUDevice }).device;
  const own = device.createBindGroup;
  const groups = new LruCache<GPUBindGroup>(capacity);
  const ids = new WeakMap<object, number>();
  let nextId = 0;
  const idOf = (o: object): number => {
    let id = ids.get(o);
    if (id === undefined) ids.set(o, (id = nextId++));
    return id;
  };

  /**
   * The descriptor's key, or undefined when something in it is not a buffer binding (never
   * cached): the layout's id, then each entry's binding, buffer id, offset and size, as UTF-16
   * code units (three for an offset or a size, which may pass 2^32). A key of numbers joined into
   * text took the map twice as long to hash.
   */
  const units: number[] = [];
  const push = (n: number) => units.push(n & 0xffff, Math.floor(n / 0x10000) & 0xffff, Math.floor(n / 0x100000000) & 0xffff);
  const keyOf = (descriptor: GPUBindGroupDescriptor): string | undefined => {
    const entries = descriptor.entries as readonly GPUBindGroupEntry[];
    units.length = 0;
    push(idOf(descriptor.layout));
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!;
      const resource = entry.resource as Partial<GPUBufferBinding>;
      if (resource.buffer === undefined) return undefined;
      units.push(entry.binding);
      push(idOf(resource.buffer));
      push(resource.offset ?? 0);
      push(resource.size ?? UNSIZED);
    }
    return String.fromCharCode.apply(null, units);
  };

  device.createBindGroup = function (descriptor: GPUBindGroupDescriptor): GPUBindGroup {
    const key = keyOf(descriptor);
    return key === undefined ? own.call(device, descriptor) : groups.get(key, () => own.call(device, descriptor));
  };

  return {
    stats: groups,
    restore() {
      device.createBindGroup = own;
      groups.clear();
    },
  };
}
