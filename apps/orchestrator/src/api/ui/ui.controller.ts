/**
 * Serves the admin UI at /ui (index.html) and /ui/<file> from the files loaded at boot
 * (ui-assets.ts). The shell holds no data: it is public, and every data call it makes carries
 * the operator's bearer token, checked by the access guard like any client's.
 *
 * Guarantees: only files of the built UI are served (a fixed map, no path from the URL reaches
 * the filesystem); every answer carries a strict Content-Security-Policy (own origin only, no
 * inline script or style, no framing), nosniff and no-referrer; files are revalidated with an
 * ETag (304 when unchanged). UI_ENABLED=false answers 404 everywhere under /ui. Not part of the
 * OpenAPI document: it is not an API.
 */
import { Controller, Get, Inject, NotFoundException, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { Public } from '../../auth/roles';
import { ORCHESTRATOR_CONFIG, type OrchestratorConfig } from '../../config/orchestrator-config';
import { findUiDir, loadUiAssets, type UiAsset } from './ui-assets';

export const UI_CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "img-src 'self' data:",
  "style-src 'self'",
  "script-src 'self'",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

@ApiExcludeController()
@Public()
@Controller('ui')
export class UiController {
  private readonly assets: Map<string, UiAsset>;

  constructor(@Inject(ORCHESTRATOR_CONFIG) private readonly config: OrchestratorConfig) {
    this.assets = config.uiEnabled ? loadUiAssets(findUiDir()) : new Map();
  }

  @Get()
  index(@Req() request: Request, @Res() response: Response): void {
    this.send(request, response, 'index.html');
  }

  @Get('*path')
  file(@Req() request: Request, @Res() response: Response): void {
    const name = request.path.replace(/^\/ui\/?/, '');
    this.send(request, response, name === '' ? 'index.html' : name);
  }

  private send(request: Request, response: Response, name: string): void {
    const asset = this.assets.get(name);
    if (!this.config.uiEnabled || !asset) {
      throw new NotFoundException(this.config.uiEnabled && this.assets.size === 0 ? 'the admin UI is not built (npm run build)' : 'not found');
    }
    response.setHeader('Content-Security-Policy', UI_CONTENT_SECURITY_POLICY);
    response.setHeader('X-Content-Type-Options', 'nosniff');
    response.setHeader('Referrer-Policy', 'no-referrer');
    response.setHeader('X-Frame-Options', 'DENY');
    response.setHeader('Cache-Control', 'no-cache');
    response.setHeader('ETag', asset.etag);
    if (request.headers['if-none-match'] === asset.etag) {
      response.status(304).end();
      return;
    }
    response.status(200).type(asset.type).send(asset.body);
  }
}
