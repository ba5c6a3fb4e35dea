#!/usr/bin/env node
// Cross-check of the exported ONNX files with a second runtime: runs NAME_fp32.onnx and
// NAME_qat.onnx in ONNX Runtime (the onnxruntime-node package installed for bench/peers) on the
// reference images, preprocessed here in float32 the way the C++ side would, and compares with
// the PyTorch logits written by reference_logits.py.
//
//   node models/fashion_mnist/check_ort.js [--dir models/fashion_mnist] [--ort PATH] [NAME ...]
//
// --ort defaults to bench/peers/node_modules/onnxruntime-node (relative to the repository root).
'use strict';
const fs = require('fs');
const path = require('path');

const args = process.argv.slice(2);
let dir = __dirname;
let ortPath = path.join(__dirname, '..', '..', 'bench', 'peers', 'node_modules', 'onnxruntime-node');
const names = [];
for (let i = 0; i < args.length; ++i) {
  if (args[i] === '--dir') dir = args[++i];
  else if (args[i] === '--ort') ortPath = args[++i];
  else if (args[i] === '--help' || args[i] === '-h') {
    console.log('usage: node check_ort.js [--dir DIR] [--ort PATH_TO_onnxruntime-node] [NAME ...]');
    process.exit(0);
  } else names.push(args[i]);
}
const ort = require(ortPath);
const ALL = ['mobilenet_v1', 'mobilenet_v2', 'resnet50', 'resnet101', 'vgg16', 'vgg19'];
const N = 100, MEAN = 0.2860, STD = 0.3530, PAD = 2, S = 32;

// Input exactly as train.py / reference_logits.py compute it, in float32 arithmetic.
const raw = fs.readFileSync(path.join(dir, `reference_images_${N}.u8`));
const labels = fs.readFileSync(path.join(dir, `reference_labels_${N}.u8`));
const f = Math.fround;
const input = new Float32Array(N * 3 * S * S);
for (let n = 0; n < N; ++n)
  for (let y = 0; y < S; ++y)
    for (let x = 0; x < S; ++x) {
      const yy = y - PAD, xx = x - PAD;
      const p = (yy >= 0 && yy < 28 && xx >= 0 && xx < 28) ? raw[n * 784 + yy * 28 + xx] : 0;
      const v = f(f(f(p / 255) - f(MEAN)) / f(STD));
      for (let c = 0; c < 3; ++c) input[((n * 3 + c) * S + y) * S + x] = v;
    }

// If reference_logits.py left its float input in out/, check the preprocessing above against it.
{
  const p = path.join(dir, 'out', `reference_input_${N}.bin`);
  if (fs.existsSync(p)) {
    const b = fs.readFileSync(p), t = new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
    let diff = 0;
    for (let i = 0; i < t.length; ++i) if (t[i] !== input[i]) ++diff;
    console.log(`input preprocessing vs PyTorch (${p}): ${diff} of ${t.length} values differ`);
  }
}

function readF32(file) {
  const b = fs.readFileSync(file);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}
function argmax(a, row) {
  let best = 0;
  for (let j = 1; j < 10; ++j) if (a[row * 10 + j] > a[row * 10 + best]) best = j;
  return best;
}

async function run(onnxPath, level) {
  const sess = await ort.InferenceSession.create(onnxPath, { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: level });
  const out = await sess.run({ input: new ort.Tensor('float32', input, [N, 3, S, S]) });
  return out.logits.data;
}

// fp32: ORT with all graph optimizations. qat: twice -- with graph optimizations disabled ORT
// executes the QDQ graph literally (float ops between Q/DQ: the fake-quant semantics, should match
// PyTorch to rounding); with all optimizations it fuses DQ->Conv->Q into int8 QLinearConv kernels
// (its own integer arithmetic; on CPUs without VNNI its u8s8 kernels can saturate int16 pairs).
(async () => {
  let bad = 0;
  for (const name of names.length ? names : ALL) {
    for (const [kind, onnxFile, refFile, levels] of [
      ['fp32', `${name}_fp32.onnx`, `reference_logits_${N}.bin`, ['all']],
      ['qat', `${name}_qat.onnx`, `reference_logits_qat_${N}.bin`, ['disabled', 'all']]]) {
      const onnxPath = path.join(dir, name, onnxFile), refPath = path.join(dir, name, refFile);
      if (!fs.existsSync(onnxPath) || !fs.existsSync(refPath)) { console.log(`${name} ${kind}: missing ${onnxPath} or ${refPath}`); continue; }
      const ref = readF32(refPath);
      for (const level of levels) {
        const got = await run(onnxPath, level);
        let maxDiff = 0, agree = 0, correct = 0;
        for (let i = 0; i < N * 10; ++i) maxDiff = Math.max(maxDiff, Math.abs(got[i] - ref[i]));
        for (let n = 0; n < N; ++n) {
          if (argmax(got, n) === argmax(ref, n)) ++agree;
          if (argmax(got, n) === labels[n]) ++correct;
        }
        console.log(`${name.padEnd(13)} ${kind.padEnd(4)} ORT (optimizations ${level.padEnd(8)}) vs PyTorch: max |diff| ` +
                    `${maxDiff.toExponential(2)}, argmax agreement ${agree}/${N}, ORT correct ${correct}/${N}`);
        if (level !== 'all' || kind === 'fp32') if (agree < N - 1) ++bad;
      }
    }
  }
  process.exit(bad ? 1 : 0);
})().catch((e) => { console.error(e); process.exit(2); });
