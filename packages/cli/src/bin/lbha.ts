#!/usr/bin/env node
import { runCli } from '../main.js';

// grpc-js sends the dialled address as the TLS server name, which Node deprecates for IP
// addresses (DEP0123); the certificate check is unaffected. Keep stderr to one-line reasons.
process.noDeprecation = true;

// `lbha vips | head -3`: the reader went away, so there is nobody left to tell anything. End
// quietly, as other Unix tools do, instead of dying on an unhandled EPIPE.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

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
