/**
 * One forward pass that yields both the head's input features (after global average pooling) and
 * the class probabilities, through the same shared layers as the model being trained (the full
 * network, or the trainer on cached activations).
 */
import * as tf from '@tensorflow/tfjs';

export type DualForward = (x: tf.Tensor, training: boolean) => { features: tf.Tensor2D; predictions: tf.Tensor2D };

/** `model`'s output must be `head` applied to some tensor: the features map the head reads. */
export function dualForward(model: tf.LayersModel, head: tf.LayersModel): DualForward {
  const output = model.outputs[0]!;
  if (output.sourceLayer !== head) throw new Error(`'${model.name}' does not end in the head`);
  const featureMap = head.inboundNodes[output.nodeIndex]!.inputTensors[0]!;
  const trunk = featureMap === model.inputs[0] ? null : tf.model({ inputs: model.inputs, outputs: featureMap, name: `${model.name}_trunk` });
  const [pool, ...rest] = head.layers.slice(1);
  if (!pool || pool.getClassName() !== 'GlobalAveragePooling2D') throw new Error('the head does not start with global average pooling');
  return (x, training) => {
    const map = trunk ? (trunk.apply(x, { training }) as tf.Tensor) : x;
    const features = pool.apply(map) as tf.Tensor2D;
    let h: tf.Tensor = features;
    for (const layer of rest) h = layer.apply(h, { training }) as tf.Tensor;
    return { features, predictions: h as tf.Tensor2D };
  };
}
