#!/usr/bin/env node
// Drives a running order service (npm start in another terminal): creates orders, shows their
// jobs completing and retrying, a payment that is dead-lettered, and its replay after the fix.
// Needs ADMIN_TOKEN to match the app's (npm start picks up the same environment variable).
const base = process.env.APP_URL ?? `http://127.0.0.1:${process.env.PORT ?? 3000}`;
const token = process.env.ADMIN_TOKEN;

async function call(method, path, body, admin = false) {
  const response = await fetch(base + path, {
    method,
    headers: {
      'content-type': 'application/json',
      ...(admin && token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const show = (order) =>
  order.jobs.map((job) => `    ${job.task.padEnd(24)} ${job.state}`).join('\n');

async function waitForJobs(id, done, label) {
  for (let i = 0; i < 60; i++) {
    const { body } = await call('GET', `/orders/${id}`);
    if (done(body.jobs)) {
      console.log(`  ${label}:\n${show(body)}`);
      return body;
    }
    await sleep(500);
  }
  throw new Error(`order ${id} did not reach "${label}" in 30 s`);
}

async function main() {
  console.log(`Conveyor demo against ${base}\n`);

  console.log('1. An invalid order is refused with the field errors, and nothing is written:');
  const bad = await call('POST', '/orders', {
    customerEmail: 'not-an-email',
    items: [],
    amountCents: -1,
  });
  console.log(`  ${bad.status}`, JSON.stringify(bad.body.errors));

  console.log('\n2. A valid order: one transaction writes the order and its outbox rows;');
  console.log(
    '   the relay publishes them; workers run them (the mailer fails now and then: retries).',
  );
  const ok = await call('POST', '/orders', {
    customerEmail: 'ada@example.com',
    items: [{ sku: 'A-1', quantity: 2 }],
    amountCents: 2500,
  });
  console.log(`  ${ok.status} order ${ok.body.id}`);
  await waitForJobs(
    ok.body.id,
    (jobs) => jobs.every((j) => j.state === 'completed'),
    'all jobs completed',
  );

  console.log(
    '\n3. An order over the payment limit: the charge is declined for good and dead-lettered.',
  );
  const big = await call('POST', '/orders', {
    customerEmail: 'grace@example.com',
    items: [{ sku: 'B-7', quantity: 1 }],
    amountCents: 250_000,
  });
  const order = await waitForJobs(
    big.body.id,
    (jobs) => jobs.some((j) => j.state === 'dead-lettered'),
    'payment dead-lettered',
  );
  if (!token) {
    console.log('\n(Set ADMIN_TOKEN for the app and this script to see the replay.)');
    return;
  }
  const letters = await call('GET', '/admin/dead-letters/payments', undefined, true);
  console.log(
    `  admin sees ${letters.body.length} dead letter(s): ${letters.body.map((l) => l.error.message).join('; ')}`,
  );

  console.log('\n4. Ops raise the limit and replay the dead letter; the same job id runs again:');
  await call('PUT', '/admin/payment-limit', { limitCents: 1_000_000 }, true);
  const payment = order.jobs.find((j) => j.task === 'payment.charge');
  const replay = await call(
    'POST',
    `/admin/dead-letters/payments/${payment.jobId}/replay`,
    undefined,
    true,
  );
  console.log(`  replay: ${replay.status}`, JSON.stringify(replay.body));
  await waitForJobs(
    big.body.id,
    (jobs) => jobs.every((j) => j.state === 'completed'),
    'after the replay',
  );
  console.log('\nDone.');
}

main().catch((error) => {
  console.error(`demo failed: ${error.message}`);
  process.exit(1);
});
