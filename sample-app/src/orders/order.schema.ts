import { z } from 'zod';

/** The body of `POST /orders`. */
export const CreateOrderSchema = z.object({
  customerEmail: z.email(),
  items: z
    .array(
      z.object({ sku: z.string().min(1).max(64), quantity: z.number().int().min(1).max(1000) }),
    )
    .min(1)
    .max(100),
  amountCents: z.number().int().positive().max(100_000_000),
});

export type CreateOrder = z.infer<typeof CreateOrderSchema>;
