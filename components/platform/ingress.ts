import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { hostCertificate, issuerChain, TlsOptions } from "./certIssuers";
import { NAMESPACES } from "../contracts";
import { chartRelease } from "./helmRelease";
import { ACME_SOLVER_PODS, allowFromIngressController, certManagerPolicies } from "./ingressPolicies";
import {
  BASIC_AUTH_USER,
  basicAuthMiddlewareSpec,
  hostFor,
  htpasswdLine,
  ingressAnnotations,
  IngressRoute,
  ingressSpec,
  loginNote,
  middlewareRef,
  RouteName,
  validateRoutes,
} from "./ingressRoutes";
import { platformNamespace } from "./namespace";

export interface IngressArgs {
  provider: k8s.Provider;
  /** Picks cert-manager's `values-<environment>.yaml` and names the estate's CA. */
  environment: string;
  tls: TlsOptions;
  /** `config.ingress.domain`, or `<ingress floating ip>.sslip.io` (see `baseDomainOf`). */
  baseDomain: pulumi.Input<string>;
  routes: IngressRoute[];
  /**
   * What stands for k3s's Traefik being installed with its CRDs (`K3sCluster.traefik`): the
   * Middlewares wait for it. Left out for an existing cluster, whose Traefik CRDs must already exist.
   */
  traefik?: pulumi.Resource;
}

export interface BasicAuthCredentials {
  username: string;
  /** A Pulumi secret. */
  password: pulumi.Output<string>;
}

/**
 * HTTPS for the estate's UIs and the gateway through k3s's Traefik: cert-manager (pinned chart,
 * its own closed namespace) issues one Certificate per host from the estate's CA, or from Let's
 * Encrypt when `tlsMode` is acme; UIs without a login of their own get basic auth at the ingress.
 *
 * Certificates are explicit objects rather than ingress-shim annotations, so each one shows in a
 * preview and in the tests, its Secret name is fixed, and it exists before the Ingress that uses it.
 */
export class Ingress extends pulumi.ComponentResource {
  public readonly urls: Partial<Record<RouteName, pulumi.Output<string>>>;
  public readonly hosts: Partial<Record<RouteName, pulumi.Output<string>>>;
  /** The basic-auth login in front of MLflow, Ray and Argo; undefined when no route uses it. */
  public readonly basicAuth: BasicAuthCredentials | undefined;
  public readonly loginNotes: Partial<Record<RouteName, string>>;
  /** The ClusterIssuer host certificates come from; other components may request certificates from it. */
  public readonly clusterIssuer: string;
  public readonly certManager: k8s.helm.v3.Release;

  constructor(name: string, args: IngressArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ssept:platform:Ingress", name, {}, opts);
    validateRoutes(args.routes);
    const { provider, tls } = args;
    const child = { parent: this, provider };

    const namespace = platformNamespace({ name: NAMESPACES.certManager, provider, parent: this });
    const policies = certManagerPolicies(namespace.metadata.name, tls.tlsMode).map(
      (policy) =>
        new k8s.networking.v1.NetworkPolicy(`${name}-cert-manager-${policy.metadata.name}`, policy, child),
    );
    this.certManager = chartRelease(`${name}-cert-manager`, {
      chartDir: "cert-manager",
      namespace: namespace.metadata.name,
      environment: args.environment,
      provider,
      parent: this,
      // Its post-install check talks to the API server, which the closed namespace allows only then.
      dependsOn: policies,
    });

    const chain = issuerChain(tls, namespace.metadata.name, args.environment);
    let previous: pulumi.Resource = this.certManager;
    for (const object of chain.objects) {
      const role = `${object.metadata.name.replace(/^ssept-/, "")}-${object.kind === "Certificate" ? "certificate" : "issuer"}`;
      previous = new k8s.apiextensions.CustomResource(`${name}-${role}`, object, {
        ...child,
        dependsOn: [previous],
      });
    }
    const hostIssuer = previous;
    this.clusterIssuer = chain.hostIssuer;

    const needsBasicAuth = args.routes.some((r) => r.auth === "basic");
    const password = needsBasicAuth
      ? new random.RandomPassword(`${name}-basic-auth`, { length: 32, special: false }, { parent: this })
      : undefined;
    this.basicAuth = password && {
      username: BASIC_AUTH_USER,
      password: pulumi.secret(password.result),
    };

    const urls: Partial<Record<RouteName, pulumi.Output<string>>> = {};
    const hosts: Partial<Record<RouteName, pulumi.Output<string>>> = {};
    const notes: Partial<Record<RouteName, string>> = {};
    for (const route of args.routes) {
      const ns = pulumi.output(route.service.namespace);
      const host = pulumi.output(args.baseDomain).apply((domain) => hostFor(route.name, domain));
      const tlsSecretName = `${route.name}-tls`;
      const prefix = `${name}-${route.name}`;

      const certificate = new k8s.apiextensions.CustomResource(
        `${prefix}-certificate`,
        hostCertificate({
          name: tlsSecretName,
          namespace: ns,
          host,
          secretName: tlsSecretName,
          issuer: chain.hostIssuer,
        }),
        { ...child, dependsOn: [hostIssuer] },
      );

      const backend = route.backend ?? {};
      const admitTraefik = [
        new k8s.networking.v1.NetworkPolicy(
          `${prefix}-allow-traefik`,
          allowFromIngressController(
            ns,
            backend.podSelector ?? {},
            backend.targetPort ?? route.service.port,
            `allow-traefik-${route.name}`,
          ),
          child,
        ),
      ];
      if (tls.tlsMode === "acme") {
        admitTraefik.push(
          new k8s.networking.v1.NetworkPolicy(
            `${prefix}-allow-acme-solver`,
            allowFromIngressController(
              ns,
              ACME_SOLVER_PODS.labels,
              ACME_SOLVER_PODS.port,
              `allow-traefik-acme-solver-${route.name}`,
            ),
            child,
          ),
        );
      }

      const middlewares: pulumi.Output<string>[] = [];
      const guards: pulumi.Resource[] = [];
      if (route.auth === "basic") {
        const middlewareName = `${route.name}-basic-auth`;
        const users = new k8s.core.v1.Secret(
          `${prefix}-basic-auth-users`,
          {
            metadata: { name: `${middlewareName}-users`, namespace: ns },
            type: "Opaque",
            stringData: pulumi.secret(
              password!.bcryptHash.apply((hash) => ({ users: htpasswdLine(BASIC_AUTH_USER, hash) })),
            ),
          },
          child,
        );
        const middleware = new k8s.apiextensions.CustomResource(
          `${prefix}-basic-auth`,
          {
            apiVersion: "traefik.io/v1alpha1",
            kind: "Middleware",
            metadata: { name: middlewareName, namespace: ns },
            spec: basicAuthMiddlewareSpec(`${middlewareName}-users`, `sse-pt-platform ${route.name}`),
          },
          { ...child, dependsOn: [users, ...(args.traefik ? [args.traefik] : [])] },
        );
        middlewares.push(ns.apply((n) => middlewareRef(n, middlewareName)));
        guards.push(users, middleware);
      }

      // The Ingress waits for its auth: Traefik would otherwise route the host before it is guarded.
      new k8s.networking.v1.Ingress(
        `${prefix}-ingress`,
        {
          metadata: {
            name: route.name,
            namespace: ns,
            annotations: pulumi.all(middlewares).apply((refs) => ingressAnnotations(refs)),
          },
          spec: ingressSpec({
            host,
            serviceName: route.service.name,
            servicePort: route.service.port,
            tlsSecretName,
          }),
        },
        { ...child, dependsOn: [certificate, ...guards, ...admitTraefik] },
      );

      hosts[route.name] = host;
      urls[route.name] = host.apply((h) => `https://${h}`);
      notes[route.name] = loginNote(route.name, route.auth);
    }
    this.urls = urls;
    this.hosts = hosts;
    this.loginNotes = notes;
    this.registerOutputs({ urls, loginNotes: notes, clusterIssuer: this.clusterIssuer });
  }
}
