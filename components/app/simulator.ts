import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { BucketNames, NAMESPACES, S3Access } from "../contracts";
import { namespacePolicies, platformNamespace } from "../platform/namespace";
import { S3_SECRET_NAME } from "../platform/s3Credentials";
import { s3Secret } from "./s3Secret";
import { simulatorPolicies } from "./servingPolicies";
import {
  SimulatorSpec,
  simulatorDeployment,
  simulatorService,
  simulatorServiceMonitor,
} from "./simulatorManifests";

export interface SimulatorArgs extends Omit<SimulatorSpec, "namespace" | "s3SecretName" | "gatewayUrl"> {
  provider: k8s.Provider;
  s3: S3Access & { endpoint: string };
  buckets: BucketNames;
  /** The gateway's in-cluster URL and namespace (whose pods the simulator may call). */
  gateway: { url: string; namespace: string };
  monitoring: boolean;
  /** What installs the ServiceMonitor CRD: the monitor waits for it. */
  monitoringCrds?: pulumi.Input<pulumi.Resource>;
  dependsOn?: pulumi.Input<pulumi.Resource>[];
}

/**
 * Simulated users in their own closed `simulator` namespace: a Deployment (0 replicas = off) that
 * replays held-out sequences against the gateway, its metrics Service and ServiceMonitor.
 */
export class Simulator extends pulumi.ComponentResource {
  public readonly namespace: string;

  constructor(name: string, args: SimulatorArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ssept:app:Simulator", name, {}, opts);
    const { provider, s3, buckets, gateway, monitoring, monitoringCrds, dependsOn, ...spec } = args;
    const namespace = NAMESPACES.simulator;
    const ns = platformNamespace({ name: namespace, provider, parent: this });
    const child = { parent: this, provider, dependsOn: [ns] };
    const credentials = s3Secret(`${name}-s3-credentials`, { namespace, s3, buckets }, child);
    const policies = namespacePolicies(
      name,
      namespace,
      simulatorPolicies({ s3Endpoint: s3.endpoint, servingNamespace: gateway.namespace }),
      child,
    );
    new k8s.apps.v1.Deployment(
      `${name}-deployment`,
      simulatorDeployment({ ...spec, namespace, gatewayUrl: gateway.url, s3SecretName: S3_SECRET_NAME }),
      { ...child, dependsOn: [...(dependsOn ?? []), ns, credentials, ...policies] },
    );
    new k8s.core.v1.Service(`${name}-service`, simulatorService(namespace), child);
    if (monitoring) {
      new k8s.apiextensions.CustomResource(
        `${name}-monitor`,
        {
          apiVersion: "monitoring.coreos.com/v1",
          kind: "ServiceMonitor",
          ...simulatorServiceMonitor(namespace),
        },
        { ...child, dependsOn: [...(child.dependsOn ?? []), ...(monitoringCrds ? [monitoringCrds] : [])] },
      );
    }
    this.namespace = namespace;
    this.registerOutputs({ namespace, replicas: spec.replicas });
  }
}
