import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";

export interface ClusterAccessArgs {
  /** Kubeconfig of the cluster: a secret output of the Chameleon cluster, or secret config in existing mode. */
  kubeconfig: pulumi.Input<string>;
}

/** The one Kubernetes provider every Kubernetes resource of the estate uses. */
export class ClusterAccess extends pulumi.ComponentResource {
  public readonly provider: k8s.Provider;

  constructor(name: string, args: ClusterAccessArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ssept:platform:ClusterAccess", name, {}, opts);
    this.provider = new k8s.Provider(
      `${name}-k8s`,
      { kubeconfig: pulumi.secret(args.kubeconfig), enableServerSideApply: true },
      { parent: this },
    );
    this.registerOutputs({});
  }
}
