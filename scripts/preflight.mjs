#!/usr/bin/env node
// Runs before the test suite (the README's test command): checks, in about a second, what the tests
// need from the machine and stops at once with the one command that fixes what is missing, rather
// than failing minutes in. Plain ESM with no dependencies, so it runs before anything is built.
import { existsSync } from 'node:fs';
import { connect } from 'node:net';

const problems = [];

const chromium = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
if (!existsSync(chromium)) {
  problems.push(
    `No Chromium at ${chromium} (the browser tests drive a local headless Chromium; none is downloaded).\n` +
      '  Fix: apt-get install -y chromium   (or set CHROMIUM_PATH to a Chromium or Chrome binary)',
  );
}

const database = new URL(process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test');
const reachable = await new Promise((resolve) => {
  const socket = connect({ host: database.hostname, port: Number(database.port || 5432) });
  const done = (ok) => {
    socket.destroy();
    resolve(ok);
  };
  socket.setTimeout(2000, () => done(false));
  socket.once('connect', () => done(true));
  socket.once('error', () => done(false));
});
if (!reachable) {
  problems.push(
    `No PostgreSQL at ${database.host} (the PostgreSQL store's tests need one: trust auth, database "test").\n` +
      '  Fix: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start   (or set TEST_DATABASE_URL)',
  );
}

if (problems.length > 0) {
  console.error(`The tests cannot run on this machine yet:\n\n${problems.join('\n\n')}\n`);
  process.exit(1);
}
