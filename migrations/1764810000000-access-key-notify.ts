import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Gateways cache verified access keys in memory (AccessKeyCache). Any change to an `access_keys` row
 * (revocation by the CLI, a manual UPDATE or DELETE) notifies channel `jcs_access_keys` with the key's
 * ID, from a trigger, so every listening gateway drops it at the commit, whoever made the change.
 */
export class AccessKeyNotify1764810000000 implements MigrationInterface {
  name = 'AccessKeyNotify1764810000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE FUNCTION jcs_access_key_changed() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_notify('jcs_access_keys', OLD.access_key_id);
        RETURN NULL;
      END $$`);
    await q.query(`
      CREATE TRIGGER access_keys_changed AFTER UPDATE OR DELETE ON access_keys
      FOR EACH ROW EXECUTE FUNCTION jcs_access_key_changed()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TRIGGER IF EXISTS access_keys_changed ON access_keys`);
    await q.query(`DROP FUNCTION IF EXISTS jcs_access_key_changed()`);
  }
}
