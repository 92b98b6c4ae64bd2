import { gpuNodeSelector, gpuToleration, NVIDIA_RUNTIME_CLASS } from "../contracts";
import { Values } from "./helmRelease";

export const KUBE_PROMETHEUS_STACK_DIR = "kube-prometheus-stack";
export const DCGM_EXPORTER_DIR = "dcgm-exporter";

/** Object names fixed by `fullnameOverride` in charts/kube-prometheus-stack/values.yaml. */
export const MONITORING_SERVICES = {
  prometheus: { name: "kube-prometheus-stack-prometheus", port: 9090 },
  alertmanager: { name: "kube-prometheus-stack-alertmanager", port: 9093 },
  grafana: { name: "kube-prometheus-stack-grafana", port: 80 },
} as const;

/** The Secret Grafana reads its admin login from (`grafana.admin.existingSecret`). */
export const GRAFANA_ADMIN_SECRET = {
  name: "grafana-admin",
  userKey: "admin-user",
  passwordKey: "admin-password",
  user: "admin",
} as const;

/** Share of the volume Prometheus may fill before it drops old blocks, below the 85 % PVC alert. */
export const PROMETHEUS_RETENTION_SIZE_SHARE = 0.8;

/**
 * Size-based retention in MB (Prometheus counts 1 MB as 1024 KB), so that a burst of series
 * cannot fill the volume before time-based retention catches up.
 */
export function prometheusRetentionSize(storageGi: number): string {
  if (!Number.isInteger(storageGi) || storageGi < 1) {
    throw new Error(`prometheusStorageGi = ${storageGi}: expected a whole number of GiB, at least 1`);
  }
  return `${Math.floor(storageGi * 1024 * PROMETHEUS_RETENTION_SIZE_SHARE)}MB`;
}

/** Prometheus's retention, volume and placement (config prometheusRetention, prometheusStorageGi). */
export interface PrometheusOptions {
  retention: string;
  storageGi: number;
  /**
   * Where Prometheus must run so its volume lands on the data volume (on Chameleon, the node whose
   * local-path volumes live on the Cinder data volume); undefined: anywhere.
   */
  nodeSelector?: Record<string, string>;
}

/** The part of the kube-prometheus-stack values that comes from config; merged over values.yaml. */
export function kubePrometheusStackValues(monitoring: PrometheusOptions): Values {
  const placement = monitoring.nodeSelector ? { nodeSelector: monitoring.nodeSelector } : {};
  return {
    prometheus: {
      prometheusSpec: {
        ...placement,
        retention: monitoring.retention,
        retentionSize: prometheusRetentionSize(monitoring.storageGi),
        storageSpec: {
          volumeClaimTemplate: {
            spec: {
              accessModes: ["ReadWriteOnce"],
              resources: { requests: { storage: `${monitoring.storageGi}Gi` } },
            },
          },
        },
      },
    },
    grafana: {
      admin: {
        existingSecret: GRAFANA_ADMIN_SECRET.name,
        userKey: GRAFANA_ADMIN_SECRET.userKey,
        passwordKey: GRAFANA_ADMIN_SECRET.passwordKey,
      },
    },
  };
}

/** The DCGM exporter runs on the GPU nodes only, tolerating their taint, under the nvidia runtime. */
export function dcgmExporterValues(): Values {
  return {
    runtimeClassName: NVIDIA_RUNTIME_CLASS,
    nodeSelector: gpuNodeSelector(),
    tolerations: [gpuToleration()],
  };
}

/** In-cluster URL of a Service of the monitoring namespace. */
export function serviceUrl(namespace: string, service: { name: string; port: number }): string {
  return `http://${service.name}.${namespace}.svc.cluster.local:${service.port}`;
}
