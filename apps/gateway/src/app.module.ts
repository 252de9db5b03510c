import { Inject, Module, RequestMethod, ValidationPipe, type DynamicModule, type MiddlewareConsumer, type NestModule } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_PIPE } from '@nestjs/core';
import { LoggerModule } from 'nestjs-pino';
import pino, { type Logger } from 'pino';
import type { ValidationError } from 'class-validator';
import { AuthModule } from '#auth';
import { BucketsModule } from '#buckets';
import { badArgument } from '#common';
import { APP_CONFIG, type AppConfig } from '#config';
import { CoreModule } from '#core';
import { ObjectsModule } from '#objects';
import { GarbageCollectorModule } from '#garbage-collector';
import { PackageTransferModule } from '#package-transfer';
import { PackagesModule } from '#packages';
import { SpaceSyncerModule } from '#space-syncer';
import { UserSpacesModule } from '#user-spaces';
import { SigV4Guard } from './auth/sigv4.guard.js';
import { SigV4Middleware } from './auth/sigv4.middleware.js';
import { JsonBodyMiddleware } from './common/json-body.middleware.js';
import { queryGate } from './common/query.js';
import { requestLog } from './common/request-log.js';
import { BucketsController } from './buckets/buckets.controller.js';
import { EnvelopeFilter } from './envelope/envelope.filter.js';
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

/** One pino logger per gateway: the request log writes to it, application logs go through nestjs-pino to it. */
const loggers = new WeakMap<AppConfig, Logger>();
export function requestLogger(config: AppConfig): Logger {
  let logger = loggers.get(config);
  if (!logger) loggers.set(config, (logger = pino({ level: config.LOG_LEVEL })));
  return logger;
}

@Module({})
export class GatewayModule implements NestModule {
  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  /**
   * The edge, in order, before any route: the request log, SigV4 from the request head
   * (no body byte read), then the JSON body (bounded, hash-checked, strictly decoded), then the query
   * gate; validation pipes come last, in the route.
   */
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(requestLog(requestLogger(this.config)), SigV4Middleware, JsonBodyMiddleware, queryGate).forRoutes({ path: '{/*splat}', method: RequestMethod.ALL });
  }

  static forRoot(config: AppConfig, masterKey: Buffer): DynamicModule {
    return {
      module: GatewayModule,
      imports: [
        // Application logs through nestjs-pino; its per-request middleware is not mounted (forRoutes: []):
        // requests are logged by requestLog (see there why).
        LoggerModule.forRoot({ pinoHttp: { logger: requestLogger(config) }, forRoutes: [] }),
        CoreModule.forRoot(config, masterKey),
        AuthModule,
        BucketsModule,
        PackagesModule,
        ObjectsModule,
        GarbageCollectorModule,
        PackageTransferModule,
        UserSpacesModule,
        SpaceSyncerModule,
      ],
      controllers: [HealthController, BucketsController, PackagesController, ObjectsController, UserSpacesController, SpaceSyncerController],
      providers: [
        { provide: APP_FILTER, useClass: EnvelopeFilter },
        { provide: APP_GUARD, useClass: SigV4Guard },
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
