import { it } from 'vitest';
import { expectServerSnippetApplies } from '../../../scripts/readme-server-snippet.js';

it('the README snippet starts a server that applies a signed webhook', () =>
  expectServerSnippetApplies(new URL('..', import.meta.url)));
