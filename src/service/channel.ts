/**
 * A push-to-pull bridge: the bus pushes, a subscriber pulls with `for await`. Bounded: a subscriber
 * that falls more than `maxBuffered` items behind gets an error instead of holding memory without
 * limit. Like JobEventStream, `return()` ends it at once even while it waits.
 */
export class ChannelOverflowError extends Error {
  constructor(limit: number) {
    super(`the subscriber fell more than ${limit} updates behind and was dropped; subscribe again`);
    this.name = 'ChannelOverflowError';
  }
}

export class Channel<T> implements AsyncIterableIterator<T> {
  private readonly buffer: T[] = [];
  private closed = false;
  private failure: Error | null = null;
  private wake: (() => void) | null = null;

  constructor(private readonly options: { readonly maxBuffered?: number; readonly onClose?: () => void } = {}) {}

  [Symbol.asyncIterator](): this {
    return this;
  }

  push(item: T): void {
    if (this.closed || this.failure) return;
    if (this.buffer.length >= (this.options.maxBuffered ?? 1000)) {
      this.failure = new ChannelOverflowError(this.options.maxBuffered ?? 1000);
      this.buffer.length = 0;
    } else this.buffer.push(item);
    this.signal();
  }

  async next(): Promise<IteratorResult<T, undefined>> {
    for (;;) {
      if (this.buffer.length) return { value: this.buffer.shift()!, done: false };
      if (this.failure) {
        const err = this.failure;
        this.close();
        throw err;
      }
      if (this.closed) return { value: undefined, done: true };
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  async return(): Promise<IteratorResult<T, undefined>> {
    this.close();
    return { value: undefined, done: true };
  }

  async throw(err?: unknown): Promise<IteratorResult<T, undefined>> {
    this.close();
    throw err;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.buffer.length = 0;
    this.signal();
    this.options.onClose?.();
  }

  private signal(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}
