/**
 * The Node flags every service process runs with: `npm start`, the bench and the Docker image
 * (docker/Dockerfile sets the same in NODE_OPTIONS), so a measured figure is the deployed one.
 *
 * --max-semi-space-size=16 caps V8's young generation. By default it grows with the machine's
 * memory (here to several times this size): in a 20-second bench at 64 sagas in flight the
 * orchestrator peaked at ~340 MiB resident without it and ~280 MiB with it, for the same
 * throughput within the run-to-run spread (8 MiB saved little more and cost ~10 % throughput in
 * scavenges). Over 10 minutes it still settles at ~325 MiB (README, Performance).
 */
export const SERVICE_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=16'];
