#!/usr/bin/env node
// Runs before the test suite (the README's test command): checks, in about a second, what the tests
// need from the machine, gets what it can itself, and otherwise stops at once with the one command
// that fixes what is missing, rather than failing minutes in. Plain ESM with no dependencies, so it
// runs before anything is built.
//
// - Chromium (the browser tests drive a local headless one; none is ever downloaded by Playwright):
//   when /usr/bin/chromium is missing and this runs as root on Debian/Ubuntu, it installs Debian's
//   `chromium` package with apt-get (about a minute); otherwise it stops with the command to run.
//   `CHROMIUM_PATH` points the tests at another Chromium or Chrome, and is never installed over.
// - PostgreSQL on 127.0.0.1:5432 (or TEST_DATABASE_URL) and MariaDB/MySQL on 127.0.0.1:3306 (or
//   TEST_MYSQL_URL): checked, and when down, the command that starts each.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';

const problems = [];

/** apt-get, as root, when this machine has it: `true` when the package installed. */
function aptInstall(pkg) {
  if (process.platform !== 'linux' || process.getuid?.() !== 0 || !existsSync('/usr/bin/apt-get')) return false;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => spawnSync('apt-get', ['install', '-y', pkg], { stdio: ['ignore', 2, 2], env }).status === 0;
  if (install()) return true;
  // A fresh image often has no package lists yet: fetch them once and try again.
  console.error(`preflight: apt-get install ${pkg} failed; running apt-get update and trying again`);
  return spawnSync('apt-get', ['update'], { stdio: ['ignore', 2, 2], env }).status === 0 && install();
}

const chromium = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
if (!existsSync(chromium)) {
  const ours = !process.env.CHROMIUM_PATH;
  if (ours)
    console.error("preflight: no Chromium at /usr/bin/chromium; installing Debian's chromium package (apt-get)");
  if (!(ours && aptInstall('chromium') && existsSync(chromium))) {
    problems.push(
      `No Chromium at ${chromium} (the browser tests drive a local headless Chromium; none is downloaded).\n` +
        '  Fix: apt-get install -y chromium   (as root; or set CHROMIUM_PATH to a Chromium or Chrome binary)',
    );
  }
}

/** Whether something listens at the URL's host and port, within 2 s. */
const listening = (url, defaultPort) =>
  new Promise((resolve) => {
    const socket = connect({ host: url.hostname, port: Number(url.port || defaultPort) });
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });

const database = new URL(process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test');
const mysql = new URL(process.env.TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test');
const [postgresUp, mysqlUp] = await Promise.all([listening(database, 5432), listening(mysql, 3306)]);
if (!postgresUp) {
  problems.push(
    `No PostgreSQL at ${database.host} (the PostgreSQL store's tests need one: trust auth, database "test").\n` +
      '  Fix: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start   (or set TEST_DATABASE_URL)',
  );
}
if (!mysqlUp) {
  problems.push(
    `No MariaDB or MySQL at ${mysql.host} (the MySQL store's tests need one: root without a password, database "test").\n` +
      '  Fix: start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd   (or set TEST_MYSQL_URL)',
  );
}

if (problems.length > 0) {
  console.error(`The tests cannot run on this machine yet:\n\n${problems.join('\n\n')}\n`);
  process.exit(1);
}
