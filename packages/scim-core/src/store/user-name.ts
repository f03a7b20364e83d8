/**
 * How `userName`s compare for uniqueness (RFC 7643 §4.1.1: case-insensitive, unique within the
 * tenant). Lower-casing alone lets look-alikes in: `ſam` beside `sam`, `STRAßE` beside `strasse`, a
 * name with a trailing no-break space, or the NFD spelling of an NFC name. The key is the name
 * trimmed (Unicode white space, no-break space included), NFKC-normalized and fully case-folded.
 *
 * JavaScript has no `casefold()`. Lower, upper, then lower again agrees with Unicode's full case
 * folding (CaseFolding.txt, C + F) on every code point, checked against Python's `str.casefold()`:
 * the first lower-casing is what folds the capital sharp s (`ẞ` upper-cases to itself). The one
 * difference is that it also folds the dotless `ı` to `i` (it upper-cases to `I`), which only makes
 * two more names collide. Stores keep the name as the identity provider sent it and index this key
 * beside it.
 */
export function userNameKey(userName: string): string {
  // ASCII, as nearly every userName is: NFKC leaves it as it is and the three case mappings agree
  // with one lower-casing, so the key costs one pass instead of two normalizations and three maps.
  if (!NON_ASCII.test(userName)) return userName.trim().toLowerCase();
  return foldedKey(userName);
}

const NON_ASCII = /[\u0080-\uffff]/;

/** The key by its definition, for any name (`userNameKey` takes a shortcut for ASCII ones). */
export function foldedKey(userName: string): string {
  return userName.normalize('NFKC').trim().toLowerCase().toUpperCase().toLowerCase().normalize('NFKC');
}
