// `npm run migration:run`: applies pending migrations to DATABASE_URL and exits.
import 'reflect-metadata';
import { loadConfig } from '#config';
import { openDataSource } from './data-source.js';

try {
  const config = loadConfig();
  const ds = await openDataSource(config.DATABASE_URL, false);
  const applied = await ds.runMigrations({ transaction: 'each' });
  console.log(JSON.stringify({ applied: applied.map((m) => m.name) }));
  await ds.destroy();
} catch (e) {
  console.error(`migration failed: ${(e as Error).message}`);
  process.exit(1);
}
