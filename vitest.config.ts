import {defineConfig} from 'vitest/config'

/**
 * The command suites that run twice: on the local backend ("local") and through a licadm server
 * started in-process over the same profile ("remote", see test/helpers/remote.ts).
 */
const BOTH_BACKENDS = [
  'test/commands/backend.test.ts',
  'test/commands/products.test.ts',
  'test/commands/licenses.test.ts',
  'test/commands/license-create.test.ts',
  'test/commands/verify.test.ts',
  'test/commands/containers.test.ts',
  'test/commands/devices.test.ts',
  'test/commands/saw.test.ts',
  'test/commands/audit.test.ts',
  'test/commands/tokens.test.ts',
  'test/e2e/admin-story.test.ts',
]

export default defineConfig({
  test: {
    // oclif's runCommand/captureOutput need the real console.
    disableConsoleIntercept: true,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Most files wait on spawned CLIs and servers, so more workers than cores keeps both cores busy
    // (vitest's default here is cores - 1: one worker on a two-core machine).
    maxWorkers: 3,
    restoreMocks: true,
    projects: [
      {extends: true, test: {name: 'local', include: ['test/**/*.test.ts']}},
      {
        extends: true,
        test: {name: 'remote', include: BOTH_BACKENDS, env: {LICADM_TEST_BACKEND: 'remote'}, setupFiles: ['test/helpers/remote-setup.ts']},
      },
    ],
  },
})
