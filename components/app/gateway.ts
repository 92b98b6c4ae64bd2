import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import {
  bootstrapJob,
  gatewayDeployment,
  gatewayService,
  gatewayServiceMonitor,
  GatewaySpec,
} from "./gatewayManifests";
import { GATEWAY, serviceUrl } from "./servingContracts";

export interface GatewayArgs extends Omit<GatewaySpec, "namespace"> {
  provider: k8s.Provider;
  namespace: string;
  /** The online features loaded into Redis by the bootstrap Job. */
  features: { dataset: string; version: string };
  monitoring: boolean;
  /** What installs the ServiceMonitor CRD: the monitor waits for it. */
  monitoringCrds?: pulumi.Input<pulumi.Resource>;
  /** The online store (its StatefulSet and password Secret): the Job and pods need it running. */
  onlineStore: pulumi.Input<pulumi.Resource>[];
  dependsOn?: pulumi.Input<pulumi.Resource>[];
}

/**
 * The recommendation gateway (model-server/gateway): a Deployment and Service, its ServiceMonitor,
 * and the Job that loads the trainer's online sequences into Redis before the gateway serves.
 */
export class Gateway extends pulumi.ComponentResource {
  /** The Service, for the ingress route. */
  public readonly service: { namespace: string; name: string; port: number };
  public readonly internalUrl: string;

  constructor(name: string, args: GatewayArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ssept:app:Gateway", name, {}, opts);
    const { provider, features, monitoring, monitoringCrds, onlineStore, dependsOn, ...spec } = args;
    const child = { parent: this, provider, dependsOn };
    const needsStore = { ...child, dependsOn: [...(dependsOn ?? []), ...onlineStore] };

    const bootstrap = new k8s.batch.v1.Job(
      `${name}-bootstrap`,
      bootstrapJob({
        namespace: spec.namespace,
        image: spec.image,
        features,
        maxlen: spec.maxlen,
        s3SecretName: spec.s3SecretName,
      }),
      needsStore,
    );
    const deployment = new k8s.apps.v1.Deployment(`${name}-deployment`, gatewayDeployment(spec), {
      ...needsStore,
      dependsOn: [...(dependsOn ?? []), ...onlineStore, bootstrap],
    });
    new k8s.core.v1.Service(`${name}-service`, gatewayService(spec.namespace), child);
    if (monitoring) {
      new k8s.apiextensions.CustomResource(
        `${name}-monitor`,
        {
          apiVersion: "monitoring.coreos.com/v1",
          kind: "ServiceMonitor",
          ...gatewayServiceMonitor(spec.namespace),
        },
        { ...child, dependsOn: [...(child.dependsOn ?? []), ...(monitoringCrds ? [monitoringCrds] : [])] },
      );
    }
    this.service = { namespace: spec.namespace, name: GATEWAY.name, port: GATEWAY.port };
    this.internalUrl = serviceUrl(GATEWAY.name, spec.namespace, GATEWAY.port);
    this.registerOutputs({ internalUrl: this.internalUrl, deployment: deployment.metadata.name });
  }
}
