//  bench/ort_overhead.js - ONNX Runtime's end-to-end time against the sum of
//  its profiled node times, to read bench/op-gap's kernel sums by
//
//  node bench/ort_overhead.js MODEL.onnx INPUT.npy THREADS RUNS ROUNDS
//      per round: a session with the profiler off, then one with it on,
//      each made afresh, 5 warm-up runs and RUNS timed ones, released
//      before the next. Prints one JSON line a round, medians over its runs:
//      plain (ms a run, profiler off), profiled (ms a run, profiler on),
//      model_run (the profiler's own span of a run), node_sum (its node
//      events summed within each run, what op-gap adds up) and nodes.
//
//  Session options as bench/peers_ort.js: intra-op threads as asked, one
//  inter-op thread, every graph optimisation, sequential execution. zinfer's
//  own sum is `zinfer run --profile-json` against its --times.

'use strict';

const fs = require ('fs');
const os = require ('os');
const path = require ('path');

function readNpy (file) {
    const bytes = fs.readFileSync (file);
    const major = bytes [6];
    const headerLength = major === 1? bytes.readUInt16LE (8): bytes.readUInt32LE (8);
    const headerStart = major === 1? 10: 12;
    const header = bytes.toString ('latin1', headerStart, headerStart + headerLength);
    if (!/'descr':\s*'<f4'/.test (header) || !/'fortran_order':\s*False/.test (header))
        throw new Error (`${file}: expected little-endian float32 in C order`);
    const dims = /'shape':\s*\(([^)]*)\)/.exec (header) [1].split (',')
        .map (s => s.trim ()).filter (s => s.length).map (Number);
    const count = dims.reduce ((a, b) => a * b, 1);
    const data = new Float32Array (count);
    const start = headerStart + headerLength;
    new Uint8Array (data.buffer).set (bytes.subarray (start, start + 4 * count));
    return {dims, data};
}

//  Runs of each session before the timed ones
const WARM = 5;

function median (values) {
    const sorted = [...values].sort ((a, b) => a - b);
    return sorted [Math.floor (sorted.length / 2)];
}

async function timed (session, feeds) {
    const start = process.hrtime.bigint ();
    await session.run (feeds);
    return Number (process.hrtime.bigint () - start) / 1e6;
}

async function main () {
    const [model, inputFile, threads, runs, rounds] = process.argv.slice (2);
    if (!rounds) {
        console.error ('usage: node bench/ort_overhead.js MODEL.onnx INPUT.npy THREADS RUNS ROUNDS');
        process.exit (2);
    }
    const ort = require ('onnxruntime-node');
    const input = readNpy (inputFile);
    const options = {intraOpNumThreads: Number (threads), interOpNumThreads: 1,
                     graphOptimizationLevel: 'all', executionMode: 'sequential'};
    const feedsOf = session => ({[session.inputNames [0]]:
                                 new ort.Tensor ('float32', input.data, input.dims)});
    //  Both sessions alike: made afresh each round, WARM runs left out,
    //  released before the other one runs (no idle pool of the one beside
    //  the other's runs)
    const folder = fs.mkdtempSync (path.join (os.tmpdir (), 'ort-overhead-'));
    for (let round = 0; round < Number (rounds); round++) {
        const plain = await ort.InferenceSession.create (model, options);
        const plainMs = [];
        for (let index = 0; index < WARM + Number (runs); index++)
            plainMs.push (await timed (plain, feedsOf (plain)));
        await plain.release ();
        const prefix = path.join (folder, `round${round}`);
        const profiled = await ort.InferenceSession.create (model, {
            ...options, enableProfiling: true, profileFilePrefix: prefix});
        const profiledMs = [];
        for (let index = 0; index < WARM + Number (runs); index++)
            profiledMs.push (await timed (profiled, feedsOf (profiled)));
        profiled.endProfiling ();
        await profiled.release ();
        const written = fs.readdirSync (folder).filter (name => name.startsWith (`round${round}_`));
        const file = path.join (folder, written [0]);
        const events = JSON.parse (fs.readFileSync (file));
        fs.unlinkSync (file);
        const spans = events.filter (event => event.name === 'model_run');
        const sums = [], counts = [];
        for (const span of spans) {
            let sum = 0, count = 0;
            for (const event of events)
                if (event.cat === 'Node' && event.name.endsWith ('_kernel_time')
                &&  event.ts >= span.ts && event.ts <= span.ts + span.dur) {
                    sum += event.dur;
                    count++;
                }
            sums.push (sum / 1000);
            counts.push (count);
        }
        console.log (JSON.stringify ({
            round, threads: Number (threads), plain: median (plainMs.slice (WARM)),
            profiled: median (profiledMs.slice (WARM)),
            model_run: median (spans.slice (WARM).map (span => span.dur / 1000)),
            node_sum: median (sums.slice (WARM)), nodes: counts [counts.length - 1]}));
    }
    fs.rmdirSync (folder);
}

main ().catch (error => {
    console.error (`ort_overhead: ${error.message}`);
    process.exit (1);
});
