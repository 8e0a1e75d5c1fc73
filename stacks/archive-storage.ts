// Where archived runs live: the snapshot bucket, the Glacier vault and its job-notification topic, the s3-glacier archive bucket.
import { Duration, RemovalPolicy, Stack, ArnFormat } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import type { ArchiverConfig } from '../functions/lib/contract';
import { KEY_READ_ACTIONS, KEY_WRITE_ACTIONS } from './encryption-key';
import { acknowledgeBucketNotificationsHandler, acknowledgeCustomResourceProvider, acknowledgeWildcardResources } from './nag';

/** Key prefixes in the snapshot bucket: the handlers write there, and grants are scoped to them. */
export const SNAPSHOT_PREFIXES = {
  /** `runs/<uuid>/`: snapshot.json, GetRun/task records and gzipped logs. */
  runs: 'runs/',
  /**
   * `plans/<uuid>/<execution>/`: archive plans (items.json) that ArchiveRun's Distributed Map reads with ItemReader;
   * `plans/<uuid>/bundles/`: each bundle's manifest and its members' SHA-256s.
   */
  plans: 'plans/',
  /** `restores/<uuid>/<restore id>/`: restore items that RestoreRun's Distributed Map reads, and the member lists of the bundles they name. */
  restores: 'restores/',
} as const;

export interface ArchiveStorageProps {
  readonly config: ArchiverConfig;
  /** The customer-managed key of the snapshot and archive buckets (stacks/encryption-key.ts); absent: SSE-S3. */
  readonly encryptionKey?: kms.IKey;
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
  /**
   * Glacier publishes job completions here because the retrieval function names it on each InitiateJob (SNSTopic); no
   * vault's notification configuration names it, so each job is announced once.
   */
  readonly vaultNotificationTopic?: sns.Topic;
  /** The vault this stack made (not an imported one): the only vault whose access policy it sets. */
  private createdVault?: cr.AwsCustomResource;

  constructor(scope: Construct, id: string, props: ArchiveStorageProps) {
    super(scope, id);
    const { config, encryptionKey } = props;
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
          ...securedBucket(encryptionKey),
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
      // Object Lock can be turned on for an existing bucket (CloudFormation updates it without interruption), never off.
      const retains = config.tiers.some((tier) => tier.target.type === 's3-glacier' && tier.target.retainFor !== undefined);
      this.archiveBucket = new s3.Bucket(this, 'ArchiveBucket', {
        ...securedBucket(encryptionKey),
        // No default retention: each verified version gets its tier's (archive-files.ts), after its checksum matched.
        ...(retains && { objectLockEnabled: true }),
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
      // Job notifications come once, through the SNSTopic request-retrieval names on each InitiateJob: Glacier also
      // publishes to the vault's configured topic, so a vault configured for the same topic announces every job twice.
      // The per-job topic is the one kept because it works the same for an imported vault, whose configuration is not
      // ours to change. Stacks before this one configured their vault with SetVaultNotifications; clearing it here (an
      // update of the same resource) removes that second notification, and does nothing to a vault without one.
      const notifications = {
        service: 'Glacier',
        action: 'deleteVaultNotifications',
        parameters: { accountId: '-', vaultName: this.vaultName },
        physicalResourceId: cr.PhysicalResourceId.of(`${this.vaultName}-notifications`),
        ignoreErrorCodesMatching: 'ResourceNotFoundException',
      };
      const vaultNotifications = new cr.AwsCustomResource(this, 'VaultNotifications', {
        resourceType: 'Custom::GlacierVaultNotifications',
        onCreate: notifications,
        onUpdate: notifications,
        policy: cr.AwsCustomResourcePolicy.fromSdkCalls({ resources: [this.vaultArn] }),
        installLatestAwsSdk: false,
      });
      vaultNotifications.node.addDependency(vault);
      this.createdVault = vault;
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

  /** Reads what a restore wrote under `restores/`: the member lists of the bundles it brings back (bundle-restore.ts). */
  grantRestoreItemsRead(grantee: iam.IGrantable): void {
    grantObjects(
      grantee,
      this.snapshotBucket,
      `${SNAPSHOT_PREFIXES.restores}*`,
      ['s3:GetObject'],
      'Restore member lists are read per request under restores/, whose keys are only known at run time.',
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

  /** Uploads archives to the vault, single-part or multipart, resuming with ListParts; aborts the uploads a crash left unrecorded. */
  grantVaultUpload(grantee: iam.IGrantable): void {
    this.grantVault(grantee, [
      'glacier:UploadArchive',
      'glacier:InitiateMultipartUpload',
      'glacier:UploadMultipartPart',
      'glacier:CompleteMultipartUpload',
      'glacier:AbortMultipartUpload',
      'glacier:ListParts',
      'glacier:ListMultipartUploads',
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
      // GetObject: HeadObject of the archive key finds a copy a crashed attempt made but did not record.
      [
        's3:PutObject',
        's3:PutObjectTagging',
        's3:AbortMultipartUpload',
        's3:ListMultipartUploadParts',
        's3:DeleteObjectVersion',
        's3:GetObject',
        // A tier's retainFor: the verified version's Object Lock retention (archive-files.ts). Never BypassGovernanceRetention.
        's3:PutObjectRetention',
      ],
      'Archived objects are keyed by run and output path, known only at run time.',
    );
    // ListBucket: without it S3 answers a HeadObject of a key not there yet with 403, not 404. ListBucketMultipartUploads:
    // the next claimant of a file finds the uploads a crashed attempt left unrecorded (stray-uploads.ts) and aborts them.
    iam.Grant.addToPrincipal({ grantee, actions: ['s3:ListBucket', 's3:ListBucketMultipartUploads'], resourceArns: [this.archiveBucket.bucketArn] });
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

  /**
   * Sets the created vault's access policy: glacier:DeleteArchive denied to every principal, the account's root user
   * included, except `cleanupRole` (ArchiveFiles, whose duplicate clean-up deletes an archive completed but never
   * recorded). A Deny on DeleteArchive only: the account can still change or delete the policy itself (no Vault Lock,
   * which would make it immutable). Nothing is deleted on `cdk destroy`, so the protection outlives the stack. An
   * imported vault's policy is its owner's and is left alone.
   */
  protectVaultArchives(cleanupRole: iam.IRole): void {
    if (!this.createdVault || !this.vaultName || !this.vaultArn) return;
    const stack = Stack.of(this);
    const policy = {
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'OnlyTheArchiverCleansUpDuplicates',
          Effect: 'Deny',
          Principal: '*',
          Action: 'glacier:DeleteArchive',
          Resource: this.vaultArn,
          Condition: { ArnNotEquals: { 'aws:PrincipalArn': cleanupRole.roleArn } },
        },
      ],
    };
    const setPolicy = {
      service: 'Glacier',
      action: 'setVaultAccessPolicy',
      parameters: { accountId: '-', vaultName: this.vaultName, policy: { Policy: stack.toJsonString(policy) } },
      physicalResourceId: cr.PhysicalResourceId.of(`${this.vaultName}-access-policy`),
    };
    const accessPolicy = new cr.AwsCustomResource(this, 'VaultAccessPolicy', {
      resourceType: 'Custom::GlacierVaultAccessPolicy',
      onCreate: setPolicy,
      onUpdate: setPolicy,
      policy: cr.AwsCustomResourcePolicy.fromSdkCalls({ resources: [this.vaultArn] }),
      installLatestAwsSdk: false,
    });
    accessPolicy.node.addDependency(this.createdVault);
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
  // A bucket with the customer-managed key: its objects are read and written through that key.
  const writes = actions.some((action) => action === 's3:PutObject');
  const reads = actions.some((action) => action === 's3:GetObject' || action === 's3:GetObjectVersion');
  if (bucket.encryptionKey && (reads || writes)) bucket.encryptionKey.grant(grantee, ...(writes ? KEY_WRITE_ACTIONS : KEY_READ_ACTIONS));
}

/** Private, encrypted, TLS-only, and kept when the stack is destroyed. */
function securedBucket(encryptionKey?: kms.IKey): s3.BucketProps {
  return {
    ...(encryptionKey ? { encryption: s3.BucketEncryption.KMS, encryptionKey, bucketKeyEnabled: true } : { encryption: s3.BucketEncryption.S3_MANAGED }),
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    enforceSSL: true,
    removalPolicy: RemovalPolicy.RETAIN,
  };
}
