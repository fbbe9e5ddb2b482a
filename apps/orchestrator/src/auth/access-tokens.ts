/**
 * Who may call the API: the bearer tokens of AUTH_TOKENS (a JSON list) or AUTH_TOKENS_FILE (the
 * same JSON in a file), each with a name (recorded as the actor of what it does) and a role.
 *
 *   [{ "name": "ops", "role": "operator", "token": "…" },
 *    { "name": "shop", "role": "client", "sha256": "<hex SHA-256 of the token>" }]
 *
 * Guarantees:
 * - A token is given in clear (`token`, at least 16 characters) or as the hex SHA-256 of it
 *   (`sha256`), never both; names are unique, and so are tokens; anything else is refused at
 *   boot with the entry's position and the problem (the token itself is never echoed).
 * - Lookup compares SHA-256 digests in constant time, so neither a token nor its length leaks
 *   through timing; the clear tokens are not kept once hashed.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ROLES, type Role } from './roles';

export interface Actor {
  /** The token's name: recorded as who did an action. */
  name: string;
  role: Role;
}

const entrySchema = z
  .object({
    name: z
      .string()
      .min(1)
      .max(64)
      .regex(/^[A-Za-z0-9_.@-]+$/, 'letters, digits and _ . @ - only'),
    role: z.enum(ROLES),
    token: z.string().min(16, 'at least 16 characters').max(512).optional(),
    sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/i, 'the hex SHA-256 of the token (64 hex digits)')
      .optional(),
  })
  .strict()
  .refine((entry) => (entry.token === undefined) !== (entry.sha256 === undefined), 'give exactly one of "token" and "sha256"');

export class AccessTokensError extends Error {
  readonly code = 'INVALID_ACCESS_TOKENS';
}

const digest = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

export class AccessTokens {
  private constructor(private readonly entries: { actor: Actor; digest: Buffer }[]) {}

  /** Parses the JSON of AUTH_TOKENS; `source` names where it came from in errors. */
  static parse(json: string, source = 'AUTH_TOKENS'): AccessTokens {
    let raw: unknown;
    try {
      raw = JSON.parse(json);
    } catch {
      throw new AccessTokensError(`${source} is not valid JSON (expected a list of { name, role, token | sha256 })`);
    }
    if (!Array.isArray(raw) || raw.length === 0) throw new AccessTokensError(`${source} must be a non-empty JSON list of { name, role, token | sha256 }`);
    const entries = raw.map((item, index) => {
      const parsed = entrySchema.safeParse(item);
      if (!parsed.success) {
        const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'entry'}: ${issue.message}`).join('; ');
        throw new AccessTokensError(`${source}[${index}]: ${problems}`);
      }
      const { name, role, token, sha256 } = parsed.data;
      return { actor: { name, role }, digest: token !== undefined ? digest(token) : Buffer.from(sha256!, 'hex') };
    });
    const names = new Set<string>();
    const digests = new Set<string>();
    entries.forEach(({ actor, digest: hash }, index) => {
      if (names.has(actor.name)) throw new AccessTokensError(`${source}[${index}]: the name "${actor.name}" is used twice`);
      if (digests.has(hash.toString('hex'))) throw new AccessTokensError(`${source}[${index}]: the same token is given twice`);
      names.add(actor.name);
      digests.add(hash.toString('hex'));
    });
    return new AccessTokens(entries);
  }

  static fromFile(path: string): AccessTokens {
    let json: string;
    try {
      json = readFileSync(path, 'utf8');
    } catch (error) {
      throw new AccessTokensError(`AUTH_TOKENS_FILE ${path} cannot be read: ${(error as Error).message}`);
    }
    return AccessTokens.parse(json, `AUTH_TOKENS_FILE ${path}`);
  }

  /** The actor a presented token belongs to, or undefined. */
  identify(token: string): Actor | undefined {
    const presented = digest(token);
    let found: Actor | undefined;
    for (const entry of this.entries) if (timingSafeEqual(entry.digest, presented)) found = entry.actor; // no early exit
    return found;
  }

  get size(): number {
    return this.entries.length;
  }
}
