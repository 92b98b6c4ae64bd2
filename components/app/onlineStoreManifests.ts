import * as k8s from "@pulumi/kubernetes";
import { mebibytes, nonRootPod, restrictedContainer } from "../platform/containerSecurity";
import {
  ContainerResources,
  REDIS,
  REDIS_SECRET,
  resourcesOf,
  SERVING_LABELS,
  serviceUrl,
  withPartOf,
} from "./servingContracts";

type StatefulSet = k8s.types.input.apps.v1.StatefulSet;
type Service = k8s.types.input.core.v1.Service;
type EnvVar = k8s.types.input.core.v1.EnvVar;

export const REDIS_IMAGE = "docker.io/library/redis:7.4.2";
export const REDIS_EXPORTER_IMAGE = "docker.io/oliver006/redis_exporter:v1.67.0";
const DATA_MOUNT = "/data";

export interface OnlineStoreSpec {
  namespace: string;
  resources: ContainerResources;
  storageGi: number;
  /** Where the volume must live (the node with the Cinder data volume); undefined: anywhere. */
  nodeSelector?: Record<string, string>;
}

const password = (name: string): EnvVar => ({
  name,
  valueFrom: { secretKeyRef: { name: REDIS_SECRET.name, key: REDIS_SECRET.passwordKey } },
});

/** The gateway's and bootstrap job's address of Redis. */
export function redisUrl(namespace: string): string {
  return serviceUrl(REDIS.name, namespace, REDIS.port).replace(/^http:/, "redis:");
}

/**
 * Redis's command line: append-only file fsynced every second (a crash loses at most a second of
 * events, a restart replays the rest), RDB snapshots off (the AOF is the persistence), and a memory
 * cap at three quarters of the container limit so Redis evicts the least recently used user
 * sequences (those users get the popularity fallback) instead of being OOM-killed.
 */
export function redisArgs(memoryLimit: string): string[] {
  const maxmemoryMi = Math.floor((mebibytes(memoryLimit) * 3) / 4);
  return [
    "redis-server",
    "--appendonly",
    "yes",
    "--appendfsync",
    "everysec",
    "--save",
    "",
    "--dir",
    DATA_MOUNT,
    "--maxmemory",
    `${maxmemoryMi}mb`,
    "--maxmemory-policy",
    "allkeys-lru",
    "--requirepass",
    "$(REDIS_PASSWORD)",
  ];
}

/** `redis-cli ping` that fails unless Redis answers PONG (an auth error also exits 0). */
const PING = ["sh", "-c", '[ "$(redis-cli -p 6379 ping)" = PONG ]'];

export function redisStatefulSet(spec: OnlineStoreSpec): StatefulSet {
  const labels = withPartOf(SERVING_LABELS.redis);
  return {
    metadata: { name: REDIS.name, namespace: spec.namespace, labels },
    spec: {
      serviceName: REDIS.name,
      replicas: 1,
      selector: { matchLabels: { ...SERVING_LABELS.redis } },
      template: {
        metadata: { labels },
        spec: {
          automountServiceAccountToken: false,
          securityContext: nonRootPod(REDIS.uid),
          terminationGracePeriodSeconds: 30,
          ...(spec.nodeSelector ? { nodeSelector: { ...spec.nodeSelector } } : {}),
          containers: [
            {
              name: "redis",
              image: REDIS_IMAGE,
              args: redisArgs(spec.resources.limits.memory),
              // redis-cli reads REDISCLI_AUTH, so the probes never put the password on a command line.
              env: [password("REDIS_PASSWORD"), password("REDISCLI_AUTH")],
              ports: [{ name: "redis", containerPort: REDIS.port, protocol: "TCP" }],
              resources: resourcesOf(spec.resources),
              readinessProbe: { exec: { command: PING }, periodSeconds: 10, timeoutSeconds: 5 },
              livenessProbe: {
                exec: { command: PING },
                initialDelaySeconds: 20,
                periodSeconds: 20,
                timeoutSeconds: 5,
                failureThreshold: 6,
              },
              securityContext: restrictedContainer({ runAsUser: REDIS.uid, readOnlyRootFilesystem: true }),
              volumeMounts: [{ name: "data", mountPath: DATA_MOUNT }],
            },
            {
              name: "redis-exporter",
              image: REDIS_EXPORTER_IMAGE,
              env: [
                { name: "REDIS_ADDR", value: `redis://127.0.0.1:${REDIS.port}` },
                password("REDIS_PASSWORD"),
              ],
              ports: [{ name: "metrics", containerPort: REDIS.exporterPort, protocol: "TCP" }],
              resources: {
                requests: { cpu: "25m", memory: "32Mi" },
                limits: { cpu: "200m", memory: "64Mi" },
              },
              readinessProbe: {
                httpGet: { path: "/health", port: "metrics" },
                periodSeconds: 10,
                timeoutSeconds: 5,
              },
              livenessProbe: {
                httpGet: { path: "/health", port: "metrics" },
                initialDelaySeconds: 10,
                periodSeconds: 30,
                timeoutSeconds: 5,
              },
              securityContext: restrictedContainer({ runAsUser: 59000, readOnlyRootFilesystem: true }),
            },
          ],
        },
      },
      volumeClaimTemplates: [
        {
          metadata: { name: "data" },
          spec: {
            accessModes: ["ReadWriteOnce"],
            resources: { requests: { storage: `${spec.storageGi}Gi` } },
          },
        },
      ],
    },
  };
}

export function redisService(namespace: string): Service {
  return {
    metadata: { name: REDIS.name, namespace, labels: withPartOf(SERVING_LABELS.redis) },
    spec: {
      type: "ClusterIP",
      selector: { ...SERVING_LABELS.redis },
      ports: [
        { name: "redis", port: REDIS.port, targetPort: "redis", protocol: "TCP" },
        { name: "metrics", port: REDIS.exporterPort, targetPort: "metrics", protocol: "TCP" },
      ],
    },
  };
}

export function redisServiceMonitor(namespace: string) {
  return {
    metadata: { name: REDIS.name, namespace, labels: withPartOf(SERVING_LABELS.redis) },
    spec: {
      selector: { matchLabels: { ...SERVING_LABELS.redis } },
      namespaceSelector: { matchNames: [namespace] },
      endpoints: [{ port: "metrics", path: "/metrics", interval: "30s" }],
    },
  };
}
