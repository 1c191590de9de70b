#!/usr/bin/env node
// Runs the TypeScript sources directly (tsx's loader), like the API and the worker: no build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/main.ts');
process.exitCode = await main(process.argv.slice(2), { env: process.env, stdout: process.stdout, stderr: process.stderr });
