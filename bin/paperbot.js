#!/usr/bin/env node
// The `paperbot` command: runs the TypeScript CLI through tsx's loader, so there is no build step
// to forget and `npm start` and `paperbot` always run the same code.
import { register } from 'tsx/esm/api';

register();
await import('../src/adapters/cli/main.ts');
