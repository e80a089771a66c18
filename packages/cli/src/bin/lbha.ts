#!/usr/bin/env node
import { runCli } from '../main.js';

runCli(process.argv.slice(2), {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  env: process.env,
}).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`lbha: ${String(err)}\n`);
    process.exitCode = 1;
  },
);
