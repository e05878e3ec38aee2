/**
 * Reproducible initial weights. tfjs seeds an unseeded initializer from the clock, so a fresh
 * network differs on every run; TL re-draws every randomly initialised weight from the plan's seed.
 */
import * as tf from '@tensorflow/tfjs';

interface InitializerLike {
  getClassName(): string;
  getConfig(): Record<string, unknown>;
}

type Seeded = (config: Record<string, unknown>) => ReturnType<typeof tf.initializers.zeros>;

const VARIANCE_SCALING = ['VarianceScaling', 'GlorotUniform', 'GlorotNormal', 'HeNormal', 'HeUniform', 'LeCunNormal', 'LeCunUniform'];
const SEEDED: Record<string, Seeded> = {
  RandomNormal: (c) => tf.initializers.randomNormal(c),
  RandomUniform: (c) => tf.initializers.randomUniform(c),
  TruncatedNormal: (c) => tf.initializers.truncatedNormal(c),
};
for (const name of VARIANCE_SCALING) SEEDED[name] = (c) => tf.initializers.varianceScaling(c as Parameters<typeof tf.initializers.varianceScaling>[0]);

const INITIALIZED = ['kernelInitializer', 'depthwiseInitializer', 'pointwiseInitializer', 'embeddingsInitializer'] as const;

/** Re-draws, from `seed`, every weight of `model` whose initializer is random. Constant ones (zeros, ones) are already reproducible. */
export function reseed(model: tf.LayersModel, seed: number): void {
  let n = 0;
  for (const layer of model.layers) {
    const fields = layer as unknown as Record<string, InitializerLike | undefined>;
    for (const field of INITIALIZED) {
      const init = fields[field];
      const make = init && SEEDED[init.getClassName()];
      if (!init || !make) continue;
      const weightName = field.replace('Initializer', '');
      const target = layer.weights.find((w) => w.originalName.endsWith(`/${weightName}`));
      if (!target) continue;
      const { seed: _ignored, ...config } = init.getConfig();
      const draw = make({ ...config, seed: seed * 1009 + n++ });
      tf.tidy(() => {
        target.write(draw.apply(target.shape, 'float32'));
      });
    }
  }
}
