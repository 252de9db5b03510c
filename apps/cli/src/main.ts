import 'reflect-metadata';
import { parseArgs } from 'node:util';
import { Module, type DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AuthModule, TenantsService } from '#auth';
import { loadConfig, resolveMasterKey, type AppConfig } from '#config';
import { CoreModule } from '#core';
import { ensureDatabase } from '#db';

/**
 * Operator CLI: `npm run cli -- user create --name NAME | user list | key create --user ID |
 * key revoke --access-key AK`. Each command prints exactly one line of JSON on success; errors go to
 * stderr as one line and exit 1 (2 for usage).
 */
const USAGE = 'usage: cli user create --name NAME | user list | key create --user ID | key revoke --access-key AK';

@Module({})
class CliModule {
  static forRoot(config: AppConfig, masterKey: Buffer): DynamicModule {
    return { module: CliModule, imports: [CoreModule.forRoot(config, masterKey), AuthModule] };
  }
}

class UsageError extends Error {}

async function run(argv: string[]): Promise<unknown> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { name: { type: 'string' }, user: { type: 'string' }, 'access-key': { type: 'string' } },
  });
  const command = positionals.join(' ');
  const config = loadConfig();
  const masterKey = resolveMasterKey(config, (m) => console.error(m));
  await ensureDatabase(config.DATABASE_URL);
  const ctx = await NestFactory.createApplicationContext(CliModule.forRoot(config, masterKey), { logger: false, abortOnError: false });
  try {
    const tenants = ctx.get(TenantsService);
    switch (command) {
      case 'user create':
        if (!values.name) throw new UsageError('user create needs --name NAME');
        return await tenants.createUser(values.name);
      case 'user list':
        return { users: await tenants.listUsers() };
      case 'key create': {
        const userId = Number(values.user);
        if (!values.user || !Number.isSafeInteger(userId) || userId < 1) throw new UsageError('key create needs --user ID');
        return await tenants.createKey(userId);
      }
      case 'key revoke':
        if (!values['access-key']) throw new UsageError('key revoke needs --access-key AK');
        await tenants.revokeKey(values['access-key']);
        return { revoked: values['access-key'] };
      default:
        throw new UsageError(USAGE);
    }
  } finally {
    await ctx.close();
  }
}

run(process.argv.slice(2)).then(
  (out) => {
    process.stdout.write(JSON.stringify(out) + '\n');
  },
  (e: Error) => {
    process.stderr.write(`${e instanceof UsageError || (e as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? e.message + '\n' + USAGE : `error: ${e.message}`}\n`);
    process.exit(e instanceof UsageError ? 2 : 1);
  },
);
