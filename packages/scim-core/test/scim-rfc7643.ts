/**
 * A small RFC 7643 checker for what the SCIM server answers, written from the RFC rather than from
 * the server's own schema tables (so a mistake in those tables is caught, not copied): required
 * attributes, attribute types, `schemas` naming exactly the extensions a resource holds, member
 * `type` values, and no empty multi-valued attribute (§2.5: unassigned is left out, not `[]`).
 *
 * Also a harness like `startScimHttp`, with the server's options open (a clock, extensions,
 * limits), which records every response so a suite can check them all at its end.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createEngine, handleScimNodeRequest, memoryStore } from '../src/index.js';
import { createScimServer, type ScimServerOptions } from '../src/scim/server.js';
import { generateScimToken, scimTokenAuthenticator } from '../src/scim/tokens.js';
import { recordingHandlers } from './scim-http.js';

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const LIST = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';

type Type = 'string' | 'boolean' | 'reference' | 'dateTime' | { readonly [sub: string]: Type };
interface Attribute {
  readonly type: Type;
  readonly multi?: true;
  readonly required?: true;
}

const text: Attribute = { type: 'string' };
const multiValued = (sub: Record<string, Type>): Attribute => ({ type: sub, multi: true });
/** RFC 7643 §2.4's canonical sub-attributes of a multi-valued attribute. */
const plural = multiValued({ value: 'string', display: 'string', type: 'string', primary: 'boolean' });
const meta: Attribute = {
  type: {
    resourceType: 'string',
    created: 'dateTime',
    lastModified: 'dateTime',
    location: 'reference',
    version: 'string',
  },
};

/** RFC 7643 §3.1 and §4.1, User. */
const USER_ATTRIBUTES: Record<string, Attribute> = {
  id: { type: 'string', required: true },
  externalId: text,
  meta,
  userName: { type: 'string', required: true },
  name: {
    type: {
      formatted: 'string',
      familyName: 'string',
      givenName: 'string',
      middleName: 'string',
      honorificPrefix: 'string',
      honorificSuffix: 'string',
    },
  },
  displayName: text,
  nickName: text,
  profileUrl: { type: 'reference' },
  title: text,
  userType: text,
  preferredLanguage: text,
  locale: text,
  timezone: text,
  active: { type: 'boolean' },
  emails: plural,
  phoneNumbers: plural,
  ims: plural,
  photos: plural,
  addresses: multiValued({
    formatted: 'string',
    streetAddress: 'string',
    locality: 'string',
    region: 'string',
    postalCode: 'string',
    country: 'string',
    type: 'string',
    primary: 'boolean',
  }),
  groups: multiValued({ value: 'string', $ref: 'reference', display: 'string', type: 'string' }),
  entitlements: plural,
  roles: plural,
  x509Certificates: plural,
};

/** RFC 7643 §4.2, Group. */
const GROUP_ATTRIBUTES: Record<string, Attribute> = {
  id: { type: 'string', required: true },
  externalId: text,
  meta,
  displayName: { type: 'string', required: true },
  members: multiValued({ value: 'string', $ref: 'reference', display: 'string', type: 'string' }),
};

/** RFC 7643 §4.3, the enterprise User extension. */
const ENTERPRISE_ATTRIBUTES: Record<string, Attribute> = {
  employeeNumber: text,
  costCenter: text,
  organization: text,
  division: text,
  department: text,
  manager: { type: { value: 'string', $ref: 'reference', displayName: 'string' } },
};

const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function checkValue(value: unknown, type: Type, where: string, problems: string[]): void {
  if (typeof type !== 'string') {
    if (!isObject(value)) {
      problems.push(`${where} is not a complex value`);
      return;
    }
    for (const key of Object.keys(value)) {
      const sub = Object.hasOwn(type, key) ? type[key] : undefined;
      if (sub === undefined) problems.push(`${where}.${key} is not a sub-attribute RFC 7643 defines`);
      else checkValue(value[key], sub, `${where}.${key}`, problems);
    }
    if (Object.keys(value).length === 0) problems.push(`${where} is an empty complex value`);
    return;
  }
  if (type === 'boolean') {
    if (typeof value !== 'boolean') problems.push(`${where} is not a boolean`);
  } else if (typeof value !== 'string') {
    problems.push(`${where} is not a string`);
  } else if (type === 'dateTime' && !DATE_TIME.test(value)) {
    problems.push(`${where} is not an xsd:dateTime with a zone`);
  }
}

function checkAttributes(
  resource: Record<string, unknown>,
  attributes: Record<string, Attribute>,
  where: string,
  problems: string[],
): void {
  for (const key of Object.keys(resource)) {
    if (key === 'schemas' || key.startsWith('urn:')) continue;
    const attribute = Object.hasOwn(attributes, key) ? attributes[key] : undefined;
    if (!attribute) {
      problems.push(`${where}.${key} is not an attribute of its schema`);
      continue;
    }
    const value = resource[key];
    if (attribute.multi) {
      if (!Array.isArray(value)) problems.push(`${where}.${key} is multi-valued but not an array`);
      else if (value.length === 0) problems.push(`${where}.${key} is an empty multi-valued attribute (RFC 7643 §2.5)`);
      else for (const [i, item] of value.entries()) checkValue(item, attribute.type, `${where}.${key}[${i}]`, problems);
    } else {
      checkValue(value, attribute.type, `${where}.${key}`, problems);
    }
  }
}

/** What a check may not require: an answer shaped by `attributes` leaves out required attributes. */
export interface CheckOptions {
  readonly projected?: boolean;
  /** URNs of extensions the server declares besides the enterprise one (their attributes are not checked). */
  readonly extensions?: readonly string[];
}

/** The problems of one SCIM resource (User or Group), by RFC 7643. Empty when it conforms. */
export function resourceProblems(resource: unknown, options: CheckOptions = {}, where = 'resource'): string[] {
  const problems: string[] = [];
  if (!isObject(resource)) return [`${where} is not an object`];
  const schemas = resource.schemas;
  if (!Array.isArray(schemas) || schemas.length === 0 || !schemas.every((s) => typeof s === 'string')) {
    return [`${where}.schemas is not a non-empty list of URNs`];
  }
  if (new Set(schemas).size !== schemas.length) problems.push(`${where}.schemas repeats a URN`);
  const [core, ...extensions] = schemas as string[];
  const attributes = core === USER ? USER_ATTRIBUTES : core === GROUP ? GROUP_ATTRIBUTES : undefined;
  if (!attributes) return [`${where}.schemas starts with ${core}, not the User or Group schema`];
  const metaType = isObject(resource.meta) ? resource.meta.resourceType : undefined;
  if (metaType !== undefined && metaType !== (core === USER ? 'User' : 'Group')) {
    problems.push(`${where}.meta.resourceType ${String(metaType)} does not match ${core}`);
  }
  if (typeof resource.id !== 'string' || resource.id === '') problems.push(`${where}.id is missing (returned always)`);
  for (const [name, attribute] of Object.entries(attributes)) {
    if (attribute.required && !options.projected && !Object.hasOwn(resource, name)) {
      problems.push(`${where}.${name} is required`);
    }
  }
  checkAttributes(resource, attributes, where, problems);
  const known = new Set([ENTERPRISE, ...(options.extensions ?? [])]);
  for (const key of Object.keys(resource).filter((k) => k.startsWith('urn:'))) {
    if (!extensions.includes(key)) problems.push(`${where} holds ${key} but its schemas do not name it`);
    const extension = resource[key];
    if (!isObject(extension) || Object.keys(extension).length === 0) {
      problems.push(`${where}.${key} is not a non-empty object`);
    } else if (key === ENTERPRISE) {
      checkAttributes(extension, ENTERPRISE_ATTRIBUTES, `${where}[enterprise]`, problems);
    }
  }
  for (const urn of extensions) {
    if (!Object.hasOwn(resource, urn)) problems.push(`${where}.schemas names ${urn}, which it does not hold`);
    if (!known.has(urn)) problems.push(`${where}.schemas names ${urn}, which the server does not declare`);
    if (core === GROUP) problems.push(`${where} is a Group with the extension ${urn}`);
  }
  for (const field of ['members', 'groups'] as const) {
    const list = resource[field];
    if (!Array.isArray(list)) continue;
    list.forEach((item, i) => {
      if (!isObject(item)) return;
      if (typeof item.value !== 'string') problems.push(`${where}.${field}[${i}].value is missing`);
      // RFC 7643 §4.2: a member's type is "User" or "Group", capitalized.
      if (field === 'members' && item.type !== undefined && item.type !== 'User' && item.type !== 'Group') {
        problems.push(`${where}.members[${i}].type is ${JSON.stringify(item.type)}, not "User" or "Group"`);
      }
    });
  }
  if (Object.hasOwn(resource, 'password')) problems.push(`${where}.password is returned (returned never)`);
  return problems;
}

/** The problems of any answer body: a resource, a ListResponse of resources, or an Error. */
export function answerProblems(status: number, body: unknown, options: CheckOptions = {}): string[] {
  if (status === 204) return body === undefined ? [] : ['a 204 has a body'];
  if (!isObject(body)) return ['the body is not a JSON object'];
  const [schema] = Array.isArray(body.schemas) ? body.schemas : [];
  if (status >= 400) {
    const problems: string[] = [];
    if (schema !== ERROR) problems.push(`an error answer's schemas is not [${ERROR}]`);
    if (body.status !== String(status)) problems.push(`an error's status ${String(body.status)} is not "${status}"`);
    if (typeof body.detail !== 'string') problems.push('an error has no detail');
    return problems;
  }
  if (schema === LIST) {
    const problems: string[] = [];
    const resources = body.Resources;
    if (!Array.isArray(resources)) return ['a ListResponse has no Resources list'];
    for (const key of ['totalResults', 'itemsPerPage', 'startIndex'] as const) {
      if (!Number.isSafeInteger(body[key])) problems.push(`a ListResponse's ${key} is not an integer`);
    }
    if (body.itemsPerPage !== resources.length) problems.push('itemsPerPage is not the number of Resources');
    resources.forEach((resource, i) => {
      const first = isObject(resource) && Array.isArray(resource.schemas) ? resource.schemas[0] : undefined;
      // ResourceType and Schema lists are discovery documents, the discovery suite's.
      if (typeof first === 'string' && /:core:2\.0:(ResourceType|Schema)$/.test(first)) return;
      problems.push(...resourceProblems(resource, options, `Resources[${i}]`));
    });
    return problems;
  }
  if (schema === USER || schema === GROUP) return resourceProblems(body, options);
  // Discovery documents (ServiceProviderConfig, ResourceType, Schema) are the discovery suite's.
  return [];
}

export interface Answer {
  readonly method: string;
  readonly path: string;
  readonly status: number;
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary SCIM JSON.
  readonly body: any;
  readonly headers: Headers;
}

export interface InteropHarness {
  readonly base: string;
  readonly token: string;
  readonly engine: ReturnType<typeof createEngine>;
  /** Handler calls, as `startScimHttp` records them. */
  readonly calls: string[];
  /** Every answer so far, for `answerProblems`. */
  readonly answers: Answer[];
  /** A request whose body is sent as given: a string as is, anything else as JSON. */
  scim(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Answer>;
  close(): Promise<void>;
}

/** The SCIM server on 127.0.0.1, through the Node ↔ Web bridge the adapters use, with `options` passed on. */
export async function startInteropHttp(
  options: Partial<Omit<ScimServerOptions, 'engine' | 'authenticator'>> = {},
): Promise<InteropHarness> {
  const tenant = generateScimToken();
  const calls: string[] = [];
  const handlers = recordingHandlers(calls);
  const engine = createEngine({ store: memoryStore(), handlers });
  const server = createScimServer({
    ...options,
    engine,
    authenticator: scimTokenAuthenticator([{ organizationId: 'org_tenant', tokenHash: tenant.tokenHash }]),
  });
  // The Node path the Express and Fastify adapters use (scim-custom-extension.test.ts goes through the Web bridge).
  const http = createServer((request, response) => handleScimNodeRequest(server, { request, response }));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(http.address() as AddressInfo).port}/scim/v2`;
  const answers: Answer[] = [];
  return {
    base,
    token: tenant.token,
    engine,
    calls,
    answers,
    async scim(method, path, body, headers = {}) {
      const response = await fetch(`${base}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${tenant.token}`,
          accept: 'application/scim+json',
          'content-type': 'application/scim+json; charset=utf-8',
          ...headers,
        },
        ...(body !== undefined && { body: typeof body === 'string' ? body : JSON.stringify(body) }),
      });
      const text = await response.text();
      const answer = {
        method,
        path,
        status: response.status,
        body: text ? JSON.parse(text) : undefined,
        headers: response.headers,
      };
      answers.push(answer);
      return answer;
    },
    close: () => new Promise((resolve) => http.close(() => resolve())),
  };
}

/** Every recorded answer's problems, each prefixed with its request; shaped answers (`attributes=`) skip required checks. */
export function allProblems(answers: readonly Answer[], options: Omit<CheckOptions, 'projected'> = {}): string[] {
  return answers.flatMap((answer) => {
    const projected =
      /[?&]attributes=/.test(answer.path) || (answer.method === 'POST' && answer.path.endsWith('.search'));
    return answerProblems(answer.status, answer.body, { ...options, projected }).map(
      (problem) => `${answer.method} ${answer.path.slice(0, 120)} ${answer.status}: ${problem}`,
    );
  });
}
