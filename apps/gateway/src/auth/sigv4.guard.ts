import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { unauthorized } from '#common';
import { IS_PUBLIC, type AuthedRequest } from './tenant.js';

/**
 * Backstop behind the edge's SigV4 step (sigv4.middleware.ts): a route that is not public runs only for
 * a request whose tenant was recorded there, whatever path spelling reached it.
 */
@Injectable()
export class SigV4Guard implements CanActivate {
  constructor(private readonly reflector: Reflector) {}

  canActivate(ctx: ExecutionContext): boolean {
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, [ctx.getHandler(), ctx.getClass()])) return true;
    if (!ctx.switchToHttp().getRequest<AuthedRequest>().tenant) throw unauthorized('this route requires a SigV4 signature');
    return true;
  }
}
