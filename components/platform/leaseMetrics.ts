import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";

/** One Chameleon (Blazar) lease whose end the platform should warn about. */
export interface LeaseEnd {
  name: string;
  site: string;
  /** Blazar's format, UTC: `YYYY-MM-DD HH:MM`. */
  end: string;
  /** `gpu` (default): a GPU window's lease. `vm`: the lease the k3s server and agents run on. */
  kind?: "gpu" | "vm";
}

export const LEASE_END_METRIC = "ssept_gpu_lease_end_timestamp_seconds";
/** The VM lease's end: when it passes, Blazar deletes the k3s server and agents. */
export const VM_LEASE_END_METRIC = "ssept_vm_lease_end_timestamp_seconds";
const METRIC_HELP: Record<NonNullable<LeaseEnd["kind"]>, [string, string]> = {
  gpu: [LEASE_END_METRIC, "End of a Chameleon GPU lease, as Unix time in seconds."],
  vm: [VM_LEASE_END_METRIC, "End of the Chameleon lease the k3s VMs run on, as Unix time in seconds."],
};
export const LEASE_METRICS_NAME = "gpu-lease-metrics";
export const LEASE_METRICS_LABELS = { "app.kubernetes.io/name": LEASE_METRICS_NAME } as const;
/** nginx built to run as uid 101 on port 8080, with its pid and temp files under /tmp. */
export const LEASE_METRICS_IMAGE = "nginxinc/nginx-unprivileged:1.29.4-alpine";
export const LEASE_METRICS_PORT = 8080;
const METRICS_FILE = "metrics.prom";
const NGINX_CONF_FILE = "default.conf";

const BLAZAR_DATE = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2})$/;

/** `2027-01-05 18:00` (UTC) → Unix seconds. Throws on anything that is not a real UTC minute. */
export function leaseEndSeconds(end: string): number {
  const m = BLAZAR_DATE.exec(end);
  if (!m) throw new Error(`lease end "${end}": expected Blazar's UTC format YYYY-MM-DD HH:MM`);
  const [year, month, day, hour, minute] = m.slice(1).map(Number);
  const ms = Date.UTC(year, month - 1, day, hour, minute);
  const back = new Date(ms);
  if (
    back.getUTCFullYear() !== year ||
    back.getUTCMonth() !== month - 1 ||
    back.getUTCDate() !== day ||
    back.getUTCHours() !== hour ||
    back.getUTCMinutes() !== minute
  ) {
    throw new Error(`lease end "${end}": not a real calendar date and time`);
  }
  return ms / 1000;
}

/** Label values in the text exposition format escape backslash, double quote and newline. */
function labelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/**
 * The Prometheus text exposition of the lease ends: one gauge sample per lease, GPU leases under
 * LEASE_END_METRIC and the VM lease under VM_LEASE_END_METRIC, sorted so that the ConfigMap (and the
 * preview diff) changes only when a lease does. A family with no lease is left out.
 */
export function renderLeaseMetrics(leases: readonly LeaseEnd[]): string {
  const seen = new Set<string>();
  const samples = leases.map((lease) => {
    if (!lease.name) throw new Error("lease end: name must be a non-empty string");
    if (!lease.site) throw new Error(`lease end ${lease.name}: site must be a non-empty string`);
    const kind = lease.kind ?? "gpu";
    if (!(kind in METRIC_HELP)) throw new Error(`lease end ${lease.name}: kind must be gpu or vm`);
    const key = `${lease.site}/${lease.name}`;
    if (seen.has(key)) throw new Error(`lease end ${lease.name} at ${lease.site} is listed twice`);
    seen.add(key);
    const labels = `lease="${labelValue(lease.name)}",site="${labelValue(lease.site)}"`;
    return { kind, key, line: `${METRIC_HELP[kind][0]}{${labels}} ${leaseEndSeconds(lease.end)}` };
  });
  samples.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const families = (["gpu", "vm"] as const).filter(
    (kind) => kind === "gpu" || samples.some((s) => s.kind === kind),
  );
  return [
    ...families.flatMap((kind) => {
      const [metric, help] = METRIC_HELP[kind];
      return [
        `# HELP ${metric} ${help}`,
        `# TYPE ${metric} gauge`,
        ...samples.filter((s) => s.kind === kind).map((s) => s.line),
      ];
    }),
    "",
  ].join("\n");
}

/**
 * nginx serves the file with the exposition content type: Prometheus 3 refuses a scrape whose
 * Content-Type it does not recognise.
 */
export const LEASE_METRICS_NGINX_CONF = `server {
    listen ${LEASE_METRICS_PORT};
    server_name _;
    access_log off;

    location = /metrics {
        types { }
        default_type "text/plain; version=0.0.4; charset=utf-8";
        alias /srv/metrics/${METRICS_FILE};
    }

    location = /healthz {
        default_type text/plain;
        return 200 "ok\\n";
    }

    location / {
        return 404;
    }
}
`;

/** The exporter's pod: pinned image, requests and limits, probes, non-root, read-only root. */
export function leaseMetricsPodSpec(configMapName: string): k8s.types.input.core.v1.PodSpec {
  const probe = { httpGet: { path: "/healthz", port: "metrics" }, timeoutSeconds: 2 };
  return {
    automountServiceAccountToken: false,
    securityContext: {
      runAsNonRoot: true,
      runAsUser: 101,
      runAsGroup: 101,
      seccompProfile: { type: "RuntimeDefault" },
    },
    containers: [
      {
        name: "nginx",
        image: LEASE_METRICS_IMAGE,
        env: [{ name: "NGINX_ENTRYPOINT_QUIET_LOGS", value: "1" }],
        ports: [{ name: "metrics", containerPort: LEASE_METRICS_PORT, protocol: "TCP" }],
        resources: {
          requests: { cpu: "10m", memory: "16Mi" },
          limits: { cpu: "100m", memory: "64Mi" },
        },
        readinessProbe: { ...probe, periodSeconds: 10 },
        livenessProbe: { ...probe, initialDelaySeconds: 5, periodSeconds: 20 },
        securityContext: {
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ["ALL"] },
        },
        volumeMounts: [
          { name: "metrics", mountPath: "/srv/metrics", readOnly: true },
          { name: "nginx-conf", mountPath: "/etc/nginx/conf.d", readOnly: true },
          { name: "tmp", mountPath: "/tmp" },
        ],
      },
    ],
    // Whole-directory mounts (no subPath), so that the kubelet refreshes the file when a lease changes.
    volumes: [
      {
        name: "metrics",
        configMap: { name: configMapName, items: [{ key: METRICS_FILE, path: METRICS_FILE }] },
      },
      {
        name: "nginx-conf",
        configMap: { name: configMapName, items: [{ key: NGINX_CONF_FILE, path: NGINX_CONF_FILE }] },
      },
      { name: "tmp", emptyDir: { sizeLimit: "16Mi" } },
    ],
  };
}

export interface LeaseMetricsArgs {
  namespace: pulumi.Input<string>;
  leaseEnds: pulumi.Input<pulumi.Input<LeaseEnd>[]>;
  provider: k8s.Provider;
  parent: pulumi.Resource;
  /** What must exist first: the release that installs the ServiceMonitor CRD. */
  dependsOn?: pulumi.Input<pulumi.Resource>[];
}

export interface LeaseMetricsResources {
  configMap: k8s.core.v1.ConfigMap;
  deployment: k8s.apps.v1.Deployment;
  service: k8s.core.v1.Service;
  serviceMonitor: k8s.apiextensions.CustomResource;
}

/** A ConfigMap with the exposition, nginx serving it, a Service and a ServiceMonitor. */
export function leaseMetricsExporter(name: string, args: LeaseMetricsArgs): LeaseMetricsResources {
  const opts = { parent: args.parent, provider: args.provider };
  const metadata = {
    name: LEASE_METRICS_NAME,
    namespace: args.namespace,
    labels: { ...LEASE_METRICS_LABELS },
  };
  const configMap = new k8s.core.v1.ConfigMap(
    `${name}-config`,
    {
      metadata,
      data: {
        [METRICS_FILE]: pulumi.output(args.leaseEnds).apply((leases) => renderLeaseMetrics(leases)),
        [NGINX_CONF_FILE]: LEASE_METRICS_NGINX_CONF,
      },
    },
    opts,
  );
  const deployment = new k8s.apps.v1.Deployment(
    `${name}-deployment`,
    {
      metadata,
      spec: {
        replicas: 1,
        selector: { matchLabels: { ...LEASE_METRICS_LABELS } },
        template: {
          metadata: { labels: { ...LEASE_METRICS_LABELS } },
          spec: leaseMetricsPodSpec(LEASE_METRICS_NAME),
        },
      },
    },
    { ...opts, dependsOn: [configMap] },
  );
  const service = new k8s.core.v1.Service(
    `${name}-service`,
    {
      metadata,
      spec: {
        selector: { ...LEASE_METRICS_LABELS },
        ports: [{ name: "metrics", port: LEASE_METRICS_PORT, targetPort: "metrics", protocol: "TCP" }],
      },
    },
    opts,
  );
  const serviceMonitor = new k8s.apiextensions.CustomResource(
    `${name}-servicemonitor`,
    {
      apiVersion: "monitoring.coreos.com/v1",
      kind: "ServiceMonitor",
      metadata,
      spec: leaseMetricsServiceMonitorSpec(),
    },
    { ...opts, dependsOn: args.dependsOn },
  );
  return { configMap, deployment, service, serviceMonitor };
}

export function leaseMetricsServiceMonitorSpec() {
  return {
    selector: { matchLabels: { ...LEASE_METRICS_LABELS } },
    endpoints: [{ port: "metrics", path: "/metrics", interval: "60s" }],
  };
}
