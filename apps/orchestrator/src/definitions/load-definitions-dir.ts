/**
 * Reads saga definitions and participant catalogs written as JSON files in a folder:
 *   <dir>/*.saga.json          one saga definition each
 *   <dir>/*.participants.json  { "participants": { "<name>": { "queue": "...", "commands": [...] } } }
 *
 * Guarantees: a missing folder means "no JSON definitions" (not an error); a file that is not
 * valid JSON or has the wrong shape fails the load with the file's path in the message.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { InvalidDefinitionError, type ParticipantCatalog } from '#saga/core';

export interface DefinitionFile {
  source: string;
  raw: unknown;
}

export interface CatalogFile {
  source: string;
  catalog: ParticipantCatalog;
}

export interface DefinitionsDirContent {
  definitions: DefinitionFile[];
  catalogs: CatalogFile[];
}

async function readJson(path: string): Promise<unknown> {
  const text = await readFile(path, 'utf8');
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new InvalidDefinitionError(path, [{ path: '', message: `not valid JSON: ${(error as Error).message}` }]);
  }
}

function checkCatalog(raw: unknown, source: string): ParticipantCatalog {
  const participants = (raw as { participants?: unknown })?.participants;
  if (typeof participants !== 'object' || participants === null || Array.isArray(participants)) {
    throw new InvalidDefinitionError(source, [{ path: 'participants', message: 'must be an object of { queue, commands }' }]);
  }
  const problems = [];
  for (const [name, entry] of Object.entries(participants as Record<string, unknown>)) {
    const { queue, commands } = (entry ?? {}) as { queue?: unknown; commands?: unknown };
    if (typeof queue !== 'string' || queue.length === 0) problems.push({ path: `participants.${name}.queue`, message: 'must be a non-empty string' });
    if (!Array.isArray(commands) || commands.length === 0 || commands.some((c) => typeof c !== 'string' || c.length === 0)) {
      problems.push({ path: `participants.${name}.commands`, message: 'must be a non-empty array of command names' });
    }
  }
  if (problems.length > 0) throw new InvalidDefinitionError(source, problems);
  return raw as ParticipantCatalog;
}

export async function loadDefinitionsDir(dir: string): Promise<DefinitionsDirContent> {
  const folder = resolve(dir);
  let names: string[];
  try {
    names = (await readdir(folder)).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { definitions: [], catalogs: [] };
    throw error;
  }
  const definitions: DefinitionFile[] = [];
  const catalogs: CatalogFile[] = [];
  for (const name of names) {
    const path = join(folder, name);
    if (name.endsWith('.saga.json')) definitions.push({ source: path, raw: await readJson(path) });
    if (name.endsWith('.participants.json')) catalogs.push({ source: path, catalog: checkCatalog(await readJson(path), path) });
  }
  return { definitions, catalogs };
}
