import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import { ObjectsService } from '#objects';
import { ShardGoneError } from '#shard-store';
import { startTestGateway, type Tenant, type TestGateway } from './support/gateway.js';
import { download, fullHashOf, newPackage, uploadFiles } from './support/objects.js';

/**
 * The one-statement objects commit (jcs_commit_objects) where no HTTP race reaches it reliably: the
 * collector's marks between an upload's touch and its commit, and a package gone meanwhile.
 */
describe('objects commit', () => {
  let gw: TestGateway;
  let a: Tenant;
  let pkg: number;
  let space: number;
  let objects: ObjectsService;
  let ds: DataSource;

  beforeAll(async () => {
    gw = await startTestGateway();
    a = await gw.tenant();
    pkg = await newPackage(a);
    objects = gw.app.get(ObjectsService);
    ds = gw.app.get(DataSource);
    [{ user_space_id: space }] = await gw.sql('SELECT user_space_id::int FROM user_spaces WHERE user_id = $1 AND is_default', [a.userID]);
  });
  afterAll(async () => gw?.stop());

  /** A shard row as an upload's touch leaves it (no file needed: nothing here reads bytes). */
  const shard = async (marks: { doomed?: boolean; deleting?: boolean } = {}) => {
    const fileHash = fullHashOf(randomBytes(16));
    await gw.sql(
      `INSERT INTO shards (user_space_id, file_hash, size, touch_time, doomed_since, deleting_since)
       VALUES ($1, $2, 16, now(), CASE WHEN $3 THEN now() END, CASE WHEN $4 THEN now() END)`,
      [space, fileHash, !!marks.doomed, !!marks.deleting],
    );
    return fileHash;
  };
  const commit = (packageId: number, path: string, fileHash: string) =>
    ds.transaction((em) =>
      objects.commitObjects(em, a.userID, packageId, [
        { path, size: 16, fileHash, redundancy: { type: 'none' }, blocks: [{ index: 0, userSpaceId: space, fileHash, size: 16 }] },
      ]),
    );
  const objectAt = (path: string) => gw.sql('SELECT object_id FROM objects WHERE package_id = $1 AND path = $2', [pkg, path]);

  it('refuses a shard the collector is deleting: ShardGoneError naming it, nothing committed', async () => {
    const gone = await shard({ deleting: true });
    const err = await commit(pkg, 'gone.bin', gone).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ShardGoneError);
    expect((err as ShardGoneError).shard).toEqual({ userSpaceId: space, fileHash: gone });
    expect(await objectAt('gone.bin')).toEqual([]);
  });

  it('refuses a shard whose row is gone, and leaves an overwritten object as it was', async () => {
    await uploadFiles(a, pkg, [['kept.bin', Buffer.from('the first version')]]);
    const err = await commit(pkg, 'kept.bin', fullHashOf(randomBytes(16))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ShardGoneError);
    const read = await download(a, { packageID: pkg, path: 'kept.bin' }, {}, 'downloadByPath');
    expect(read.bytes.toString()).toBe('the first version');
  });

  it('clears the doomed mark of a shard it references', async () => {
    const doomed = await shard({ doomed: true });
    const [o] = await commit(pkg, 'doomed.bin', doomed);
    expect(o!.fileHash).toBe(doomed);
    expect(await gw.sql('SELECT doomed_since FROM shards WHERE user_space_id = $1 AND file_hash = $2', [space, doomed])).toEqual([{ doomed_since: null }]);
  });

  it('overwrites in place: same objectID and createTime, the blocks replaced', async () => {
    const first = await shard();
    const second = await shard();
    const [o1] = await commit(pkg, 'twice.bin', first);
    const [o2] = await commit(pkg, 'twice.bin', second);
    expect(o2!.objectId).toBe(o1!.objectId);
    expect(o2!.createTime).toEqual(o1!.createTime);
    expect(await gw.sql('SELECT index, file_hash FROM object_blocks WHERE object_id = $1', [o1!.objectId])).toEqual([{ index: 0, file_hash: second }]);
  });

  it('answers DataNotFound for a missing or foreign package, writing nothing', async () => {
    const b = await gw.tenant();
    const foreign = await newPackage(b);
    for (const packageId of [foreign, 999_999]) {
      const err = await commit(packageId, 'nowhere.bin', await shard()).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'DataNotFound' });
    }
    expect(await gw.sql('SELECT 1 FROM objects WHERE path = $1', ['nowhere.bin'])).toEqual([]);
  });
});
