/**
 * Base class of every error Conveyor throws. `name` is stable across versions and
 * minification, so callers can branch on `error.name` as well as on `instanceof`.
 */
export abstract class ConveyorError extends Error {
  abstract override readonly name: string;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    Object.setPrototypeOf(this, new.target.prototype);
  }
}
