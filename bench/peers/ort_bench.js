#!/usr/bin/env node
// Times one ONNX model in ONNX Runtime (onnxruntime-node, CPU execution provider).
//
// Usage:
//   node ort_bench.js --model=FILE [--threads=1] [--batch=1] [--warmup=3]
//                     [--iterations=10] [--optimized-out=FILE]
//
// The input is a random float32 tensor [batch, 3, 224, 224] (or the model's
// own static C/H/W when it declares them). Session options: intraOpNumThreads
// = --threads, interOpNumThreads = 1, sequential execution, graph
// optimization level 'all'. After --warmup untimed runs, each of
// --iterations runs is timed on its own; the median is reported.
//
// Prints exactly one JSON object on stdout:
//   {"ok":true,"model":...,"threads":...,"batch":...,"iterations":...,
//    "times_ms":[...],"median_ms":...,"images_per_s":...,"load_ms":...,
//    "ort_version":...,"output_shape":[...]}
// or {"ok":false,"error":"..."} with exit code 1.
// Diagnostics go to stderr.
'use strict';

const path = require('path');

function parseArgs(argv) {
  const opts = {
    model: null, threads: 1, batch: 1, warmup: 3, iterations: 10,
    optimizedOut: null,
  };
  for (const a of argv) {
    if (a === '--help' || a === '-h') {
      opts.help = true;
      continue;
    }
    const m = /^--([a-z-]+)=(.*)$/.exec(a);
    if (!m) throw new Error(`bad argument: ${a}`);
    const [, k, v] = m;
    switch (k) {
      case 'model': opts.model = v; break;
      case 'threads': opts.threads = parseInt(v, 10); break;
      case 'batch': opts.batch = parseInt(v, 10); break;
      case 'warmup': opts.warmup = parseInt(v, 10); break;
      case 'iterations': opts.iterations = parseInt(v, 10); break;
      case 'optimized-out': opts.optimizedOut = v; break;
      default: throw new Error(`unknown option --${k}`);
    }
  }
  for (const k of ['threads', 'batch', 'iterations']) {
    if (!Number.isInteger(opts[k]) || opts[k] < 1) throw new Error(`--${k} must be a positive integer`);
  }
  if (!Number.isInteger(opts.warmup) || opts.warmup < 0) throw new Error('--warmup must be >= 0');
  return opts;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`ort_bench: ${e.message}\n`);
    process.stdout.write(JSON.stringify({ ok: false, error: e.message }) + '\n');
    process.exit(2);
  }
  if (opts.help || !opts.model) {
    process.stderr.write(
      'usage: node ort_bench.js --model=FILE [--threads=1] [--batch=1] [--warmup=3] ' +
      '[--iterations=10] [--optimized-out=FILE]\n');
    process.exit(opts.help ? 0 : 2);
  }

  const ort = require('onnxruntime-node');
  const sessionOptions = {
    executionProviders: ['cpu'],
    intraOpNumThreads: opts.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  };
  if (opts.optimizedOut) sessionOptions.optimizedModelFilePath = path.resolve(opts.optimizedOut);

  const t0 = process.hrtime.bigint();
  const session = await ort.InferenceSession.create(path.resolve(opts.model), sessionOptions);
  const loadMs = Number(process.hrtime.bigint() - t0) / 1e6;

  const inputName = session.inputNames[0];
  // Static C/H/W from the model when available, else 3x224x224.
  let chw = [3, 224, 224];
  try {
    const meta = session.inputMetadata && session.inputMetadata[0];
    if (meta && Array.isArray(meta.shape) && meta.shape.length === 4 &&
        meta.shape.slice(1).every((d) => typeof d === 'number' && d > 0)) {
      chw = meta.shape.slice(1);
    }
  } catch (_) { /* older bindings: keep the default */ }
  const dims = [opts.batch, ...chw];
  const n = dims.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  // Deterministic pseudo-random input in [-1, 1).
  let s = 12345;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    data[i] = (s / 4294967296) * 2 - 1;
  }
  const feeds = { [inputName]: new ort.Tensor('float32', data, dims) };

  let out;
  for (let i = 0; i < opts.warmup; i++) out = await session.run(feeds);
  const times = [];
  for (let i = 0; i < opts.iterations; i++) {
    const a = process.hrtime.bigint();
    out = await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - a) / 1e6);
  }
  const med = median(times);
  const first = out[session.outputNames[0]];
  const result = {
    ok: true,
    model: opts.model,
    threads: opts.threads,
    batch: opts.batch,
    warmup: opts.warmup,
    iterations: opts.iterations,
    times_ms: times.map((t) => Math.round(t * 1000) / 1000),
    median_ms: med,
    images_per_s: (opts.batch * 1000) / med,
    load_ms: loadMs,
    ort_version: ort.env.versions ? ort.env.versions.node || ort.env.versions.common : null,
    output_shape: first ? first.dims : null,
  };
  if (typeof session.release === 'function') await session.release();
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().catch((e) => {
  const msg = (e && e.message) ? e.message : String(e);
  process.stderr.write(`ort_bench: ${msg}\n`);
  process.stdout.write(JSON.stringify({ ok: false, error: msg.split('\n')[0].slice(0, 400) }) + '\n');
  process.exit(1);
});
