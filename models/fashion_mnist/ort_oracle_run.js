#!/usr/bin/env node
// The ONNX Runtime half of ort_oracle.py: runs each job's model on the input file (float32
// [images, 3, 32, 32]) in batches, one thread, default graph optimizations, and writes its logits
// (float32 [images, 10]) beside it; the ORT version goes to ort_version.txt in the same folder.
//
//   node ort_oracle_run.js --ort PATH_TO_onnxruntime-node JOBS.json
'use strict';
const fs = require('fs');
const path = require('path');

const args = process.argv.slice(2);
let ortPath = path.join(__dirname, '..', '..', 'bench', 'peers', 'node_modules', 'onnxruntime-node');
let specPath = '';
for (let i = 0; i < args.length; ++i) {
  if (args[i] === '--ort') ortPath = args[++i];
  else specPath = args[i];
}
if (!specPath) { console.error('usage: node ort_oracle_run.js [--ort PATH] JOBS.json'); process.exit(2); }
const ort = require(ortPath);
const spec = JSON.parse(fs.readFileSync(specPath, 'utf8'));
const per = 3 * 32 * 32, BATCH = 250;
const b = fs.readFileSync(spec.input);
const input = new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
if (input.length !== spec.images * per) { console.error(`${spec.input}: expected ${spec.images * per} floats, found ${input.length}`); process.exit(2); }
const version = require(path.join(ortPath, 'package.json')).version;
fs.writeFileSync(path.join(path.dirname(specPath), 'ort_version.txt'), version + '\n');

(async () => {
  for (const job of spec.jobs) {
    const sess = await ort.InferenceSession.create(job.copy, { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
    const logits = new Float32Array(spec.images * 10);
    for (let first = 0; first < spec.images; first += BATCH) {
      const n = Math.min(BATCH, spec.images - first);
      const x = new ort.Tensor('float32', input.subarray(first * per, (first + n) * per), [n, 3, 32, 32]);
      const out = await sess.run({ [sess.inputNames[0]]: x });
      logits.set(out[sess.outputNames[0]].data, first * 10);
    }
    fs.writeFileSync(job.logits, Buffer.from(logits.buffer));
    console.log(`${job.file}: ${spec.images} images`);
  }
})().catch((e) => { console.error(e); process.exit(2); });
