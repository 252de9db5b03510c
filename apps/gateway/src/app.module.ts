import { Module, RequestMethod, ValidationPipe, type DynamicModule, type MiddlewareConsumer, type NestModule } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_INTERCEPTOR, APP_PIPE } from '@nestjs/core';
import { LoggerModule } from 'nestjs-pino';
import { randomUUID } from 'node:crypto';
import type { ValidationError } from 'class-validator';
import { AuthModule } from '#auth';
import { BucketsModule } from '#buckets';
import { badArgument, redactHeaders, redactQueryObject, redactUrl } from '#common';
import type { AppConfig } from '#config';
import { CoreModule } from '#core';
import { ObjectsModule } from '#objects';
import { PackagesModule } from '#packages';
import { SpaceSyncerModule } from '#space-syncer';
import { UserSpacesModule } from '#user-spaces';
import { SigV4Guard } from './auth/sigv4.guard.js';
import { SigV4Middleware } from './auth/sigv4.middleware.js';
import { JsonBodyMiddleware } from './common/json-body.middleware.js';
import { queryGate } from './common/query.js';
import { BucketsController } from './buckets/buckets.controller.js';
import { EnvelopeFilter } from './envelope/envelope.filter.js';
import { EnvelopeInterceptor } from './envelope/envelope.interceptor.js';
import { HealthController } from './health/health.controller.js';
import { ObjectsController } from './objects/objects.controller.js';
import { PackagesController } from './packages/packages.controller.js';
import { SpaceSyncerController } from './space-syncer/space-syncer.controller.js';
import { UserSpacesController } from './user-spaces/user-spaces.controller.js';

/** First validation message of the first failing field, e.g. "bucketID must be an integer". */
function validationMessage(errors: ValidationError[]): string {
  const first = (e: ValidationError): string | undefined =>
    e.constraints ? Object.values(e.constraints)[0] : e.children?.map(first).find(Boolean);
  return errors.map(first).find(Boolean) ?? 'invalid request';
}

@Module({})
export class GatewayModule implements NestModule {
  /**
   * The edge, in order, before any route (and after the request logger): SigV4 from the request head
   * (no body byte read), then the JSON body (bounded, hash-checked, strictly decoded), then the query
   * gate; validation pipes come last, in the route.
   */
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(SigV4Middleware, JsonBodyMiddleware, queryGate).forRoutes({ path: '{/*splat}', method: RequestMethod.ALL });
  }

  static forRoot(config: AppConfig, masterKey: Buffer): DynamicModule {
    return {
      module: GatewayModule,
      imports: [
        LoggerModule.forRoot({
          pinoHttp: {
            level: config.LOG_LEVEL,
            genReqId: (req, res) => {
              const given = req.headers['x-request-id'];
              const id = typeof given === 'string' && /^[\w.:-]{1,128}$/.test(given) ? given : randomUUID();
              res.setHeader('X-Request-Id', id);
              return id;
            },
            // Presigned URLs carry their signature and credential in the query, headers carry keys and
            // cookies: every request log line goes through the one redaction of #common.
            serializers: {
              req: (req: { url?: string; query?: Record<string, unknown>; headers?: Record<string, unknown> }) => {
                if (typeof req.url === 'string') req.url = redactUrl(req.url);
                if (req.query && typeof req.query === 'object') req.query = redactQueryObject(req.query);
                if (req.headers) req.headers = redactHeaders(req.headers);
                return req;
              },
            },
            autoLogging: { ignore: (req) => req.url === '/healthz' || req.url === '/readyz' },
          },
        }),
        CoreModule.forRoot(config, masterKey),
        AuthModule,
        BucketsModule,
        PackagesModule,
        ObjectsModule,
        UserSpacesModule,
        SpaceSyncerModule,
      ],
      controllers: [HealthController, BucketsController, PackagesController, ObjectsController, UserSpacesController, SpaceSyncerController],
      providers: [
        { provide: APP_FILTER, useClass: EnvelopeFilter },
        { provide: APP_GUARD, useClass: SigV4Guard },
        { provide: APP_INTERCEPTOR, useClass: EnvelopeInterceptor },
        {
          provide: APP_PIPE,
          useValue: new ValidationPipe({
            transform: true,
            whitelist: true,
            forbidNonWhitelisted: false,
            exceptionFactory: (errors) => badArgument(validationMessage(errors)),
          }),
        },
      ],
    };
  }
}
