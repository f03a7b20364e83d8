import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runNode, writeReadmeSnippet } from '../../../scripts/readme-snippets.js';
import { answerLink, frameOn, type Harness, startHarness } from './harness.js';

const packageDir = fileURLToPath(new URL('..', import.meta.url));
let harness: Harness;

beforeAll(async () => {
  harness = await startHarness();
});
afterAll(() => harness?.close());

it('the README page loads the portal from its link route and logs an event it sends', async () => {
  harness.appPage = readFileSync(writeReadmeSnippet(packageDir, 'html'), 'utf8');
  harness.linkRoute = answerLink;
  const page = await harness.openApp();
  const logs: string[] = [];
  page.on('console', (message) => logs.push(message.text()));
  const portal = await frameOn(page, harness.portalOrigin, '?link=1');
  expect(await page.evaluate(() => document.querySelector('#admin-portal iframe')?.getAttribute('src'))).toBe(
    `${harness.portalOrigin}/portal?link=1`,
  );
  await portal.evaluate(() =>
    window.send({
      event_type: 'ORGANIZATION_DIRECTORY_ENABLED',
      data: { directory_type: 'SCIM', id: 'dir_9', provider: 'OKTA', enabled: true },
    }),
  );
  await expect.poll(() => logs).toContain('SCIM directory enabled: dir_9');
  await page.close();
});

it('the README way to find the file resolves to the self-contained ES module', async () => {
  const snippet = writeReadmeSnippet(packageDir, 'js');
  const script = `${readFileSync(snippet, 'utf8')}\nconsole.log(import.meta.resolve('@org/scim-portal'));\nconsole.log(/^\\s*import[\\s{*]/m.test(String(portalScript)));\n`;
  const file = snippet.replace(/readme\.mjs$/, 'resolve.mjs');
  writeFileSync(file, script);
  const { stdout } = await runNode(file);
  expect(stdout.split('\n').slice(0, 2)).toEqual([new URL('../dist/index.js', import.meta.url).href, 'false']);
});
