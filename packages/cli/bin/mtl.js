#!/usr/bin/env node
'use strict';
// Exit explicitly once the command is over: sockets, timers and backends may still hold the loop open,
// and a finished run must not leave a process behind.
require('../dist/main.js').main(process.argv).then(
  (code) => process.exit(typeof code === 'number' ? code : 0),
  (err) => {
    process.stderr.write(`mtl: ${err && err.message ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
