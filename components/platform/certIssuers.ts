import * as pulumi from "@pulumi/pulumi";
import { INGRESS_CLASS } from "./ingressRoutes";

/** How host certificates are issued (config tlsMode, domain, acmeEmail). */
export interface TlsOptions {
  tlsMode: "self-signed" | "acme";
  /** The public DNS name ACME needs. */
  domain?: string;
  acmeEmail?: string;
}

export const CERT_MANAGER_API = "cert-manager.io/v1";

/** ClusterIssuer names, and the Secret the estate's CA keeps its key pair in. */
export const ISSUERS = {
  selfSigned: "ssept-selfsigned",
  ca: "ssept-ca",
  acme: "letsencrypt",
} as const;
export const CA_SECRET = "ssept-ca";
export const LETS_ENCRYPT_DIRECTORY = "https://acme-v02.api.letsencrypt.org/directory";
const ACME_ACCOUNT_SECRET = "letsencrypt-account-key";

/** A cert-manager object as `k8s.apiextensions.CustomResource` takes it. */
export interface CertManagerObject {
  apiVersion: typeof CERT_MANAGER_API;
  kind: "ClusterIssuer" | "Certificate";
  metadata: { name: string; namespace?: pulumi.Input<string> };
  spec: Record<string, unknown>;
}

/** Signs only the CA certificate below: the first link of cert-manager's self-signed CA chain. */
export function selfSignedIssuer(): CertManagerObject {
  return {
    apiVersion: CERT_MANAGER_API,
    kind: "ClusterIssuer",
    metadata: { name: ISSUERS.selfSigned },
    spec: { selfSigned: {} },
  };
}

/**
 * The estate's CA. It lives in cert-manager's namespace, the one a ClusterIssuer reads its Secret
 * from. Ten years, so the hosts' certificates (which rotate) outlive no CA and people trust it once.
 */
export function caCertificate(namespace: pulumi.Input<string>, environment: string): CertManagerObject {
  return {
    apiVersion: CERT_MANAGER_API,
    kind: "Certificate",
    metadata: { name: CA_SECRET, namespace },
    spec: {
      isCA: true,
      commonName: `sse-pt-platform ${environment} CA`,
      secretName: CA_SECRET,
      duration: "87600h",
      renewBefore: "720h",
      privateKey: { algorithm: "ECDSA", size: 256 },
      issuerRef: { name: ISSUERS.selfSigned, kind: "ClusterIssuer", group: "cert-manager.io" },
    },
  };
}

export function caIssuer(): CertManagerObject {
  return {
    apiVersion: CERT_MANAGER_API,
    kind: "ClusterIssuer",
    metadata: { name: ISSUERS.ca },
    spec: { ca: { secretName: CA_SECRET } },
  };
}

/**
 * Let's Encrypt over HTTP-01, answered through Traefik: cert-manager puts a solver pod and an
 * Ingress of class traefik next to each Certificate for the length of the challenge.
 */
export function acmeIssuer(email: string): CertManagerObject {
  return {
    apiVersion: CERT_MANAGER_API,
    kind: "ClusterIssuer",
    metadata: { name: ISSUERS.acme },
    spec: {
      acme: {
        server: LETS_ENCRYPT_DIRECTORY,
        email,
        privateKeySecretRef: { name: ACME_ACCOUNT_SECRET },
        solvers: [{ http01: { ingress: { ingressClassName: INGRESS_CLASS } } }],
      },
    },
  };
}

/** The ClusterIssuers a TLS mode needs, in the order they depend on each other. */
export function issuerChain(
  ingress: TlsOptions,
  namespace: pulumi.Input<string>,
  environment: string,
): { hostIssuer: string; objects: CertManagerObject[] } {
  if (ingress.tlsMode === "acme") {
    if (!ingress.domain)
      throw new Error("domain: required when tlsMode is acme (ACME needs a public DNS name)");
    if (!ingress.acmeEmail) throw new Error("acmeEmail: required when tlsMode is acme");
    return { hostIssuer: ISSUERS.acme, objects: [acmeIssuer(ingress.acmeEmail)] };
  }
  return {
    hostIssuer: ISSUERS.ca,
    objects: [selfSignedIssuer(), caCertificate(namespace, environment), caIssuer()],
  };
}

/** One Certificate per host, in the namespace of the Ingress that serves it. */
export function hostCertificate(args: {
  name: string;
  namespace: pulumi.Input<string>;
  host: pulumi.Input<string>;
  secretName: string;
  issuer: string;
}): CertManagerObject {
  return {
    apiVersion: CERT_MANAGER_API,
    kind: "Certificate",
    metadata: { name: args.name, namespace: args.namespace },
    spec: {
      secretName: args.secretName,
      dnsNames: [args.host],
      privateKey: { algorithm: "ECDSA", size: 256, rotationPolicy: "Always" },
      issuerRef: { name: args.issuer, kind: "ClusterIssuer", group: "cert-manager.io" },
    },
  };
}
