/**
 * Gradients for tf.valueAndGrad in Node. tfjs-core's Node bundle (dist/tf-core.node.js) registers no gradient
 * configs: the union package @tensorflow/tfjs adds them by importing tfjs-core/dist/register_all_gradients, an ESM
 * tree with extensionless imports that Node cannot load from a CommonJS package. So the benchmark registers these
 * ports of tfjs-core 4.22's own configs (src/gradients/*_grad.ts) for exactly the kernels the Gatys loss uses,
 * built from the same ops and kernels (Conv2DBackpropInput, MaxPoolGrad, Step, BatchMatMul, ...), so the peer runs
 * what @tensorflow/tfjs would run.
 */
import type * as TF from '@tensorflow/tfjs-core';

type Tf = typeof TF;

export function registerLossGradients(tf: Tf): void {
  const { broadcast_util, backend_util, util, slice_util } = tf;
  const reduceTo = (res: TF.Tensor, shape: number[], outShape: number[]) => {
    const axes = broadcast_util.getReductionAxes(shape, outShape);
    return tf.reshape(axes.length > 0 ? tf.sum(res, axes) : res, shape);
  };
  const configs: TF.GradConfig[] = [
    {
      kernelName: 'Add',
      inputsToSave: ['a', 'b'],
      gradFunc: (dy, saved) => {
        const [a, b] = saved;
        const out = broadcast_util.assertAndGetBroadcastShape(a.shape, b.shape);
        return { a: () => reduceTo(dy as TF.Tensor, a.shape, out), b: () => reduceTo(dy as TF.Tensor, b.shape, out) };
      },
    },
    {
      kernelName: 'Sub',
      inputsToSave: ['a', 'b'],
      gradFunc: (dy, saved) => {
        const [a, b] = saved;
        const out = broadcast_util.assertAndGetBroadcastShape(a.shape, b.shape);
        return { a: () => reduceTo(dy as TF.Tensor, a.shape, out), b: () => tf.neg(reduceTo(dy as TF.Tensor, b.shape, out)) };
      },
    },
    {
      kernelName: 'Multiply',
      inputsToSave: ['a', 'b'],
      gradFunc: (dy, saved) => {
        const [a, b] = saved;
        const out = broadcast_util.assertAndGetBroadcastShape(a.shape, b.shape);
        return {
          a: () => reduceTo(tf.mul(dy as TF.Tensor, tf.cast(b, 'float32')), a.shape, out),
          b: () => reduceTo(tf.mul(dy as TF.Tensor, tf.cast(a, 'float32')), b.shape, out),
        };
      },
    },
    {
      kernelName: 'RealDiv',
      inputsToSave: ['a', 'b'],
      gradFunc: (dy, saved) => {
        const [a, b] = saved;
        const out = broadcast_util.assertAndGetBroadcastShape(a.shape, b.shape);
        return {
          a: () => reduceTo(tf.div(dy as TF.Tensor, tf.cast(b, 'float32')), a.shape, out),
          b: () => tf.neg(tf.div(reduceTo(tf.mul(dy as TF.Tensor, tf.cast(a, 'float32')), b.shape, out), tf.cast(tf.square(b), 'float32'))),
        };
      },
    },
    {
      kernelName: 'SquaredDifference',
      inputsToSave: ['a', 'b'],
      gradFunc: (dy, saved) => {
        const [a, b] = saved;
        const two = tf.scalar(2);
        return { a: () => tf.mul(dy as TF.Tensor, tf.mul(two, tf.sub(a, b))), b: () => tf.mul(dy as TF.Tensor, tf.mul(two, tf.sub(b, a))) };
      },
    },
    {
      kernelName: 'Square',
      inputsToSave: ['x'],
      gradFunc: (dy, saved) => ({ x: () => tf.mul(dy as TF.Tensor, tf.mul(tf.cast(saved[0], 'float32'), 2)) }),
    },
    {
      kernelName: 'Relu',
      inputsToSave: ['x'],
      gradFunc: (dy, saved) => ({ x: () => tf.mul(dy as TF.Tensor, tf.cast(tf.step(saved[0]), 'float32')) }),
    },
    {
      kernelName: 'Reshape',
      inputsToSave: ['x'],
      gradFunc: (dy, saved) => ({ x: () => tf.reshape(dy as TF.Tensor, saved[0].shape) }),
    },
    {
      kernelName: 'Sum',
      inputsToSave: ['x'],
      gradFunc: (dy, saved, attrs) => {
        const [x] = saved;
        const expanded = x.shape.slice();
        util.parseAxisParam(attrs.axis as number | number[], x.shape).forEach((axis) => (expanded[axis] = 1));
        const derX = tf.mul(tf.reshape(dy as TF.Tensor, expanded), tf.ones(x.shape, 'float32'));
        return { x: () => derX };
      },
    },
    {
      kernelName: 'Mean',
      inputsToSave: ['x'],
      gradFunc: (dy, saved, attrs) => {
        const [x] = saved;
        const axes = util.parseAxisParam(attrs.axis as number | number[], x.shape);
        const reduceSize = util.sizeFromShape(backend_util.computeOutAndReduceShapes(x.shape, axes)[1]);
        const expanded = x.shape.slice();
        axes.forEach((axis) => (expanded[axis] = 1));
        return { x: () => tf.div(tf.mul(tf.reshape(dy as TF.Tensor, expanded), tf.ones(x.shape, 'float32')), reduceSize) };
      },
    },
    {
      kernelName: 'Slice',
      inputsToSave: ['x'],
      gradFunc: (dy, saved, attrs) => {
        const [x] = saved;
        const [begin, size] = slice_util.parseSliceParams(x, attrs.begin as number[], attrs.size as number[]);
        const paddings: Array<[number, number]> = x.shape.map((n, i) => [begin[i], n - begin[i] - size[i]]);
        return { x: () => tf.pad(dy as TF.Tensor, paddings) };
      },
    },
    {
      kernelName: 'BatchMatMul',
      inputsToSave: ['a', 'b'],
      gradFunc: (dy, saved, attrs) => {
        const [a, b] = saved;
        const d = dy as TF.Tensor;
        const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
        if (!transposeA && !transposeB) return { a: () => tf.matMul(d, b, false, true), b: () => tf.matMul(a, d, true, false) };
        if (!transposeA && transposeB) return { a: () => tf.matMul(d, b, false, false), b: () => tf.matMul(d, a, true, false) };
        if (transposeA && !transposeB) return { a: () => tf.matMul(b, d, false, true), b: () => tf.matMul(a, d, false, false) };
        return { a: () => tf.matMul(b, d, true, true), b: () => tf.matMul(d, a, true, true) };
      },
    },
    {
      kernelName: 'MaxPool',
      inputsToSave: ['x'],
      outputsToSave: [true],
      gradFunc: (dy, saved, attrs) => {
        const [x, y] = saved;
        const { filterSize, strides, pad } = attrs;
        return {
          x: () =>
            tf
              .engine()
              .runKernel<TF.Tensor>('MaxPoolGrad', { dy: dy as TF.Tensor, input: x, output: y }, { filterSize, strides, pad, dimRoundingMode: undefined as unknown as string }),
        };
      },
    },
    {
      kernelName: 'Conv2D',
      inputsToSave: ['x', 'filter'],
      gradFunc: (dy, saved, attrs) => {
        const [x, filter] = saved;
        const { dilations, strides, pad, dataFormat, dimRoundingMode } = attrs as Record<string, unknown>;
        const one = (v: unknown) => (Array.isArray(v) ? v.every((d) => d === 1) : v === 1 || v === undefined);
        if (!one(dilations)) throw new Error('conv2D gradient with dilations > 1 is not supported');
        const common = { strides, pad, dataFormat, dimRoundingMode } as TF.NamedAttrMap;
        return {
          x: () => tf.engine().runKernel<TF.Tensor>('Conv2DBackpropInput', { dy: dy as TF.Tensor, filter }, { ...common, inputShape: x.shape }),
          filter: () => tf.engine().runKernel<TF.Tensor>('Conv2DBackpropFilter', { x, dy: dy as TF.Tensor }, { ...common, filterShape: filter.shape }),
        };
      },
    },
  ];
  for (const config of configs) tf.registerGradient(config);
}
