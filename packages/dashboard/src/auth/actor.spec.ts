import { actorOf } from './actor';

describe('actorOf', () => {
  it("prefers the guard's user, then the page's header, then 'token'", () => {
    expect(actorOf({ user: { username: 'ada' }, headers: { 'x-conveyor-user': 'bob' } })).toEqual({
      name: 'ada',
      via: 'guard',
    });
    expect(actorOf({ headers: { 'x-conveyor-user': ' bob ' } })).toEqual({
      name: 'bob',
      via: 'header',
    });
    expect(actorOf({ headers: {} })).toEqual({ name: 'token', via: 'token' });
  });

  it('keeps a name to one short line', () => {
    const { name } = actorOf({
      headers: { 'x-conveyor-user': `eve\nforged line${'x'.repeat(200)}` },
    });
    expect(name).not.toContain('\n');
    expect(name.length).toBe(100);
  });
});
