/**
 * Bearer tokens for `npm start`, the local demo: when none are configured (no AUTH_TOKENS,
 * AUTH_TOKENS_FILE or AUTH_DISABLED), one token per role is generated on the first start and
 * kept in `.saga-tokens.env` (mode 0600, git-ignored), so a restart keeps the tokens a terminal
 * has already exported. The file is shell syntax: `source .saga-tokens.env`.
 *
 * Guarantees: tokens are 32 random bytes (base64url); the orchestrator gets them as AUTH_TOKENS;
 * configured tokens (or AUTH_DISABLED) are never overridden.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const ROLES = ['viewer', 'client', 'operator', 'admin'] as const;

export const LOCAL_TOKENS_FILE = join(process.cwd(), '.saga-tokens.env');

const variable = (role: string) => `SAGA_${role.toUpperCase()}_TOKEN`;

/** The environment to give the orchestrator, and the tokens to show (none when configured). */
export function localTokens(env: NodeJS.ProcessEnv): { env: Record<string, string>; shown: Record<string, string> } {
  if (env.AUTH_TOKENS || env.AUTH_TOKENS_FILE || env.AUTH_DISABLED) return { env: {}, shown: {} };
  const tokens: Record<string, string> = {};
  if (existsSync(LOCAL_TOKENS_FILE)) {
    for (const line of readFileSync(LOCAL_TOKENS_FILE, 'utf8').split('\n')) {
      const match = /^export (SAGA_[A-Z]+_TOKEN)=([A-Za-z0-9_-]{16,})$/.exec(line.trim());
      if (match) tokens[match[1]] = match[2];
    }
  }
  if (!ROLES.every((role) => tokens[variable(role)])) {
    for (const role of ROLES) tokens[variable(role)] = randomBytes(32).toString('base64url');
    const lines = ROLES.map((role) => `export ${variable(role)}=${tokens[variable(role)]}`);
    writeFileSync(LOCAL_TOKENS_FILE, `# npm start's local demo tokens, one per role (source this file)\n${lines.join('\n')}\n`, { mode: 0o600 });
  }
  const entries = ROLES.map((role) => ({ name: `demo-${role}`, role, token: tokens[variable(role)] }));
  return { env: { AUTH_TOKENS: JSON.stringify(entries) }, shown: Object.fromEntries(ROLES.map((role) => [variable(role), tokens[variable(role)]])) };
}
