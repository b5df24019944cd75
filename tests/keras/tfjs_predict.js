//  tests/keras/tfjs_predict.js - the reference for a TF.js layers-model
//  read from disk: tfjs's own model.predict on given inputs
//
//  node tfjs_predict.js TFJS_DIR MODEL_JSON OUT_DIR X0.npy [X1.npy ...]
//
//  TFJS_DIR is where `npm install --prefix TFJS_DIR @tensorflow/tfjs` put
//  tfjs (pure JavaScript, its CPU backend: no native binding needed).
//  The model is loaded through an IOHandler that reads model.json and the
//  shards its weightsManifest lists from the folder it is in, exactly the
//  files zinfer reads. Inputs are float32 .npy files (C order); outputs
//  are written as OUT_DIR/y0.npy, y1.npy, ... in the model's output order,
//  and their names, one a line, to OUT_DIR/outputs.txt.

'use strict';
const fs = require ('fs');
const path = require ('path');
const tf = require (path.resolve (process.argv [2], 'node_modules/@tensorflow/tfjs'));

function fail (message) {
    process.stderr.write ('tfjs_predict: ' + message + '\n');
    process.exit (1);
}

//  The .npy files numpy writes for a float32 array: version 1 or 2 header
function load_npy (file) {
    const bytes = fs.readFileSync (file);
    if (bytes.toString ('latin1', 0, 6) != '\x93NUMPY')
        fail (file + ': not a .npy file');
    const major = bytes [6];
    const header_length = major == 1? bytes.readUInt16LE (8): bytes.readUInt32LE (8);
    const start = major == 1? 10: 12;
    const header = bytes.toString ('latin1', start, start + header_length);
    if (!/'descr': '<f4'/.test (header) || /'fortran_order': True/.test (header))
        fail (file + ': expected little-endian float32 in C order, got ' + header.trim ());
    const shape = header.match (/'shape': \(([^)]*)\)/) [1]
        .split (',').map (s => s.trim ()).filter (s => s.length).map (Number);
    const data = bytes.subarray (start + header_length);
    const values = new Float32Array (data.buffer.slice (data.byteOffset,
                                                        data.byteOffset + data.length));
    return tf.tensor (values, shape);
}

function save_npy (file, tensor) {
    const shape = tensor.shape;
    let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" +
        shape.join (', ') + (shape.length == 1? ',': '') + '), }';
    while ((10 + header.length + 1) % 64)
        header += ' ';
    header += '\n';
    const head = Buffer.alloc (10);
    head.write ('\x93NUMPY', 0, 'latin1');
    head [6] = 1;
    head [7] = 0;
    head.writeUInt16LE (header.length, 8);
    const values = new Float32Array (tensor.dataSync ());
    fs.writeFileSync (file, Buffer.concat ([head, Buffer.from (header, 'latin1'),
                                            Buffer.from (values.buffer)]));
}

//  model.json and its shards, from the folder model.json is in: the
//  weights of all groups in manifest order, as tfjs's own loaders join them
function disk_handler (model_file) {
    return {
        load: async () => {
            const model = JSON.parse (fs.readFileSync (model_file, 'utf8'));
            const folder = path.dirname (model_file);
            const specs = [];
            const shards = [];
            for (const group of model.weightsManifest || []) {
                for (const shard of group.paths)
                    shards.push (fs.readFileSync (path.join (folder, shard)));
                specs.push (...group.weights);
            }
            const joined = Buffer.concat (shards);
            return {
                modelTopology: model.modelTopology,
                format: model.format,
                generatedBy: model.generatedBy,
                convertedBy: model.convertedBy,
                weightSpecs: specs,
                weightData: joined.buffer.slice (joined.byteOffset,
                                                 joined.byteOffset + joined.length)
            };
        }
    };
}

async function main () {
    if (process.argv.length < 6)
        fail ('usage: node tfjs_predict.js TFJS_DIR MODEL_JSON OUT_DIR X0.npy [X1.npy ...]');
    const [model_file, out_dir] = process.argv.slice (3, 5);
    const inputs = process.argv.slice (5).map (load_npy);
    await tf.setBackend ('cpu');
    const model = await tf.loadLayersModel (disk_handler (model_file));
    let outputs = model.predict (inputs.length == 1? inputs [0]: inputs);
    if (!Array.isArray (outputs))
        outputs = [outputs];
    fs.mkdirSync (out_dir, {recursive: true});
    outputs.forEach ((y, index) => save_npy (path.join (out_dir, 'y' + index + '.npy'), y));
    fs.writeFileSync (path.join (out_dir, 'outputs.txt'),
                      model.outputNames.map (name => name + '\n').join (''));
}

main ().catch (error => fail (String (error && error.message || error)));
