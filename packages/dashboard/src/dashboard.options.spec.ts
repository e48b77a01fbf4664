import { Injectable, type CanActivate } from '@nestjs/common';
import { InvalidDashboardOptionsError } from './errors/invalid-dashboard-options.error';
import { normalizePath, resolveDashboardOptions } from './dashboard.options';
import { DashboardModule } from './dashboard.module';

@Injectable()
class AllowAll implements CanActivate {
  canActivate(): boolean {
    return true;
  }
}

describe('resolveDashboardOptions', () => {
  it('refuses to start with neither a token nor a guard', () => {
    expect(() => resolveDashboardOptions({})).toThrow(InvalidDashboardOptionsError);
    expect(() => resolveDashboardOptions({})).toThrow(/token or a guard/);
    expect(() => DashboardModule.forRoot({ path: '/conveyor' })).toThrow(/token or a guard/);
  });

  it('applies defaults', () => {
    expect(resolveDashboardOptions({ token: 'a-long-secret' })).toEqual({
      token: 'a-long-secret',
      guard: undefined,
      readOnly: false,
      searchScanLimit: 1000,
    });
    expect(resolveDashboardOptions({ guard: AllowAll, readOnly: true }).readOnly).toBe(true);
  });

  it('rejects an unknown key, naming the nearest one', () => {
    expect(() =>
      resolveDashboardOptions({ token: 'a-long-secret', readonly: true } as never),
    ).toThrow(/readonly.*readOnly/);
  });

  it('rejects an empty token and a bad scan limit', () => {
    expect(() => resolveDashboardOptions({ token: '' })).toThrow(/token/);
    expect(() => resolveDashboardOptions({ token: 'a-long-secret', searchScanLimit: 0 })).toThrow(
      /searchScanLimit/,
    );
  });
});

describe('normalizePath', () => {
  it('keeps one leading slash and no trailing one', () => {
    expect(normalizePath('/conveyor')).toBe('/conveyor');
    expect(normalizePath('ops/queues/')).toBe('/ops/queues');
  });

  it('refuses the root and odd characters', () => {
    expect(() => normalizePath('/')).toThrow(/root/);
    expect(() => normalizePath('/a b')).toThrow(/path/);
  });
});
