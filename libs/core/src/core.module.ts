import { Global, Inject, Module, type DynamicModule, type OnApplicationShutdown } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '#config';
import { SecretBox } from '#common';
import { dataSourceOptions } from '#db';
import { redisOptions } from './redis.js';
import { REDIS, SECRET_BOX } from './tokens.js';

/**
 * What every process (gateway, worker, CLI) shares: the parsed configuration, the master-key secret
 * box, the PostgreSQL DataSource (migrations applied on start) and one Redis connection.
 */
@Global()
@Module({})
export class CoreModule implements OnApplicationShutdown {
  constructor(@Inject(REDIS) private readonly redis: Redis) {}

  static forRoot(config: AppConfig, masterKey: Buffer, opts: { runMigrations?: boolean } = {}): DynamicModule {
    return {
      module: CoreModule,
      imports: [
        TypeOrmModule.forRootAsync({
          useFactory: () => ({ ...dataSourceOptions(config.DATABASE_URL), retryAttempts: 0 }),
          dataSourceFactory: async (options) => {
            const ds = await new DataSource(options!).initialize();
            if (opts.runMigrations !== false) await ds.runMigrations({ transaction: 'each' });
            return ds;
          },
        }),
      ],
      providers: [
        { provide: APP_CONFIG, useValue: config },
        { provide: SECRET_BOX, useValue: new SecretBox(masterKey) },
        {
          provide: REDIS,
          useFactory: () => {
            const r = new Redis({ ...redisOptions(config.REDIS_URL), lazyConnect: false });
            r.on('error', () => undefined); // readiness reports it; ioredis reconnects by itself
            return r;
          },
        },
      ],
      exports: [APP_CONFIG, SECRET_BOX, REDIS, TypeOrmModule],
    };
  }

  onApplicationShutdown(): void {
    this.redis.disconnect();
  }
}
