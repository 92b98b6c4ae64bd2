import { DATA_VOLUME_NODE_LABEL } from "../../components/contracts";
import { clusterEndpoints, mlflowArgs, mlflowSpec } from "../../stacks/estate";
import { Mlflow } from "../../components/platform/mlflow";
import {
  BACKUP_PREFIX,
  backendStoreUri,
  backupCronJob,
  DUMP_SCRIPT,
  MLFLOW_LABELS,
  mlflowServerDeployment,
  POSTGRES_SECRET,
  postgresStatefulSet,
  trackingUri,
  UPLOAD_SCRIPT,
} from "../../components/platform/mlflowManifests";
import { mlflowPolicies } from "../../components/platform/mlflowPolicies";
import { S3_SECRET_NAME } from "../../components/platform/s3Credentials";
import { PlatformConfig } from "../../stacks/config";
import { runUnderMocks } from "../harness";
import {
  Build,
  byType,
  CRONJOB,
  DEPLOYMENT,
  estateViolations,
  containersOf,
  expectHardened,
  expectKubernetesChildrenOf,
  hasModel,
  NETPOL,
  one,
  PASSWORD,
  plainEnv,
  podsOf,
  SECRET,
  selects,
  SERVICE,
  SERVICE_MONITOR,
  stackConfig,
  STATEFULSET,
  TEST_ACCESS_KEY,
  TEST_SECRET_KEY,
  testCluster,
  validateRecord,
} from "./workloadKit";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

async function buildMlflow(config: PlatformConfig) {
  let ui: unknown;
  let uri = "";
  const build = await runUnderMocks(() => {
    const mlflow = new Mlflow("mlflow", mlflowArgs(config, testCluster(config)));
    ui = mlflow.ui;
    uri = mlflow.trackingUri;
  });
  return { build, ui, uri };
}

const staging = stackConfig("staging");
const production = stackConfig("production");

describe("MLflow manifests (pure)", () => {
  test("the tracking URI is the in-cluster Service address on port 5000", () => {
    expect(trackingUri("mlflow")).toBe("http://mlflow.mlflow.svc.cluster.local:5000");
  });

  test("the backend store URI points at the Postgres Service and escapes the password", () => {
    expect(backendStoreUri("mlflow", "abc123XYZ")).toBe(
      "postgresql://mlflow:abc123XYZ@mlflow-postgres.mlflow.svc.cluster.local:5432/mlflow",
    );
    expect(backendStoreUri("mlflow", "a@b/c:d")).toBe(
      "postgresql://mlflow:a%40b%2Fc%3Ad@mlflow-postgres.mlflow.svc.cluster.local:5432/mlflow",
    );
  });

  test("the server proxies artifacts to the mlflow-artifacts bucket and exposes Prometheus metrics", () => {
    const container = (mlflowServerDeployment(mlflowSpec(staging), "mlflow") as Json).spec.template.spec
      .containers[0];
    expect(container.image).toBe(staging.images.mlflow);
    expect(container.command).toEqual(["mlflow"]);
    expect(container.args).toEqual(
      expect.arrayContaining([
        "server",
        "--serve-artifacts",
        "--artifacts-destination=s3://ssept-staging-mlflow-artifacts",
        expect.stringMatching(/^--expose-prometheus=\//),
        "--port=5000",
      ]),
    );
    // Dependencies are baked into the image: nothing is installed when the container starts.
    expect(JSON.stringify([container.command, container.args])).not.toMatch(/pip|install/);
    expect(container.env).toContainEqual({
      name: "MLFLOW_BACKEND_STORE_URI",
      valueFrom: { secretKeyRef: { name: POSTGRES_SECRET.name, key: POSTGRES_SECRET.backendStoreUriKey } },
    });
    expect(container.envFrom).toEqual([{ secretRef: { name: S3_SECRET_NAME } }]);
    expect(container.resources).toEqual({
      requests: { cpu: "250m", memory: "512Mi" },
      limits: { cpu: "1", memory: "2Gi" },
    });
    for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"]) {
      expect(container[probe].httpGet).toEqual({ path: "/health", port: "http" });
    }
  });

  test("Postgres gets its volume size and resources from config, each environment its own", () => {
    for (const [config, size] of [
      [staging, "10Gi"],
      [production, "20Gi"],
    ] as const) {
      const sts = postgresStatefulSet(mlflowSpec(config), "mlflow") as Json;
      expect(sts.spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBe(size);
      const postgres = sts.spec.template.spec.containers.find((c: Json) => c.name === "postgres");
      expect(postgres.resources).toEqual({ ...config.mlflow.postgres });
      expect(postgres.image).toMatch(/^docker\.io\/library\/postgres:\d+\.\d+$/);
    }
  });

  test("on Chameleon, Postgres runs on the node whose volumes sit on the Cinder data volume", () => {
    const nodeSelector = (config: PlatformConfig) =>
      (postgresStatefulSet(mlflowSpec(config), "mlflow") as Json).spec.template.spec.nodeSelector;
    expect(nodeSelector(staging)).toEqual({ [DATA_VOLUME_NODE_LABEL.key]: DATA_VOLUME_NODE_LABEL.value });
    const existing = stackConfig("staging", {
      clusterMode: "existing",
      existingS3Endpoint: "https://s3.example.org",
      domain: "ml.example.org",
    });
    expect(nodeSelector(existing)).toBeUndefined();
  });

  test("the Postgres password reaches every container through secretKeyRef only", () => {
    const sts = postgresStatefulSet(mlflowSpec(staging), "mlflow") as Json;
    const cron = backupCronJob(mlflowSpec(staging), "mlflow") as Json;
    const pod = cron.spec.jobTemplate.spec.template.spec;
    const containers = [...sts.spec.template.spec.containers, ...pod.initContainers, ...pod.containers];
    const passwordVars = containers.flatMap((c: Json) =>
      (c.env ?? []).filter((e: Json) => /PASS/.test(e.name)).map((e: Json) => ({ container: c.name, ...e })),
    );
    expect(passwordVars.map((e: Json) => `${e.container}:${e.name}`).sort()).toEqual([
      "pg-dump:PGPASSWORD",
      "postgres-exporter:DATA_SOURCE_PASS",
      "postgres:POSTGRES_PASSWORD",
    ]);
    for (const e of passwordVars) {
      expect(e.value).toBeUndefined();
      expect(e.valueFrom).toEqual({
        secretKeyRef: { name: POSTGRES_SECRET.name, key: POSTGRES_SECRET.passwordKey },
      });
    }
  });

  test("the exporter sidecar serves on the port named metrics", () => {
    const exporter = (
      postgresStatefulSet(mlflowSpec(staging), "mlflow") as Json
    ).spec.template.spec.containers.find((c: Json) => c.name === "postgres-exporter");
    expect(exporter.ports).toEqual([{ name: "metrics", containerPort: 9187, protocol: "TCP" }]);
  });

  test("the backup follows the configured schedule and writes gzipped dumps under postgres-backups/ in the logs bucket", () => {
    const config = stackConfig("staging", { mlflowBackupSchedule: "15 2 * * *" });
    const cron = backupCronJob(mlflowSpec(config), "mlflow") as Json;
    expect(cron.spec.schedule).toBe("15 2 * * *");
    expect(cron.spec.concurrencyPolicy).toBe("Forbid");
    const pod = cron.spec.jobTemplate.spec.template.spec;
    expect(pod.initContainers[0].command.slice(0, 2)).toEqual(["bash", "-c"]);
    expect(DUMP_SCRIPT).toMatch(/set -euo pipefail/);
    expect(DUMP_SCRIPT).toMatch(/pg_dump .*\| gzip/);
    expect(UPLOAD_SCRIPT).toContain('os.environ["BUCKET_LOGS"]');
    expect(UPLOAD_SCRIPT).toContain(`${BACKUP_PREFIX}/{stamp}.sql.gz`);
    expect(pod.containers[0].image).toBe(config.images.mlflow);
    expect(pod.containers[0].envFrom).toEqual([{ secretRef: { name: S3_SECRET_NAME } }]);
    expect(pod.metadata).toBeUndefined();
    expect(cron.spec.jobTemplate.spec.template.metadata.labels).toMatchObject(MLFLOW_LABELS.backup);
  });
});

describe("MLflow network policies (pure)", () => {
  const byName = (config: PlatformConfig) =>
    Object.fromEntries(
      mlflowPolicies(clusterEndpoints(config).s3Endpoint).map((p) => [p.name, p.spec as Json]),
    );
  const nsOf = (peer: Json) => peer.namespaceSelector?.matchLabels?.["kubernetes.io/metadata.name"];

  test("the server admits the ingress controller, ray, pipeline, serving and Prometheus on 5000 only", () => {
    const server = byName(staging)["mlflow-server"];
    const sources = server.ingress.flatMap((rule: Json) =>
      rule.from.map((peer: Json) => ({
        ns: nsOf(peer),
        pods: peer.podSelector?.matchLabels,
        ports: rule.ports,
      })),
    );
    expect(sources.map((s: Json) => s.ns).sort()).toEqual([
      "kube-system",
      "monitoring",
      "pipeline",
      "ray",
      "serving",
    ]);
    for (const s of sources) expect(s.ports).toEqual([{ protocol: "TCP", port: 5000 }]);
    expect(sources.find((s: Json) => s.ns === "kube-system").pods).toEqual({
      "app.kubernetes.io/name": "traefik",
    });
  });

  test("Postgres admits only the server and the backup job (and Prometheus on the exporter port)", () => {
    const pg = byName(staging)["mlflow-postgres"];
    expect(pg.ingress).toEqual([
      {
        from: [
          { podSelector: { matchLabels: MLFLOW_LABELS.server } },
          { podSelector: { matchLabels: MLFLOW_LABELS.backup } },
        ],
        ports: [{ protocol: "TCP", port: 5432 }],
      },
      {
        from: [
          expect.objectContaining({
            podSelector: { matchLabels: { "app.kubernetes.io/name": "prometheus" } },
          }),
        ],
        ports: [{ protocol: "TCP", port: 9187 }],
      },
    ]);
    expect(pg.egress).toEqual([]);
  });

  test("S3 egress is limited to the endpoint's port: 7480 at Chameleon, the scheme default elsewhere", () => {
    const s3Rule = (config: PlatformConfig) =>
      byName(config)["mlflow-server"].egress.find((r: Json) => r.to[0].ipBlock !== undefined);
    expect(s3Rule(staging)).toEqual({
      to: [{ ipBlock: { cidr: "0.0.0.0/0" } }],
      ports: [{ protocol: "TCP", port: 7480 }],
    });
    const existing = stackConfig("staging", {
      clusterMode: "existing",
      existingS3Endpoint: "https://s3.example.org",
      domain: "ml.example.org",
    });
    expect(s3Rule(existing).ports).toEqual([{ protocol: "TCP", port: 443 }]);
  });
});

describe("Mlflow component (under mocks)", () => {
  let build: Build;
  let ui: unknown;
  let uri: string;
  beforeAll(async () => {
    ({ build, ui, uri } = await buildMlflow(staging));
  });

  test("is a ssept:platform:Mlflow whose Kubernetes children all use the explicit provider", () => {
    const component = one(build, "ssept:platform:Mlflow", "mlflow");
    const kube = build.resources.filter(
      (r) => r.type.startsWith("kubernetes:") && !r.type.startsWith("pulumi:"),
    );
    expect(kube.length).toBeGreaterThan(10);
    expectKubernetesChildrenOf(build, component);
  });

  test("passes the estate-wide Kubernetes rules (schema, images, resources, probes, secrets, namespaces)", () => {
    expect(estateViolations(build)).toEqual([]);
  });

  test("every core object and ServiceMonitor validates against its schema", () => {
    const checked = build.resources.filter((r) => hasModel(r.type));
    expect(checked.map((r) => r.type)).toEqual(
      expect.arrayContaining([DEPLOYMENT, STATEFULSET, SERVICE, SECRET, CRONJOB, NETPOL, SERVICE_MONITOR]),
    );
    for (const r of checked) validateRecord(r);
  });

  test("every container is pinned, sized and unprivileged; long-running ones have probes", () => {
    for (const type of [DEPLOYMENT, STATEFULSET]) {
      for (const r of byType(build, type)) for (const pod of podsOf(r)) expectHardened(pod, { probes: true });
    }
    for (const r of byType(build, CRONJOB))
      for (const pod of podsOf(r)) expectHardened(pod, { probes: false });
  });

  test("the database secret is a Pulumi secret holding the generated password, which appears nowhere else", () => {
    const secret = one(build, SECRET, "mlflow-postgres-secret");
    expect(secret.secretPaths).toContain("stringData");
    const data = secret.inputs.stringData as Record<string, string>;
    const password = data[POSTGRES_SECRET.passwordKey];
    expect(password).toMatch(/^mockpw-/);
    expect(data[POSTGRES_SECRET.backendStoreUriKey]).toContain(`:${password}@`);
    const elsewhere = build.resources.filter(
      (r) => r !== secret && r.type !== PASSWORD && JSON.stringify(r.inputs).includes(password),
    );
    expect(elsewhere.map((r) => r.name)).toEqual([]);
  });

  test("S3 keys live only in the namespace's s3-credentials Secret, which the server and backup read", () => {
    const s3 = byType(build, SECRET).find((r) => (r.inputs.metadata as Json).name === S3_SECRET_NAME)!;
    expect(s3.secretPaths).toContain("stringData");
    expect((s3.inputs.metadata as Json).namespace).toBe("mlflow");
    for (const key of [TEST_ACCESS_KEY, TEST_SECRET_KEY]) {
      const holders = build.resources
        .filter((r) => JSON.stringify(r.inputs).includes(key))
        .map((r) => r.name);
      expect(holders).toEqual([s3.name]);
    }
    const readers = [...byType(build, DEPLOYMENT), ...byType(build, CRONJOB)].flatMap((r) =>
      podsOf(r).flatMap((pod) => containersOf(pod)),
    );
    const withS3 = readers.filter(({ container }) =>
      (container.envFrom ?? []).some((e: Json) => e.secretRef?.name === S3_SECRET_NAME),
    );
    expect(withS3.map((c) => c.where).sort()).toEqual([
      "mlflow-postgres-backup/upload",
      "mlflow-server/mlflow",
    ]);
    for (const r of [
      ...byType(build, DEPLOYMENT),
      ...byType(build, STATEFULSET),
      ...byType(build, CRONJOB),
    ]) {
      for (const pod of podsOf(r))
        expect(Object.keys(plainEnv(pod)).filter((k) => /PASS|SECRET|KEY/.test(k))).toEqual([]);
    }
  });

  test("each ServiceMonitor selects a Service of its namespace by its labels and scrapes a named port of it", () => {
    const services = byType(build, SERVICE).map((r) => r.inputs as Json);
    const monitors = byType(build, SERVICE_MONITOR).map((r) => r.inputs as Json);
    expect(monitors.map((m) => m.metadata.name).sort()).toEqual(["mlflow", "mlflow-postgres"]);
    for (const m of monitors) {
      const matched = services.filter(
        (s) =>
          s.metadata.namespace === m.metadata.namespace &&
          selects(m.spec.selector.matchLabels, s.metadata.labels),
      );
      expect(matched).toHaveLength(1);
      const portNames = matched[0].spec.ports.map((p: Json) => p.name);
      for (const endpoint of m.spec.endpoints) expect(portNames).toContain(endpoint.port);
    }
    const server = monitors.find((m) => m.metadata.name === "mlflow");
    expect(server.spec.endpoints).toEqual([{ port: "http", path: "/metrics", interval: "30s" }]);
  });

  test("Services select the pods of their workloads", () => {
    const pods = [...byType(build, DEPLOYMENT), ...byType(build, STATEFULSET)].flatMap(podsOf);
    for (const s of byType(build, SERVICE).map((r) => r.inputs as Json)) {
      expect({
        service: s.metadata.name,
        matches: pods.filter((p) => selects(s.spec.selector, p.labels)).length,
      }).toEqual({
        service: s.metadata.name,
        matches: 1,
      });
    }
  });

  test("the namespace starts closed and every policy selects pods that exist", () => {
    const policies = byType(build, NETPOL).map((r) => r.inputs as Json);
    expect(policies.map((p) => p.metadata.name).sort()).toEqual([
      "allow-dns",
      "default-deny",
      "mlflow-postgres",
      "mlflow-postgres-backup",
      "mlflow-server",
    ]);
    const pods = [
      ...byType(build, DEPLOYMENT),
      ...byType(build, STATEFULSET),
      ...byType(build, CRONJOB),
    ].flatMap(podsOf);
    for (const p of policies) {
      expect(p.metadata.namespace).toBe("mlflow");
      const selector = p.spec.podSelector.matchLabels ?? {};
      expect(pods.some((pod) => selects(selector, pod.labels))).toBe(true);
    }
  });

  test("exposes the UI and the tracking URI", () => {
    expect(ui).toEqual({ namespace: "mlflow", name: "mlflow", port: 5000 });
    expect(uri).toBe("http://mlflow.mlflow.svc.cluster.local:5000");
  });

  test("without monitoring no ServiceMonitor is declared (its CRD would be missing)", async () => {
    const { build: bare } = await buildMlflow(stackConfig("staging", { enableMonitoring: "false" }));
    expect(byType(bare, SERVICE_MONITOR)).toEqual([]);
    expect(byType(bare, DEPLOYMENT)).toHaveLength(1);
  });
});
