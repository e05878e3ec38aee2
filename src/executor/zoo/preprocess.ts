import * as tf from '@tensorflow/tfjs';

type Triple = readonly [number, number, number];

/**
 * How raw RGB pixels in 0..255 become the base's input:
 * `x' = reorder(x, channels) * scale + offset`, with `scale` and `offset` per channel in the
 * model's channel order (after the reorder). Plain data, so it can travel in events and exports.
 */
export interface Preprocess {
  readonly kind: 'scale';
  /** 'bgr': reverse the channel axis first (Keras' "caffe" mode for ResNet50 and VGG16). */
  readonly channels: 'rgb' | 'bgr';
  readonly scale: Triple;
  readonly offset: Triple;
}

/** [-1, 1], as `keras.applications.mobilenet_v2/inception_v3.preprocess_input` ("tf" mode). */
export const PREPROCESS_SYMMETRIC: Preprocess = {
  kind: 'scale',
  channels: 'rgb',
  scale: [1 / 127.5, 1 / 127.5, 1 / 127.5],
  offset: [-1, -1, -1],
};

/** Keras' "caffe" mode (ResNet50, VGG16): RGB -> BGR, then subtract the ImageNet mean per channel, no scaling. */
export const PREPROCESS_CAFFE: Preprocess = {
  kind: 'scale',
  channels: 'bgr',
  scale: [1, 1, 1],
  offset: [-103.939, -116.779, -123.68],
};

/** [0, 1]: the tiny model and, by assumption, user models. */
export const PREPROCESS_UNIT: Preprocess = {
  kind: 'scale',
  channels: 'rgb',
  scale: [1 / 255, 1 / 255, 1 / 255],
  offset: [0, 0, 0],
};

/** Applies `p` to a batch of 0..255 RGB images, NHWC with 3 channels. The caller owns the result. */
export function applyPreprocess(images: tf.Tensor4D, p: Preprocess): tf.Tensor4D {
  return tf.tidy(() => {
    const ordered = p.channels === 'bgr' ? tf.reverse(images, -1) : images;
    const scale = tf.tensor1d([...p.scale]);
    const offset = tf.tensor1d([...p.offset]);
    return tf.add(tf.mul(tf.cast(ordered, 'float32'), scale), offset) as tf.Tensor4D;
  });
}
