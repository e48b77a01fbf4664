import { BadRequestException, type PipeTransform } from '@nestjs/common';
import type { z } from 'zod';

/** Validates a body against a zod schema; a bad body is a 400 that lists each field's problem. */
export class ZodBody<S extends z.ZodType> implements PipeTransform<unknown, z.infer<S>> {
  constructor(private readonly schema: S) {}

  transform(value: unknown): z.infer<S> {
    const parsed = this.schema.safeParse(value);
    if (parsed.success) return parsed.data;
    throw new BadRequestException({
      statusCode: 400,
      error: 'Bad Request',
      message: 'The request body is invalid',
      errors: parsed.error.issues.map((issue) => ({
        field: issue.path.join('.') || '(body)',
        problem: issue.message,
      })),
    });
  }
}
