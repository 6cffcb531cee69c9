#!/usr/bin/env node
import { writeFile } from 'node:fs/promises';
import { runCli } from './run-cli.js';

void runCli(process.argv.slice(2), {
  out: (text) => process.stdout.write(text),
  error: (text) => process.stderr.write(`${text}\n`),
  writeFile: (path, text) => writeFile(path, text),
}).then((code) => {
  process.exitCode = code;
});
