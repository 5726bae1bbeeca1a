#!/usr/bin/env node
// The `zansoc` command: TypeScript run through tsx, as every Zansoc process is.
require('tsx/cjs');
require('./main.ts');
