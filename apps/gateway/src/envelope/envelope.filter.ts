import { ArgumentsHost, Catch, type ExceptionFilter } from '@nestjs/common';
import type { Request, Response } from 'express';
import { sendErrorEnvelope } from './error-response.js';

/** The one place where errors thrown by routes become HTTP (the edge middlewares use the same translation). */
@Catch()
export class EnvelopeFilter implements ExceptionFilter {
  catch(err: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    sendErrorEnvelope(http.getRequest<Request>(), http.getResponse<Response>(), err);
  }
}
