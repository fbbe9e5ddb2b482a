/**
 * How every service process runs: `npm start`, the bench and the Docker image (docker/Dockerfile
 * sets the same on its `node` command line and in its environment), so a measured figure is the
 * deployed one.
 *
 * - `--max-semi-space-size=16` caps V8's young generation. By default it grows with the
 *   machine's memory (here to several times this size); with it the orchestrator peaked ~60 MiB
 *   lower in a 20-second bench at 64 in flight, for the same throughput (8 MiB saved little more
 *   and cost ~10 % throughput in scavenges).
 * - `--heap-growing-percent=100`: the next major GC runs when the old generation has doubled
 *   since the last one. V8's own factor goes up to 4× when collecting is cheap, and under load the
 *   orchestrator's old space swung between ~50 MB live and ~200 MB, holding ~340 MiB resident.
 *   With 2× it peaked at ~230 MiB for the same throughput (50 % gave ~205 MiB but cost ~10 % of
 *   the orchestrator's CPU in collections). No hard heap cap: a burst that needs more still gets it.
 * - `MALLOC_ARENA_MAX=2`: glibc gives each thread that mallocs (V8's compiler and GC helpers) its
 *   own arena, and freed memory in them stays resident; two arenas cut ~50 MiB off the
 *   orchestrator's peak.
 */
export const SERVICE_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=16', '--heap-growing-percent=100'];

/** Environment every service process gets (values already set in the environment win). */
export const SERVICE_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };

/** `process.env` with SERVICE_ENV filled in where unset, then `overrides`. */
export function serviceEnv(overrides: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...SERVICE_ENV, ...process.env, ...overrides };
}
