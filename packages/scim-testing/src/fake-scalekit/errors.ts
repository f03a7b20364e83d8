/** Errors the fake's test-facing methods throw, with a code to match on. */
export type FakeScalekitErrorCode =
  | 'organization_not_found'
  | 'directory_not_found'
  | 'user_not_found'
  | 'group_not_found'
  | 'already_exists'
  | 'invalid_input';

export class FakeScalekitError extends Error {
  override readonly name = 'FakeScalekitError';
  constructor(
    readonly code: FakeScalekitErrorCode,
    message: string,
  ) {
    super(message);
  }
}
