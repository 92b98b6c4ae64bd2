import { spawnSync } from "child_process";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";
import {
  LEASE_END_METRIC,
  VM_LEASE_END_METRIC,
  LEASE_METRICS_IMAGE,
  LEASE_METRICS_NGINX_CONF,
  LEASE_METRICS_PORT,
  leaseEndSeconds,
  leaseMetricsPodSpec,
  leaseMetricsServiceMonitorSpec,
  renderLeaseMetrics,
} from "../../components/platform/leaseMetrics";

describe("leaseEndSeconds", () => {
  test("reads Blazar's UTC minute as Unix seconds", () => {
    // 2027-01-05 18:00 UTC, computed independently: calendar.timegm((2027, 1, 5, 18, 0, 0)).
    expect(leaseEndSeconds("2027-01-05 18:00")).toBe(1799172000);
    expect(leaseEndSeconds("2026-12-31 23:59")).toBe(Date.parse("2026-12-31T23:59:00Z") / 1000);
  });

  test.each([
    "2027-01-05T18:00",
    "2027-01-05 18:00:00",
    "2027-1-5 18:00",
    "",
    "2027-02-30 10:00",
    "2027-01-05 24:00",
  ])("refuses %j", (end) => {
    expect(() => leaseEndSeconds(end)).toThrow(/lease end/);
  });
});

describe("renderLeaseMetrics", () => {
  const leases = [
    { name: "ssept-production-gpu-1", site: "chi-uc", end: "2027-01-06 18:00" },
    { name: "ssept-production-gpu-0", site: "chi-uc", end: "2027-01-04 18:00" },
    { name: "ssept-staging-gpu-0", site: "kvm-tacc", end: "2027-01-05 18:00" },
  ];

  test("one gauge sample per lease, labelled lease and site, sorted by site then name", () => {
    const lines = renderLeaseMetrics(leases).trimEnd().split("\n");
    expect(lines[0]).toBe(
      `# HELP ${LEASE_END_METRIC} End of a Chameleon GPU lease, as Unix time in seconds.`,
    );
    expect(lines[1]).toBe(`# TYPE ${LEASE_END_METRIC} gauge`);
    expect(lines.slice(2)).toEqual([
      `${LEASE_END_METRIC}{lease="ssept-production-gpu-0",site="chi-uc"} ${Date.parse("2027-01-04T18:00:00Z") / 1000}`,
      `${LEASE_END_METRIC}{lease="ssept-production-gpu-1",site="chi-uc"} ${Date.parse("2027-01-06T18:00:00Z") / 1000}`,
      `${LEASE_END_METRIC}{lease="ssept-staging-gpu-0",site="kvm-tacc"} ${Date.parse("2027-01-05T18:00:00Z") / 1000}`,
    ]);
    expect(renderLeaseMetrics([...leases].reverse())).toBe(renderLeaseMetrics(leases));
  });

  test("escapes label values as the exposition format requires", () => {
    const text = renderLeaseMetrics([
      { name: 'odd"name\\with\nbreak', site: "chi-uc", end: "2027-01-05 18:00" },
    ]);
    expect(text).toContain(`{lease="odd\\"name\\\\with\\nbreak",site="chi-uc"}`);
  });

  test("no leases: only the metadata lines, still a valid exposition", () => {
    expect(
      renderLeaseMetrics([])
        .split("\n")
        .filter((l) => l && !l.startsWith("#")),
    ).toEqual([]);
  });

  test("promtool accepts the exposition", () => {
    const check = spawnSync("promtool", ["check", "metrics"], {
      input: renderLeaseMetrics(leases),
      encoding: "utf8",
    });
    if (check.error) throw new Error("promtool is not installed: apt-get install -y prometheus");
    expect([check.status, check.stdout + check.stderr]).toEqual([0, ""]);
  });

  test("refuses duplicates, blank names and sites, and bad dates, naming the lease", () => {
    expect(() => renderLeaseMetrics([leases[0], { ...leases[0] }])).toThrow(
      "lease end ssept-production-gpu-1 at chi-uc is listed twice",
    );
    expect(() => renderLeaseMetrics([{ ...leases[0], name: "" }])).toThrow(/name must be a non-empty string/);
    expect(() => renderLeaseMetrics([{ ...leases[0], site: "" }])).toThrow(/ssept-production-gpu-1: site/);
    expect(() => renderLeaseMetrics([{ ...leases[0], end: "soon" }])).toThrow(/lease end "soon"/);
  });
});

describe("the lease exporter's pod", () => {
  const pod = leaseMetricsPodSpec("gpu-lease-metrics") as unknown as {
    automountServiceAccountToken: boolean;
    securityContext: Record<string, unknown>;
    containers: Record<string, any>[]; // eslint-disable-line @typescript-eslint/no-explicit-any
    volumes: Record<string, any>[]; // eslint-disable-line @typescript-eslint/no-explicit-any
  };
  const [nginx] = pod.containers;

  test("pinned nginx-unprivileged image", () => {
    expect(nginx.image).toBe(LEASE_METRICS_IMAGE);
    expect(LEASE_METRICS_IMAGE).toMatch(/^nginxinc\/nginx-unprivileged:\d+\.\d+\.\d+-alpine$/);
  });

  test("requests and limits, readiness and liveness probes on the metrics port", () => {
    expect(nginx.resources.requests).toEqual({ cpu: expect.any(String), memory: expect.any(String) });
    expect(nginx.resources.limits).toEqual({ cpu: expect.any(String), memory: expect.any(String) });
    for (const probe of [nginx.readinessProbe, nginx.livenessProbe]) {
      expect(probe.httpGet).toEqual({ path: "/healthz", port: "metrics" });
    }
    expect(nginx.ports).toEqual([{ name: "metrics", containerPort: LEASE_METRICS_PORT, protocol: "TCP" }]);
  });

  test("non-root, read-only root file system, no capabilities, no API token", () => {
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 101 });
    expect(nginx.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
    });
    expect(pod.automountServiceAccountToken).toBe(false);
    // nginx writes its pid and temp files to /tmp, which must therefore be writable.
    expect(nginx.volumeMounts).toContainEqual({ name: "tmp", mountPath: "/tmp" });
  });

  test("nginx serves the ConfigMap's file on /metrics with the exposition content type", () => {
    const metricsMount = nginx.volumeMounts.find((m: { name: string }) => m.name === "metrics");
    const metricsVolume = pod.volumes.find((v) => v.name === "metrics");
    const file = metricsVolume!.configMap.items[0].path;
    expect(metricsMount.subPath).toBeUndefined();
    expect(LEASE_METRICS_NGINX_CONF).toContain(`alias ${metricsMount.mountPath}/${file};`);
    expect(LEASE_METRICS_NGINX_CONF).toContain(`listen ${LEASE_METRICS_PORT};`);
    expect(LEASE_METRICS_NGINX_CONF).toContain('default_type "text/plain; version=0.0.4; charset=utf-8";');
    expect(LEASE_METRICS_NGINX_CONF).toMatch(/location = \/healthz \{[^}]*return 200/);
  });

  test("the ServiceMonitor validates and scrapes the metrics port", () => {
    const spec = leaseMetricsServiceMonitorSpec();
    expect(() =>
      new ServiceMonitor({
        metadata: { name: "gpu-lease-metrics", namespace: "monitoring" },
        spec,
      }).validate(),
    ).not.toThrow();
    expect(spec.endpoints).toEqual([{ port: "metrics", path: "/metrics", interval: "60s" }]);
  });
});

describe("the VM lease's end", () => {
  const leases = [
    { name: "production-gpu-20270104t1400", site: "chi-uc", end: "2027-01-04 18:00", kind: "gpu" as const },
    { name: "production-vm", site: "kvm-tacc", end: "2026-12-03 12:00", kind: "vm" as const },
  ];

  test("is its own gauge family, so its alert can warn days ahead instead of hours", () => {
    const lines = renderLeaseMetrics(leases).trimEnd().split("\n");
    expect(lines).toEqual([
      `# HELP ${LEASE_END_METRIC} End of a Chameleon GPU lease, as Unix time in seconds.`,
      `# TYPE ${LEASE_END_METRIC} gauge`,
      `${LEASE_END_METRIC}{lease="production-gpu-20270104t1400",site="chi-uc"} ${Date.parse("2027-01-04T18:00:00Z") / 1000}`,
      `# HELP ${VM_LEASE_END_METRIC} End of the Chameleon lease the k3s VMs run on, as Unix time in seconds.`,
      `# TYPE ${VM_LEASE_END_METRIC} gauge`,
      `${VM_LEASE_END_METRIC}{lease="production-vm",site="kvm-tacc"} ${Date.parse("2026-12-03T12:00:00Z") / 1000}`,
    ]);
  });

  test("promtool accepts both families together", () => {
    const check = spawnSync("promtool", ["check", "metrics"], {
      input: renderLeaseMetrics(leases),
      encoding: "utf8",
    });
    if (check.error) throw new Error("promtool is not installed: apt-get install -y prometheus");
    expect([check.status, check.stdout + check.stderr]).toEqual([0, ""]);
  });

  test("an unknown kind is refused, naming the lease", () => {
    expect(() => renderLeaseMetrics([{ ...leases[1], kind: "bare-metal" as unknown as "vm" }])).toThrow(
      "lease end production-vm: kind must be gpu or vm",
    );
  });
});
