/**
 * The SCIM discovery endpoints' documents (RFC 7644 §4, RFC 7643 §5–8): what this server supports,
 * which resource types it serves, and the schemas of their attributes, including each attribute's
 * `caseExact`, which filters use to compare values.
 */

import type { ScimLimits } from './limits.js';
import type { ServedSchemas } from './schema.js';

export const SCHEMAS = {
  user: 'urn:ietf:params:scim:schemas:core:2.0:User',
  group: 'urn:ietf:params:scim:schemas:core:2.0:Group',
  enterpriseUser: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User',
  serviceProviderConfig: 'urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig',
  resourceType: 'urn:ietf:params:scim:schemas:core:2.0:ResourceType',
  schema: 'urn:ietf:params:scim:schemas:core:2.0:Schema',
  listResponse: 'urn:ietf:params:scim:api:messages:2.0:ListResponse',
} as const;

export interface AttributeDefinition {
  readonly name: string;
  readonly type: 'string' | 'boolean' | 'complex' | 'reference' | 'dateTime' | 'integer' | 'decimal' | 'binary';
  readonly multiValued: boolean;
  readonly required: boolean;
  readonly caseExact: boolean;
  readonly mutability: 'readOnly' | 'readWrite' | 'immutable' | 'writeOnly';
  readonly returned: 'always' | 'never' | 'default' | 'request';
  readonly uniqueness: 'none' | 'server' | 'global';
  readonly description: string;
  readonly subAttributes?: readonly AttributeDefinition[];
  readonly referenceTypes?: readonly string[];
  /**
   * The values a string attribute may take (RFC 7643 §2.3.1). Declared by an app's extension, they are
   * enforced on write (case-insensitively unless `caseExact`); the built-in schemas declare none.
   */
  readonly canonicalValues?: readonly string[];
}

type Shorthand = Partial<AttributeDefinition> & Pick<AttributeDefinition, 'name' | 'description'>;

/** An attribute with RFC 7643 §2.2's defaults for what it leaves out. */
export function attribute(a: Shorthand): AttributeDefinition {
  return {
    type: 'string',
    multiValued: false,
    required: false,
    caseExact: false,
    mutability: 'readWrite',
    returned: 'default',
    uniqueness: 'none',
    ...a,
  };
}

const multiValuedStrings = (name: string, description: string, types: string[]) =>
  attribute({
    name,
    description,
    type: 'complex',
    multiValued: true,
    subAttributes: [
      attribute({ name: 'value', description: `The ${name} value.` }),
      attribute({ name: 'display', description: 'A human-readable name.' }),
      attribute({ name: 'type', description: `The kind: ${types.join(', ')}.` }),
      attribute({ name: 'primary', type: 'boolean', description: 'The primary value.' }),
    ],
  });

export const USER_ATTRIBUTES: readonly AttributeDefinition[] = [
  attribute({
    name: 'userName',
    required: true,
    uniqueness: 'server',
    description: 'Unique identifier for the user, used to sign in.',
  }),
  attribute({
    name: 'name',
    type: 'complex',
    description: "The components of the user's name.",
    subAttributes: ['formatted', 'familyName', 'givenName', 'middleName', 'honorificPrefix', 'honorificSuffix'].map(
      (n) => attribute({ name: n, description: `The ${n} part of the name.` }),
    ),
  }),
  attribute({ name: 'displayName', description: 'The name shown for the user.' }),
  attribute({ name: 'nickName', description: 'The casual name of the user.' }),
  attribute({
    name: 'profileUrl',
    type: 'reference',
    referenceTypes: ['external'],
    description: "A URI of the user's online profile.",
  }),
  attribute({ name: 'title', description: "The user's title." }),
  attribute({ name: 'userType', description: 'The relationship between the organization and the user.' }),
  attribute({ name: 'preferredLanguage', description: 'The preferred written or spoken language.' }),
  attribute({ name: 'locale', description: 'The default location, for localizing.' }),
  attribute({ name: 'timezone', description: 'The time zone, in IANA format.' }),
  attribute({ name: 'active', type: 'boolean', description: 'Whether the user may sign in.' }),
  attribute({
    name: 'password',
    mutability: 'writeOnly',
    returned: 'never',
    description: 'Accepted on writes and never stored or returned: sign-in goes through the identity provider.',
  }),
  multiValuedStrings('emails', 'Email addresses.', ['work', 'home', 'other']),
  multiValuedStrings('phoneNumbers', 'Phone numbers.', ['work', 'home', 'mobile', 'fax', 'pager', 'other']),
  multiValuedStrings('ims', 'Instant messaging addresses.', [
    'aim',
    'gtalk',
    'icq',
    'xmpp',
    'msn',
    'skype',
    'qq',
    'yahoo',
  ]),
  multiValuedStrings('photos', 'URLs of photos of the user.', ['photo', 'thumbnail']),
  attribute({
    name: 'addresses',
    type: 'complex',
    multiValued: true,
    description: 'Physical mailing addresses.',
    subAttributes: ['formatted', 'streetAddress', 'locality', 'region', 'postalCode', 'country', 'type']
      .map((n) => attribute({ name: n, description: `The ${n} of the address.` }))
      .concat(attribute({ name: 'primary', type: 'boolean', description: 'The primary address.' })),
  }),
  attribute({
    name: 'groups',
    type: 'complex',
    multiValued: true,
    mutability: 'readOnly',
    description: 'The groups the user belongs to; change them through the Group resource.',
    subAttributes: [
      attribute({ name: 'value', mutability: 'readOnly', description: 'The group id.' }),
      attribute({
        name: '$ref',
        type: 'reference',
        mutability: 'readOnly',
        referenceTypes: ['Group'],
        description: 'The group URI.',
      }),
      attribute({ name: 'display', mutability: 'readOnly', description: 'The group name.' }),
    ],
  }),
  multiValuedStrings('entitlements', 'Entitlements of the user.', []),
  multiValuedStrings('roles', 'Roles of the user.', []),
  multiValuedStrings('x509Certificates', 'DER-encoded X.509 certificates, base64.', []),
];

/** The attributes every resource has (RFC 7643 §3.1). Not listed in `/Schemas`, as the RFC shows it. */
export const COMMON_ATTRIBUTES: readonly AttributeDefinition[] = [
  attribute({
    name: 'id',
    caseExact: true,
    mutability: 'readOnly',
    returned: 'always',
    uniqueness: 'server',
    description: "The service provider's identifier of the resource.",
  }),
  attribute({
    name: 'externalId',
    caseExact: true,
    description: "The identity provider's identifier of the resource.",
  }),
  attribute({
    name: 'meta',
    type: 'complex',
    mutability: 'readOnly',
    description: 'Resource metadata.',
    subAttributes: [
      attribute({ name: 'resourceType', caseExact: true, mutability: 'readOnly', description: 'The resource type.' }),
      attribute({ name: 'created', type: 'dateTime', mutability: 'readOnly', description: 'When it was created.' }),
      attribute({
        name: 'lastModified',
        type: 'dateTime',
        mutability: 'readOnly',
        description: 'When it last changed.',
      }),
      attribute({ name: 'location', type: 'reference', mutability: 'readOnly', description: 'Its URI.' }),
      attribute({ name: 'version', caseExact: true, mutability: 'readOnly', description: 'Its version (ETag).' }),
    ],
  }),
];

export const ENTERPRISE_USER_ATTRIBUTES: readonly AttributeDefinition[] = [
  ...['employeeNumber', 'costCenter', 'organization', 'division', 'department'].map((n) =>
    attribute({ name: n, description: `The user's ${n}.` }),
  ),
  attribute({
    name: 'manager',
    type: 'complex',
    description: "The user's manager.",
    subAttributes: [
      attribute({ name: 'value', description: "The manager's id." }),
      attribute({ name: '$ref', type: 'reference', referenceTypes: ['User'], description: "The manager's URI." }),
      attribute({ name: 'displayName', mutability: 'readOnly', description: "The manager's name." }),
    ],
  }),
];

export const GROUP_ATTRIBUTES: readonly AttributeDefinition[] = [
  attribute({ name: 'displayName', required: true, description: 'The name of the group.' }),
  attribute({
    name: 'members',
    type: 'complex',
    multiValued: true,
    description: 'The members of the group.',
    subAttributes: [
      attribute({ name: 'value', mutability: 'immutable', description: 'The member id.' }),
      attribute({
        name: '$ref',
        type: 'reference',
        mutability: 'immutable',
        referenceTypes: ['User'],
        description: 'The member URI.',
      }),
      attribute({ name: 'display', mutability: 'readOnly', description: 'The member name.' }),
      attribute({ name: 'type', mutability: 'immutable', description: 'User or Group.' }),
    ],
  }),
];

/** Whether an attribute compares case-exactly, by lower-cased dotted name (for `matchesFilter`). */
export function caseExactOf(attributes: readonly AttributeDefinition[]): (name: string) => boolean {
  const exact = new Set(['id', 'externalid', 'meta.version']);
  for (const a of attributes) {
    if (a.caseExact) exact.add(a.name.toLowerCase());
    for (const sub of a.subAttributes ?? []) if (sub.caseExact) exact.add(`${a.name}.${sub.name}`.toLowerCase());
  }
  return (name) => exact.has(name);
}

export interface DiscoveryOptions {
  /** The SCIM base URL, e.g. `https://app.example.com/scim/v2`, for `meta.location`. */
  readonly baseUrl: string;
  /** Most results a list answers (`count` is capped to it). */
  readonly maxResults: number;
  /** Largest request body, in bytes. */
  readonly maxBodyBytes: number;
  /** The per-request limits, reported in `ServiceProviderConfig`. */
  readonly limits: ScimLimits;
  readonly schemas: ServedSchemas;
}

/** The URN under which `ServiceProviderConfig` reports the limits RFC 7644 has no field for. */
export const LIMITS_SCHEMA = 'urn:scim-sync:params:scim:schemas:extension:limits:1.0:ServiceProviderConfig';

export function serviceProviderConfig(options: DiscoveryOptions) {
  return {
    schemas: [SCHEMAS.serviceProviderConfig, LIMITS_SCHEMA],
    documentationUri: 'https://datatracker.ietf.org/doc/html/rfc7644',
    patch: { supported: true },
    bulk: { supported: false, maxOperations: 0, maxPayloadSize: 0 },
    filter: { supported: true, maxResults: options.maxResults },
    changePassword: { supported: false },
    sort: { supported: true },
    etag: { supported: true },
    authenticationSchemes: [
      {
        type: 'oauthbearertoken',
        name: 'OAuth Bearer Token',
        description: 'A bearer token per organization, sent in the Authorization header.',
        specUri: 'https://datatracker.ietf.org/doc/html/rfc6750',
        primary: true,
      },
    ],
    [LIMITS_SCHEMA]: { maxBodyBytes: options.maxBodyBytes, ...options.limits },
    meta: { resourceType: 'ServiceProviderConfig', location: `${options.baseUrl}/ServiceProviderConfig` },
  };
}

export function resourceTypes(options: DiscoveryOptions) {
  return [
    {
      schemas: [SCHEMAS.resourceType],
      id: 'User',
      name: 'User',
      endpoint: '/Users',
      description: 'User Account',
      schema: SCHEMAS.user,
      schemaExtensions: options.schemas.userExtensions.map((e) => ({ schema: e.id, required: false })),
      meta: { resourceType: 'ResourceType', location: `${options.baseUrl}/ResourceTypes/User` },
    },
    {
      schemas: [SCHEMAS.resourceType],
      id: 'Group',
      name: 'Group',
      endpoint: '/Groups',
      description: 'Group',
      schema: SCHEMAS.group,
      meta: { resourceType: 'ResourceType', location: `${options.baseUrl}/ResourceTypes/Group` },
    },
  ];
}

export function schemas(options: DiscoveryOptions) {
  const schema = (id: string, name: string, description: string, attributes: readonly AttributeDefinition[]) => ({
    schemas: [SCHEMAS.schema],
    id,
    name,
    description,
    attributes,
    meta: { resourceType: 'Schema', location: `${options.baseUrl}/Schemas/${id}` },
  });
  return [
    schema(SCHEMAS.user, 'User', 'User Account', USER_ATTRIBUTES),
    ...options.schemas.userExtensions.map((e) => schema(e.id, e.name, e.description, e.attributes)),
    schema(SCHEMAS.group, 'Group', 'Group', GROUP_ATTRIBUTES),
  ];
}
