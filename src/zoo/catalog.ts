/**
 * What the language knows about the model zoo, as plain data: names, default input sizes, the coarse
 * block map and every native (Keras) layer name in order. The compiler checks scripts against it; the
 * executor builds the networks it describes (and its tests hold the two to the same layer names).
 */
import layerNames from './layers.generated.json' with { type: 'json' };

export const BLOCKS = ['block1', 'block2', 'block3', 'block4', 'block5'] as const;
export type BlockName = (typeof BLOCKS)[number];

export interface ZooEntry {
  readonly name: string;
  readonly title: string;
  /** Default square input size in pixels. */
  readonly input: number;
  /** Smallest input the architecture accepts. */
  readonly minInput: number;
  /** The last layer of block1..block5: blocks follow the downsampling stages (VGG: its own five blocks). */
  readonly blockEnds: readonly [string, string, string, string, string];
  readonly hasBatchNorm: boolean;
  /** Where `weights imagenet` comes from: bundled in an npm dependency, or a download into the weights cache. */
  readonly imagenet: 'bundled' | 'download' | 'unavailable';
  /** Base layers in topological order, input and classifier excluded. */
  readonly layers: readonly string[];
}

const names = layerNames as Record<string, string[]>;
function layersOf(model: string): readonly string[] {
  const list = names[model];
  if (!list) throw new Error(`zoo catalog: no layer list for '${model}' (run npm run zoo:layers)`);
  return list;
}

export const ZOO: readonly ZooEntry[] = [
  {
    name: 'mobilenetv2',
    title: 'MobileNetV2 (alpha 1.0)',
    input: 224,
    minInput: 32,
    blockEnds: ['expanded_conv_project_BN', 'block_2_add', 'block_5_add', 'block_12_add', 'out_relu'],
    hasBatchNorm: true,
    imagenet: 'bundled',
    layers: layersOf('mobilenetv2'),
  },
  {
    name: 'inceptionv3',
    title: 'InceptionV3',
    input: 299,
    minInput: 75,
    blockEnds: ['activation_3', 'activation_5', 'mixed2', 'mixed7', 'mixed10'],
    hasBatchNorm: true,
    imagenet: 'bundled',
    layers: layersOf('inceptionv3'),
  },
  {
    name: 'resnet50',
    title: 'ResNet50',
    input: 224,
    minInput: 32,
    blockEnds: ['conv1_relu', 'conv2_block3_out', 'conv3_block4_out', 'conv4_block6_out', 'conv5_block3_out'],
    hasBatchNorm: true,
    imagenet: 'download',
    layers: layersOf('resnet50'),
  },
  {
    name: 'vgg16',
    title: 'VGG16',
    input: 224,
    minInput: 32,
    blockEnds: ['block1_pool', 'block2_pool', 'block3_pool', 'block4_pool', 'block5_pool'],
    hasBatchNorm: false,
    imagenet: 'download',
    layers: layersOf('vgg16'),
  },
  {
    name: 'tiny',
    title: 'Tiny CNN (tests and smoke runs; no pretrained weights)',
    input: 32,
    minInput: 32,
    blockEnds: ['block1_relu', 'block2_relu', 'block3_relu', 'block4_relu', 'block5_relu'],
    hasBatchNorm: true,
    imagenet: 'unavailable',
    layers: layersOf('tiny'),
  },
];

export function findZooModel(name: string): ZooEntry | undefined {
  return ZOO.find((m) => m.name === name.toLowerCase());
}

/** The block a native layer belongs to, or undefined when the model has no such layer. */
export function blockOfLayer(model: ZooEntry, layer: string): BlockName | undefined {
  const index = model.layers.indexOf(layer);
  if (index < 0) return undefined;
  for (let b = 0; b < BLOCKS.length; b++) {
    if (index <= model.layers.indexOf(model.blockEnds[b]!)) return BLOCKS[b];
  }
  return undefined;
}
