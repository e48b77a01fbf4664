import { Controller, Get, NotFoundException, Param, Res, type Type } from '@nestjs/common';
import { loadUiAssets, type UiAssets } from './ui-assets';

interface HeaderResponse {
  setHeader(name: string, value: string): unknown;
}

// The page loads nothing but its own script and stylesheet, and calls only its own API.
const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
};

/**
 * Serves the page at `<path>` and its files (script modules and stylesheet) under `<path>/assets`. They hold no data
 * (that comes from the guarded API), so they are served to anyone: the page shows its login
 * form until the API lets it in.
 */
export function dashboardPageController(path: string): Type {
  @Controller(path)
  class DashboardPageController {
    private assets?: UiAssets;

    @Get()
    page(@Res({ passthrough: true }) response: HeaderResponse): string {
      headers(response, 'text/html; charset=utf-8', 'no-store');
      return this.ui().html(path);
    }

    @Get('assets/:file')
    asset(@Param('file') name: string, @Res({ passthrough: true }) response: HeaderResponse) {
      const file = this.ui().file(name);
      if (!file) throw new NotFoundException();
      headers(response, file.type, 'no-cache');
      return file.body;
    }

    private ui(): UiAssets {
      return (this.assets ??= loadUiAssets());
    }
  }
  return DashboardPageController;
}

function headers(response: HeaderResponse, type: string, cache: string): void {
  response.setHeader('Content-Type', type);
  response.setHeader('Cache-Control', cache);
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) response.setHeader(name, value);
}
