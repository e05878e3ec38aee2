/**
 * BatchNorm folded into the convolution before it, for inference.
 *
 * In inference mode a BatchNorm is a per-channel affine map, y = (x - mean) s + beta with
 * s = gamma / sqrt(variance + epsilon), so after a convolution it can be folded into the
 * convolution's own weights: W' = W s (per output channel) and b' = (b - mean) s + beta. A ReLU or
 * ReLU6 after it then rides along as the fused convolution's activation. ResNet50 and MobileNetV2
 * are all conv -> BatchNorm (-> ReLU) chains, so this takes 2-3 ops and 2-4 passes over the
 * activations off each of about 53 layers in every prediction: the GPU's and the host's work
 * both (TensorRT, ONNX Runtime and PyTorch's fuser fold the same way).
 *
 * `foldBatchNorms(model)` finds the chains in the model's own graph (a Conv2D or DepthwiseConv2D
 * with no activation of its own, channels last, called once there, whose output only a
 * channels-last BatchNormalization reads, then optionally a ReLU, ReLU6 or relu Activation layer
 * reading only that; layers shared with other models, as TL's frontier shares the base's, count
 * only their calls in this one) and, until `restore()`, runs them as
 * one fused convolution in calls that are not training: the BatchNorm and activation layers pass
 * their input through (an Identity, no work). The folded weights are computed on first use and
 * kept while the weights they come from are the same tensors, unwritten: an assign (loaded
 * weights, a training step) gives a variable new data, a webgpu training step or a training-mode
 * BatchNorm (its moving statistics) writes into its data in place (backends/in-place-writes.ts
 * counts those writes), and the next call folds again.
 * Training calls, and chains whose intermediate values are outputs of the model, run as they are.
 * More folds of the same kind ride along: a ZeroPadding2D that only a chain's 'valid'
 * convolution reads becomes that convolution's padding, a residual Add that only a ReLU reads
 * applies it (in one pass on webgpu), and on webgpu a residual Add whose input is a chain without
 * an activation runs that chain's convolution with the sum (and the ReLU) in its write-out.
 *
 * For training, `fuseActivationsForTraining(model)` finds the BatchNorm -> ReLU/ReLU6 pairs the
 * same way and marks them for the backend's training-mode BatchNorm to apply the activation itself,
 * and the Add -> ReLU pairs of residual blocks for the backend's sum to.
 */
import * as tf from '@tensorflow/tfjs';
import { ADD_RELU, CONV_ADD, activationOf, setActivationAfter, type FusedActivation } from './backends/fused-activation.ts';
import { writesInPlace } from './backends/in-place-writes.ts';
import { conv2d, type Conv2dArgs } from './conv-gradients.ts';

type Kwargs = Record<string, unknown> | undefined;
type Call = (inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs) => tf.Tensor | tf.Tensor[];

/** The parts of tfjs-layers' layers this reads (tfjs-layers 4.22). */
interface LayerVariable {
  read(): tf.Tensor;
}
interface GraphNode {
  readonly outboundLayer: Layer;
  readonly inboundLayers: readonly Layer[];
  readonly outputTensors: readonly { readonly id: number }[];
}
interface Layer {
  readonly name: string;
  getClassName(): string;
  readonly inboundNodes: readonly GraphNode[];
  readonly outboundNodes: readonly GraphNode[];
  call: Call;
}
interface ConvLayer extends Layer {
  readonly kernel?: LayerVariable;
  readonly depthwiseKernel?: LayerVariable;
  readonly bias: LayerVariable | null;
  readonly activation: { getClassName(): string };
  readonly strides: number[];
  readonly padding: 'same' | 'valid';
  readonly dilationRate: number | number[];
  readonly dataFormat: string;
  readonly rank: number;
}
interface BatchNormLayer extends Layer {
  readonly axis: number;
  readonly epsilon: number;
  readonly gamma: LayerVariable | null;
  readonly beta: LayerVariable | null;
  readonly movingMean: LayerVariable;
  readonly movingVariance: LayerVariable;
}


/** A folded convolution left to the residual Add after it: its input, folded weights and geometry. */
interface LeftToAdd {
  readonly x: tf.Tensor4D;
  readonly filter: tf.Tensor4D;
  readonly bias: tf.Tensor1D;
  readonly strides: [number, number];
  readonly pad: 'same' | 'valid';
  readonly dilations: [number, number] | number;
}

/** One chain: the convolution, its BatchNorm, and the activation layer folded with them, if any. */
export interface FoldedChain {
  readonly conv: string;
  readonly batchNorm: string;
  readonly activation: string | null;
  /** The ZeroPadding2D before the convolution that became its own padding, if any. */
  readonly padding?: string;
}

export interface Folded {
  readonly chains: readonly FoldedChain[];
  /**
   * Residual Adds the fold changes: each that only a ReLU reads applies it (`activation`, the ReLU
   * layer, which passes its input through; else null), and on a backend with CONV_ADD each whose
   * input is a chain without an activation of its own runs that chain's convolution with the sum
   * (and the ReLU) in its write-out (`chain`, the convolution).
   */
  readonly adds: readonly { readonly add: string; readonly activation: string | null; readonly chain?: string }[];
  /** Puts every layer's own call back and frees the folded weights. */
  restore(): void;
}

/**
 * A model's own graph. A layer may belong to several models (TL's frontier applies the base's
 * layers again to build the part after a frozen prefix), each call a node of its own; only the
 * nodes of the model being folded count (tfjs-layers keys them `<layer>_ib-<node index>`).
 */
interface Graph {
  readonly nodes: ReadonlySet<string>;
  readonly outputs: ReadonlySet<number>;
}

function graphOf(model: tf.LayersModel): Graph {
  const nodes = (model as unknown as { containerNodes: Set<string> }).containerNodes;
  return { nodes, outputs: new Set(model.outputs.map((o) => o.id)) };
}

/** The nodes of `layer` in `graph`. */
function nodesIn(graph: Graph, layer: Layer): GraphNode[] {
  return layer.inboundNodes.filter((_, i) => graph.nodes.has(`${layer.name}_ib-${i}`));
}

/** Whether `node` (of its outbound layer) is in `graph`. */
function inGraph(graph: Graph, node: GraphNode): boolean {
  return graph.nodes.has(`${node.outboundLayer.name}_ib-${node.outboundLayer.inboundNodes.indexOf(node)}`);
}

/**
 * The one layer consuming `layer`'s output in `graph`, when `layer` is called once there, that
 * call's output is not an output of the model, and one call of one layer reads it.
 */
function soleConsumer(graph: Graph, layer: Layer): Layer | undefined {
  const own = nodesIn(graph, layer);
  if (own.length !== 1 || own[0]!.outputTensors.some((t) => graph.outputs.has(t.id))) return undefined;
  const consumers = layer.outboundNodes.filter((node) => inGraph(graph, node));
  if (consumers.length !== 1) return undefined;
  const next = consumers[0]!.outboundLayer;
  return nodesIn(graph, next).length === 1 ? next : undefined;
}

/**
 * The one layer that reads `layer`'s output, in this model and in every other model the layer
 * belongs to (TL's frontier shares the base's layers): what a fold may take `layer` into.
 */
function onlyReader(graph: Graph, layer: Layer): Layer | undefined {
  const next = soleConsumer(graph, layer);
  return next !== undefined && layer.outboundNodes.every((node) => node.outboundLayer === next) ? next : undefined;
}

function isConv(layer: Layer): layer is ConvLayer {
  const name = layer.getClassName();
  const conv = layer as ConvLayer;
  return (name === 'Conv2D' || name === 'DepthwiseConv2D') && conv.rank === 2 && conv.dataFormat === 'channelsLast' && conv.activation.getClassName() === 'linear';
}

function isBatchNorm(layer: Layer | undefined): layer is BatchNormLayer {
  return layer?.getClassName() === 'BatchNormalization' && ((layer as BatchNormLayer).axis === -1 || (layer as BatchNormLayer).axis === 3);
}

/** Every layer of `model` with the graph it is called in: nested models' layers in their own. */
function layersOf(model: tf.LayersModel): { layer: Layer; graph: Graph }[] {
  const graph = graphOf(model);
  return model.layers.flatMap((layer) => (layer instanceof tf.LayersModel ? layersOf(layer) : [{ layer: layer as unknown as Layer, graph }]));
}

/** Puts `call(own)` in place of `layer`'s call; returns what puts its own back. */
function patchCall(layer: Layer, call: (own: Call) => Call): () => void {
  const own = layer.call;
  const hadOwn = Object.prototype.hasOwnProperty.call(layer, 'call');
  layer.call = call(own);
  return () => {
    if (hadOwn) layer.call = own;
    else delete (layer as Partial<Layer>).call;
  };
}

/** The first input of a call. */
function firstInput(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
  return Array.isArray(inputs) ? inputs[0]! : inputs;
}

/** A Conv2D layer's convolution of `x` with `pad`, as its own call computes it, with only the gradients something needs. */
function layerConv2d(conv: ConvLayer, x: tf.Tensor4D, pad: Conv2dArgs['pad']): tf.Tensor4D {
  return conv2d({ x, filter: conv.kernel!.read() as tf.Tensor4D, strides: conv.strides as [number, number], pad, dilations: conv.dilationRate as [number, number] | number, bias: conv.bias?.read() });
}

/** Whether a layer's call is a training call. */
function isTraining(kwargs: Kwargs): boolean {
  return kwargs?.['training'] === true;
}

/** A layer whose work the op next to it does in calls where `when(kwargs)`: its input passes through there. Returns what puts its call back. */
function passThroughWhen(layer: Layer, when: (kwargs: Kwargs) => boolean): () => void {
  return patchCall(layer, (own) => (inputs, kwargs) => (when(kwargs) ? firstInput(inputs).clone() : own.call(layer, inputs, kwargs)));
}

/**
 * Each ZeroPadding2D of `model` that only a 'valid' convolution reads (before MobileNetV2's
 * strided depthwise convolutions and the stems of both zoo networks), by that convolution, with
 * its padding: [[top, bottom], [left, right]].
 */
function paddingsBefore(model: tf.LayersModel): Map<Layer, { layer: Layer; padding: [[number, number], [number, number]] }> {
  const found = new Map<Layer, { layer: Layer; padding: [[number, number], [number, number]] }>();
  for (const { layer, graph } of layersOf(model)) {
    const pad = layer as Layer & { padding?: [[number, number], [number, number]]; dataFormat?: string };
    if (layer.getClassName() !== 'ZeroPadding2D' || pad.dataFormat !== 'channelsLast' || pad.padding === undefined) continue;
    const next = onlyReader(graph, layer);
    if (next === undefined || !isConv(next) || next.padding !== 'valid') continue;
    found.set(next, { layer, padding: pad.padding });
  }
  return found;
}

/** W' and b' of a chain, from the current weights. */
function foldWeights(conv: ConvLayer, bn: BatchNormLayer): { filter: tf.Tensor4D; bias: tf.Tensor1D } {
  return tf.tidy(() => {
    const variance = bn.movingVariance.read();
    const scale = tf.mul(bn.gamma?.read() ?? 1, tf.rsqrt(tf.add(variance, bn.epsilon))) as tf.Tensor1D;
    const kernel = (conv.kernel ?? conv.depthwiseKernel)!.read() as tf.Tensor4D;
    // A depthwise filter [fh, fw, ci, multiplier] feeds output channel ci * multiplier + m.
    const filter = conv.depthwiseKernel !== undefined ? tf.mul(kernel, tf.reshape(scale, kernel.shape.slice(2))) : tf.mul(kernel, scale);
    const shifted = tf.sub(conv.bias?.read() ?? 0, bn.movingMean.read());
    return { filter: filter as tf.Tensor4D, bias: tf.add(tf.mul(shifted, scale), bn.beta?.read() ?? 0) as tf.Tensor1D };
  });
}

/** Folds every chain of `model` for its calls that are not training, until `restore()`. */
export function foldBatchNorms(model: tf.LayersModel): Folded {
  const chains: FoldedChain[] = [];
  const restores: (() => void)[] = [];
  const patch = (layer: Layer, call: (own: Call) => Call) => restores.push(patchCall(layer, call));
  const inference = (kwargs: Kwargs) => !isTraining(kwargs);
  /** A layer whose work the op before it does, in calls that are not training. */
  const passThrough = (layer: Layer) => restores.push(passThroughWhen(layer, inference));

  // A ZeroPadding2D that only a 'valid' convolution of a chain reads becomes that convolution's
  // own padding: the pad layer passes its input through, and no padded copy is written and read again.
  const padBefore = paddingsBefore(model);

  // Chains without an activation whose output only a residual Add reads: on a backend with
  // CONV_ADD the convolution is left to that Add, which runs it with the other input added (and,
  // where only a ReLU reads the sum, the ReLU applied) as it writes: ResNet50's 16 blocks and
  // MobileNetV2's 10, whose sums are never written and read again. The convolution's call then
  // returns a tensor of its output's shape that holds nothing (no buffer on webgpu), which the
  // BatchNorm passes through to the Add.
  const beforeAdd = new Map<Layer, { conv: string; input: number; take(): LeftToAdd | undefined }>();
  const fusesAdd = () => tf.getKernel(CONV_ADD, tf.getBackend()) !== undefined;

  for (const { layer, graph } of layersOf(model)) {
    if (!isConv(layer)) continue;
    const bn = soleConsumer(graph, layer);
    if (!isBatchNorm(bn)) continue;
    const next = soleConsumer(graph, bn);
    const activation = activationOf(next);
    const conv = layer;
    const depthwise = conv.getClassName() === 'DepthwiseConv2D';

    let folded: { filter: tf.Tensor4D; bias: tf.Tensor1D; sources: readonly unknown[] } | undefined;
    // Each weight's data (new at every assign) and the writes into it in place (a webgpu step's).
    const sourcesOf = () => [conv.kernel ?? conv.depthwiseKernel, conv.bias, bn.gamma, bn.beta, bn.movingMean, bn.movingVariance].flatMap((v) => {
      const t = v?.read();
      return t ? [t.dataId, writesInPlace(t)] : [null, 0];
    });
    const weights = () => {
      const sources = sourcesOf();
      if (folded === undefined || folded.sources.some((s, i) => s !== sources[i])) {
        release();
        const { filter, bias } = foldWeights(conv, bn);
        folded = { filter: tf.keep(filter), bias: tf.keep(bias), sources };
      }
      return folded;
    };
    const release = () => {
      if (folded !== undefined) tf.dispose([folded.filter, folded.bias]);
      folded = undefined;
    };
    restores.push(release);

    // The Add this chain's convolution is left to, if any; what it is given meanwhile.
    const add = activation === undefined && !depthwise ? onlyReader(graph, bn) : undefined;
    const residualAdd = add?.getClassName() === 'Add' ? add : undefined;
    let deferred: LeftToAdd | undefined;
    if (residualAdd !== undefined) {
      const node = nodesIn(graph, residualAdd)[0]!;
      const input = node.inboundLayers.indexOf(bn);
      if (node.inboundLayers.length === 2 && node.inboundLayers.lastIndexOf(bn) === input) {
        beforeAdd.set(residualAdd, {
          conv: conv.name,
          input,
          take: () => {
            const taken = deferred;
            deferred = undefined;
            return taken;
          },
        });
      }
    }
    // Where both inputs of an Add are such chains (a block whose shortcut is a convolution), the
    // later one is left to it and the other runs as it is.
    const leftToAdd = () => residualAdd !== undefined && beforeAdd.get(residualAdd)?.conv === conv.name;

    const padded = padBefore.get(conv);
    patch(conv, (own) => (inputs, kwargs) => {
      if (!inference(kwargs)) return own.call(conv, inputs, kwargs);
      let x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
      const { filter, bias } = weights();
      const strides = conv.strides as [number, number];
      const dilations = conv.dilationRate as [number, number] | number;
      let pad = conv.padding;
      if (padded !== undefined) {
        // The zero padding is 'same' padding where it pads as 'same' would for this input (as
        // Keras's MobileNetV2 builds it); else it is applied here.
        const [[top, bottom], [left, right]] = padded.padding;
        const same = tf.backend_util.computeConv2DInfo(x.shape, filter.shape, strides, dilations, 'same', undefined, depthwise).padInfo;
        if (same.top === top && same.bottom === bottom && same.left === left && same.right === right) pad = 'same';
        else x = tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]]);
      }
      if (leftToAdd() && x.dtype === 'float32' && fusesAdd()) {
        if (deferred !== undefined) tf.dispose(deferred.x);
        deferred = { x: tf.keep(x.clone()), filter, bias, strides, pad, dilations };
        const shape = tf.backend_util.computeConv2DInfo(x.shape, filter.shape, strides, dilations, pad).outShape;
        const empty = (tf.backend() as unknown as { makeTensorInfo(shape: number[], dtype: 'float32'): tf.TensorInfo }).makeTensorInfo(shape, 'float32');
        return tf.engine().makeTensorFromTensorInfo(empty);
      }
      const args = { x, filter, bias, strides, pad, dilations, activation: activation ?? ('linear' as const) };
      return depthwise ? tf.fused.depthwiseConv2d(args) : tf.fused.conv2d(args);
    });
    restores.push(() => {
      if (deferred !== undefined) tf.dispose(deferred.x);
      deferred = undefined;
    });
    passThrough(bn);
    if (activation !== undefined) passThrough(next!);
    if (padded !== undefined) passThrough(padded.layer);
    chains.push({ conv: conv.name, batchNorm: bn.name, activation: activation !== undefined ? next!.name : null, ...(padded ? { padding: padded.layer.name } : {}) });
  }

  // A residual sum runs the convolution left to it (above), with the ReLU after it where only a
  // ReLU reads it. Else a sum that only a ReLU reads applies it: on webgpu relu(a + b) in one pass
  // (TL's ADD_RELU), elsewhere the same two ops as before. The ReLU layer passes its input
  // through. ResNet50 inference: 16 dispatches and 16 passes over the blocks' outputs fewer, and
  // 16 convolutions' outputs not written and read again.
  const adds: { add: string; activation: string | null; chain?: string }[] = [];
  for (const { layer, graph } of layersOf(model)) {
    if (layer.getClassName() !== 'Add') continue;
    const next = onlyReader(graph, layer);
    const relu = activationOf(next) === 'relu';
    const chain = beforeAdd.get(layer);
    if (!relu && chain === undefined) continue;
    patch(layer, (own) => (inputs, kwargs) => {
      if (!inference(kwargs)) return own.call(layer, inputs, kwargs);
      const left = chain?.take();
      if (left !== undefined) {
        const { x, filter, bias, strides, pad, dilations } = left;
        const given = inputs as tf.Tensor[];
        const residual = given[1 - chain!.input]!;
        try {
          // In the convolution's write-out where the other input is of its output's shape (the
          // tensor standing for it), as a residual is; else the convolution as it would have run.
          if (residual.dtype === 'float32' && residual.shape.join() === given[chain!.input]!.shape.join()) {
            const attrs = { strides, pad, dilations, dataFormat: 'NHWC', activation: relu ? 'relu' : 'linear' };
            return tf.engine().runKernel(CONV_ADD, { x, filter, bias, residual }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
          }
          const conv = tf.fused.conv2d({ x, filter, bias, strides, pad, dilations });
          inputs = given.map((t, i) => (i === chain!.input ? conv : t));
        } finally {
          tf.dispose(x);
        }
      }
      if (!relu) return own.call(layer, inputs, kwargs);
      const [a, b] = (Array.isArray(inputs) ? inputs : [inputs]) as tf.Tensor[];
      const oneKernel = b !== undefined && (inputs as tf.Tensor[]).length === 2 && a!.dtype === 'float32' && b.dtype === 'float32' && a!.size > 0
        && a!.shape.join() === b.shape.join() && tf.getKernel(ADD_RELU, tf.getBackend()) !== undefined;
      return oneKernel ? (tf.engine().runKernel(ADD_RELU, { a: a!, b: b! }) as tf.Tensor) : tf.relu(own.call(layer, inputs, kwargs) as tf.Tensor);
    });
    if (relu) passThrough(next!);
    adds.push({ add: layer.name, activation: relu ? next!.name : null, ...(chain && { chain: chain.conv }) });
  }

  return {
    chains,
    adds,
    restore() {
      for (const restore of restores.splice(0).reverse()) restore();
    },
  };
}

/** A BatchNorm and the activation layer after it that it applies itself in training calls. */
export interface FusedPair {
  readonly batchNorm: string;
  readonly activation: string;
}

/** A residual Add and the ReLU layer after it that it applies itself in training calls. */
export interface FusedAdd {
  readonly add: string;
  readonly activation: string;
}

/**
 * Marks each BatchNorm of `model` whose output only a ReLU or ReLU6 layer reads (in this model's
 * graph, as for the fold above, and in every other model its layer is part of) to apply that
 * activation itself in training calls, where the backend's training-mode BatchNorm can
 * (backends/batchnorm-training.ts: the op on webgpu and wasm; elsewhere a mark changes nothing).
 * That takes the activation's pass and its gradient's off each pair: the normalisation writes
 * relu(y), and the BatchNorm's gradient masks dy as it reads it. Each Add (a residual block's
 * sum) that only a ReLU reads is marked the same way: on webgpu the sum writes relu(a + b) in one
 * pass. With `padsIntoConvolutions` (webgpu, where each is a pass over the activations forward
 * and a slice of the gradient backward: 1.4 ms of MobileNetV2's step on the H200), each
 * ZeroPadding2D that only a 'valid' convolution reads passes its input through in training calls,
 * and the convolution pads as it reads (explicit padding, the same zeros). And every 2D
 * convolution without an activation computes only the gradients something needs
 * (conv-gradients.ts; tf.layers' own computes its input's gradient always, the image's below a
 * stem among them). `restore()` clears the marks and puts the calls back.
 */
export function fuseActivationsForTraining(
  model: tf.LayersModel,
  options: { padsIntoConvolutions?: boolean } = {},
): { pairs: readonly FusedPair[]; adds: readonly FusedAdd[]; paddings: readonly { padding: string; conv: string }[]; restore(): void } {
  const pairs: FusedPair[] = [];
  const adds: FusedAdd[] = [];
  const marked: Layer[] = [];
  const restores: (() => void)[] = [];
  const paddings: { padding: string; conv: string }[] = [];
  const padded = new Set<Layer>();
  for (const [layer, pad] of options.padsIntoConvolutions ? paddingsBefore(model) : []) {
    const conv = layer as ConvLayer;
    const [[top, bottom], [left, right]] = pad.padding;
    const explicit: tf.backend_util.ExplicitPadding = [[0, 0], [top, bottom], [left, right], [0, 0]];
    restores.push(passThroughWhen(pad.layer, isTraining));
    restores.push(
      patchCall(conv, (own) => (inputs, kwargs) => {
        if (!isTraining(kwargs)) return own.call(conv, inputs, kwargs);
        const x = firstInput(inputs) as tf.Tensor4D;
        const strides = conv.strides as [number, number];
        const dilations = conv.dilationRate as [number, number] | number;
        // As tf.layers' own calls, with the padding given.
        const bias = conv.bias?.read();
        if (conv.depthwiseKernel === undefined) return layerConv2d(conv, x, explicit);
        const y = tf.depthwiseConv2d(x, conv.depthwiseKernel.read() as tf.Tensor4D, strides, explicit, 'NHWC', dilations);
        return bias ? tf.add(y, bias) : y;
      }),
    );
    paddings.push({ padding: pad.layer.name, conv: conv.name });
    padded.add(conv);
  }
  // Every other 2D convolution without an activation of its own computes, where a gradient is
  // recorded, only the gradients something needs (conv-gradients.ts): not the image's below a
  // network's stem, nor a frozen prefix's below the first trainable convolution.
  for (const { layer } of layersOf(model)) {
    if (layer.getClassName() !== 'Conv2D' || !isConv(layer) || padded.has(layer)) continue;
    const conv = layer;
    restores.push(
      patchCall(conv, (own) => (inputs, kwargs) => {
        const x = firstInput(inputs);
        return x.rank === 4 ? layerConv2d(conv, x as tf.Tensor4D, conv.padding) : own.call(conv, inputs, kwargs);
      }),
    );
  }
  for (const { layer, graph } of layersOf(model)) {
    const add = layer.getClassName() === 'Add';
    if (!isBatchNorm(layer) && !add) continue;
    const next = onlyReader(graph, layer);
    const activation: FusedActivation | undefined = activationOf(next);
    if (activation === undefined) continue;
    // The sum's gradient mask is computed from relu's output, which says where the input was
    // positive; relu6's output cannot say whether its input was at 6 or past it.
    if (add && activation !== 'relu') continue;
    setActivationAfter(layer, activation);
    marked.push(layer);
    if (add) adds.push({ add: layer.name, activation: next!.name });
    else pairs.push({ batchNorm: layer.name, activation: next!.name });
  }
  return {
    pairs,
    adds,
    paddings,
    restore() {
      for (const layer of marked.splice(0)) setActivationAfter(layer, undefined);
      for (const restore of restores.splice(0).reverse()) restore();
    },
  };
}
