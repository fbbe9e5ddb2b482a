/**
 * The main of the chaos and soak scripts: runs `run` with a list it fills with clean-up steps,
 * then runs them last-in first out, and exits with run's code.
 *
 * Guarantees: the clean-up runs exactly once whatever ends the run: a normal end, a thrown
 * error, SIGINT/SIGTERM (exit 130) or an error that escaped every handler (an 'error' event
 * nobody listened to: exit 1), so the cluster, the processes and the databases never outlive
 * the run; a failing clean-up step is logged and the next one still runs.
 */
export type CleanUps = (() => Promise<unknown>)[];

export async function runWithCleanUp(name: string, log: (line: string) => void, run: (cleanups: CleanUps) => Promise<number>): Promise<never> {
  const cleanups: CleanUps = [];
  let cleaning: Promise<void> | undefined;
  const cleanUp = () =>
    (cleaning ??= (async () => {
      log('cleaning up: processes, cluster, databases');
      for (const cleanup of cleanups.reverse()) await cleanup().catch((error: Error) => log(`clean-up step failed: ${error.message}`));
    })());
  for (const event of ['uncaughtException', 'unhandledRejection'] as const) {
    process.once(event, (error: unknown) => {
      log(`${event}: ${(error as Error)?.stack ?? String(error)}`);
      void cleanUp().finally(() => process.exit(1));
    });
  }
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`${signal}: stopping`);
      void cleanUp().finally(() => process.exit(130));
    });
  }
  let code = 1;
  try {
    code = await run(cleanups);
  } catch (error) {
    log(`${name} run failed: ${(error as Error).message}`);
  } finally {
    await cleanUp();
  }
  process.exit(code);
}
