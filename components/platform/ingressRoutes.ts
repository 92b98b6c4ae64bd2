import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { ServiceRef } from "../contracts";

/** The hosts the estate serves, one per UI or API: `<name>.<base domain>`. */
export const ROUTE_NAMES = ["grafana", "mlflow", "ray", "argo", "gateway"] as const;
export type RouteName = (typeof ROUTE_NAMES)[number];

/**
 * Who may reach a route: `basic` puts HTTP basic auth at the ingress, `app` leaves login to the
 * application, `public` is an open API.
 */
export type RouteAuth = "basic" | "app" | "public";

export interface IngressRoute {
  name: RouteName;
  service: ServiceRef;
  auth: RouteAuth;
  /**
   * The pods behind the Service, for the NetworkPolicy that admits Traefik. Traefik sends traffic
   * to pod endpoints, so the policy must name the container port: give `targetPort` when the
   * Service's port differs from it (Grafana's Service listens on 80, its pod on 3000). Defaults:
   * every pod in the namespace, on `service.port`.
   */
  backend?: { podSelector?: Record<string, string>; targetPort?: number | string };
}

/** k3s's Traefik serves Ingresses of this class. */
export const INGRESS_CLASS = "traefik";
/** Traefik's HTTPS entry point in k3s (the HTTP one is `web`). */
export const HTTPS_ENTRYPOINT = "websecure";
export const BASIC_AUTH_USER = "admin";

/** UIs with no login of their own: exposing them without basic auth would open them to anyone. */
export const WITHOUT_OWN_LOGIN: readonly RouteName[] = ["mlflow", "ray", "argo"];
/** UIs that have a login of their own, so they may be left to it (`auth: "app"`). */
export const WITH_OWN_LOGIN: readonly RouteName[] = ["grafana"];

const LABELS: Record<RouteName, string> = {
  grafana: "Grafana",
  mlflow: "MLflow",
  ray: "Ray dashboard",
  argo: "Argo Workflows",
  gateway: "Inference gateway",
};

/** Throws, naming the route, on a duplicate route or one whose auth would leave a UI open. */
export function validateRoutes(routes: readonly IngressRoute[]): void {
  const seen = new Set<string>();
  for (const route of routes) {
    if (!(ROUTE_NAMES as readonly string[]).includes(route.name)) {
      throw new Error(
        `Ingress routes: unknown route ${route.name}; expected one of ${ROUTE_NAMES.join(", ")}`,
      );
    }
    if (seen.has(route.name)) throw new Error(`Ingress routes: route ${route.name} is given twice`);
    seen.add(route.name);
    if (WITHOUT_OWN_LOGIN.includes(route.name) && route.auth !== "basic") {
      throw new Error(
        `Ingress routes: ${route.name} has no login of its own, so its auth must be "basic", not "${route.auth}"`,
      );
    }
    if (route.auth === "app" && !WITH_OWN_LOGIN.includes(route.name)) {
      throw new Error(
        `Ingress routes: ${route.name} cannot use auth "app": only ${WITH_OWN_LOGIN.join(", ")} has its own login`,
      );
    }
  }
}

const DNS_NAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/;
const IPV4 = /^((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/**
 * The domain the UIs live under: the configured `domain`, or else `<floating ip>.sslip.io`, a
 * public wildcard DNS name that resolves `<anything>.<ip>.sslip.io` to the IP.
 */
export function baseDomainOf(domain: string | undefined, ingressIp: string): string {
  if (domain) {
    if (!DNS_NAME.test(domain)) throw new Error(`domain ${domain} is not a DNS name`);
    return domain;
  }
  if (!IPV4.test(ingressIp)) throw new Error(`ingress floating IP ${ingressIp} is not an IPv4 address`);
  return `${ingressIp}.sslip.io`;
}

export function hostFor(route: RouteName, baseDomain: string): string {
  const host = `${route}.${baseDomain}`;
  if (!DNS_NAME.test(host)) throw new Error(`host ${host} for route ${route} is not a DNS name`);
  return host;
}

/** One htpasswd line, the format Traefik's basicAuth reads from the Secret's `users` key. */
export function htpasswdLine(user: string, bcryptHash: string): string {
  if (!/^[A-Za-z0-9._-]+$/.test(user))
    throw new Error(`basic-auth user ${user}: letters, digits, . _ - only`);
  if (!/^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/.test(bcryptHash)) {
    throw new Error(`basic-auth hash for ${user} is not a bcrypt hash`);
  }
  return `${user}:${bcryptHash}`;
}

/** How an Ingress annotation names a Traefik Middleware CR: `<namespace>-<name>@kubernetescrd`. */
export function middlewareRef(namespace: string, middleware: string): string {
  return `${namespace}-${middleware}@kubernetescrd`;
}

/**
 * Traefik's router annotations: HTTPS only (an HTTP router would serve the UI in clear text), TLS
 * on, and the middlewares in order.
 */
export function ingressAnnotations(middlewares: readonly string[]): Record<string, string> {
  return {
    "traefik.ingress.kubernetes.io/router.entrypoints": HTTPS_ENTRYPOINT,
    "traefik.ingress.kubernetes.io/router.tls": "true",
    ...(middlewares.length > 0
      ? { "traefik.ingress.kubernetes.io/router.middlewares": middlewares.join(",") }
      : {}),
  };
}

export interface IngressSpecArgs {
  host: pulumi.Input<string>;
  serviceName: pulumi.Input<string>;
  servicePort: number;
  tlsSecretName: string;
}

/** One host, every path to one Service port, TLS from the Secret cert-manager fills. */
export function ingressSpec(args: IngressSpecArgs): k8s.types.input.networking.v1.IngressSpec {
  return {
    ingressClassName: INGRESS_CLASS,
    tls: [{ hosts: [args.host], secretName: args.tlsSecretName }],
    rules: [
      {
        host: args.host,
        http: {
          paths: [
            {
              path: "/",
              pathType: "Prefix",
              backend: { service: { name: args.serviceName, port: { number: args.servicePort } } },
            },
          ],
        },
      },
    ],
  };
}

/**
 * Traefik's basicAuth middleware over the htpasswd Secret. `removeHeader` keeps the credentials
 * from reaching the backend, which has no use for them (Argo's server would try to read them as
 * its own token).
 */
export function basicAuthMiddlewareSpec(secretName: string, realm: string): Record<string, unknown> {
  return { basicAuth: { secret: secretName, removeHeader: true, realm } };
}

/** How a person logs in to a route: the note plan.md shows next to each URL. */
export function loginNote(route: RouteName, auth: RouteAuth, user: string = BASIC_AUTH_USER): string {
  const label = LABELS[route];
  const where = "the uiCredentials stack output (pulumi stack output uiCredentials --show-secrets)";
  switch (auth) {
    case "basic": {
      const extra: Partial<Record<RouteName, string>> = {
        mlflow:
          " The mlflow client outside the cluster sends them from MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD; pods inside use the Service directly.",
        ray: " The Ray Jobs API on the same host needs them too (an Authorization header); pods inside use the Service directly.",
        argo: " The Argo server's own auth mode applies after it.",
      };
      return `${label}: HTTP basic auth at the ingress, user "${user}", password in ${where}.${extra[route] ?? ""}`;
    }
    case "app":
      return `${label}: its own login page (no basic auth in front, so its sessions and API tokens work); the admin password is in ${where}.`;
    case "public":
      return `${label}: public HTTPS API, no login.`;
  }
}
