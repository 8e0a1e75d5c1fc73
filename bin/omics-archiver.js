#!/usr/bin/env node
// The installed `omics-archiver` command: runs the TypeScript CLI through tsx, so no build step is needed.
require('tsx/cjs');
require('./omics-archiver.ts').main(process.argv);
