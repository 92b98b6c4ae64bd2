import * as path from "path";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { loadConfig, PROJECT } from "../../stacks/config";
import { ingressArgs } from "../../stacks/estate";
import {
  acmeIssuer,
  CA_SECRET,
  issuerChain,
  ISSUERS,
  LETS_ENCRYPT_DIRECTORY,
} from "../../components/platform/certIssuers";
import { chartValues, readChartPin } from "../../components/platform/helmRelease";
import { Ingress } from "../../components/platform/ingress";
import {
  allowFromIngressController,
  certManagerPolicies,
  CERT_MANAGER_WEBHOOK_PORT,
} from "../../components/platform/ingressPolicies";
import {
  baseDomainOf,
  hostFor,
  htpasswdLine,
  ingressAnnotations,
  IngressRoute,
  loginNote,
  middlewareRef,
  validateRoutes,
} from "../../components/platform/ingressRoutes";
import { BuildResult, PLAN_CLOCK, readStackFile, REPO_ROOT, ResourceRecord, runUnderMocks } from "../harness";
import { checkKubernetes, secretSources } from "../k8sValidation";

const IP = "129.114.5.6";
const HASH = `$2a$10$${"a".repeat(53)}`;

const ROUTES: IngressRoute[] = [
  {
    name: "grafana",
    service: { namespace: "monitoring", name: "kube-prometheus-stack-grafana", port: 80 },
    auth: "app",
    backend: { podSelector: { "app.kubernetes.io/name": "grafana" }, targetPort: 3000 },
  },
  { name: "mlflow", service: { namespace: "mlflow", name: "mlflow", port: 5000 }, auth: "basic" },
  { name: "ray", service: { namespace: "ray", name: "ssept-head-svc", port: 8265 }, auth: "basic" },
  {
    name: "argo",
    service: { namespace: "pipeline", name: "argo-workflows-server", port: 2746 },
    auth: "basic",
  },
  { name: "gateway", service: { namespace: "serving", name: "gateway", port: 8080 }, auth: "public" },
];

describe("pure helpers", () => {
  test("the base domain is the configured domain, else <floating ip>.sslip.io", () => {
    expect(baseDomainOf("ml.example.org", IP)).toBe("ml.example.org");
    expect(baseDomainOf(undefined, IP)).toBe("129.114.5.6.sslip.io");
    expect(() => baseDomainOf(undefined, "129.114.5")).toThrow(/not an IPv4 address/);
    expect(() => baseDomainOf("not a domain", IP)).toThrow(/domain not a domain is not a DNS name/);
  });

  test("hosts are <route>.<base domain>", () => {
    expect(hostFor("ray", "129.114.5.6.sslip.io")).toBe("ray.129.114.5.6.sslip.io");
    expect(hostFor("gateway", "ml.example.org")).toBe("gateway.ml.example.org");
  });

  test("an htpasswd line is user:bcrypt-hash, and nothing else is accepted", () => {
    expect(htpasswdLine("admin", HASH)).toBe(`admin:${HASH}`);
    expect(() => htpasswdLine("admin", "plaintext-password")).toThrow(/not a bcrypt hash/);
    expect(() => htpasswdLine("ad:min", HASH)).toThrow(/letters, digits/);
  });

  test("Traefik names a CRD middleware <namespace>-<name>@kubernetescrd", () => {
    expect(middlewareRef("mlflow", "mlflow-basic-auth")).toBe("mlflow-mlflow-basic-auth@kubernetescrd");
  });

  test("routers are HTTPS only, with the middlewares in order when there are any", () => {
    expect(ingressAnnotations([])).toEqual({
      "traefik.ingress.kubernetes.io/router.entrypoints": "websecure",
      "traefik.ingress.kubernetes.io/router.tls": "true",
    });
    expect(ingressAnnotations(["a-x@kubernetescrd", "a-y@kubernetescrd"])).toMatchObject({
      "traefik.ingress.kubernetes.io/router.middlewares": "a-x@kubernetescrd,a-y@kubernetescrd",
    });
  });

  test("routes: no UI without a login is left open, no duplicates", () => {
    expect(() => validateRoutes(ROUTES)).not.toThrow();
    const mlflowOpen = ROUTES.map((r) => (r.name === "mlflow" ? { ...r, auth: "public" as const } : r));
    expect(() => validateRoutes(mlflowOpen)).toThrow(/mlflow has no login of its own.*"basic", not "public"/);
    const gatewayApp = ROUTES.map((r) => (r.name === "gateway" ? { ...r, auth: "app" as const } : r));
    expect(() => validateRoutes(gatewayApp)).toThrow(/gateway cannot use auth "app"/);
    expect(() => validateRoutes([ROUTES[1], ROUTES[1]])).toThrow(/route mlflow is given twice/);
  });

  test("allowFromIngressController admits Traefik's pods in kube-system to one port", () => {
    expect(allowFromIngressController("monitoring", { "app.kubernetes.io/name": "grafana" }, 3000)).toEqual({
      metadata: { name: "allow-from-traefik-3000", namespace: "monitoring" },
      spec: {
        podSelector: { matchLabels: { "app.kubernetes.io/name": "grafana" } },
        policyTypes: ["Ingress"],
        ingress: [
          {
            from: [
              {
                namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } },
                podSelector: { matchLabels: { "app.kubernetes.io/name": "traefik" } },
              },
            ],
            ports: [{ protocol: "TCP", port: 3000 }],
          },
        ],
      },
    });
  });

  test("cert-manager may reach the API server, the API server its webhook, and with ACME the internet", () => {
    const selfSigned = certManagerPolicies("cert-manager", "self-signed");
    expect(selfSigned.map((p) => p.metadata.name)).toEqual([
      "allow-apiserver-egress",
      "allow-webhook-from-apiserver",
    ]);
    expect(selfSigned[0].spec!).toMatchObject({
      podSelector: {},
      policyTypes: ["Egress"],
      egress: [
        {
          ports: [
            { protocol: "TCP", port: 443 },
            { protocol: "TCP", port: 6443 },
          ],
        },
      ],
    });
    expect(selfSigned[1].spec).toMatchObject({
      podSelector: { matchLabels: { "app.kubernetes.io/component": "webhook" } },
      policyTypes: ["Ingress"],
      ingress: [{ ports: [{ protocol: "TCP", port: CERT_MANAGER_WEBHOOK_PORT }] }],
    });
    expect(CERT_MANAGER_WEBHOOK_PORT).toBe(10250);

    const acme = certManagerPolicies("cert-manager", "acme");
    expect(acme.map((p) => p.metadata.name)).toEqual([
      "allow-apiserver-egress",
      "allow-webhook-from-apiserver",
      "allow-acme-egress",
    ]);
    expect(acme[2].spec).toMatchObject({
      podSelector: { matchLabels: { "app.kubernetes.io/component": "controller" } },
      policyTypes: ["Egress"],
      egress: [
        {
          to: [{ ipBlock: { cidr: "0.0.0.0/0" } }],
          ports: [
            { protocol: "TCP", port: 443 },
            { protocol: "TCP", port: 80 },
          ],
        },
      ],
    });
  });

  test("self-signed TLS: a self-signed issuer signs the estate's CA, whose issuer signs the hosts", () => {
    const chain = issuerChain({ tlsMode: "self-signed" }, "cert-manager", "staging");
    expect(chain.hostIssuer).toBe(ISSUERS.ca);
    expect(chain.objects.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([
      "ClusterIssuer/ssept-selfsigned",
      "Certificate/ssept-ca",
      "ClusterIssuer/ssept-ca",
    ]);
    const [selfSigned, ca, caIssuer] = chain.objects;
    expect(selfSigned.spec).toEqual({ selfSigned: {} });
    expect(ca.metadata.namespace).toBe("cert-manager");
    expect(ca.spec).toMatchObject({
      isCA: true,
      commonName: "sse-pt-platform staging CA",
      secretName: CA_SECRET,
      issuerRef: { name: ISSUERS.selfSigned, kind: "ClusterIssuer" },
    });
    expect(caIssuer.spec).toEqual({ ca: { secretName: CA_SECRET } });
  });

  test("ACME TLS: Let's Encrypt over HTTP-01 through Traefik, and only with a domain and an e-mail", () => {
    const chain = issuerChain(
      { tlsMode: "acme", domain: "ml.example.org", acmeEmail: "ops@example.org" },
      "cert-manager",
      "production",
    );
    expect(chain.hostIssuer).toBe(ISSUERS.acme);
    expect(chain.objects).toEqual([acmeIssuer("ops@example.org")]);
    expect(chain.objects[0].spec).toEqual({
      acme: {
        server: LETS_ENCRYPT_DIRECTORY,
        email: "ops@example.org",
        privateKeySecretRef: { name: "letsencrypt-account-key" },
        solvers: [{ http01: { ingress: { ingressClassName: "traefik" } } }],
      },
    });
    expect(() =>
      issuerChain({ tlsMode: "acme", domain: "ml.example.org" }, "cert-manager", "production"),
    ).toThrow(/^acmeEmail: required/);
    expect(() =>
      issuerChain({ tlsMode: "acme", acmeEmail: "ops@example.org" }, "cert-manager", "production"),
    ).toThrow(/^domain: required/);
  });

  test("login notes say where each login lives", () => {
    expect(loginNote("mlflow", "basic")).toMatch(
      /^MLflow: HTTP basic auth at the ingress, user "admin".*uiCredentials/,
    );
    expect(loginNote("mlflow", "basic")).toMatch(/MLFLOW_TRACKING_USERNAME/);
    expect(loginNote("grafana", "app")).toMatch(/^Grafana: its own login page/);
    expect(loginNote("gateway", "public")).toBe("Inference gateway: public HTTPS API, no login.");
  });

  test("the cert-manager chart is pinned and installs its CRDs with bounded resources", () => {
    expect(readChartPin("cert-manager")).toEqual({
      repository: "https://charts.jetstack.io",
      chart: "cert-manager",
      version: "1.19.4",
    });
    for (const environment of ["staging", "production"]) {
      const values = chartValues("cert-manager", environment) as Record<string, Record<string, unknown>>;
      expect(values.crds).toEqual({ enabled: true, keep: true });
      for (const part of [values, values.webhook, values.cainjector, values.startupapicheck]) {
        expect(part.resources).toEqual({
          requests: { cpu: expect.any(String), memory: expect.any(String) },
          limits: { cpu: expect.any(String), memory: expect.any(String) },
        });
      }
    }
  });
});

function configFor(ingress: Record<string, string>) {
  const { config } = readStackFile(path.join(REPO_ROOT, "Pulumi.staging.yaml"));
  const raw: Record<string, string> = { ...config };
  const set = {
    ...ingress,
    clusterMode: "existing",
    existingS3Endpoint: "https://s3.example.org",
    domain: "ml.lab.example.org",
  };
  for (const [k, v] of Object.entries(set)) raw[`${PROJECT}:${k}`] = v;
  for (const k of ["existingKubeconfig", "existingS3AccessKey", "existingS3SecretKey"])
    raw[`${PROJECT}:${k}`] = `test-${k}`;
  return loadConfig(raw, { now: PLAN_CLOCK });
}

async function buildIngress(
  ingress: Record<string, string>,
  routes: IngressRoute[] = ROUTES,
  baseDomain = `${IP}.sslip.io`,
): Promise<Omit<BuildResult, "stack">> {
  return runUnderMocks(() => {
    const config = configFor(ingress);
    const provider = new k8s.Provider("k8s", { kubeconfig: pulumi.secret("apiVersion: v1") });
    const component = new Ingress("ssept", ingressArgs(config, provider, { baseDomain, routes }));
    return {
      urls: pulumi.output(component.urls),
      basicAuth: pulumi.output(component.basicAuth ?? null),
      loginNotes: pulumi.output(component.loginNotes),
      clusterIssuer: pulumi.output(component.clusterIssuer),
    };
  });
}

type Inputs = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const find = (resources: ResourceRecord[], type: string, name: string): ResourceRecord => {
  const found = resources.find((r) => r.type === type && r.name === name);
  if (!found) throw new Error(`no ${type} ${name} among ${resources.map((r) => r.name).join(", ")}`);
  return found;
};
const inputs = (r: ResourceRecord) => r.inputs as Inputs;
const ofType = (resources: ResourceRecord[], type: string) => resources.filter((r) => r.type === type);

const INGRESS = "kubernetes:networking.k8s.io/v1:Ingress";
const POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy";
const SECRET = "kubernetes:core/v1:Secret";
const MIDDLEWARE = "kubernetes:traefik.io/v1alpha1:Middleware";
const CERTIFICATE = "kubernetes:cert-manager.io/v1:Certificate";
const ISSUER = "kubernetes:cert-manager.io/v1:ClusterIssuer";
const RELEASE = "kubernetes:helm.sh/v3:Release";

describe("the Ingress component, self-signed TLS on sslip.io", () => {
  let run: Omit<BuildResult, "stack">;
  beforeAll(async () => {
    run = await buildIngress({ tlsMode: "self-signed" });
  });

  test("cert-manager gets a closed namespace, the flows it needs, then its pinned chart", () => {
    const ns = find(run.resources, "kubernetes:core/v1:Namespace", "cert-manager-ns");
    expect(inputs(ns).metadata.name).toBe("cert-manager");
    const policies = ofType(run.resources, POLICY).filter(
      (p) => inputs(p).metadata.namespace === "cert-manager",
    );
    expect(policies.map((p) => inputs(p).metadata.name).sort()).toEqual([
      "allow-apiserver-egress",
      "allow-dns",
      "allow-webhook-from-apiserver",
      "default-deny",
    ]);
    const release = find(run.resources, RELEASE, "ssept-cert-manager");
    expect(inputs(release)).toMatchObject({
      chart: "cert-manager",
      version: "1.19.4",
      repositoryOpts: { repo: "https://charts.jetstack.io" },
      namespace: "cert-manager",
      values: { crds: { enabled: true } },
    });
    const allowed = policies.filter((p) => p.name.startsWith("ssept-cert-manager-allow")).map((p) => p.urn);
    expect(allowed).toHaveLength(2);
    expect(release.dependencies).toEqual(expect.arrayContaining(allowed));
  });

  test("the issuer chain follows the chart, one link after another", () => {
    const release = find(run.resources, RELEASE, "ssept-cert-manager");
    const selfSigned = find(run.resources, ISSUER, "ssept-selfsigned-issuer");
    const ca = find(run.resources, CERTIFICATE, "ssept-ca-certificate");
    const caIssuer = find(run.resources, ISSUER, "ssept-ca-issuer");
    expect(selfSigned.dependencies).toContain(release.urn);
    expect(ca.dependencies).toContain(selfSigned.urn);
    expect(caIssuer.dependencies).toContain(ca.urn);
    expect(inputs(caIssuer).spec).toEqual({ ca: { secretName: "ssept-ca" } });
    expect(ofType(run.resources, ISSUER)).toHaveLength(2);
  });

  test.each(ROUTES.map((r) => [r.name, r] as const))(
    "%s: an HTTPS Ingress in its Service's namespace with its own certificate",
    (_name, route) => {
      const ingress = find(run.resources, INGRESS, `ssept-${route.name}-ingress`);
      const host = `${route.name}.${IP}.sslip.io`;
      expect(inputs(ingress).metadata).toMatchObject({
        name: route.name,
        namespace: route.service.namespace,
      });
      expect(inputs(ingress).spec).toEqual({
        ingressClassName: "traefik",
        tls: [{ hosts: [host], secretName: `${route.name}-tls` }],
        rules: [
          {
            host,
            http: {
              paths: [
                {
                  path: "/",
                  pathType: "Prefix",
                  backend: { service: { name: route.service.name, port: { number: route.service.port } } },
                },
              ],
            },
          },
        ],
      });
      expect(inputs(ingress).metadata.annotations["traefik.ingress.kubernetes.io/router.entrypoints"]).toBe(
        "websecure",
      );

      const certificate = find(run.resources, CERTIFICATE, `ssept-${route.name}-certificate`);
      expect(inputs(certificate).metadata).toEqual({
        name: `${route.name}-tls`,
        namespace: route.service.namespace,
      });
      expect(inputs(certificate).spec).toMatchObject({
        secretName: `${route.name}-tls`,
        dnsNames: [host],
        issuerRef: { name: "ssept-ca", kind: "ClusterIssuer" },
      });
      expect(certificate.dependencies).toContain(find(run.resources, ISSUER, "ssept-ca-issuer").urn);
      expect(ingress.dependencies).toContain(certificate.urn);

      const admit = find(run.resources, POLICY, `ssept-${route.name}-allow-traefik`);
      expect(inputs(admit)).toMatchObject(
        allowFromIngressController(
          route.service.namespace as string,
          route.backend?.podSelector ?? {},
          route.backend?.targetPort ?? route.service.port,
          `allow-traefik-${route.name}`,
        ),
      );
      expect(ingress.dependencies).toContain(admit.urn);
    },
  );

  test("Grafana is admitted on its container port, not its Service port", () => {
    const admit = find(run.resources, POLICY, "ssept-grafana-allow-traefik");
    expect(inputs(admit).spec.ingress[0].ports).toEqual([{ protocol: "TCP", port: 3000 }]);
  });

  test.each(["mlflow", "ray", "argo"])(
    "%s: basic auth from an htpasswd Secret and a Middleware, both in its namespace, before the Ingress",
    (name) => {
      const namespace = ROUTES.find((r) => r.name === name)!.service.namespace;
      const users = find(run.resources, SECRET, `ssept-${name}-basic-auth-users`);
      const middleware = find(run.resources, MIDDLEWARE, `ssept-${name}-basic-auth`);
      const ingress = find(run.resources, INGRESS, `ssept-${name}-ingress`);
      const password = find(run.resources, "random:index/randomPassword:RandomPassword", "ssept-basic-auth");

      expect(inputs(users).metadata).toEqual({ name: `${name}-basic-auth-users`, namespace });
      expect(inputs(users).stringData.users).toMatch(/^admin:\$2a\$10\$[0-9a-f]{53}$/);
      expect(users.secretPaths).toContain("stringData");
      expect(users.dependencies).toContain(password.urn);

      expect(inputs(middleware).metadata).toEqual({ name: `${name}-basic-auth`, namespace });
      expect(inputs(middleware).spec).toEqual({
        basicAuth: {
          secret: `${name}-basic-auth-users`,
          removeHeader: true,
          realm: `sse-pt-platform ${name}`,
        },
      });
      expect(inputs(ingress).metadata.annotations["traefik.ingress.kubernetes.io/router.middlewares"]).toBe(
        `${namespace}-${name}-basic-auth@kubernetescrd`,
      );
      expect(ingress.dependencies).toEqual(expect.arrayContaining([users.urn, middleware.urn]));
    },
  );

  test("Grafana and the gateway have no basic auth in front", () => {
    for (const name of ["grafana", "gateway"]) {
      const ingress = find(run.resources, INGRESS, `ssept-${name}-ingress`);
      expect(inputs(ingress).metadata.annotations).not.toHaveProperty(
        "traefik.ingress.kubernetes.io/router.middlewares",
      );
    }
    expect(
      ofType(run.resources, MIDDLEWARE)
        .map((m) => m.name)
        .sort(),
    ).toEqual(["ssept-argo-basic-auth", "ssept-mlflow-basic-auth", "ssept-ray-basic-auth"]);
  });

  test("one generated password; its login is a secret output", () => {
    expect(ofType(run.resources, "random:index/randomPassword:RandomPassword")).toHaveLength(1);
    const password = find(run.resources, "random:index/randomPassword:RandomPassword", "ssept-basic-auth");
    expect(inputs(password)).toMatchObject({ length: 32, special: false });
    expect(run.outputs.basicAuth.secret).toBe(true);
    const login = run.outputs.basicAuth.value as { username: string; password: string };
    expect(login.username).toBe("admin");
    expect(login.password).toMatch(/^mockpw-[0-9a-f]{25}$/);
  });

  test("urls and login notes for each route", () => {
    expect(run.outputs.urls.value).toEqual({
      grafana: `https://grafana.${IP}.sslip.io`,
      mlflow: `https://mlflow.${IP}.sslip.io`,
      ray: `https://ray.${IP}.sslip.io`,
      argo: `https://argo.${IP}.sslip.io`,
      gateway: `https://gateway.${IP}.sslip.io`,
    });
    expect(run.outputs.urls.secret).toBe(false);
    const notes = run.outputs.loginNotes.value as Record<string, string>;
    expect(notes).toEqual(Object.fromEntries(ROUTES.map((r) => [r.name, loginNote(r.name, r.auth)])));
    expect(run.outputs.clusterIssuer.value).toBe("ssept-ca");
  });

  test("no ACME objects without ACME", () => {
    expect(run.resources.filter((r) => /acme/.test(r.name))).toEqual([]);
  });

  test("every object passes the cross-cutting Kubernetes checks", () => {
    expect(checkKubernetes(run.resources, { secretValues: secretSources(run.resources) })).toEqual([]);
  });
});

describe("the Ingress component, ACME on a domain", () => {
  let run: Omit<BuildResult, "stack">;
  beforeAll(async () => {
    run = await buildIngress(
      { tlsMode: "acme", domain: "ml.example.org", acmeEmail: "ops@example.org" },
      ROUTES,
      "ml.example.org",
    );
  });

  test("Let's Encrypt is the only issuer, and signs every host", () => {
    const issuers = ofType(run.resources, ISSUER);
    expect(issuers.map((i) => inputs(i).metadata.name)).toEqual(["letsencrypt"]);
    expect(inputs(issuers[0]).spec.acme.email).toBe("ops@example.org");
    for (const route of ROUTES) {
      const certificate = find(run.resources, CERTIFICATE, `ssept-${route.name}-certificate`);
      expect(inputs(certificate).spec).toMatchObject({
        dnsNames: [`${route.name}.ml.example.org`],
        issuerRef: { name: "letsencrypt" },
      });
    }
    expect(run.outputs.urls.value).toMatchObject({ gateway: "https://gateway.ml.example.org" });
  });

  test("Traefik may reach the HTTP-01 solver pods in every route's namespace", () => {
    for (const route of ROUTES) {
      const solver = find(run.resources, POLICY, `ssept-${route.name}-allow-acme-solver`);
      expect(inputs(solver)).toMatchObject(
        allowFromIngressController(
          route.service.namespace as string,
          { "acme.cert-manager.io/http01-solver": "true" },
          8089,
          `allow-traefik-acme-solver-${route.name}`,
        ),
      );
    }
    expect(find(run.resources, POLICY, "ssept-cert-manager-allow-acme-egress")).toBeDefined();
  });

  test("every object passes the cross-cutting Kubernetes checks", () => {
    expect(checkKubernetes(run.resources, { secretValues: secretSources(run.resources) })).toEqual([]);
  });
});

describe("the Ingress component, edge cases", () => {
  test("without a basic-auth route there is no password and no basicAuth output", async () => {
    const run = await buildIngress(
      { tlsMode: "self-signed" },
      ROUTES.filter((r) => r.auth !== "basic"),
    );
    expect(ofType(run.resources, "random:index/randomPassword:RandomPassword")).toEqual([]);
    expect(ofType(run.resources, MIDDLEWARE)).toEqual([]);
    expect(run.outputs.basicAuth.value).toBeNull();
  });

  test("a UI without a login routed in the open fails, naming the route", async () => {
    const open = ROUTES.map((r) => (r.name === "argo" ? { ...r, auth: "public" as const } : r));
    let error: unknown;
    await runUnderMocks(() => {
      try {
        const provider = new k8s.Provider("k8s", { kubeconfig: "apiVersion: v1" });
        new Ingress(
          "ssept",
          ingressArgs(configFor({}), provider, { baseDomain: `${IP}.sslip.io`, routes: open }),
        );
      } catch (e) {
        error = e;
      }
    });
    expect(String(error)).toMatch(/argo has no login of its own, so its auth must be "basic", not "public"/);
  });
});
