import { readFileSync } from 'node:fs';
import { createElement } from 'react';
import { renderToString } from 'react-dom/server';
import { expect, it } from 'vitest';
import { AdminPortal } from '../src/react.js';

it('renders only its container on the server, without touching window', () => {
  expect(typeof window).toBe('undefined');
  const html = renderToString(createElement(AdminPortal, { linkUrl: '/portal-link', className: 'settings' }));
  expect(html).toBe('<div class="settings"></div>');
});

it('ships as a client module that imports react and nothing else', () => {
  const built = readFileSync(new URL('../dist/react.js', import.meta.url), 'utf8');
  expect(built.startsWith('"use client";')).toBe(true);
  expect([...built.matchAll(/^import .* from "([^"]+)";$/gm)].map((match) => match[1])).toEqual(['react']);
});
