//  tests/keras/unwrap_umd.js - a layers-model some packages ship as
//  JavaScript modules, back to model.json and binary shards
//
//  node unwrap_umd.js model MODULE.js OUT.json
//  node unwrap_umd.js shard MODULE.js OUT.bin
//
//  Such a package bundles model.json as a module whose export is the
//  model's object, and each shard as a module exporting its bytes in
//  base64 (a UMD wrapper around each). The module runs in a context of
//  its own given nothing but `module` and `exports` (no require), so that
//  it takes the CommonJS branch of its wrapper and hands back its value.
//  node's vm is no security boundary: what runs is only ever a file whose
//  sha256 tests/keras/corpus.json pins, checked before this is called.

'use strict';
const fs = require ('fs');
const vm = require ('vm');

function fail (message) {
    process.stderr.write ('unwrap_umd: ' + message + '\n');
    process.exit (1);
}

const [kind, source, target] = process.argv.slice (2);
if (!['model', 'shard'].includes (kind) || !target)
    fail ('usage: node unwrap_umd.js model|shard MODULE.js OUT');
const sandbox = {module: {exports: {}}};
sandbox.exports = sandbox.module.exports;
try {
    vm.runInNewContext (fs.readFileSync (source, 'utf8'), sandbox, {timeout: 10000});
}
catch (error) {
    fail (source + ': ' + error.message);
}
const value = sandbox.module.exports;
if (kind == 'model') {
    if (typeof value != 'object' || !value || !value.modelTopology)
        fail (source + ': exports no object with a modelTopology');
    fs.writeFileSync (target, JSON.stringify (value));
}
else {
    if (typeof value != 'string')
        fail (source + ': exports ' + typeof value + ', expected a base64 string');
    fs.writeFileSync (target, Buffer.from (value, 'base64'));
}
