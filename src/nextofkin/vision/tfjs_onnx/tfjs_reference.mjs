// Runs a TF.js graph model with TensorFlow.js itself (pure-JS CPU backend, no native code), to
// check the ONNX translation against the publisher's own runtime. Used by the tests only.
// usage: node tfjs_reference.mjs MODEL_JSON INPUT_F32 N,H,W,C OUTPUT_PREFIX
// Writes one little-endian float32 file per output: OUTPUT_PREFIX.<index>.f32, plus
// OUTPUT_PREFIX.json with the outputs' names and shapes.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(process.env.NEXTOFKIN_NODE_MODULES + '/');
const tf = require('@tensorflow/tfjs');

const [modelJson, inputFile, shapeArg, outPrefix] = process.argv.slice(2);
const spec = JSON.parse(fs.readFileSync(modelJson, 'utf8'));
const dir = path.dirname(modelJson);
const specs = spec.weightsManifest.flatMap((g) => g.weights);
const shards = spec.weightsManifest.flatMap((g) => g.paths.map((p) => fs.readFileSync(path.join(dir, p))));
const buf = Buffer.concat(shards);
const weightData = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
const handler = tf.io.fromMemory({ modelTopology: spec.modelTopology, weightSpecs: specs, weightData, format: spec.format, signature: spec.signature });

await tf.setBackend('cpu');
const model = await tf.loadGraphModel(handler);
const shape = shapeArg.split(',').map(Number);
const raw = fs.readFileSync(inputFile);
const input = tf.tensor(new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4), shape, 'float32');
const names = process.env.NEXTOFKIN_TFJS_OUTPUTS.split(',');
let outs = model.execute(input, names);
if (!Array.isArray(outs)) outs = [outs];
const meta = [];
outs.forEach((t, i) => {
  fs.writeFileSync(`${outPrefix}.${i}.f32`, Buffer.from(t.dataSync().buffer));
  meta.push({ name: names[i], shape: t.shape });
});
fs.writeFileSync(`${outPrefix}.json`, JSON.stringify(meta));
