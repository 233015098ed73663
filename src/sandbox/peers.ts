import { createRequire } from 'node:module';
import type Express from 'express';
import type * as PngJs from 'pngjs';
import type QRCodeModule from 'qrcode';
import { ConfigurationError } from '../errors.js';

// The sandbox's own dependencies are optional peers of this package, so an app that never runs
// the sandbox does not install them. Only the `passport-factors/sandbox` entry loads this module;
// without them, importing that entry fails with one error that names them and how to install them.
const PEERS = ['express', 'pngjs', 'qrcode'] as const;
const require = createRequire(import.meta.url);

const missing = PEERS.filter((name) => {
  try {
    require.resolve(name);
    return false;
  } catch {
    return true;
  }
});
if (missing.length > 0)
  throw new ConfigurationError(
    `passport-factors/sandbox needs ${missing.join(', ')}, which ${missing.length === 1 ? 'is' : 'are'} not installed: ` +
      `the sandbox's packages are optional peer dependencies. Install them: npm install --save-dev ${PEERS.join(' ')}`,
  );

export const express = require('express') as typeof Express;
export const { PNG } = require('pngjs') as typeof PngJs;
export const QRCode = require('qrcode') as typeof QRCodeModule;
