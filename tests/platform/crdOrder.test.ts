import { TRAEFIK_CRDS } from "../../components/chameleon/k3sCommands";
import { BuildResult, buildStack, ResourceRecord } from "../harness";

/**
 * A fresh cluster comes up in one `pulumi up` only if every custom resource is created after the
 * CRD of its kind exists. Over the whole recorded estate: each object of a CRD-backed kind, and
 * each Helm release whose chart renders one, depends (through its inputs or dependsOn, transitively)
 * on the resource that installs that CRD.
 */

const RELEASE = "kubernetes:helm.sh/v3:Release";
const COMMAND = "command:remote:Command";

/** API groups served by Kubernetes itself, which need no CRD. */
const BUILT_IN = new Set([
  "core",
  "apps",
  "batch",
  "autoscaling",
  "policy",
  "rbac.authorization.k8s.io",
  "networking.k8s.io",
  "node.k8s.io",
  "storage.k8s.io",
  "scheduling.k8s.io",
  "admissionregistration.k8s.io",
  "apiextensions.k8s.io",
  "coordination.k8s.io",
  "discovery.k8s.io",
  // The Helm release itself is Pulumi's, not an object in the cluster.
  "helm.sh",
]);

interface Installer {
  what: string;
  matches: (r: ResourceRecord) => boolean;
}

const releaseOf = (chart: string): Installer => ({
  what: `the ${chart} Helm release`,
  matches: (r) => r.type === RELEASE && r.inputs.chart === chart,
});

/** Which resource installs the CRDs of each API group the estate uses. */
const INSTALLERS: Record<string, Installer> = {
  "monitoring.coreos.com": releaseOf("kube-prometheus-stack"),
  "cert-manager.io": releaseOf("cert-manager"),
  "ray.io": releaseOf("kuberay-operator"),
  "argoproj.io": releaseOf("argo-workflows"),
  "traefik.io": {
    what: "the server step that waits for k3s's Traefik CRDs",
    matches: (r) => r.type === COMMAND && r.name.endsWith("-server-wait-traefik"),
  },
};

function groupOf(type: string): string | undefined {
  const m = /^kubernetes:([^/]+)\/[^:]+:/.exec(type);
  return m?.[1];
}

/** Every URN `r` depends on, directly or through what it depends on. */
function closure(build: BuildResult, r: ResourceRecord): Set<string> {
  const byUrn = new Map(build.resources.map((x) => [x.urn, x]));
  const seen = new Set<string>();
  const todo = [...r.dependencies];
  while (todo.length > 0) {
    const urn = todo.pop()!;
    if (seen.has(urn)) continue;
    seen.add(urn);
    todo.push(...(byUrn.get(urn)?.dependencies ?? []));
  }
  return seen;
}

/** Whether a release's values turn on a ServiceMonitor/PodMonitor/PrometheusRule the chart renders. */
function rendersMonitoringObjects(values: unknown): boolean {
  if (!values || typeof values !== "object") return false;
  return Object.entries(values as Record<string, unknown>).some(([k, v]) =>
    /^(serviceMonitor|podMonitor|prometheusRule)$/.test(k) && v && typeof v === "object"
      ? (v as { enabled?: unknown }).enabled === true
      : rendersMonitoringObjects(v),
  );
}

/** `[resource, what it lacks]` for each object created before the CRD of its kind can exist. */
function violations(build: BuildResult, exempt: ReadonlySet<string> = new Set()): string[][] {
  const found: string[][] = [];
  const check = (r: ResourceRecord, group: string) => {
    const installer = INSTALLERS[group];
    if (!installer) {
      found.push([`${r.type} ${r.name}`, `no known installer for API group ${group}`]);
      return;
    }
    const installers = build.resources.filter(installer.matches);
    if (installers.length !== 1) {
      found.push([`${r.type} ${r.name}`, `${installers.length} resources are ${installer.what}`]);
      return;
    }
    if (!closure(build, r).has(installers[0].urn))
      found.push([`${r.type} ${r.name}`, `not after ${installer.what}`]);
  };
  for (const r of build.resources) {
    const group = groupOf(r.type);
    if (group && !BUILT_IN.has(group) && !exempt.has(group)) check(r, group);
    if (
      r.type === RELEASE &&
      r.inputs.chart !== "kube-prometheus-stack" &&
      rendersMonitoringObjects(r.inputs.values)
    ) {
      check(r, "monitoring.coreos.com");
    }
  }
  return found;
}

describe.each(["staging", "production"])(
  "the %s estate creates no custom resource before its CRD",
  (stack) => {
    let build: BuildResult;
    beforeAll(async () => {
      build = await buildStack(stack);
    });

    test("every object of a CRD-backed kind, and every chart that renders one, waits for its installer", () => {
      expect(violations(build)).toEqual([]);
    });

    test("the check covers every such kind the estate declares", () => {
      const groups = new Set(
        build.resources.map((r) => groupOf(r.type)).filter((g) => g && !BUILT_IN.has(g)),
      );
      expect([...groups].sort()).toEqual(Object.keys(INSTALLERS).sort());
      const charts = build.resources
        .filter((r) => r.type === RELEASE && rendersMonitoringObjects(r.inputs.values))
        .map((r) => r.inputs.chart)
        .sort();
      // The operators' own ServiceMonitors are covered too, not only the estate's typed ones.
      expect(charts).toEqual(expect.arrayContaining(["argo-workflows", "kuberay-operator"]));
    });

    test("the Traefik wait names the CRD of every Traefik kind the estate creates", () => {
      const kinds = build.resources
        .filter((r) => groupOf(r.type) === "traefik.io")
        .map((r) => `${r.type.split(":").pop()!.toLowerCase()}s.traefik.io`);
      expect(kinds.length).toBeGreaterThan(0);
      for (const crd of new Set(kinds)) expect(TRAEFIK_CRDS).toContain(crd);
      const wait = build.resources.find(INSTALLERS["traefik.io"].matches)!;
      expect(wait.inputs.environment).toEqual({ SSEPT_TRAEFIK_CRDS: TRAEFIK_CRDS.join(" ") });
    });
  },
);

describe("an existing cluster", () => {
  test("every custom resource waits for its installer; Traefik's CRDs are the cluster's own", async () => {
    const build = await buildStack("staging", {
      overrides: {
        clusterMode: "existing",
        existingS3Endpoint: "https://s3.lab.example.org",
        domain: "ml.lab.example.org",
      },
    });
    expect(build.resources.filter(INSTALLERS["traefik.io"].matches)).toEqual([]);
    expect(violations(build, new Set(["traefik.io"]))).toEqual([]);
  });
});

describe("the check itself", () => {
  test("finds a custom resource that does not wait for its installer", async () => {
    const build = await buildStack("staging");
    const rule = build.resources.find((r) => r.type.endsWith(":PrometheusRule"))!;
    const release = build.resources.find(INSTALLERS["monitoring.coreos.com"].matches)!;
    const cut = {
      ...build,
      resources: build.resources.map((r) =>
        r === rule ? { ...r, dependencies: r.dependencies.filter((d) => d !== release.urn) } : r,
      ),
    };
    expect(violations(cut)).toEqual([
      [`${rule.type} ${rule.name}`, "not after the kube-prometheus-stack Helm release"],
    ]);
  });
});
