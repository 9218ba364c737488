import { LightError } from '../../core/errors/light-error.js';

/** The LightError `work` throws; fails the test if it throws nothing or something else. */
export function lightErrorOf(work: () => unknown): LightError {
  try {
    work();
  } catch (error) {
    if (error instanceof LightError) return error;
    throw error;
  }
  throw new Error('expected a LightError');
}
