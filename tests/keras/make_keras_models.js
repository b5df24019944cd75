//  tests/keras/make_keras_models.js - small Keras models as TF.js layers-models,
//  with reference outputs from tfjs itself
//
//  node make_keras_models.js TFJS_DIR OUT_DIR
//
//  TFJS_DIR is where `npm install --prefix TFJS_DIR @tensorflow/tfjs` put
//  tfjs. Each model goes to OUT_DIR/NAME/: model.json and its shard, the
//  inputs as x0.npy, x1.npy, ..., the outputs model.predict gives as
//  y0.npy, ..., and meta.json naming inputs and outputs in order. Models
//  tfjs cannot build (TFOpLambda) are written by hand, their reference
//  computed with tfjs ops.

'use strict';
const fs = require ('fs');
const path = require ('path');
const tf = require (path.resolve (process.argv [2], 'node_modules/@tensorflow/tfjs'));
const out_dir = process.argv [3];

//  Reproducible numbers in [-1, 1)
let seed = 12345;
function random () {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 1073741824 - 1;
}
function random_array (count, scale = 1) {
    const values = new Float32Array (count);
    for (let item = 0; item < count; item++)
        values [item] = random () * scale;
    return values;
}
function random_tensor (shape, scale = 1) {
    return tf.tensor (random_array (shape.reduce ((a, b) => a * b, 1), scale), shape);
}

function save_npy (file, tensor) {
    const shape = tensor.shape;
    const values = tensor.dataSync ();
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
    fs.writeFileSync (file, Buffer.concat ([head, Buffer.from (header, 'latin1'),
                                            Buffer.from (new Float32Array (values).buffer)]));
}

function write_model (name, topology, specs, data, inputs, outputs, input_names, output_names) {
    const dir = path.join (out_dir, name);
    fs.mkdirSync (dir, {recursive: true});
    const shard = 'group1-shard1of1.bin';
    fs.writeFileSync (path.join (dir, 'model.json'), JSON.stringify ({
        format: 'layers-model', generatedBy: 'TensorFlow.js tfjs-layers v' + tf.version.tfjs,
        convertedBy: null, modelTopology: topology,
        weightsManifest: [{paths: [shard], weights: specs}]}, null, 1));
    fs.writeFileSync (path.join (dir, shard), Buffer.from (data));
    inputs.forEach ((x, index) => save_npy (path.join (dir, 'x' + index + '.npy'), x));
    outputs.forEach ((y, index) => save_npy (path.join (dir, 'y' + index + '.npy'), y));
    fs.writeFileSync (path.join (dir, 'meta.json'),
                      JSON.stringify ({inputs: input_names, outputs: output_names}));
}

//  Saves a tfjs model through an IOHandler; encode rewrites the weights
//  (float16, uint8) when given
async function save_model (name, model, inputs, encode) {
    if (encode)
        model.setWeights (model.getWeights ().map (w => tf.tensor (encode.round (w.dataSync ()),
                                                                   w.shape)));
    let outputs = model.predict (inputs.length == 1? inputs [0]: inputs);
    if (!Array.isArray (outputs))
        outputs = [outputs];
    await model.save (tf.io.withSaveHandler (async (artifacts) => {
        let data = artifacts.weightData;
        if (Array.isArray (data))
            data = tf.io.concatenateArrayBuffers (data);
        let specs = artifacts.weightSpecs;
        if (encode) {
            const encoded = encode.encode (specs, new Float32Array (data));
            specs = encoded.specs;
            data = encoded.data;
        }
        write_model (name, artifacts.modelTopology, specs, data, inputs, outputs,
                     model.inputs.map (t => t.name.split ('/') [0].replace (/:0$/, '')),
                     model.outputNames);
        return {modelArtifactsInfo: {dateSaved: new Date (), modelTopologyType: 'JSON'}};
    }));
}

//  float16: weights rounded to values before predict, stored as values
function to_half (value) {
    const f = new Float32Array (1), i = new Uint32Array (f.buffer);
    f [0] = value;
    const x = i [0], sign = (x >>> 16) & 0x8000;
    let exponent = ((x >>> 23) & 0xff) - 127 + 15, mantissa = x & 0x7fffff;
    if (exponent <= 0)
        return sign | Math.round ((mantissa | 0x800000) / Math.pow (2, 14 - exponent));
    let half = sign | (exponent << 10) | (mantissa >>> 13);
    if (mantissa & 0x1000)
        half++;                 //  round half up; ties are rare in random data
    return half;
}
function from_half (half) {
    const exponent = (half >> 10) & 0x1f, mantissa = half & 0x3ff;
    const value = exponent == 0? mantissa * Math.pow (2, -24):
        (mantissa + 1024) * Math.pow (2, exponent - 25);
    return half & 0x8000? -value: value;
}
const float16 = {
    round: (values) => values.map (v => from_half (to_half (v))),
    encode: (specs, values) => {
        const halves = new Uint16Array (values.length);
        values.forEach ((v, index) => halves [index] = to_half (v));
        return {specs: specs.map (s => Object.assign ({}, s, {quantization: {dtype: 'float16'}})),
                data: halves.buffer};
    }
};

//  uint8: per weight, min and scale; the values set before predict are the
//  dequantized ones
function quantize_uint8 (values) {
    let min = Math.min (...values), max = Math.max (...values);
    const scale = max > min? (max - min) / 255: 1;
    return {min: Math.fround (min), scale: Math.fround (scale),
            q: Array.from (values, v => Math.round ((v - min) / scale))};
}
const uint8 = {
    round: (values) => {
        const {min, scale, q} = quantize_uint8 (values);
        return Float32Array.from (q, v => Math.fround (Math.fround (v * scale) + min));
    },
    encode: (specs, values) => {
        const bytes = [];
        const out_specs = [];
        let offset = 0;
        for (const spec of specs) {
            const count = spec.shape.reduce ((a, b) => a * b, 1);
            const {min, scale, q} = quantize_uint8 (values.subarray (offset, offset + count));
            offset += count;
            bytes.push (...q);
            out_specs.push (Object.assign ({}, spec, {quantization: {dtype: 'uint8', min, scale}}));
        }
        return {specs: out_specs, data: Uint8Array.from (bytes).buffer};
    }
};

//  uint16: as uint8, with 65535 steps
function quantize_uint16 (values) {
    let min = Math.min (...values), max = Math.max (...values);
    const scale = max > min? (max - min) / 65535: 1;
    return {min: Math.fround (min), scale: Math.fround (scale),
            q: Array.from (values, v => Math.round ((v - min) / scale))};
}
const uint16 = {
    round: (values) => {
        const {min, scale, q} = quantize_uint16 (values);
        return Float32Array.from (q, v => Math.fround (Math.fround (v * scale) + min));
    },
    encode: (specs, values) => {
        const words = [];
        const out_specs = [];
        let offset = 0;
        for (const spec of specs) {
            const count = spec.shape.reduce ((a, b) => a * b, 1);
            const {min, scale, q} = quantize_uint16 (values.subarray (offset, offset + count));
            offset += count;
            words.push (...q);
            out_specs.push (Object.assign ({}, spec, {quantization: {dtype: 'uint16', min, scale}}));
        }
        return {specs: out_specs, data: Uint16Array.from (words).buffer};
    }
};

function randomize_batchnorm (model) {
    //  Trained statistics, not the initial zeros and ones; by name, since a
    //  layer without scale or center has no gamma or beta
    model.layers.filter (l => l.getClassName () == 'BatchNormalization').forEach (layer =>
        layer.setWeights (layer.getWeights ().map ((w, index) =>
            layer.weights [index].originalName.endsWith ('moving_variance')?
                tf.add (tf.abs (random_tensor (w.shape)), 0.5): random_tensor (w.shape))));
}

async function conv_bn_relu () {
    const model = tf.sequential ({name: 'conv_bn_relu'});
    model.add (tf.layers.conv2d ({name: 'conv1', inputShape: [9, 9, 3], filters: 8,
                                  kernelSize: 3, padding: 'same', useBias: true}));
    model.add (tf.layers.batchNormalization ({name: 'bn1', epsilon: 1e-3}));
    model.add (tf.layers.reLU ({name: 'relu1'}));
    model.add (tf.layers.maxPooling2d ({name: 'pool1', poolSize: 2, padding: 'same'}));
    model.add (tf.layers.conv2d ({name: 'conv2', filters: 6, kernelSize: [3, 2], strides: 2,
                                  padding: 'valid', activation: 'relu'}));
    model.add (tf.layers.conv2d ({name: 'conv3', filters: 4, kernelSize: 1, useBias: false,
                                  dilationRate: 1, activation: 'sigmoid'}));
    model.add (tf.layers.globalAveragePooling2d ({name: 'gap'}));
    model.add (tf.layers.dense ({name: 'fc', units: 5, activation: 'softmax'}));
    randomize_batchnorm (model);
    await save_model ('conv_bn_relu', model, [random_tensor ([2, 9, 9, 3])]);
}

//  The same structure, its output the NHWC feature map
async function conv_nhwc_out () {
    const model = tf.sequential ({name: 'conv_nhwc_out'});
    model.add (tf.layers.conv2d ({name: 'conv', inputShape: [7, 5, 2], filters: 3,
                                  kernelSize: 3, strides: 2, padding: 'same',
                                  activation: 'relu6'}));
    model.add (tf.layers.zeroPadding2d ({name: 'pad', padding: [[1, 0], [2, 1]]}));
    model.add (tf.layers.averagePooling2d ({name: 'avg', poolSize: 3, strides: 2, padding: 'same'}));
    await save_model ('conv_nhwc_out', model, [random_tensor ([1, 7, 5, 2])]);
}

async function functional () {
    const a = tf.input ({shape: [6, 6, 4], name: 'a'});
    const b = tf.input ({shape: [6, 6, 4], name: 'b'});
    const dw = tf.layers.depthwiseConv2d ({name: 'dw', kernelSize: 3, depthMultiplier: 2,
                                           padding: 'same', activation: 'hardSigmoid'}).apply (a);
    const pw = tf.layers.conv2d ({name: 'pw', filters: 8, kernelSize: 1,
                                  activation: 'tanh'}).apply (b);
    const sum = tf.layers.add ({name: 'sum'}).apply ([dw, pw]);
    const prod = tf.layers.multiply ({name: 'prod'}).apply ([sum, pw, dw]);
    const cat = tf.layers.concatenate ({name: 'cat', axis: -1}).apply ([prod, a]);
    const act = tf.layers.activation ({name: 'act', activation: 'elu'}).apply (cat);
    const clip = tf.layers.reLU ({name: 'clip', maxValue: 1.5}).apply (act);
    const drop = tf.layers.dropout ({name: 'drop', rate: 0.5}).apply (clip);
    const pool = tf.layers.maxPooling2d ({name: 'pool', poolSize: 2}).apply (drop);
    const flat = tf.layers.flatten ({name: 'flat'}).apply (pool);
    const fc = tf.layers.dense ({name: 'fc', units: 6, activation: 'softplus'}).apply (flat);
    const shaped = tf.layers.reshape ({name: 'shaped', targetShape: [1, 2, 3]}).apply (fc);
    const back = tf.layers.reshape ({name: 'back', targetShape: [-1]}).apply (pool);
    const leaky = tf.layers.leakyReLU ({name: 'leaky', alpha: 0.1}).apply (back);
    const soft = tf.layers.softmax ({name: 'soft'}).apply (leaky);
    const model = tf.model ({name: 'functional', inputs: [a, b], outputs: [shaped, soft, pool]});
    await save_model ('functional', model, [random_tensor ([2, 6, 6, 4]),
                                            random_tensor ([2, 6, 6, 4])]);
}

//  Dilation, Dense on a 4-d tensor, Reshape back to 4-d, Add of three,
//  Maximum, Minimum, Average (tfjs has no Subtract layer)
async function merges () {
    const x = tf.input ({shape: [7, 7, 3], name: 'x'});
    const conv = tf.layers.conv2d ({name: 'dilated', filters: 5, kernelSize: 3, dilationRate: 2,
                                    padding: 'same'}).apply (x);
    const dense = tf.layers.dense ({name: 'pixelwise', units: 5, activation: 'linear'}).apply (x);
    const flat = tf.layers.flatten ({name: 'flat'}).apply (dense);
    const back = tf.layers.reshape ({name: 'unflat', targetShape: [7, 7, 5]}).apply (flat);
    const sub = tf.layers.add ({name: 'sum3'}).apply ([conv, back, conv]);
    const max = tf.layers.maximum ({name: 'top'}).apply ([sub, back]);
    const min = tf.layers.minimum ({name: 'bottom'}).apply ([sub, back]);
    const avg = tf.layers.average ({name: 'mean'}).apply ([max, min]);
    const lin = tf.layers.activation ({name: 'lin', activation: 'linear'}).apply (avg);
    const model = tf.model ({name: 'merges', inputs: x, outputs: lin});
    await save_model ('merges_uint16', model, [random_tensor ([2, 7, 7, 3])], uint16);
}

//  Models used as layers: a Sequential block and a Functional one inside a
//  Functional model, the block called twice (shared weights)
async function nested () {
    const block = tf.sequential ({name: 'block', layers: [
        tf.layers.conv2d ({name: 'block_conv', inputShape: [6, 6, 4], filters: 4,
                           kernelSize: 3, padding: 'same'}),
        tf.layers.batchNormalization ({name: 'block_bn'}),
        tf.layers.activation ({name: 'block_relu', activation: 'relu'})]});
    randomize_batchnorm (block);
    const inner_in = tf.input ({shape: [6, 6, 4], name: 'inner_in'});
    const inner_conv = tf.layers.conv2d ({name: 'inner_conv', filters: 4, kernelSize: 1})
        .apply (inner_in);
    const inner_sum = tf.layers.add ({name: 'inner_sum'}).apply ([inner_in, inner_conv]);
    const inner = tf.model ({name: 'inner', inputs: inner_in, outputs: inner_sum});
    const x = tf.input ({shape: [6, 6, 4], name: 'x'});
    const once = block.apply (x);
    const twice = block.apply (inner.apply (once));
    const gap = tf.layers.globalAveragePooling2d ({name: 'gap'}).apply (twice);
    const fc = tf.layers.dense ({name: 'fc', units: 3}).apply (gap);
    const model = tf.model ({name: 'nested', inputs: x, outputs: [fc, twice]});
    await save_model ('nested', model, [random_tensor ([2, 6, 6, 4])]);
}

//  A nested Functional model of two outputs, each used by the outer model
async function nested_outputs () {
    const pair_in = tf.input ({shape: [5, 5, 3], name: 'pair_in'});
    const pair_a = tf.layers.conv2d ({name: 'pair_a', filters: 3, kernelSize: 3,
                                      padding: 'same'}).apply (pair_in);
    const pair_b = tf.layers.activation ({name: 'pair_b', activation: 'sigmoid'}).apply (pair_in);
    const pair = tf.model ({name: 'pair', inputs: pair_in, outputs: [pair_a, pair_b]});
    const x = tf.input ({shape: [5, 5, 3], name: 'x'});
    const [a, b] = pair.apply (x);
    const gated = tf.layers.multiply ({name: 'gated'}).apply ([a, b]);
    const rest = tf.layers.maximum ({name: 'rest'}).apply ([b, a]);
    const model = tf.model ({name: 'nested_outputs', inputs: x, outputs: [gated, rest]});
    await save_model ('nested_outputs', model, [random_tensor ([2, 5, 5, 3])]);
}

async function dense_stack (name, encode) {
    const model = tf.sequential ({name});
    model.add (tf.layers.dense ({name: 'fc1', inputShape: [10], units: 16, activation: 'selu'}));
    model.add (tf.layers.batchNormalization ({name: 'bn'}));
    model.add (tf.layers.dense ({name: 'fc2', units: 7, activation: 'swish'}));
    model.add (tf.layers.activation ({name: 'soft', activation: 'softsign'}));
    randomize_batchnorm (model);
    await save_model (name, model, [random_tensor ([3, 10])], encode);
}

async function rescaled () {
    if (typeof tf.layers.rescaling != 'function')
        return;
    const model = tf.sequential ({name: 'rescaled'});
    model.add (tf.layers.rescaling ({name: 'scale', inputShape: [4, 4, 3], scale: 1 / 127.5,
                                     offset: -1}));
    model.add (tf.layers.conv2d ({name: 'conv', filters: 2, kernelSize: 2}));
    model.add (tf.layers.globalMaxPooling2d ({name: 'gmp'}));
    const x = tf.mul (tf.add (random_tensor ([1, 4, 4, 3]), 1), 127.5);
    await save_model ('rescaled', model, [x]);
}

//  A MobileNetV3 block as Keras writes it from Python: hard-swish as
//  TFOpLambda layers (x * relu6 (x + 3) / 6), which tfjs cannot build;
//  the topology is written here and the reference computed with tfjs ops
async function mobilenet_v3_block () {
    const c = 4, e = 8;
    const weights = {
        'expand/kernel': random_tensor ([1, 1, c, e], 0.5), 'expand/bias': random_tensor ([e]),
        'dw/depthwise_kernel': random_tensor ([3, 3, e, 1], 0.5),
        'dw_bn/gamma': random_tensor ([e]), 'dw_bn/beta': random_tensor ([e]),
        'dw_bn/moving_mean': random_tensor ([e]),
        'dw_bn/moving_variance': tf.add (tf.abs (random_tensor ([e])), 0.5),
        'project/kernel': random_tensor ([1, 1, e, c], 0.5),
    };
    const layer = (class_name, config, inbound) => ({
        class_name, name: config.name, config, inbound_nodes: inbound? [inbound]: []});
    const ref = (name, kwargs) => kwargs? [name, 0, 0, kwargs]: [name, 0, 0, {}];
    const op = (name, fn, x, y) => layer ('TFOpLambda', {name, trainable: true, dtype: 'float32',
        function: fn}, [ref (x, y === undefined? {name: null}: {y, name: null})]);
    const topology = {class_name: 'Functional', keras_version: '2.13.1', backend: 'tensorflow',
        config: {name: 'mobilenet_v3_block', layers: [
        layer ('InputLayer', {name: 'image', batch_input_shape: [null, 8, 8, c], dtype: 'float32',
                              sparse: false, ragged: false}),
        layer ('Conv2D', {name: 'expand', filters: e, kernel_size: [1, 1], strides: [1, 1],
                          padding: 'same', data_format: 'channels_last', dilation_rate: [1, 1],
                          groups: 1, activation: 'linear', use_bias: true}, [ref ('image')]),
        op ('tf.__operators__.add', '__operators__.add', 'expand', 3.0),
        op ('tf.nn.relu6', 'nn.relu6', 'tf.__operators__.add'),
        op ('tf.math.truediv', 'math.truediv', 'tf.nn.relu6', 6.0),
        op ('tf.math.multiply', 'math.multiply', 'expand', ['tf.math.truediv', 0, 0]),
        layer ('DepthwiseConv2D', {name: 'dw', kernel_size: [3, 3], strides: [2, 2],
                                   padding: 'same', depth_multiplier: 1,
                                   data_format: 'channels_last', dilation_rate: [1, 1],
                                   activation: 'linear', use_bias: false},
               [ref ('tf.math.multiply')]),
        layer ('BatchNormalization', {name: 'dw_bn', axis: -1, momentum: 0.99, epsilon: 0.001,
                                      center: true, scale: true}, [ref ('dw')]),
        layer ('ReLU', {name: 'dw_relu', max_value: 6.0, negative_slope: 0.0, threshold: 0.0},
               [ref ('dw_bn')]),
        op ('tf.math.multiply_1', 'math.multiply', 'dw_relu', [0.5, 1, 1.5, 2, 0.5, 1, 1.5, 2]),
        layer ('Conv2D', {name: 'project', filters: c, kernel_size: [1, 1], strides: [1, 1],
                          padding: 'valid', data_format: 'channels_last', dilation_rate: [1, 1],
                          groups: 1, activation: 'linear', use_bias: false},
               [ref ('tf.math.multiply_1')]),
        layer ('Activation', {name: 'hs', activation: 'hard_swish'}, [ref ('expand')]),
        layer ('GlobalAveragePooling2D', {name: 'gap', data_format: 'channels_last',
                                          keepdims: true}, [ref ('project')]),
        op ('tf.math.subtract', 'math.subtract', 'project', ['gap', 0, 0]),
        ], input_layers: [['image', 0, 0]], output_layers: [['tf.math.subtract', 0, 0],
                                                           ['gap', 0, 0], ['hs', 0, 0]]}};
    const x = random_tensor ([2, 8, 8, c]);
    const w = weights;
    const expand = tf.add (tf.conv2d (x, w ['expand/kernel'], 1, 'same'), w ['expand/bias']);
    const hswish = tf.mul (expand, tf.div (tf.relu6 (tf.add (expand, 3)), 6));
    const dw = tf.depthwiseConv2d (hswish, w ['dw/depthwise_kernel'], 2, 'same');
    const bn = tf.batchNorm (dw, w ['dw_bn/moving_mean'], w ['dw_bn/moving_variance'],
                             w ['dw_bn/beta'], w ['dw_bn/gamma'], 0.001);
    const scaled = tf.mul (tf.relu6 (bn), tf.tensor ([0.5, 1, 1.5, 2, 0.5, 1, 1.5, 2]));
    const project = tf.conv2d (scaled, w ['project/kernel'], 1, 'valid');
    const gap = tf.mean (project, [1, 2], true);
    const result = tf.sub (project, gap);
    const specs = [], values = [];
    for (const [name, tensor] of Object.entries (weights)) {
        specs.push ({name, shape: tensor.shape, dtype: 'float32'});
        values.push (...Array.from (tensor.dataSync (), v => v));
    }
    write_model ('mobilenet_v3_block', topology, specs, new Float32Array (values).buffer, [x],
                 [result, gap, hswish], ['image'], ['tf.math.subtract', 'gap', 'hs']);
}

//  Every weight of the named layers random, so that none is an initial
//  zero or one that would hide a layout mistake
function randomize (model, names, scale = 0.5) {
    for (const name of names) {
        const layer = model.getLayer (name);
        layer.setWeights (layer.getWeights ().map (w => random_tensor (w.shape, scale)));
    }
}

//  SeparableConv2D, Conv2DTranspose (same; valid with a kernel smaller
//  than its stride), LayerNormalization, PReLU, Cropping2D, nearest
//  UpSampling2D and Permute on 4-d tensors
async function conv_variants () {
    const x = tf.input ({shape: [7, 6, 3], name: 'x'});
    const sep = tf.layers.separableConv2d ({name: 'sep', filters: 5, kernelSize: 3,
        depthMultiplier: 2, padding: 'same', activation: 'relu'}).apply (x);
    const up = tf.layers.conv2dTranspose ({name: 'up', filters: 4, kernelSize: 3, strides: 2,
        padding: 'same'}).apply (sep);
    const ln = tf.layers.layerNormalization ({name: 'ln', epsilon: 1e-3}).apply (up);
    const pr = tf.layers.prelu ({name: 'pr'}).apply (ln);
    const crop = tf.layers.cropping2D ({name: 'crop', cropping: [[1, 0], [2, 3]]}).apply (pr);
    const near = tf.layers.upSampling2d ({name: 'near', size: [2, 3]}).apply (crop);
    const wide = tf.layers.conv2dTranspose ({name: 'wide', filters: 3, kernelSize: 2,
        strides: 3, padding: 'valid', activation: 'tanh'}).apply (sep);
    const perm = tf.layers.permute ({name: 'perm', dims: [3, 1, 2]}).apply (wide);
    const model = tf.model ({name: 'conv_variants', inputs: x, outputs: [near, perm]});
    randomize (model, ['sep', 'up', 'ln', 'pr', 'wide']);
    await save_model ('conv_variants', model, [random_tensor ([2, 7, 6, 3])]);
}

//  Conv1D (same with a stride, valid with a dilation), gelu,
//  LayerNormalization and PReLU (shared over the steps) on 3-d tensors,
//  Permute of a 3-d tensor
async function conv1d_stack () {
    const model = tf.sequential ({name: 'conv1d_stack'});
    model.add (tf.layers.conv1d ({name: 'c1', inputShape: [12, 4], filters: 6, kernelSize: 3,
                                  strides: 2, padding: 'same', activation: 'gelu'}));
    model.add (tf.layers.conv1d ({name: 'c2', filters: 5, kernelSize: 2, dilationRate: 2,
                                  padding: 'valid'}));
    model.add (tf.layers.layerNormalization ({name: 'ln'}));
    model.add (tf.layers.prelu ({name: 'pr', sharedAxes: [1]}));
    model.add (tf.layers.permute ({name: 'swap', dims: [2, 1]}));
    model.add (tf.layers.flatten ({name: 'flat'}));
    model.add (tf.layers.dense ({name: 'fc', units: 3}));
    randomize (model, ['c1', 'c2', 'ln', 'pr', 'fc']);
    await save_model ('conv1d_stack', model, [random_tensor ([2, 12, 4])]);
}

//  Layers tfjs has not (Normalization) or not as Keras has them (ReLU's
//  threshold, UpSampling2D's bilinear with half-pixel centres as
//  tf.image.resize does in Keras), written by hand, the reference
//  computed with tfjs ops
async function keras_only () {
    const mean = [0.5, -1, 2], variance = [4, 0.25, 1];
    const layer = (class_name, config, inbound) => ({
        class_name, name: config.name, config, inbound_nodes: inbound? [[[inbound, 0, 0, {}]]]: []});
    const topology = {class_name: 'Functional', config: {name: 'keras_only', layers: [
        layer ('InputLayer', {name: 'x', batch_input_shape: [null, 3, 4, 3]}),
        layer ('Normalization', {name: 'norm', axis: -1, mean, variance}, 'x'),
        layer ('ReLU', {name: 'thresh', max_value: 1.5, negative_slope: 0.2, threshold: 0.25},
               'norm'),
        layer ('UpSampling2D', {name: 'smooth', size: [2, 3], interpolation: 'bilinear',
                                data_format: 'channels_last'}, 'thresh'),
        ], input_layers: [['x', 0, 0]], output_layers: [['smooth', 0, 0], ['thresh', 0, 0]]}};
    const x = random_tensor ([2, 3, 4, 3], 3);
    const norm = tf.div (tf.sub (x, tf.tensor (mean)), tf.sqrt (tf.tensor (variance)));
    const leak = tf.mul (tf.sub (norm, 0.25), 0.2);
    const thresh = tf.minimum (tf.where (tf.greaterEqual (norm, 0.25), norm, leak), 1.5);
    const smooth = tf.image.resizeBilinear (thresh, [6, 12], false, true);
    write_model ('keras_only', topology, [], new ArrayBuffer (0), [x], [smooth, thresh], ['x'],
                 ['smooth', 'thresh']);
}

//  Every Conv2D and Dense kernel random and scaled by its fan-in, so that
//  a stack of them neither dies out nor saturates the softmax, and every
//  bias random too
function randomize_convs (model) {
    const classes = ['Conv2D', 'Dense'];
    model.layers.filter (l => classes.includes (l.getClassName ())).forEach (layer =>
        layer.setWeights (layer.getWeights ().map ((w, index) => {
            if (index > 0)
                return random_tensor (w.shape, 0.2);
            const fan_in = w.shape.slice (0, -1).reduce ((a, b) => a * b, 1);
            return random_tensor (w.shape, Math.sqrt (3 / fan_in));
        })));
}

//  BatchNormalization as training leaves it in a deep stack: moving
//  statistics those of the batch it normalizes (give or take a little, so
//  that they still matter), gamma positive, beta small, so that after
//  each relu most channels still carry something for the comparison
function settle_batchnorm (model, x) {
    for (const layer of model.layers.filter (l => l.getClassName () == 'BatchNormalization')) {
        const seen = tf.model ({inputs: model.inputs, outputs: layer.input}).predict (x);
        const {mean, variance} = tf.moments (seen, [0, 1, 2]);
        layer.setWeights (layer.getWeights ().map ((w, index) => {
            const name = layer.weights [index].originalName;
            if (name.endsWith ('gamma'))
                return tf.add (tf.abs (random_tensor (w.shape, 0.5)), 0.75);
            if (name.endsWith ('beta'))
                return random_tensor (w.shape, 0.5);
            if (name.endsWith ('moving_mean'))
                return tf.add (mean, tf.mul (random_tensor (w.shape, 0.2), tf.sqrt (variance)));
            return tf.mul (variance, tf.add (random_tensor (w.shape, 0.2), 1));
        }));
    }
}

//  A ResNet stage as Keras's applications write it (their names too):
//  ResNet50's stem (ZeroPadding2D, 7x7 Conv2D of stride 2, its
//  BatchNormalization and relu, ZeroPadding2D, 3x3 MaxPooling2D of stride
//  2), then a basic block that halves the size, its shortcut a 1x1
//  Conv2D of stride 2, and an identity block adding its own input;
//  GlobalAveragePooling2D and a softmax Dense
async function resnet_block () {
    const conv = (name, filters, size, strides, x) => tf.layers.conv2d ({name: name + '_conv',
        filters, kernelSize: size, strides, padding: size == 7? 'valid': 'same'}).apply (x);
    const bn = (name, x) => tf.layers.batchNormalization ({name: name + '_bn', axis: 3,
        epsilon: 1.001e-5}).apply (x);
    const relu = (name, x) => tf.layers.activation ({name, activation: 'relu'}).apply (x);
    const block = (name, filters, strides, x) => {
        const shortcut = strides == 1? x:
            bn (name + '_0', conv (name + '_0', filters, 1, strides, x));
        let y = relu (name + '_1_relu', bn (name + '_1', conv (name + '_1', filters, 3, strides, x)));
        y = bn (name + '_2', conv (name + '_2', filters, 3, 1, y));
        return relu (name + '_out', tf.layers.add ({name: name + '_add'}).apply ([shortcut, y]));
    };
    const image = tf.input ({shape: [32, 32, 3], name: 'image'});
    let x = tf.layers.zeroPadding2d ({name: 'conv1_pad', padding: 3}).apply (image);
    x = relu ('conv1_relu', bn ('conv1', conv ('conv1', 8, 7, 2, x)));
    x = tf.layers.zeroPadding2d ({name: 'pool1_pad', padding: 1}).apply (x);
    x = tf.layers.maxPooling2d ({name: 'pool1_pool', poolSize: 3, strides: 2}).apply (x);
    const stage = block ('conv2_block2', 12, 1, block ('conv2_block1', 12, 2, x));
    const gap = tf.layers.globalAveragePooling2d ({name: 'avg_pool'}).apply (stage);
    const head = tf.layers.dense ({name: 'predictions', units: 10, activation: 'softmax'})
        .apply (gap);
    const model = tf.model ({name: 'resnet_block', inputs: image, outputs: [head, stage]});
    const input = random_tensor ([2, 32, 32, 3]);
    randomize_convs (model);
    settle_batchnorm (model, input);
    await save_model ('resnet_block', model, [input]);
}

//  Two InceptionV3 mixed blocks, one after the other, as Keras's
//  applications write them: each conv a Conv2D without bias, a
//  BatchNormalization without scale and a relu (conv2d_bn); branches 1x1,
//  1x1 -> 3x3, 1x1 -> 3x3 -> (1x3 | 3x1) and 3x3 AveragePooling2D of
//  stride 1 -> 1x1, concatenated on axis 3, the third branch ending in a
//  Concatenate of its own (as mixed9 and mixed10 do);
//  GlobalMaxPooling2D head
async function inception_module () {
    const conv_bn = (name, filters, size, x) => {
        const conv = tf.layers.conv2d ({name: name + '_conv', filters, kernelSize: size,
                                        padding: 'same', useBias: false}).apply (x);
        const bn = tf.layers.batchNormalization ({name: name + '_bn', axis: 3, scale: false})
            .apply (conv);
        return tf.layers.activation ({name: name + '_relu', activation: 'relu'}).apply (bn);
    };
    const mixed = (name, x) => {
        const branch1x1 = conv_bn (name + '_1x1', 6, 1, x);
        const branch3x3 = conv_bn (name + '_3x3', 6, 3, conv_bn (name + '_3x3_reduce', 4, 1, x));
        let dbl = conv_bn (name + '_dbl_reduce', 4, 1, x);
        dbl = conv_bn (name + '_dbl_3x3', 6, 3, dbl);
        dbl = tf.layers.concatenate ({name: name + '_dbl', axis: 3}).apply (
            [conv_bn (name + '_dbl_1x3', 4, [1, 3], dbl), conv_bn (name + '_dbl_3x1', 4, [3, 1], dbl)]);
        const pool = tf.layers.averagePooling2d ({name: name + '_pool', poolSize: 3, strides: 1,
                                                  padding: 'same'}).apply (x);
        const branch_pool = conv_bn (name + '_pool_1x1', 5, 1, pool);
        return tf.layers.concatenate ({name, axis: 3}).apply ([branch1x1, branch3x3, dbl,
                                                                branch_pool]);
    };
    const image = tf.input ({shape: [9, 7, 5], name: 'image'});
    const first = mixed ('mixed0', image);
    const second = mixed ('mixed1', first);
    const head = tf.layers.globalMaxPooling2d ({name: 'max_pool'}).apply (second);
    const model = tf.model ({name: 'inception_module', inputs: image, outputs: [head, first]});
    const input = random_tensor ([2, 9, 7, 5]);
    randomize_convs (model);
    settle_batchnorm (model, input);
    await save_model ('inception_module', model, [input]);
}

async function main () {
    await tf.setBackend ('cpu');
    await conv_bn_relu ();
    await conv_nhwc_out ();
    await functional ();
    await dense_stack ('dense_float32', null);
    await dense_stack ('dense_float16', float16);
    await dense_stack ('dense_uint8', uint8);
    await rescaled ();
    await merges ();
    await nested ();
    await nested_outputs ();
    await mobilenet_v3_block ();
    await conv_variants ();
    await conv1d_stack ();
    await keras_only ();
    await resnet_block ();
    await inception_module ();
}

main ().catch (error => {
    console.error ('make_keras_models: ' + (error.stack || error));
    process.exit (1);
});
