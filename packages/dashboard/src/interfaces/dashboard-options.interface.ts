import type { CanActivate, Type } from '@nestjs/common';

/** Options of `DashboardModule.forRoot()` / `forRootAsync()`. */
export interface DashboardModuleOptions {
  /**
   * A secret the API asks for as `Authorization: Bearer <token>`; the page asks for it in a
   * login form and sends it with each call. Give a token, a `guard`, or both (then both must
   * let a request through): with neither, the module refuses to start.
   */
  token?: string;
  /**
   * A guard of your app (session, roles, SSO…) that every API request must pass. It is taken
   * from your app's container when it is a provider there, else created with the dashboard
   * module's injector (give its modules in `forRootAsync({ imports })`). Its `request.user`
   * names who did each action in the log.
   */
  guard?: Type<CanActivate>;
  /**
   * Shows everything and changes nothing: the page hides every action and the API answers
   * each one with 403.
   * @default false
   */
  readOnly?: boolean;
  /**
   * How many jobs one search request may read at most before it answers with what it found
   * and a cursor to go on from, so that a search never holds Redis for long.
   * @default 1000
   */
  searchScanLimit?: number;
}

/** The module-shaping options, known before any factory runs. */
export interface DashboardModuleExtras {
  /**
   * Where the page is served; its JSON API is under `<path>/api`.
   * @default '/conveyor'
   */
  path?: string;
  /** @default false */
  isGlobal?: boolean;
}
