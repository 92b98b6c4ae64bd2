import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { PlatformConfig } from "../../stacks/config";

/** S3 access as the estate knows it: an endpoint and keys (secret outputs). */
export interface S3Access {
  endpoint: pulumi.Input<string>;
  accessKey: pulumi.Input<string>;
  secretKey: pulumi.Input<string>;
}

/** What every platform and app component receives: the config, the one Kubernetes provider, S3. */
export interface PlatformContext {
  config: PlatformConfig;
  provider: k8s.Provider;
  s3: S3Access;
}

/** A Service a UI or API is served from; the ingress component routes a host to it. */
export interface ServiceRef {
  namespace: pulumi.Input<string>;
  name: pulumi.Input<string>;
  port: number;
}

/** Namespaces of the estate, fixed so that network policies can name each other. */
export const NAMESPACES = {
  monitoring: "monitoring",
  mlflow: "mlflow",
  ray: "ray",
  pipeline: "pipeline",
  serving: "serving",
  simulator: "simulator",
  certManager: "cert-manager",
  gpu: "nvidia-gpu",
  /** k3s runs Traefik, its ingress controller, here. */
  ingress: "kube-system",
} as const;
