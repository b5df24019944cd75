//  bench/peers_ort.js - times ONNX Runtime (onnxruntime-node) for bench/peers
//
//  node bench/peers_ort.js --probe
//      prints {"version": ...} if onnxruntime-node loads here
//  node bench/peers_ort.js MODEL.onnx INPUT.npy [REFERENCE.npy]
//      loads the model and input, then serves commands, one per line on
//      stdin, answering each with one JSON line on stdout:
//          run THREADS WARMUP RUNS  ->  {"threads": T, "ms": [...]}
//          profile THREADS RUNS PREFIX  ->  {"file": PATH}: a session of its
//              own with ONNX Runtime's profiler on, run RUNS times; PATH
//              is the profiler's JSON (one event per node per run)
//          quit
//      The first line out says it is ready, with the largest difference
//      between ONNX Runtime's output and the reference (if given) and the
//      SHA-256 of the output's bytes.
//
//  Sessions are created once per thread count and kept, so the timed runs
//  measure inference only. Options match a fair single-request setup:
//  intra-op threads as asked, one inter-op thread, every graph
//  optimisation, sequential execution.

'use strict';

const fs = require ('fs');
const readline = require ('readline');

//  Reads a little-endian float32, C-order .npy file
function readNpy (path) {
    const bytes = fs.readFileSync (path);
    if (bytes.toString ('latin1', 0, 6) !== '\x93NUMPY')
        throw new Error (`${path}: not a .npy file`);
    const major = bytes [6];
    const headerLength = major === 1? bytes.readUInt16LE (8): bytes.readUInt32LE (8);
    const headerStart = major === 1? 10: 12;
    const header = bytes.toString ('latin1', headerStart, headerStart + headerLength);
    const descr = /'descr':\s*'([^']+)'/.exec (header);
    const order = /'fortran_order':\s*(True|False)/.exec (header);
    const shape = /'shape':\s*\(([^)]*)\)/.exec (header);
    if (!descr || descr [1] !== '<f4' || !order || order [1] !== 'False' || !shape)
        throw new Error (`${path}: expected little-endian float32 in C order, got ${header.trim ()}`);
    const dims = shape [1].split (',').map (s => s.trim ()).filter (s => s.length).map (Number);
    const count = dims.reduce ((a, b) => a * b, 1);
    const dataStart = headerStart + headerLength;
    if (bytes.length < dataStart + 4 * count)
        throw new Error (`${path}: ${bytes.length - dataStart} data bytes, shape needs ${4 * count}`);
    //  Copy: the file buffer's offset need not be a multiple of 4
    const data = new Float32Array (count);
    new Uint8Array (data.buffer).set (bytes.subarray (dataStart, dataStart + 4 * count));
    return {dims, data};
}

function loadOrt () {
    return require ('onnxruntime-node');
}

async function serve (modelPath, inputPath, referencePath) {
    const ort = loadOrt ();
    const input = readNpy (inputPath);
    const sessions = new Map ();
    async function session (threads) {
        if (!sessions.has (threads))
            sessions.set (threads, await ort.InferenceSession.create (modelPath, {
                intraOpNumThreads: threads, interOpNumThreads: 1,
                graphOptimizationLevel: 'all', executionMode: 'sequential'}));
        return sessions.get (threads);
    }
    async function runOnce (threads) {
        const chosen = await session (threads);
        const feeds = {[chosen.inputNames [0]]: new ort.Tensor ('float32', input.data, input.dims)};
        const results = await chosen.run (feeds);
        return results [chosen.outputNames [0]];
    }

    //  A first run checks that the answers are right, not just fast
    const output = await runOnce (1);
    let maxAbsDiff = null;
    if (referencePath) {
        const reference = readNpy (referencePath);
        if (reference.data.length !== output.data.length)
            throw new Error (`output has ${output.data.length} values, reference ${reference.data.length}`);
        maxAbsDiff = 0;
        for (let index = 0; index < reference.data.length; index++)
            maxAbsDiff = Math.max (maxAbsDiff, Math.abs (reference.data [index] - output.data [index]));
    }
    //  The output's exact bits: kernels of another instruction set add in
    //  another order, so a change of kernels shows here without timing
    const digest = require ('crypto').createHash ('sha256')
        .update (new Uint8Array (output.data.buffer, output.data.byteOffset, output.data.byteLength))
        .digest ('hex');
    console.log (JSON.stringify ({ready: true, version: ort.env.versions.common,
                                  output_dims: output.dims, max_abs_diff: maxAbsDiff,
                                  output_sha256: digest}));

    const lines = readline.createInterface ({input: process.stdin});
    for await (const line of lines) {
        const words = line.trim ().split (/\s+/);
        if (words [0] === 'quit')
            break;
        if (words [0] === 'profile' && words.length === 4) {
            const [threads, runs] = words.slice (1, 3).map (Number);
            const profiled = await ort.InferenceSession.create (modelPath, {
                intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all',
                executionMode: 'sequential', enableProfiling: true, profileFilePrefix: words [3]});
            const feeds = {[profiled.inputNames [0]]: new ort.Tensor ('float32', input.data, input.dims)};
            for (let index = 0; index < runs; index++)
                await profiled.run (feeds);
            profiled.endProfiling ();
            //  The binding does not say where it wrote: PREFIX_<date>.json
            const path = require ('path');
            const folder = path.dirname (words [3]), stem = path.basename (words [3]) + '_';
            const written = fs.readdirSync (folder).filter (name => name.startsWith (stem))
                .map (name => path.join (folder, name))
                .sort ((a, b) => fs.statSync (b).mtimeMs - fs.statSync (a).mtimeMs);
            console.log (JSON.stringify (written.length? {file: written [0]}:
                                         {error: `no profile written at ${words [3]}`}));
            continue;
        }
        if (words [0] !== 'run' || words.length !== 4) {
            console.log (JSON.stringify ({error: `unknown command '${line.trim ()}'`}));
            continue;
        }
        const [threads, warmup, runs] = words.slice (1).map (Number);
        for (let index = 0; index < warmup; index++)
            await runOnce (threads);
        const ms = [];
        for (let index = 0; index < runs; index++) {
            const start = process.hrtime.bigint ();
            await runOnce (threads);
            ms.push (Number (process.hrtime.bigint () - start) / 1e6);
        }
        console.log (JSON.stringify ({threads, ms}));
    }
}

async function main () {
    const args = process.argv.slice (2);
    if (args [0] === '--probe') {
        console.log (JSON.stringify ({version: loadOrt ().env.versions.common}));
        return;
    }
    if (args.length < 2) {
        console.error ('usage: node peers_ort.js MODEL.onnx INPUT.npy [REFERENCE.npy] | --probe');
        process.exit (2);
    }
    await serve (args [0], args [1], args [2]);
}

main ().catch (error => {
    console.error (`peers_ort: ${error.message}`);
    process.exit (1);
});
