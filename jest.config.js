// Jest runs TypeScript through SWC. Unit specs live beside the code (libs/, apps/);
// adapter and e2e tests live in test/ and talk to the real PostgreSQL and RabbitMQ.
/** @type {import('jest').Config} */
module.exports = {
  rootDir: '.',
  testEnvironment: 'node',
  roots: ['<rootDir>/libs', '<rootDir>/apps', '<rootDir>/test'],
  testRegex: '.*\\.spec\\.ts$',
  transform: { '^.+\\.ts$': ['@swc/jest'] },
  moduleFileExtensions: ['ts', 'js', 'json'],
  moduleNameMapper: {
    '^#saga/core$': '<rootDir>/libs/saga-core/src',
    '^#saga/batching$': '<rootDir>/libs/batching/src',
    '^#saga/fault-points$': '<rootDir>/libs/fault-points/src',
    '^#saga/messaging$': '<rootDir>/libs/messaging/src',
    '^#saga/persistence$': '<rootDir>/libs/persistence/src',
    '^#saga/participant$': '<rootDir>/libs/participant/src',
  },
  testTimeout: 60000,
};
