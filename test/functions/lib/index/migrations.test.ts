// Index migrations: each step is applied in order, current and newer items are left alone, writes are conditional.
import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { migrateIndex, migrateItem, MIGRATIONS, type Migration } from '../../../../functions/lib/index/migrations';
import { SCHEMA_VERSION } from '../../../../functions/lib/index/run-index';

const db = mockClient(DynamoDBDocumentClient);
const steps: Migration[] = [
  { from: 1, describe: 'rename size to bytes', migrate: ({ size, ...rest }) => ({ ...rest, bytes: size }) },
  { from: 2, describe: 'add a default tier', migrate: (item) => ({ tier: 'default', ...item }) },
];

beforeEach(() => db.reset());

describe('migrateItem', () => {
  it('applies each step in order up to the target', () => {
    expect(migrateItem({ pk: 'RUN#a', sk: 'FILE#x', schemaVersion: 1, size: 5 }, steps, 3)).toEqual({
      pk: 'RUN#a',
      sk: 'FILE#x',
      schemaVersion: 3,
      bytes: 5,
      tier: 'default',
    });
  });

  it('treats an item without a version as version 1, and names a missing step', () => {
    expect(migrateItem({ pk: 'RUN#a', sk: 'META', size: 1 }, steps, 2)).toMatchObject({ schemaVersion: 2, bytes: 1 });
    expect(() => migrateItem({ pk: 'RUN#a', sk: 'META', schemaVersion: 1 }, [], 2)).toThrow(/no migration from schema version 1 \(item RUN#a META\)/);
  });

  it('ships no migration yet: version 1 is the first, and the current one', () => {
    expect(SCHEMA_VERSION).toBe(1);
    expect(MIGRATIONS).toEqual([]);
  });
});

describe('migrateIndex', () => {
  const items = [
    { pk: 'RUN#a', sk: 'META', schemaVersion: 1, updatedAt: 't1', size: 1 },
    { pk: 'RUN#a', sk: 'FILE#x', schemaVersion: 2, updatedAt: 't2' },
    { pk: 'RUN#b', sk: 'META', schemaVersion: 3, updatedAt: 't3' },
    { pk: 'RUN#c', sk: 'META', schemaVersion: 9, updatedAt: 't4' },
  ];

  it('rewrites older items conditionally, leaves current and newer ones, and counts everything', async () => {
    db.on(ScanCommand).resolves({ Items: items });
    db.on(PutCommand).resolves({});
    const report = await migrateIndex({
      db: DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' })),
      tableName: 'index',
      migrations: steps,
      target: 3,
    });
    expect(report).toEqual({ scanned: 4, current: 1, migrated: 2, newer: 1, conflicts: 0, byVersion: { '1': 1, '2': 1, '3': 1, '9': 1 } });
    expect(db).toHaveReceivedCommandWith(PutCommand, {
      TableName: 'index',
      Item: expect.objectContaining({ pk: 'RUN#a', sk: 'META', schemaVersion: 3, bytes: 1, tier: 'default' }),
      ConditionExpression: 'schemaVersion = :v AND updatedAt = :u',
      ExpressionAttributeValues: { ':v': 1, ':u': 't1' },
    });
  });

  it('writes nothing on a dry run, and counts a concurrent change as a conflict to retry', async () => {
    db.on(ScanCommand).resolves({ Items: items.slice(0, 2) });
    const dry = await migrateIndex({
      db: DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' })),
      tableName: 'index',
      migrations: steps,
      target: 3,
      dryRun: true,
    });
    expect(dry.migrated).toBe(2);
    expect(db).not.toHaveReceivedCommand(PutCommand);
    db.on(PutCommand).rejects(new ConditionalCheckFailedException({ message: 'changed', $metadata: {} }));
    const raced = await migrateIndex({
      db: DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' })),
      tableName: 'index',
      migrations: steps,
      target: 3,
    });
    expect(raced).toMatchObject({ migrated: 0, conflicts: 2 });
  });
});
