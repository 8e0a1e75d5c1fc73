// Where archived runs live: the snapshot bucket, the Glacier vault and its job-notification topic, the s3-glacier archive bucket.
import { Duration, RemovalPolicy, Stack, ArnFormat } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import type { ArchiverConfig } from '../functions/lib/contract';
import { acknowledgeBucketNotificationsHandler, acknowledgeCustomResourceProvider, acknowledgeWildcardResources } from './nag';

/** Key prefixes in the snapshot bucket: the handlers write there, and grants are scoped to them. */
export const SNAPSHOT_PREFIXES = {
  /** `runs/<uuid>/`: snapshot.json, GetRun/task records and gzipped logs. */
  runs: 'runs/',
  /** `plans/<uuid>/<execution>/`: archive plans (items.json) that ArchiveRun's Distributed Map reads with ItemReader. */
  plans: 'plans/',
  /** `restores/<uuid>/<restore id>/`: restore items that RestoreRun's Distributed Map reads. */
  restores: 'restores/',
} as const;

export interface ArchiveStorageProps {
  readonly config: ArchiverConfig;
}

export class ArchiveStorage extends Construct {
  readonly snapshotBucket: s3.IBucket;
  /** Absent unless a tier uses the s3-glacier target or `imports.archiveBucketName` names a bucket. */
  readonly archiveBucket?: s3.IBucket;
  /** Receives server access logs of the buckets created here; absent when every bucket is imported. */
  readonly accessLogsBucket?: s3.Bucket;
  /**
   * The Glacier vault: imported by name (`imports.vaultName`), or created (and kept on destroy) when a tier archives to
   * a vault. Absent when every tier uses the s3-glacier target.
   */
  readonly vaultName?: string;
  readonly vaultArn?: string;
  /** Glacier publishes job completions here: the retrieval function passes it with each InitiateJob (SNSTopic). */
  readonly vaultNotificationTopic?: sns.Topic;

  constructor(scope: Construct, id: string, props: ArchiveStorageProps) {
    super(scope, id);
    const { config } = props;
    const imports = config.imports;
    const usesS3Glacier = config.tiers.some((tier) => tier.target.type === 's3-glacier');
    const createsBuckets = !imports.snapshotBucketName || (usesS3Glacier && !imports.archiveBucketName);

    if (createsBuckets) {
      this.accessLogsBucket = new s3.Bucket(this, 'AccessLogsBucket', {
        ...securedBucket(),
        // Left to the CDK: a bucket policy for log delivery (cdk.json's serverAccessLogsUseBucketPolicy), else the ACL it needs.
        objectOwnership: undefined,
        lifecycleRules: [{ id: 'expire-access-logs', expiration: Duration.days(config.logRetentionDays) }],
      });
    }

    this.snapshotBucket = imports.snapshotBucketName
      ? s3.Bucket.fromBucketName(this, 'SnapshotBucket', imports.snapshotBucketName)
      : new s3.Bucket(this, 'SnapshotBucket', {
          ...securedBucket(),
          versioned: true,
          serverAccessLogsBucket: this.accessLogsBucket,
          serverAccessLogsPrefix: 'snapshot-bucket/',
          lifecycleRules: [
            { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(7) },
            { id: 'expire-noncurrent-versions', noncurrentVersionExpiration: Duration.days(90) },
          ],
        });

    if (imports.archiveBucketName) {
      this.archiveBucket = s3.Bucket.fromBucketName(this, 'ArchiveBucket', imports.archiveBucketName);
    } else if (usesS3Glacier) {
      this.archiveBucket = new s3.Bucket(this, 'ArchiveBucket', {
        ...securedBucket(),
        // The index records each archive's version id, so a later write to the same key never replaces it.
        // No noncurrent-version expiry here: a noncurrent version may still be the recorded archive.
        versioned: true,
        // S3 announces each finished restore (Object Restore Completed) on the default bus, where the restore
        // workflow's rule takes it: a restore resumes when its copy is ready instead of polling for it.
        eventBridgeEnabled: true,
        serverAccessLogsBucket: this.accessLogsBucket,
        serverAccessLogsPrefix: 'archive-bucket/',
        lifecycleRules: [{ id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(7) }],
      });
      acknowledgeBucketNotificationsHandler(this);
    }

    const stack = Stack.of(this);
    const vaultArnOf = (vaultName: string) =>
      stack.formatArn({ service: 'glacier', resource: 'vaults', resourceName: vaultName, arnFormat: ArnFormat.SLASH_RESOURCE_NAME });
    const usesVault = config.tiers.some((tier) => tier.target.type === 'glacier-vault');
    // Only a stack with a vault has Glacier jobs to hear about: a storage-class-only stack makes no topic.
    if (imports.vaultName || usesVault) {
      const topic = new sns.Topic(this, 'VaultNotificationTopic', {
        displayName: 'Glacier vault job notifications',
        enforceSSL: true,
      });
      // Not KMS-encrypted, on purpose: Glacier does not publish vault notifications to encrypted topics (AWS's own
      // amazon-s3-glacier-refreezer turned its topic's encryption off for that reason), and a lost notification stalls
      // a restore for hours. The messages carry only job ids and statuses.
      topic.applyRemovalPolicy(RemovalPolicy.RETAIN);
      topic.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'GlacierPublishesJobNotifications',
          principals: [new iam.ServicePrincipal('glacier.amazonaws.com')],
          actions: ['sns:Publish'],
          resources: [topic.topicArn],
          // SourceOwner is the key Glacier's notifications are known to carry (AWS's own Glacier solutions use it).
          conditions: { StringEquals: { 'AWS:SourceOwner': Stack.of(this).account } },
        }),
      );
      this.vaultNotificationTopic = topic;
    }
    if (imports.vaultName) {
      this.vaultName = imports.vaultName;
      this.vaultArn = vaultArnOf(imports.vaultName);
    } else if (usesVault && this.vaultNotificationTopic) {
      // CloudFormation has no vault resource type any more (Amazon Glacier is in maintenance: open to existing
      // customers, closed to new ones), so the vault is made with the Glacier API. CreateVault is idempotent, and
      // nothing deletes the vault: it is kept on `cdk destroy`, as its archives must be.
      this.vaultName = `${stack.stackName}-archive`;
      this.vaultArn = vaultArnOf(this.vaultName);
      const vault = new cr.AwsCustomResource(this, 'Vault', {
        resourceType: 'Custom::GlacierVault',
        onCreate: {
          service: 'Glacier',
          action: 'createVault',
          parameters: { accountId: '-', vaultName: this.vaultName },
          physicalResourceId: cr.PhysicalResourceId.of(this.vaultName),
        },
        policy: cr.AwsCustomResourcePolicy.fromSdkCalls({ resources: [this.vaultArn] }),
        installLatestAwsSdk: false,
      });
      const notifications = {
        service: 'Glacier',
        action: 'setVaultNotifications',
        parameters: {
          accountId: '-',
          vaultName: this.vaultName,
          vaultNotificationConfig: { SNSTopic: this.vaultNotificationTopic.topicArn, Events: ['ArchiveRetrievalCompleted', 'InventoryRetrievalCompleted'] },
        },
        physicalResourceId: cr.PhysicalResourceId.of(`${this.vaultName}-notifications`),
      };
      const vaultNotifications = new cr.AwsCustomResource(this, 'VaultNotifications', {
        resourceType: 'Custom::GlacierVaultNotifications',
        onCreate: notifications,
        onUpdate: notifications,
        policy: cr.AwsCustomResourcePolicy.fromSdkCalls({ resources: [this.vaultArn] }),
        installLatestAwsSdk: false,
      });
      vaultNotifications.node.addDependency(vault);
      acknowledgeCustomResourceProvider(this);
    }
  }

  /** Writes a run's snapshot under `runs/` (lib-storage multipart uploads included). */
  grantSnapshotWrite(grantee: iam.IGrantable): void {
    grantObjects(
      grantee,
      this.snapshotBucket,
      `${SNAPSHOT_PREFIXES.runs}*`,
      ['s3:PutObject', 's3:AbortMultipartUpload'],
      'Snapshots are written per run under runs/<uuid>/, whose keys are only known at run time.',
    );
  }

  /** Reads and writes archive plans under `plans/`. */
  grantPlans(grantee: iam.IGrantable): void {
    grantObjects(
      grantee,
      this.snapshotBucket,
      `${SNAPSHOT_PREFIXES.plans}*`,
      ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload'],
      'Plans are written per run under plans/, whose keys are only known at run time.',
    );
  }

  /** Writes restore item lists under `restores/`. */
  grantRestoreItems(grantee: iam.IGrantable): void {
    grantObjects(
      grantee,
      this.snapshotBucket,
      `${SNAPSHOT_PREFIXES.restores}*`,
      ['s3:PutObject', 's3:AbortMultipartUpload'],
      'Restore item lists are written per request under restores/, whose keys are only known at run time.',
    );
  }

  /** What a Distributed Map needs of the snapshot bucket: ItemReader reads (and lists) plans, ResultWriter writes results. */
  grantWorkflowItems(grantee: iam.IGrantable): void {
    iam.Grant.addToPrincipal({ grantee, actions: ['s3:ListBucket'], resourceArns: [this.snapshotBucket.bucketArn] });
    grantObjects(
      grantee,
      this.snapshotBucket,
      '*',
      ['s3:GetObject', 's3:PutObject', 's3:ListMultipartUploadParts', 's3:AbortMultipartUpload'],
      'Distributed Map ItemReader reads the plan and ResultWriter writes result manifests under keys named at run time.',
    );
  }

  /** Uploads archives to the vault, single-part or multipart, resuming with ListParts. */
  grantVaultUpload(grantee: iam.IGrantable): void {
    this.grantVault(grantee, [
      'glacier:UploadArchive',
      'glacier:InitiateMultipartUpload',
      'glacier:UploadMultipartPart',
      'glacier:CompleteMultipartUpload',
      'glacier:AbortMultipartUpload',
      'glacier:ListParts',
    ]);
  }

  /** Starts archive-retrieval jobs. */
  grantVaultRetrieval(grantee: iam.IGrantable): void {
    this.grantVault(grantee, ['glacier:InitiateJob']);
  }

  /** Checks a retrieval job. */
  grantVaultJobStatus(grantee: iam.IGrantable): void {
    this.grantVault(grantee, ['glacier:DescribeJob']);
  }

  /** Reads a finished job's output. */
  grantVaultJobOutput(grantee: iam.IGrantable): void {
    this.grantVault(grantee, ['glacier:GetJobOutput', 'glacier:DescribeJob']);
  }

  /**
   * Copies objects into the archive bucket (the s3-glacier target), single or multipart (ListParts to resume, Abort
   * on a permanent failure), and deletes the one version it made when that copy's checksum does not match its
   * source's; nothing when there is no archive bucket.
   */
  grantArchiveWrite(grantee: iam.IGrantable): void {
    if (!this.archiveBucket) return;
    grantObjects(
      grantee,
      this.archiveBucket,
      '*',
      ['s3:PutObject', 's3:PutObjectTagging', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts', 's3:DeleteObjectVersion'],
      'Archived objects are keyed by run and output path, known only at run time.',
    );
  }

  /** Restores an archived object (a version of it) out of its Glacier storage class. */
  grantArchiveRestore(grantee: iam.IGrantable): void {
    if (!this.archiveBucket) return;
    grantObjects(grantee, this.archiveBucket, '*', ['s3:RestoreObject'], 'Archived objects are keyed by run and output path, known only at run time.');
  }

  /** HeadObject on an archived version, which shows whether its restore has finished. */
  grantArchiveStatus(grantee: iam.IGrantable): void {
    if (!this.archiveBucket) return;
    grantObjects(
      grantee,
      this.archiveBucket,
      '*',
      ['s3:GetObject', 's3:GetObjectVersion'],
      'Archived objects are keyed by run and output path, known only at run time.',
    );
  }

  /** Reads a restored version as the source of a server-side copy, tags included (CopyObject copies them). */
  grantArchiveCopySource(grantee: iam.IGrantable): void {
    if (!this.archiveBucket) return;
    grantObjects(
      grantee,
      this.archiveBucket,
      '*',
      ['s3:GetObject', 's3:GetObjectVersion', 's3:GetObjectTagging', 's3:GetObjectVersionTagging'],
      'Archived objects are keyed by run and output path, known only at run time.',
    );
  }

  private grantVault(grantee: iam.IGrantable, actions: string[]): void {
    if (this.vaultArn) iam.Grant.addToPrincipal({ grantee, actions, resourceArns: [this.vaultArn] });
  }
}

/** Grants object actions under a key pattern, acknowledging the wildcard next to the grant that needs it. */
function grantObjects(grantee: iam.IGrantable, bucket: s3.IBucket, keyPattern: string, actions: string[], reason: string): void {
  const resourceArns = [bucket.arnForObjects(keyPattern)];
  iam.Grant.addToPrincipal({ grantee, actions, resourceArns });
  acknowledgeWildcardResources(grantee, resourceArns, reason);
}

/** Private, encrypted, TLS-only, and kept when the stack is destroyed. */
function securedBucket(): s3.BucketProps {
  return {
    encryption: s3.BucketEncryption.S3_MANAGED,
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    enforceSSL: true,
    removalPolicy: RemovalPolicy.RETAIN,
  };
}
