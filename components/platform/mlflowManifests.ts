import * as k8s from "@pulumi/kubernetes";
import { ResourceSpec } from "../contracts";
import { containerResources, nonRootPod, restrictedContainer } from "./containerSecurity";
import { httpProbe } from "./probes";
import { S3_SECRET_NAME } from "./s3Credentials";

type Deployment = k8s.types.input.apps.v1.Deployment;
type StatefulSet = k8s.types.input.apps.v1.StatefulSet;
type Service = k8s.types.input.core.v1.Service;
type CronJob = k8s.types.input.batch.v1.CronJob;
type EnvVar = k8s.types.input.core.v1.EnvVar;

/** Pinned images of the parts of MLflow that are not ours; the server image comes from config. */
export const POSTGRES_IMAGE = "docker.io/library/postgres:16.6";
export const POSTGRES_EXPORTER_IMAGE = "quay.io/prometheuscommunity/postgres-exporter:v0.16.0";

export const MLFLOW_SERVER = { name: "mlflow", port: 5000, portName: "http" } as const;
export const POSTGRES = {
  name: "mlflow-postgres",
  port: 5432,
  exporterPort: 9187,
  user: "mlflow",
  database: "mlflow",
  /** The official image runs Postgres as this user. */
  uid: 999,
} as const;
export const BACKUP_JOB_NAME = "mlflow-postgres-backup";
/** Key prefix of the nightly dumps in the logs bucket: `<prefix>/<UTC timestamp>.sql.gz`. */
export const BACKUP_PREFIX = "postgres-backups";

/** The Secret holding the database login; its values are Pulumi secrets, read through secretKeyRef only. */
export const POSTGRES_SECRET = {
  name: "mlflow-postgres",
  usernameKey: "username",
  passwordKey: "password",
  databaseKey: "database",
  backendStoreUriKey: "backend-store-uri",
} as const;

/** The MLflow image's server user; any non-root uid works because the image is only read. */
const MLFLOW_UID = 1000;
/** The exporter image runs as nobody. */
const EXPORTER_UID = 65534;
const PROMETHEUS_MULTIPROC_DIR = "/var/run/mlflow-metrics";
const PGDATA_MOUNT = "/var/lib/postgresql/data";

const PART_OF = { "app.kubernetes.io/part-of": "sse-pt-platform" } as const;
export const MLFLOW_LABELS = {
  server: { "app.kubernetes.io/name": "mlflow", "app.kubernetes.io/component": "tracking-server" },
  postgres: { "app.kubernetes.io/name": "mlflow-postgres", "app.kubernetes.io/component": "database" },
  backup: { "app.kubernetes.io/name": "mlflow-postgres-backup", "app.kubernetes.io/component": "backup" },
} as const;

const withPartOf = (labels: Readonly<Record<string, string>>) => ({ ...labels, ...PART_OF });
const fromSecret = (name: string, key: string): EnvVar => ({
  name,
  valueFrom: { secretKeyRef: { name: POSTGRES_SECRET.name, key } },
});

/** The in-cluster address of the tracking server, which every client in the estate uses. */
export function trackingUri(namespace: string): string {
  return `http://${MLFLOW_SERVER.name}.${namespace}.svc.cluster.local:${MLFLOW_SERVER.port}`;
}

/** SQLAlchemy URI of the backend store, the password percent-encoded. */
export function backendStoreUri(namespace: string, password: string): string {
  const host = `${POSTGRES.name}.${namespace}.svc.cluster.local:${POSTGRES.port}`;
  return `postgresql://${POSTGRES.user}:${encodeURIComponent(password)}@${host}/${POSTGRES.database}`;
}

function pgIsReady(): string[] {
  return [
    "pg_isready",
    "--host=127.0.0.1",
    `--port=${POSTGRES.port}`,
    `--username=${POSTGRES.user}`,
    `--dbname=${POSTGRES.database}`,
  ];
}

/**
 * The tracking server with its model registry. Artifacts are proxied (`--serve-artifacts`): the
 * server alone holds the S3 keys and writes to the mlflow-artifacts bucket, so clients such as the
 * gateway need only the tracking URI. The registry shares the backend store (Postgres).
 */
/** What the MLflow manifests are made of, besides their namespace. */
export interface MlflowSpec {
  /** The tracking server's image (config mlflowImage); the backup's upload runs in it too. */
  image: string;
  /** The bucket the server proxies artifacts to (the mlflow-artifacts role). */
  artifactsBucket: string;
  server: ResourceSpec;
  postgres: ResourceSpec;
  postgresStorageGi: number;
  /** Cron schedule of the nightly dump (UTC). */
  backupSchedule: string;
  /**
   * Where Postgres must run so its volume lands on the data volume (on Chameleon, the server node
   * whose local-path volumes sit on Cinder); undefined: wherever the default StorageClass puts it.
   */
  postgresNodeSelector?: Record<string, string>;
}

export function mlflowServerDeployment(spec: MlflowSpec, namespace: string): Deployment {
  return {
    metadata: { name: MLFLOW_SERVER.name, namespace, labels: withPartOf(MLFLOW_LABELS.server) },
    spec: {
      replicas: 1,
      selector: { matchLabels: { ...MLFLOW_LABELS.server } },
      template: {
        metadata: { labels: withPartOf(MLFLOW_LABELS.server) },
        spec: {
          automountServiceAccountToken: false,
          securityContext: nonRootPod(MLFLOW_UID),
          containers: [
            {
              name: "mlflow",
              image: spec.image,
              command: ["mlflow"],
              args: [
                "server",
                "--host=0.0.0.0",
                `--port=${MLFLOW_SERVER.port}`,
                "--serve-artifacts",
                `--artifacts-destination=s3://${spec.artifactsBucket}`,
                `--expose-prometheus=${PROMETHEUS_MULTIPROC_DIR}`,
                "--workers=2",
              ],
              env: [
                fromSecret("MLFLOW_BACKEND_STORE_URI", POSTGRES_SECRET.backendStoreUriKey),
                // Large artifact uploads stream through the server.
                { name: "MLFLOW_GUNICORN_OPTS", value: "--timeout 120" },
                { name: "HOME", value: "/tmp" },
              ],
              envFrom: [{ secretRef: { name: S3_SECRET_NAME } }],
              ports: [{ name: MLFLOW_SERVER.portName, containerPort: MLFLOW_SERVER.port, protocol: "TCP" }],
              resources: containerResources(spec.server),
              // The first start creates the schema in Postgres, which takes a while.
              startupProbe: httpProbe("/health", MLFLOW_SERVER.portName, { failureThreshold: 30 }),
              readinessProbe: httpProbe("/health", MLFLOW_SERVER.portName, { failureThreshold: 3 }),
              livenessProbe: httpProbe("/health", MLFLOW_SERVER.portName, {
                periodSeconds: 20,
                failureThreshold: 6,
              }),
              securityContext: restrictedContainer({ readOnlyRootFilesystem: true }),
              volumeMounts: [
                { name: "tmp", mountPath: "/tmp" },
                { name: "prometheus-multiproc", mountPath: PROMETHEUS_MULTIPROC_DIR },
              ],
            },
          ],
          volumes: [
            { name: "tmp", emptyDir: { sizeLimit: "2Gi" } },
            { name: "prometheus-multiproc", emptyDir: { sizeLimit: "256Mi" } },
          ],
        },
      },
    },
  };
}

export function mlflowServerService(namespace: string): Service {
  return {
    metadata: { name: MLFLOW_SERVER.name, namespace, labels: withPartOf(MLFLOW_LABELS.server) },
    spec: {
      type: "ClusterIP",
      selector: { ...MLFLOW_LABELS.server },
      ports: [
        {
          name: MLFLOW_SERVER.portName,
          port: MLFLOW_SERVER.port,
          targetPort: MLFLOW_SERVER.portName,
          protocol: "TCP",
        },
      ],
    },
  };
}

/** Postgres (backend and registry store) with a postgres_exporter sidecar. */
export function postgresStatefulSet(spec: MlflowSpec, namespace: string): StatefulSet {
  const nodeSelector = spec.postgresNodeSelector;
  return {
    metadata: { name: POSTGRES.name, namespace, labels: withPartOf(MLFLOW_LABELS.postgres) },
    spec: {
      serviceName: POSTGRES.name,
      replicas: 1,
      selector: { matchLabels: { ...MLFLOW_LABELS.postgres } },
      template: {
        metadata: { labels: withPartOf(MLFLOW_LABELS.postgres) },
        spec: {
          automountServiceAccountToken: false,
          securityContext: nonRootPod(POSTGRES.uid),
          terminationGracePeriodSeconds: 60,
          ...(nodeSelector ? { nodeSelector } : {}),
          containers: [
            {
              name: "postgres",
              image: POSTGRES_IMAGE,
              env: [
                fromSecret("POSTGRES_USER", POSTGRES_SECRET.usernameKey),
                fromSecret("POSTGRES_PASSWORD", POSTGRES_SECRET.passwordKey),
                fromSecret("POSTGRES_DB", POSTGRES_SECRET.databaseKey),
                // A sub-directory, so that initdb does not trip over the volume's lost+found.
                { name: "PGDATA", value: `${PGDATA_MOUNT}/pgdata` },
              ],
              ports: [{ name: "postgres", containerPort: POSTGRES.port, protocol: "TCP" }],
              resources: containerResources(spec.postgres),
              readinessProbe: {
                exec: { command: pgIsReady() },
                periodSeconds: 10,
                timeoutSeconds: 5,
                failureThreshold: 3,
              },
              livenessProbe: {
                exec: { command: pgIsReady() },
                initialDelaySeconds: 30,
                periodSeconds: 20,
                timeoutSeconds: 5,
                failureThreshold: 6,
              },
              securityContext: restrictedContainer({ runAsUser: POSTGRES.uid }),
              volumeMounts: [{ name: "data", mountPath: PGDATA_MOUNT }],
            },
            {
              name: "postgres-exporter",
              image: POSTGRES_EXPORTER_IMAGE,
              env: [
                {
                  name: "DATA_SOURCE_URI",
                  value: `127.0.0.1:${POSTGRES.port}/${POSTGRES.database}?sslmode=disable`,
                },
                fromSecret("DATA_SOURCE_USER", POSTGRES_SECRET.usernameKey),
                fromSecret("DATA_SOURCE_PASS", POSTGRES_SECRET.passwordKey),
              ],
              ports: [{ name: "metrics", containerPort: POSTGRES.exporterPort, protocol: "TCP" }],
              resources: {
                requests: { cpu: "50m", memory: "64Mi" },
                limits: { cpu: "200m", memory: "128Mi" },
              },
              readinessProbe: httpProbe("/", "metrics"),
              livenessProbe: httpProbe("/", "metrics", { initialDelaySeconds: 10, periodSeconds: 30 }),
              securityContext: restrictedContainer({ runAsUser: EXPORTER_UID, readOnlyRootFilesystem: true }),
            },
          ],
        },
      },
      volumeClaimTemplates: [
        {
          metadata: { name: "data" },
          spec: {
            accessModes: ["ReadWriteOnce"],
            resources: { requests: { storage: `${spec.postgresStorageGi}Gi` } },
          },
        },
      ],
    },
  };
}

export function postgresService(namespace: string): Service {
  return {
    metadata: { name: POSTGRES.name, namespace, labels: withPartOf(MLFLOW_LABELS.postgres) },
    spec: {
      type: "ClusterIP",
      selector: { ...MLFLOW_LABELS.postgres },
      ports: [
        { name: "postgres", port: POSTGRES.port, targetPort: "postgres", protocol: "TCP" },
        { name: "metrics", port: POSTGRES.exporterPort, targetPort: "metrics", protocol: "TCP" },
      ],
    },
  };
}

/** Dumps the database, compressed, to the shared volume, and leaves the file's name beside it. */
export const DUMP_SCRIPT = [
  "set -euo pipefail",
  'stamp="$(date -u +%Y-%m-%dT%H%M%SZ)"',
  'pg_dump --no-owner --no-privileges | gzip -9 > "/backup/${stamp}.sql.gz"',
  "printf '%s' \"${stamp}\" > /backup/STAMP",
].join("\n");

/** Uploads the dump to the logs bucket with boto3, which the MLflow image already has. */
export const UPLOAD_SCRIPT = [
  "import os, boto3",
  'stamp = open("/backup/STAMP").read().strip()',
  'bucket = os.environ["BUCKET_LOGS"]',
  `key = f"${BACKUP_PREFIX}/{stamp}.sql.gz"`,
  'boto3.client("s3", endpoint_url=os.environ["S3_ENDPOINT_URL"]).upload_file(f"/backup/{stamp}.sql.gz", bucket, key)',
  'print(f"uploaded s3://{bucket}/{key}")',
].join("\n");

/**
 * Nightly `pg_dump` to `<logs bucket>/postgres-backups/<timestamp>.sql.gz`. The dump runs in the
 * Postgres image (matching pg_dump version) as an init container; the upload runs in the MLflow image.
 * Run-to-completion containers have no probes: `activeDeadlineSeconds` bounds a hung run instead.
 */
export function backupCronJob(spec: MlflowSpec, namespace: string): CronJob {
  const small = { requests: { cpu: "100m", memory: "128Mi" }, limits: { cpu: "500m", memory: "512Mi" } };
  return {
    metadata: { name: BACKUP_JOB_NAME, namespace, labels: withPartOf(MLFLOW_LABELS.backup) },
    spec: {
      schedule: spec.backupSchedule,
      timeZone: "Etc/UTC",
      concurrencyPolicy: "Forbid",
      startingDeadlineSeconds: 3600,
      successfulJobsHistoryLimit: 3,
      failedJobsHistoryLimit: 3,
      jobTemplate: {
        metadata: { labels: withPartOf(MLFLOW_LABELS.backup) },
        spec: {
          backoffLimit: 2,
          activeDeadlineSeconds: 3600,
          ttlSecondsAfterFinished: 7 * 24 * 3600,
          template: {
            metadata: { labels: withPartOf(MLFLOW_LABELS.backup) },
            spec: {
              restartPolicy: "Never",
              automountServiceAccountToken: false,
              securityContext: {
                runAsNonRoot: true,
                fsGroup: POSTGRES.uid,
                seccompProfile: { type: "RuntimeDefault" },
              },
              initContainers: [
                {
                  name: "pg-dump",
                  image: POSTGRES_IMAGE,
                  command: ["bash", "-c", DUMP_SCRIPT],
                  env: [
                    { name: "PGHOST", value: `${POSTGRES.name}.${namespace}.svc.cluster.local` },
                    { name: "PGPORT", value: String(POSTGRES.port) },
                    fromSecret("PGUSER", POSTGRES_SECRET.usernameKey),
                    fromSecret("PGDATABASE", POSTGRES_SECRET.databaseKey),
                    fromSecret("PGPASSWORD", POSTGRES_SECRET.passwordKey),
                  ],
                  resources: small,
                  securityContext: restrictedContainer({
                    runAsUser: POSTGRES.uid,
                    readOnlyRootFilesystem: true,
                  }),
                  volumeMounts: [{ name: "backup", mountPath: "/backup" }],
                },
              ],
              containers: [
                {
                  name: "upload",
                  image: spec.image,
                  command: ["python3", "-c", UPLOAD_SCRIPT],
                  env: [{ name: "HOME", value: "/tmp" }],
                  envFrom: [{ secretRef: { name: S3_SECRET_NAME } }],
                  resources: small,
                  securityContext: restrictedContainer({
                    runAsUser: MLFLOW_UID,
                    readOnlyRootFilesystem: true,
                  }),
                  volumeMounts: [
                    { name: "backup", mountPath: "/backup", readOnly: true },
                    { name: "tmp", mountPath: "/tmp" },
                  ],
                },
              ],
              volumes: [
                // The compressed dump is a fraction of the database; its volume bounds it.
                { name: "backup", emptyDir: { sizeLimit: `${spec.postgresStorageGi}Gi` } },
                { name: "tmp", emptyDir: { sizeLimit: "256Mi" } },
              ],
            },
          },
        },
      },
    },
  };
}

/** ServiceMonitor specs: the server's `/metrics` on its API port, and the Postgres exporter. */
export function mlflowServiceMonitors(namespace: string) {
  const monitor = (name: string, selector: Readonly<Record<string, string>>, port: string) => ({
    metadata: { name, namespace, labels: withPartOf(selector) },
    spec: {
      selector: { matchLabels: { ...selector } },
      namespaceSelector: { matchNames: [namespace] },
      endpoints: [{ port, path: "/metrics", interval: "30s" }],
    },
  });
  return [
    monitor(MLFLOW_SERVER.name, MLFLOW_LABELS.server, MLFLOW_SERVER.portName),
    monitor(POSTGRES.name, MLFLOW_LABELS.postgres, "metrics"),
  ];
}
