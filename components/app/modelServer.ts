import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import {
  fetchScriptConfigMap,
  servedVersions,
  TritonSpec,
  tritonAutoscaler,
  tritonDeployment,
  tritonDisruptionBudget,
  tritonService,
  tritonServiceMonitor,
} from "./tritonManifests";
import { serviceUrl, TRITON } from "./servingContracts";

/** The Triton spec (tritonManifests.ts), plus how the component is wired into the estate. */
export interface ModelServerArgs extends TritonSpec {
  provider: k8s.Provider;
  /** Declare the ServiceMonitor (the Prometheus Operator's CRDs exist). */
  monitoring: boolean;
  /** What installs the ServiceMonitor CRD: the monitor waits for it. */
  monitoringCrds?: pulumi.Input<pulumi.Resource>;
  /** What the pods need before they start: the namespace, the S3 Secret, the GPU runtime class. */
  dependsOn?: pulumi.Input<pulumi.Resource>[];
}

/**
 * Triton Inference Server for SSE-PT: one Deployment serving the stable and canary tracks as two
 * pinned versions of the same model (see tritonDeployment for why, and where the models come
 * from), a Service, a PodDisruptionBudget, a CPU HorizontalPodAutoscaler and a ServiceMonitor.
 */
export class ModelServer extends pulumi.ComponentResource {
  /** KServe v2 HTTP base URL inside the cluster. */
  public readonly url: string;
  public readonly versions: number[];

  constructor(name: string, args: ModelServerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ssept:app:ModelServer", name, {}, opts);
    const { provider, monitoring, monitoringCrds, dependsOn, ...spec } = args;
    const child = { parent: this, provider, dependsOn };
    const script = new k8s.core.v1.ConfigMap(
      `${name}-fetch-script`,
      fetchScriptConfigMap(args.namespace),
      child,
    );
    const deployment = new k8s.apps.v1.Deployment(`${name}-deployment`, tritonDeployment(spec), {
      ...child,
      dependsOn: [...(dependsOn ?? []), script],
    });
    new k8s.core.v1.Service(`${name}-service`, tritonService(args.namespace), child);
    new k8s.policy.v1.PodDisruptionBudget(`${name}-pdb`, tritonDisruptionBudget(args.namespace), child);
    new k8s.autoscaling.v2.HorizontalPodAutoscaler(
      `${name}-hpa`,
      tritonAutoscaler(args.namespace, args.replicas),
      { ...child, dependsOn: [deployment] },
    );
    if (monitoring) {
      new k8s.apiextensions.CustomResource(
        `${name}-monitor`,
        {
          apiVersion: "monitoring.coreos.com/v1",
          kind: "ServiceMonitor",
          ...tritonServiceMonitor(args.namespace),
        },
        {
          ...child,
          dependsOn: [...(child.dependsOn ?? []), ...(monitoringCrds ? [monitoringCrds] : [])],
        },
      );
    }
    this.url = serviceUrl(TRITON.name, args.namespace, TRITON.httpPort);
    this.versions = servedVersions(args.versions);
    this.registerOutputs({ url: this.url, versions: this.versions, deployment: deployment.metadata.name });
  }
}
