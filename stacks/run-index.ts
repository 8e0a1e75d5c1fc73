// The run index: one DynamoDB table of run, file and restore items (keys and GSIs from wiring RUN_INDEX), or an imported one.
import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { acknowledgeWildcardResources } from './nag';
import { RUN_INDEX } from '../functions/lib/contract';

export interface RunIndexTableProps {
  /** Name of an existing table (`imports.runIndexTableName`) to use instead of creating one. */
  readonly importTableName?: string;
  /** The customer-managed key to encrypt a created table with (stacks/encryption-key.ts); absent: the AWS managed key. */
  readonly encryptionKey?: kms.IKey;
}

export class RunIndexTable extends Construct {
  readonly table: dynamodb.ITable;

  constructor(scope: Construct, id: string, props: RunIndexTableProps = {}) {
    super(scope, id);
    const indexes = Object.values(RUN_INDEX.indexes);

    if (props.importTableName) {
      // Declaring the GSIs makes grants cover `table/<name>/index/*`, which queries by run id or state need.
      this.table = dynamodb.Table.fromTableAttributes(this, 'Table', {
        tableName: props.importTableName,
        globalIndexes: indexes.map((index) => index.name),
      });
      return;
    }

    const table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: RUN_INDEX.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: RUN_INDEX.sortKey, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      ...(props.encryptionKey
        ? { encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED, encryptionKey: props.encryptionKey }
        : { encryption: dynamodb.TableEncryption.AWS_MANAGED }),
      // The index is the only record of where each archive is: `cdk destroy` must not take it.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // Only run items carry runId / archiveState, so both indexes are sparse over runs.
    for (const index of indexes) {
      table.addGlobalSecondaryIndex({
        indexName: index.name,
        partitionKey: { name: index.partitionKey, type: dynamodb.AttributeType.STRING },
        sortKey: { name: index.sortKey, type: dynamodb.AttributeType.STRING },
        projectionType: dynamodb.ProjectionType.ALL,
      });
    }
    this.table = table;
  }

  /** Item reads and writes on the table and its indexes: what every handler that keeps the index needs. */
  grantRecords(grantee: iam.IGrantable): iam.Grant {
    const grant = this.table.grantReadWriteData(grantee);
    acknowledgeWildcardResources(
      grantee,
      [`${this.table.tableArn}/index/*`],
      'Lookups by run id and listings by archive state query the two GSIs of this table.',
    );
    return grant;
  }
}
