import { InvalidModuleOptionsError, InvalidTaskOptionsError } from '../errors';
import { resolveModuleOptions } from '../options/module-options';
import type { Fail } from '../options/validation';
import { compileGlob, matchSegments, resolveRouting } from './task-routing';

const fail: Fail = (problem) => {
  throw new Error(problem);
};
const taskFail: Fail = (problem) => {
  throw new InvalidTaskOptionsError('t', problem);
};
const matches = (pattern: string, name: string) =>
  matchSegments(compileGlob(pattern, fail), name.split('.'));
const declared = (...names: string[]) => new Map(['default', ...names].map((n) => [n, {}]));

describe('route globs', () => {
  it.each([
    ['email.*', 'email.send', true],
    ['email.*', 'email', false],
    ['email.*', 'email.send.bulk', false],
    ['email.send*', 'email.sendBulk', true],
    ['email.send*', 'email.resend', false],
    ['*.send', 'sms.send', true],
    ['reports.**', 'reports', true],
    ['reports.**', 'reports.daily.pdf', true],
    ['reports.**', 'reportsx.daily', false],
    ['**.retry', 'a.b.retry', true],
    ['**.retry', 'retry', true],
    ['a.**.z', 'a.z', true],
    ['a.**.z', 'a.b.c.z', true],
    ['a.**.z', 'a.b.c', false],
    ['**', 'anything.at.all', true],
    ['billing/charge', 'billing/charge', true],
    ['email-*', 'email-send', true],
    ['email', 'email.send', false],
  ])("'%s' against '%s' matches: %s", (pattern, name, expected) => {
    expect(matches(pattern, name)).toBe(expected);
  });

  it.each([
    ['', /non-empty string/],
    ['email..send', /empty segment/],
    ['email.', /empty segment/],
    ['a**.b', /'\*\*' must be a whole segment/],
    ['email.s?nd', /may hold only letters, digits/],
  ])("refuses the pattern '%s'", (pattern, message) => {
    expect(() => compileGlob(pattern, fail)).toThrow(message);
  });
});

describe('resolveRouting', () => {
  it('takes the first matching route, in the order given', () => {
    const routing = resolveRouting(
      { 'email.send': 'urgent', 'email.*': 'high', '**': { queue: 'low', priority: 5 } },
      undefined,
      undefined,
      fail,
    );
    expect(routing.staticRoute('email.send')).toEqual({ queue: 'urgent' });
    expect(routing.staticRoute('email.digest')).toEqual({ queue: 'high' });
    expect(routing.staticRoute('reports.daily')).toEqual({ queue: 'low', priority: 5 });
  });

  it('leaves a task no route matches to its own queue', () => {
    expect(
      resolveRouting({ 'email.*': 'high' }, undefined, undefined, fail).staticRoute('sms'),
    ).toBe(undefined);
  });

  it.each([
    [{ 'email.*': 'a:b' }, undefined, /routes\['email\.\*'\] queue must be 1–100 characters/],
    [
      { 'email.*': { queue: 'high', priorty: 1 } },
      undefined,
      /unknown option routes\['email\.\*'\]\.priorty \(did you mean 'priority'\?\)/,
    ],
    [
      { 'email.*': { queue: 'high', priority: -1 } },
      undefined,
      /routes\['email\.\*'\]\.priority must be an integer from 0/,
    ],
    [
      { 'email.*': 42 },
      undefined,
      /routes\['email\.\*'\] must be a queue name or \{ queue, priority \}, got number 42/,
    ],
    [
      { 'email..x': 'high' },
      undefined,
      /routes\['email\.\.x'\]: 'email\.\.x' has an empty segment/,
    ],
    [['high'], undefined, /routes must be an object of glob → queue, got an array/],
    [undefined, 'high', /router must be a function/],
  ])('refuses routes %j / router %j with a message naming the entry', (routes, router, message) => {
    expect(() => resolveRouting(routes, router, declared('high'), fail)).toThrow(message);
  });

  it('names the undeclared target and lists the declared queues', () => {
    expect(() =>
      resolveRouting({ 'email.*': 'hihg' }, undefined, declared('high', 'low'), fail),
    ).toThrow(
      "routes['email.*'] targets queue 'hihg', which is not declared in queues; declared: default, high, low",
    );
  });

  it('refuses a router without declared queues', () => {
    expect(() => resolveRouting(undefined, () => 'high', undefined, fail)).toThrow(
      /router needs queues/,
    );
  });

  it('reports bad routes as InvalidModuleOptionsError from forRoot options', () => {
    expect(() =>
      resolveModuleOptions({
        connection: 'redis://localhost',
        routes: { 'a.*': 'nope' },
        queues: {},
      }),
    ).toThrow(InvalidModuleOptionsError);
  });
});

describe('TaskRouting.route', () => {
  const router = jest.fn((_task: string, payload: unknown) =>
    (payload as { vip?: boolean }).vip ? { queue: 'high', priority: 1 } : undefined,
  );
  const routing = resolveRouting({ 'email.*': 'low' }, router, declared('high', 'low'), fail);

  it('asks the router, and leaves the static queue when it answers undefined', () => {
    expect(routing.route('email.send', 'low', { vip: true }, undefined, taskFail)).toEqual({
      queue: 'high',
      priority: 1,
    });
    expect(routing.route('email.send', 'low', { vip: false }, { delay: 5 }, taskFail)).toBe(
      undefined,
    );
    expect(router).toHaveBeenLastCalledWith('email.send', { vip: false }, { delay: 5 });
  });

  it('lets the call site win over the router', () => {
    router.mockClear();
    expect(
      routing.route('email.send', 'low', { vip: true }, { queue: 'default' }, taskFail),
    ).toEqual({ queue: 'default' });
    expect(router).not.toHaveBeenCalled();
  });

  it('refuses an undeclared queue from the call site or the router, listing the declared ones', () => {
    expect(() => routing.route('t', 'low', {}, { queue: 'hihg' }, taskFail)).toThrow(
      "queue 'hihg' was given, which is not declared in TasksModule.forRoot({ queues }); declared: default, high, low",
    );
    const wild = resolveRouting(undefined, () => 'elsewhere', declared('high'), fail);
    expect(() => wild.route('t', 'default', {}, undefined, taskFail)).toThrow(
      "the router chose queue 'elsewhere', which is not declared",
    );
  });

  it('without a router, accepts at the call site only the queue the task is consumed on', () => {
    const fixed = resolveRouting({ 'email.*': 'low' }, undefined, declared('high', 'low'), fail);
    expect(fixed.route('email.send', 'low', {}, { queue: 'low' }, taskFail)).toEqual({
      queue: 'low',
    });
    expect(() => fixed.route('email.send', 'low', {}, { queue: 'high' }, taskFail)).toThrow(
      /workers of this task consume only 'low'/,
    );
    const undeclared = resolveRouting(undefined, undefined, undefined, fail);
    expect(() => undeclared.route('t', 'default', {}, { queue: 'high' }, taskFail)).toThrow(
      /must be declared/,
    );
  });

  it('consumes every declared queue for a task only when a router may send it there', () => {
    expect(routing.queuesOf('low')).toEqual(['default', 'high', 'low']);
    expect(resolveRouting({}, undefined, declared('high'), fail).queuesOf('low')).toEqual(['low']);
  });
});
