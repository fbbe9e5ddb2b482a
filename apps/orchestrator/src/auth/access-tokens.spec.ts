/**
 * AccessTokens: the AUTH_TOKENS list is checked at boot, a token is found by its SHA-256 in
 * clear or hashed form, and no error message ever repeats a token.
 */
import { createHash } from 'node:crypto';
import { AccessTokens, AccessTokensError } from './access-tokens';

const OPS = 'ops-token-0123456789abcdef';
const SHOP = 'shop-token-0123456789abcdef';
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

describe('AccessTokens', () => {
  const tokens = AccessTokens.parse(
    JSON.stringify([
      { name: 'ops', role: 'operator', token: OPS },
      { name: 'shop', role: 'client', sha256: sha256(SHOP) },
    ]),
  );

  it('finds the actor of a token given in clear or as its SHA-256, and nobody for anything else', () => {
    expect(tokens.size).toBe(2);
    expect(tokens.identify(OPS)).toEqual({ name: 'ops', role: 'operator' });
    expect(tokens.identify(SHOP)).toEqual({ name: 'shop', role: 'client' });
    expect(tokens.identify(sha256(SHOP))).toBeUndefined(); // the hash is not a token
    expect(tokens.identify(`${OPS}x`)).toBeUndefined();
    expect(tokens.identify('')).toBeUndefined();
  });

  it.each([
    ['not JSON', '[{', /AUTH_TOKENS is not valid JSON/],
    ['not a list', '{"name":"a"}', /non-empty JSON list/],
    ['an empty list', '[]', /non-empty JSON list/],
    ['an unknown role', JSON.stringify([{ name: 'a', role: 'root', token: OPS }]), /AUTH_TOKENS\[0\]: role/],
    ['a short token', JSON.stringify([{ name: 'a', role: 'viewer', token: 'short' }]), /AUTH_TOKENS\[0\]: token: at least 16 characters/],
    ['both forms', JSON.stringify([{ name: 'a', role: 'viewer', token: OPS, sha256: sha256(OPS) }]), /exactly one of "token" and "sha256"/],
    ['neither form', JSON.stringify([{ name: 'a', role: 'viewer' }]), /exactly one of "token" and "sha256"/],
    ['a bad hash', JSON.stringify([{ name: 'a', role: 'viewer', sha256: 'abc' }]), /sha256: the hex SHA-256/],
    ['an unknown field', JSON.stringify([{ name: 'a', role: 'viewer', token: OPS, scope: 'all' }]), /AUTH_TOKENS\[0\]/],
    [
      'a name used twice',
      JSON.stringify([
        { name: 'a', role: 'viewer', token: OPS },
        { name: 'a', role: 'admin', token: SHOP },
      ]),
      /AUTH_TOKENS\[1\]: the name "a" is used twice/,
    ],
    [
      'a token given twice',
      JSON.stringify([
        { name: 'a', role: 'viewer', token: OPS },
        { name: 'b', role: 'admin', sha256: sha256(OPS) },
      ]),
      /AUTH_TOKENS\[1\]: the same token is given twice/,
    ],
  ])('refuses %s, saying where, without repeating a token', (_case, json, message) => {
    let error: unknown;
    try {
      AccessTokens.parse(json);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(AccessTokensError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain(OPS);
    expect((error as Error).message).not.toContain(SHOP);
  });

  it('reads the same list from a file, and names the file when it cannot', () => {
    expect(() => AccessTokens.fromFile('/nonexistent/tokens.json')).toThrow(/AUTH_TOKENS_FILE \/nonexistent\/tokens.json cannot be read/);
  });
});
