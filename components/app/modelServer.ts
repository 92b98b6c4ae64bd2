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
import { ContainerResources, serviceUrl, Track, TRITON } from "./servingContracts";

export interface ModelServerArgs {
  provider: k8s.Provider;
  /** The serving namespace (made by the Serving component). */
  namespace: string;
  image: string;
  /** Image of the model-fetch init container (the trainer image: Python and boto3). */
  fetchImage: string;
  modelName: string;
  /** Version per track; leave canary out to serve stable only. */
  versions: Partial<Record<Track, number>> & { stable: number };
  repository: { bucket: string; prefix: string };
  s3SecretName: string;
  gpu: boolean;
  resources: ContainerResources;
  replicas: { min: number; max: number };
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
    const child = { parent: this, provider: args.provider, dependsOn: args.dependsOn };
    const spec: TritonSpec = {
      namespace: args.namespace,
      image: args.image,
      fetchImage: args.fetchImage,
      modelName: args.modelName,
      versions: args.versions,
      repository: args.repository,
      s3SecretName: args.s3SecretName,
      gpu: args.gpu,
      resources: args.resources,
      replicas: args.replicas,
    };
    const script = new k8s.core.v1.ConfigMap(
      `${name}-fetch-script`,
      fetchScriptConfigMap(args.namespace),
      child,
    );
    const deployment = new k8s.apps.v1.Deployment(`${name}-deployment`, tritonDeployment(spec), {
      ...child,
      dependsOn: [...(args.dependsOn ?? []), script],
    });
    new k8s.core.v1.Service(`${name}-service`, tritonService(args.namespace), child);
    new k8s.policy.v1.PodDisruptionBudget(`${name}-pdb`, tritonDisruptionBudget(args.namespace), child);
    new k8s.autoscaling.v2.HorizontalPodAutoscaler(
      `${name}-hpa`,
      tritonAutoscaler(args.namespace, args.replicas),
      { ...child, dependsOn: [deployment] },
    );
    if (args.monitoring) {
      new k8s.apiextensions.CustomResource(
        `${name}-monitor`,
        {
          apiVersion: "monitoring.coreos.com/v1",
          kind: "ServiceMonitor",
          ...tritonServiceMonitor(args.namespace),
        },
        {
          ...child,
          dependsOn: [...(child.dependsOn ?? []), ...(args.monitoringCrds ? [args.monitoringCrds] : [])],
        },
      );
    }
    this.url = serviceUrl(TRITON.name, args.namespace, TRITON.httpPort);
    this.versions = servedVersions(args.versions);
    this.registerOutputs({ url: this.url, versions: this.versions, deployment: deployment.metadata.name });
  }
}
