// The example app: every flow of passport-factors on one Express 5 app. It imports only the
// package's public face ('passport-factors'), as an application would.
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import express from 'express';
import { Passport } from 'passport';
import { BasicLoginStrategy, MemoryStore, XTokenStrategy } from 'passport-factors';
import { createUserDirectory, DEMO_USERS } from './users.js';

const publicDir = fileURLToPath(new URL('./public/', import.meta.url));

/**
 * @param {{ xTokenSecret?: string | Uint8Array, scryptCost?: number, store?: import('passport-factors').Store }} [options]
 */
export async function createExampleApp(options = {}) {
  const users = await createUserDirectory(DEMO_USERS, { cost: options.scryptCost });
  const store = options.store ?? new MemoryStore();
  const passport = new Passport();

  // --- Basic login + rolling X-Token (the alt-seven client contract) ---
  passport.use(
    new BasicLoginStrategy({ store }, (username, password) => users.checkPassword(username, password)),
  );
  const xToken = new XTokenStrategy(
    {
      secret: options.xTokenSecret ?? randomBytes(32),
      store,
      publicUser: (user) => ({ id: user.id, username: user.username, name: user.name }),
    },
    (payload) => users.findById(payload.sub) ?? false,
  );
  passport.use(xToken);

  const app = express();
  app.disable('x-powered-by');
  app.use((_req, res, next) => {
    res.setHeader('Content-Security-Policy', "default-src 'self'; frame-ancestors 'none'; base-uri 'none'");
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    next();
  });
  app.use(express.json({ limit: '10kb' }));
  app.use(passport.initialize());

  app.post('/api/auth/login', xToken.login(passport));
  app.get('/api/auth/refresh', xToken.refresh(passport));
  app.post('/api/auth/logout', xToken.logout(passport));
  app.get('/api/secret', xToken.protect(passport), (req, res) => {
    res.json({
      message: `Hello ${req.user.name}, this came from a secured API.`,
      at: new Date().toISOString(),
    });
  });

  app.use(express.static(publicDir, { index: 'index.html' }));
  app.use((err, _req, res, _next) => {
    // Faults are answered without detail: the client learns nothing about internals.
    res
      .status(err.status ?? 500)
      .json({ error: err.status ? err.message : 'Something went wrong. Try again.' });
  });
  return app;
}
