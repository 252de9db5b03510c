import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { AppConfig } from './config.js';
import { ConfigError } from './config.js';

/**
 * The master key seals every stored secret. From JCS_MASTER_KEY when set; otherwise read from (or, on
 * first start, generated into) JCS_DATA_DIR/master.key with mode 0600. `warn` is told when a key is
 * generated, because losing that file makes every stored secret unreadable.
 */
export function resolveMasterKey(config: AppConfig, warn: (msg: string) => void): Buffer {
  if (config.JCS_MASTER_KEY) return Buffer.from(config.JCS_MASTER_KEY, 'base64');
  const file = path.join(config.JCS_DATA_DIR, 'master.key');
  try {
    const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
    if (key.length !== 32) throw new ConfigError(`${file} does not hold 32 bytes of base64`);
    return key;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  mkdirSync(config.JCS_DATA_DIR, { recursive: true });
  const key = randomBytes(32);
  try {
    writeFileSync(file, key.toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
  } catch (e) {
    // Another process (gateway and worker starting together) won the race: use its key.
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return resolveMasterKey(config, warn);
    throw e;
  }
  warn(`JCS_MASTER_KEY is not set: generated a master key into ${file}; back it up, stored secrets depend on it`);
  return key;
}
