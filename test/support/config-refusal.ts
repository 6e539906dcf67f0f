/** The ConfigError a call must throw (tests of task file and endpoint rules). */
import assert from 'node:assert/strict';
import { ConfigError } from '../../src/core/errors.ts';

/**
 * Runs `f` and returns the {@link ConfigError} it throws (code CONFIG_INVALID); fails the test when
 * it throws anything else or nothing.
 */
export function configRefusal(f: () => unknown): ConfigError {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    assert.equal(e.code, 'CONFIG_INVALID');
    return e;
  }
  assert.fail('expected a ConfigError');
}
