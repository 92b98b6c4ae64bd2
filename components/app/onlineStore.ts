import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { redisService, redisServiceMonitor, redisStatefulSet, redisUrl } from "./onlineStoreManifests";
import { ContainerResources, REDIS_SECRET } from "./servingContracts";

export interface OnlineStoreArgs {
  provider: k8s.Provider;
  namespace: string;
  resources: ContainerResources;
  storageGi: number;
  /** The node whose local volumes sit on the Cinder data volume; undefined: any node. */
  nodeSelector?: Record<string, string>;
  monitoring: boolean;
  /** What installs the ServiceMonitor CRD: the monitor waits for it. */
  monitoringCrds?: pulumi.Input<pulumi.Resource>;
  dependsOn?: pulumi.Input<pulumi.Resource>[];
}

/**
 * The online feature store: Redis as a one-replica StatefulSet with an append-only file on its
 * volume, its password a RandomPassword kept in a Secret, and a redis_exporter sidecar.
 */
export class OnlineStore extends pulumi.ComponentResource {
  public readonly url: string;
  /** The Secret the store's clients read REDIS_PASSWORD from. */
  public readonly passwordSecret: k8s.core.v1.Secret;
  public readonly statefulSet: k8s.apps.v1.StatefulSet;

  constructor(name: string, args: OnlineStoreArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ssept:app:OnlineStore", name, {}, opts);
    const child = { parent: this, provider: args.provider, dependsOn: args.dependsOn };
    const password = new random.RandomPassword(
      `${name}-password`,
      { length: 32, special: false },
      { parent: this },
    );
    this.passwordSecret = new k8s.core.v1.Secret(
      `${name}-auth`,
      {
        metadata: { name: REDIS_SECRET.name, namespace: args.namespace },
        type: "Opaque",
        stringData: { [REDIS_SECRET.passwordKey]: pulumi.secret(password.result) },
      },
      child,
    );
    const service = new k8s.core.v1.Service(`${name}-service`, redisService(args.namespace), child);
    this.statefulSet = new k8s.apps.v1.StatefulSet(
      `${name}-redis`,
      redisStatefulSet({
        namespace: args.namespace,
        resources: args.resources,
        storageGi: args.storageGi,
        nodeSelector: args.nodeSelector,
      }),
      { ...child, dependsOn: [...(args.dependsOn ?? []), this.passwordSecret, service] },
    );
    if (args.monitoring) {
      new k8s.apiextensions.CustomResource(
        `${name}-monitor`,
        {
          apiVersion: "monitoring.coreos.com/v1",
          kind: "ServiceMonitor",
          ...redisServiceMonitor(args.namespace),
        },
        {
          ...child,
          dependsOn: [...(child.dependsOn ?? []), ...(args.monitoringCrds ? [args.monitoringCrds] : [])],
        },
      );
    }
    this.url = redisUrl(args.namespace);
    this.registerOutputs({ url: this.url, statefulSet: this.statefulSet.metadata.name });
  }
}
