//  bench/zoo_ort.js - runs one corpus model in ONNX Runtime (onnxruntime-node)
//  for bench/zoo: the reference outputs and ONNX Runtime's latency
//
//  node bench/zoo_ort.js --probe
//      prints {"version": ...} if onnxruntime-node loads here
//  node bench/zoo_ort.js MODEL.onnx OUTDIR --input NAME=FILE.npy ...
//                        [--output NAME ...] [--threads T] [--repeat N]
//                        [--optimize all|extended|basic|disabled]
//      feeds the inputs (any dtype ONNX Runtime takes from .npy: float32,
//      float64, float16, int64, int32, int16, int8, uint8, bool), runs the
//      model once and writes the outputs as OUTDIR/0.npy, 1.npy, ... (all
//      outputs, or the ones named with --output, in that order). With
//      --repeat it then times N more runs. Prints one JSON line:
//      {"version", "outputs": [{"name", "file", "dtype", "dims"}], "ms": [...]}
//
//  One session, intra-op threads as asked (default 1), one inter-op thread,
//  every graph optimisation, sequential execution, as bench/peers_ort.js.

'use strict';

const fs = require ('fs');
const path = require ('path');

//  .npy descr -> [ONNX Runtime type name, typed array, bytes per item]
const DTYPES = {
    '<f4': ['float32', Float32Array, 4],
    '<f8': ['float64', Float64Array, 8],
    '<f2': ['float16', Uint16Array, 2],
    '<i8': ['int64', BigInt64Array, 8],
    '<i4': ['int32', Int32Array, 4],
    '<i2': ['int16', Int16Array, 2],
    '|i1': ['int8', Int8Array, 1],
    '|u1': ['uint8', Uint8Array, 1],
    '|b1': ['bool', Uint8Array, 1],
};

function readNpy (file) {
    const bytes = fs.readFileSync (file);
    if (bytes.toString ('latin1', 0, 6) !== '\x93NUMPY')
        throw new Error (`${file}: not a .npy file`);
    const major = bytes [6];
    const headerLength = major === 1? bytes.readUInt16LE (8): bytes.readUInt32LE (8);
    const headerStart = major === 1? 10: 12;
    const header = bytes.toString ('latin1', headerStart, headerStart + headerLength);
    const descr = /'descr':\s*'([^']+)'/.exec (header);
    const order = /'fortran_order':\s*(True|False)/.exec (header);
    const shape = /'shape':\s*\(([^)]*)\)/.exec (header);
    if (!descr || !DTYPES [descr [1]] || !order || order [1] !== 'False' || !shape)
        throw new Error (`${file}: expected a C-order array of ${Object.keys (DTYPES).join (' ')}, ` +
                         `got ${header.trim ()}`);
    const [type, Typed, size] = DTYPES [descr [1]];
    const dims = shape [1].split (',').map (s => s.trim ()).filter (s => s.length).map (Number);
    const count = dims.reduce ((a, b) => a * b, 1);
    const start = headerStart + headerLength;
    if (bytes.length < start + size * count)
        throw new Error (`${file}: ${bytes.length - start} data bytes, shape needs ${size * count}`);
    //  Copied: the file buffer's offset need not be aligned for the type
    const data = new Typed (count);
    new Uint8Array (data.buffer).set (bytes.subarray (start, start + size * count));
    return {type, data: type === 'bool'? Uint8Array.from (data, v => v? 1: 0): data, dims};
}

function writeNpy (file, tensor) {
    const entry = Object.entries (DTYPES).find (([, [type]]) => type === tensor.type);
    if (!entry)
        throw new Error (`output of type ${tensor.type}: no .npy writer for it`);
    const shape = tensor.dims.length === 1? `(${tensor.dims [0]},)`: `(${tensor.dims.join (', ')})`;
    let header = `{'descr': '${entry [0]}', 'fortran_order': False, 'shape': ${shape}, }`;
    //  Magic, version, length, header: padded with spaces to a multiple of 64, newline last
    const unpadded = 10 + header.length + 1;
    header += ' '.repeat ((64 - unpadded % 64) % 64) + '\n';
    const prefix = Buffer.alloc (10);
    prefix.write ('\x93NUMPY', 0, 'latin1');
    prefix [6] = 1;
    prefix [7] = 0;
    prefix.writeUInt16LE (header.length, 8);
    const data = tensor.type === 'bool'? Uint8Array.from (tensor.data, v => v? 1: 0): tensor.data;
    const body = Buffer.from (data.buffer, data.byteOffset, data.byteLength);
    fs.writeFileSync (file, Buffer.concat ([prefix, Buffer.from (header, 'latin1'), body]));
}

function parseArgs (args) {
    const options = {inputs: [], outputs: [], threads: 1, repeat: 0, optimize: 'all', positional: []};
    for (let index = 0; index < args.length; index++) {
        const arg = args [index];
        const value = () => {
            if (index + 1 >= args.length)
                throw new Error (`${arg} expects a value`);
            return args [++index];
        };
        if (arg === '--input') {
            const spec = value ();
            const equals = spec.lastIndexOf ('=');
            if (equals < 1)
                throw new Error (`--input expects NAME=FILE, got '${spec}'`);
            options.inputs.push ([spec.slice (0, equals), spec.slice (equals + 1)]);
        }
        else if (arg === '--output')
            options.outputs.push (value ());
        else if (arg === '--threads')
            options.threads = Number (value ());
        else if (arg === '--repeat')
            options.repeat = Number (value ());
        else if (arg === '--optimize')
            options.optimize = value ();
        else if (arg.startsWith ('--'))
            throw new Error (`unknown option '${arg}'`);
        else
            options.positional.push (arg);
    }
    if (options.positional.length !== 2)
        throw new Error ('usage: node zoo_ort.js MODEL.onnx OUTDIR --input NAME=FILE ... ' +
                         '[--output NAME ...] [--threads T] [--repeat N] [--optimize LEVEL] | --probe');
    return options;
}

async function main () {
    const args = process.argv.slice (2);
    const ort = require ('onnxruntime-node');
    if (args [0] === '--probe') {
        console.log (JSON.stringify ({version: ort.env.versions.common}));
        return;
    }
    const options = parseArgs (args);
    const [modelPath, outDir] = options.positional;
    const session = await ort.InferenceSession.create (modelPath, {
        intraOpNumThreads: options.threads, interOpNumThreads: 1,
        graphOptimizationLevel: options.optimize, executionMode: 'sequential', logSeverityLevel: 3});
    const feeds = {};
    for (const [name, file] of options.inputs) {
        if (!session.inputNames.includes (name))
            throw new Error (`no input '${name}' (inputs: ${session.inputNames.join (', ')})`);
        const array = readNpy (file);
        feeds [name] = new ort.Tensor (array.type, array.data, array.dims);
    }
    const wanted = options.outputs.length? options.outputs: session.outputNames;
    for (const name of wanted)
        if (!session.outputNames.includes (name))
            throw new Error (`no output '${name}' (outputs: ${session.outputNames.join (', ')})`);

    const results = await session.run (feeds, wanted);
    fs.mkdirSync (outDir, {recursive: true});
    const outputs = wanted.map ((name, index) => {
        const file = path.join (outDir, `${index}.npy`);
        writeNpy (file, results [name]);
        return {name, file, dtype: results [name].type, dims: results [name].dims};
    });
    const ms = [];
    for (let index = 0; index < options.repeat; index++) {
        const start = process.hrtime.bigint ();
        await session.run (feeds, wanted);
        ms.push (Number (process.hrtime.bigint () - start) / 1e6);
    }
    console.log (JSON.stringify ({version: ort.env.versions.common, outputs, ms}));
}

main ().catch (error => {
    console.error (`zoo_ort: ${error.message.split ('\n') [0]}`);
    process.exit (1);
});
