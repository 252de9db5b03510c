import { Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { map, type Observable } from 'rxjs';
import { ok } from './envelope.js';

/** Wraps what a JSON handler returns in `{"code":"OK","message":"","data":...}`; `undefined` → `null`. */
@Injectable()
export class EnvelopeInterceptor implements NestInterceptor {
  intercept(_ctx: ExecutionContext, next: CallHandler): Observable<unknown> {
    return next.handle().pipe(map((data) => ok(data === undefined ? null : data)));
  }
}
