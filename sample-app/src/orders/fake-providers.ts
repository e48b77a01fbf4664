import { Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { APP_CONFIG } from '../tokens';
import type { AppConfig } from '../config';

/** A stand-in for a real mail API that fails now and then, or all the time during an outage. */
@Injectable()
export class FakeMailer {
  /** The demo's outage (PUT /admin/mail-outage): every send fails until it ends. */
  down = false;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  async send(to: string, subject: string, signal: AbortSignal): Promise<string> {
    await sleep(this.config.MAIL_LATENCY_MS, signal);
    if (this.down || Math.random() < this.config.MAIL_FAILURE_RATE)
      throw new Error('mail provider: 503 Service Unavailable');
    return `msg-${randomUUID().slice(0, 8)} to ${to}: ${subject}`;
  }
}

/** Thrown for a charge the provider will never accept as it stands. */
export class CardDeclinedError extends Error {
  override readonly name = 'CardDeclinedError';
}

/** The provider is throttling us (HTTP 429): try again after `retryAfterSeconds`. */
export class ProviderBusyError extends Error {
  override readonly name = 'ProviderBusyError';

  constructor(readonly retryAfterSeconds: number) {
    super(`payment provider: 429 Too Many Requests (Retry-After: ${retryAfterSeconds})`);
  }
}

/**
 * A stand-in for a payment provider with a per-charge limit that ops can raise, and that
 * answers 429 with a `Retry-After` while it is throttling (see `throttle()`).
 */
@Injectable()
export class FakePaymentGateway {
  private limitCents: number;
  private readonly charges = new Map<string, string>();
  private throttled = { charges: 0, retryAfterSeconds: 0 };

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.limitCents = config.PAYMENT_LIMIT_CENTS;
  }

  get limit(): number {
    return this.limitCents;
  }

  setLimit(cents: number): void {
    this.limitCents = cents;
  }

  /** Answers the next `charges` charges with 429 and `Retry-After: retryAfterSeconds`. */
  throttle(charges: number, retryAfterSeconds: number): void {
    this.throttled = { charges, retryAfterSeconds };
  }

  /** `key` makes the charge idempotent at the provider, as real payment APIs do. */
  async charge(key: string, amountCents: number): Promise<string> {
    await sleep(10);
    if (this.throttled.charges > 0) {
      this.throttled.charges--;
      throw new ProviderBusyError(this.throttled.retryAfterSeconds);
    }
    if (amountCents > this.limitCents) {
      throw new CardDeclinedError(
        `charge of ${amountCents} cents is over the account limit of ${this.limitCents}`,
      );
    }
    let id = this.charges.get(key);
    if (!id) this.charges.set(key, (id = `ch_${randomUUID().slice(0, 12)}`));
    return id;
  }

  /** Refunds the charge made under `key`; refunding one that is not there does nothing. */
  refund(key: string): void {
    this.charges.delete(key);
  }
}

/** A stand-in for a warehouse that holds stock for orders until it is released. */
@Injectable()
export class FakeWarehouse {
  private readonly held = new Map<string, number>();

  hold(orderId: string, units: number): void {
    this.held.set(orderId, units);
  }

  /** Releasing stock that is not held does nothing: a compensation may run twice. */
  release(orderId: string): void {
    this.held.delete(orderId);
  }

  heldFor(orderId: string): number {
    return this.held.get(orderId) ?? 0;
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(signal.reason);
    });
  });
}
