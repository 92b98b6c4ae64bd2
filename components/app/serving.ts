import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { BucketNames, NAMESPACES, S3Access } from "../contracts";
import { grafanaDashboard } from "../platform/dashboards";
import { SERVING_DASHBOARDS } from "../platform/dashboards/serving";
import { namespacePolicies, platformNamespace } from "../platform/namespace";
import { S3_SECRET_NAME } from "../platform/s3Credentials";
import { Gateway } from "./gateway";
import { ModelServer } from "./modelServer";
import { OnlineStore } from "./onlineStore";
import { s3Secret } from "./s3Secret";
import { ContainerResources, GATEWAY, SERVING_LABELS, Track, TRACK_ALIASES } from "./servingContracts";
import { servingPolicies } from "./servingPolicies";

/** Where a track's model came from: the registered version and the MLflow alias it was promoted under. */
export interface TrackVersion {
  model: string;
  version: number;
  alias: string;
}

export interface ServingArgs {
  provider: k8s.Provider;
  /** The object store; its endpoint is known before deployment (it names the egress port). */
  s3: S3Access & { endpoint: string };
  buckets: BucketNames;
  images: { triton: string; gateway: string; modelFetch: string };
  /** `ssept-<dataset>`, its longest input sequence, and the version per track. */
  model: { name: string; maxlen: number; stableVersion: number; canaryVersion?: number };
  /** Percent of users on the canary track; 0 (or no canary version) removes the track. */
  canaryWeightPercent: number;
  /** Triton on a GPU node (the environment has one now); else on CPU. */
  gpu: boolean;
  triton: { resources: ContainerResources; replicas: { min: number; max: number } };
  gateway: { resources: ContainerResources; replicas: number; inferenceTimeoutMs: number };
  redis: { resources: ContainerResources; storageGi: number; nodeSelector?: Record<string, string> };
  /** The trainer's online features (`features/<dataset>/<version>/online/`), loaded into Redis. */
  features: { dataset: string; version: string };
  /** The simulator's namespace, whose pods may call the gateway; undefined: no simulator. */
  simulatorNamespace?: string;
  /** ServiceMonitors and dashboards (the Prometheus Operator and Grafana's sidecar exist). */
  monitoring: boolean;
  /** What installs the ServiceMonitor CRD (the Monitoring component): monitors wait for it. */
  monitoringCrds?: pulumi.Input<pulumi.Resource>;
  dependsOn?: pulumi.Input<pulumi.Resource>[];
}

/**
 * The online half of the system in the `serving` namespace: Triton (ModelServer) with the stable
 * and canary tracks, the gateway in front of it, Redis as the online feature store and its loader
 * Job, the namespace's network policies, and the Serving, User activity and Recommendation
 * performance dashboards.
 */
export class Serving extends pulumi.ComponentResource {
  public readonly namespace: string;
  /** The gateway's Service and pods, for the ingress route. */
  public readonly gateway: { namespace: string; name: string; port: number };
  public readonly gatewayBackend: { podSelector: Record<string, string>; targetPort: number };
  public readonly gatewayInternalUrl: string;
  /** The model version per track, for the `modelVersions` stack output. */
  public readonly modelVersions: { stable: TrackVersion; canary?: TrackVersion };

  constructor(name: string, args: ServingArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ssept:app:Serving", name, {}, opts);
    const { provider } = args;
    const namespace = NAMESPACES.serving;
    const ns = platformNamespace({ name: namespace, provider, parent: this });
    const child = { parent: this, provider, dependsOn: [ns] };
    const credentials = s3Secret(
      `${name}-s3-credentials`,
      { namespace, s3: args.s3, buckets: args.buckets },
      child,
    );
    const ready = [...(args.dependsOn ?? []), ns, credentials];

    const canary =
      args.canaryWeightPercent > 0 && args.model.canaryVersion !== undefined
        ? args.model.canaryVersion
        : undefined;
    const versions: Partial<Record<Track, number>> & { stable: number } = {
      stable: args.model.stableVersion,
      ...(canary !== undefined ? { canary } : {}),
    };

    const policies = namespacePolicies(
      name,
      namespace,
      servingPolicies({ s3Endpoint: args.s3.endpoint, simulatorNamespace: args.simulatorNamespace }),
      child,
    );

    new ModelServer(
      `${name}-triton`,
      {
        provider,
        namespace,
        image: args.images.triton,
        fetchImage: args.images.modelFetch,
        modelName: args.model.name,
        versions,
        repository: { bucket: args.buckets.models, prefix: "triton" },
        s3SecretName: S3_SECRET_NAME,
        gpu: args.gpu,
        resources: args.triton.resources,
        replicas: args.triton.replicas,
        monitoring: args.monitoring,
        monitoringCrds: args.monitoringCrds,
        dependsOn: [...ready, ...policies],
      },
      { parent: this },
    );
    const store = new OnlineStore(
      `${name}-online-store`,
      {
        provider,
        namespace,
        resources: args.redis.resources,
        storageGi: args.redis.storageGi,
        nodeSelector: args.redis.nodeSelector,
        monitoring: args.monitoring,
        monitoringCrds: args.monitoringCrds,
        dependsOn: [ns],
      },
      { parent: this },
    );
    const gateway = new Gateway(
      `${name}-gateway`,
      {
        provider,
        namespace,
        image: args.images.gateway,
        replicas: args.gateway.replicas,
        resources: args.gateway.resources,
        modelName: args.model.name,
        versions,
        canaryWeightPercent: canary !== undefined ? args.canaryWeightPercent : 0,
        maxlen: args.model.maxlen,
        inferenceTimeoutMs: args.gateway.inferenceTimeoutMs,
        s3SecretName: S3_SECRET_NAME,
        features: args.features,
        monitoring: args.monitoring,
        monitoringCrds: args.monitoringCrds,
        onlineStore: [store.statefulSet, store.passwordSecret],
        dependsOn: [...ready, ...policies],
      },
      { parent: this },
    );

    if (args.monitoring) {
      for (const dashboard of SERVING_DASHBOARDS) {
        grafanaDashboard(`${name}-dashboard-${dashboard.uid}`, dashboard.build(), {
          namespace,
          provider,
          parent: this,
        });
      }
    }

    this.namespace = namespace;
    this.gateway = gateway.service;
    this.gatewayBackend = { podSelector: { ...SERVING_LABELS.gateway }, targetPort: GATEWAY.port };
    this.gatewayInternalUrl = gateway.internalUrl;
    const track = (t: Track, version: number): TrackVersion => ({
      model: args.model.name,
      version,
      alias: TRACK_ALIASES[t],
    });
    this.modelVersions = {
      stable: track("stable", versions.stable),
      ...(versions.canary !== undefined ? { canary: track("canary", versions.canary) } : {}),
    };
    this.registerOutputs({
      namespace,
      gatewayInternalUrl: this.gatewayInternalUrl,
      modelVersions: this.modelVersions,
    });
  }
}
