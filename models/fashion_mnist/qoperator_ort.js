#!/usr/bin/env node
// ONNX Runtime on the QOperator Fashion-MNIST models that qdq_to_qoperator.py writes
// (NAME/NAME_qoperator.onnx): top-1 on the 10 000 test images of Debian's dataset-fashion-mnist,
// prepared as data.py prepares them. Saves NAME/qoperator_ort.json (top-1, the file's size and
// the ONNX Runtime version) and NAME/qoperator_ort_classes.u8 (ONNX Runtime's class per image),
// which tests/test_fashion_mnist_qoperator.cpp compares qint8 with.
//
//   node models/fashion_mnist/qoperator_ort.js [--ort PATH] [--data DIR] [NAME ...]
//
// --ort defaults to bench/peers/node_modules/onnxruntime-node, --data to
// /usr/share/datasets/fashion-mnist.
'use strict';
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');

const args = process.argv.slice(2);
let ortPath = path.join(__dirname, '..', '..', 'bench', 'peers', 'node_modules', 'onnxruntime-node');
let data = '/usr/share/datasets/fashion-mnist';
const names = [];
for (let i = 0; i < args.length; ++i) {
  if (args[i] === '--ort') ortPath = args[++i];
  else if (args[i] === '--data') data = args[++i];
  else names.push(args[i]);
}
const ort = require(ortPath);
const S = 32, PAD = 2, MEAN = 0.2860, STD = 0.3530, BATCH = 500;

function idx(file) {
  let b = fs.readFileSync(file);
  if (file.endsWith('.gz')) b = zlib.gunzipSync(b);
  const dims = b[3];
  let off = 4 + 4 * dims;
  return b.subarray(off);
}

const raw = idx(path.join(data, 't10k-images-idx3-ubyte.gz'));
const labels = idx(path.join(data, 't10k-labels-idx1-ubyte.gz'));
const N = labels.length;
const f = Math.fround;
// Input exactly as data.py computes it, in float32 arithmetic (as check_ort.js).
function batch(first, n) {
  const x = new Float32Array(n * 3 * S * S);
  for (let k = 0; k < n; ++k)
    for (let y = 0; y < S; ++y)
      for (let xx = 0; xx < S; ++xx) {
        const yy = y - PAD, xc = xx - PAD;
        const p = (yy >= 0 && yy < 28 && xc >= 0 && xc < 28) ? raw[(first + k) * 784 + yy * 28 + xc] : 0;
        const v = f(f(f(p / 255) - f(MEAN)) / f(STD));
        for (let c = 0; c < 3; ++c) x[((k * 3 + c) * S + y) * S + xx] = v;
      }
  return x;
}

(async () => {
  for (const name of names.length ? names : ['mobilenet_v2', 'resnet50']) {
    const file = path.join(__dirname, name, `${name}_qoperator.onnx`);
    const s = await ort.InferenceSession.create(file, { graphOptimizationLevel: 'disabled', intraOpNumThreads: 1 });
    const classes = Buffer.alloc(N);
    let correct = 0;
    for (let first = 0; first < N; first += BATCH) {
      const n = Math.min(BATCH, N - first);
      const out = await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', batch(first, n), [n, 3, S, S]) });
      const y = out[s.outputNames[0]].data;
      for (let k = 0; k < n; ++k) {
        let best = 0;
        for (let j = 1; j < 10; ++j) if (y[k * 10 + j] > y[k * 10 + best]) best = j;
        classes[first + k] = best;
        correct += best === labels[first + k];
      }
    }
    const info = { model: `${name}/${name}_qoperator.onnx`, bytes: fs.statSync(file).size, onnxruntime: ort.env.versions ? ort.env.versions.common : 'unknown',
                   optimizations: 'disabled', images: N, top1: 100 * correct / N };
    fs.writeFileSync(path.join(__dirname, name, 'qoperator_ort.json'), JSON.stringify(info, null, 2) + '\n');
    fs.writeFileSync(path.join(__dirname, name, 'qoperator_ort_classes.u8'), classes);
    console.log(`${name}: ONNX Runtime top-1 ${info.top1.toFixed(2)}% on ${N} test images`);
  }
})().catch((e) => { console.error(e); process.exit(1); });
