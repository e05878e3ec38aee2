/** The wasm backend's training kernels; see wasm-kernels/index.ts. */
export { registerWasmTrainingKernels, WASM_TRAINING_KERNELS } from './wasm-kernels/index.ts';
