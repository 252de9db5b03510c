import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `host_root`: the real host folder of a Local user space (symlinks resolved), so that the check that no
 * two tenants' Local spaces overlap is one indexed query. NULL for S3/OBS spaces and for Local rows
 * stored before this column (and the default spaces made with a tenant): the check fills those in
 * under its lock before it looks. COLLATE "C" makes `>= 'p/' AND < 'p0'` exactly "below p/".
 */
export class UserSpaceHostRoot1764700000000 implements MigrationInterface {
  name = 'UserSpaceHostRoot1764700000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE user_spaces ADD COLUMN host_root text COLLATE "C"`);
    await q.query(`CREATE INDEX user_spaces_host_root ON user_spaces(host_root) WHERE host_root IS NOT NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX IF EXISTS user_spaces_host_root`);
    await q.query(`ALTER TABLE user_spaces DROP COLUMN IF EXISTS host_root`);
  }
}
