import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { K3sCluster } from "../components/chameleon/cluster";
import { crossSiteGpu, gpuFloatingIpRoles } from "../components/chameleon/clusterNodes";
import { Network } from "../components/chameleon/network";
import { ObjectStorage } from "../components/chameleon/objectStorage";
import { Reservations } from "../components/chameleon/reservations";
import { SiteProviders } from "../components/chameleon/siteProviders";
import { ClusterAccess } from "../components/platform/clusterAccess";
import { dataVolumeNodeSelector, NAMESPACES, S3Access } from "../components/contracts";
import { Argo, ArgoArgs } from "../components/platform/argo";
import { GpuSupport } from "../components/platform/gpuSupport";
import { Ingress, IngressArgs } from "../components/platform/ingress";
import { baseDomainOf, IngressRoute } from "../components/platform/ingressRoutes";
import { LeaseEnd } from "../components/platform/leaseMetrics";
import { Mlflow, MlflowArgs } from "../components/platform/mlflow";
import { MlflowSpec } from "../components/platform/mlflowManifests";
import { Monitoring, MonitoringArgs } from "../components/platform/monitoring";
import { PrometheusOptions } from "../components/platform/monitoringValues";
import { Ray, RayArgs } from "../components/platform/ray";
import { ClusterEndpoints } from "../components/platform/trafficRules";
import { Serving } from "../components/app/serving";
import { Simulator } from "../components/app/simulator";
import { ChameleonCluster, PlatformConfig } from "./config";
import { StackOutputs } from "./outputs";

/** What the cloud layer hands the platform: a cluster to deploy onto and S3 to keep data in. */
interface ClusterLayer {
  kubeconfig: pulumi.Output<string>;
  /** Resources Kubernetes objects must wait for (the cluster's install steps). */
  ready: pulumi.Resource[];
  /** Stands for the cluster's Traefik and its CRDs; absent for an existing cluster, which has them. */
  traefik?: pulumi.Resource;
  gpu: boolean;
  /** GPU nodes exist now (inside a GPU window), so a GPU pod can be scheduled. */
  gpuNow: boolean;
  /** How many GPU nodes a window brings. */
  gpuNodes: number;
  s3: S3Access;
  /** The base of the UI hostnames: the configured domain, or `<ingress ip>.sslip.io`. */
  baseDomain: pulumi.Input<string>;
  leaseEnds?: pulumi.Input<pulumi.Input<LeaseEnd>[]>;
  outputs: StackOutputs;
}

/**
 * Builds the whole estate from one validated config. The order is the dependency order:
 * Chameleon (or an existing cluster) → cluster access → platform services → applications.
 */
export function buildEstate(config: PlatformConfig): StackOutputs {
  const layer =
    config.cluster.mode === "chameleon" ? chameleonLayer(config, config.cluster) : existingLayer(config);
  return {
    environment: config.environment,
    clusterMode: config.cluster.mode,
    buckets: config.buckets,
    s3Endpoint: layer.s3.endpoint,
    s3AccessKey: layer.s3.accessKey,
    s3SecretKey: layer.s3.secretKey,
    ...layer.outputs,
    ...platformLayer(config, layer),
  };
}

/** Everything on Kubernetes, in the cluster the cloud layer made (or the existing one). */
function platformLayer(config: PlatformConfig, layer: ClusterLayer): StackOutputs {
  const access = new ClusterAccess("ssept", { kubeconfig: layer.kubeconfig });
  const cluster: KubernetesCluster = { provider: access.provider, s3: layer.s3 };
  const gpuSupport = layer.gpu
    ? new GpuSupport("ssept-gpu", {
        environment: config.environment,
        provider: access.provider,
        dependsOn: layer.ready,
      })
    : undefined;

  const outputs: StackOutputs = {};
  const routes: IngressRoute[] = [];
  let grafanaLogin: { username: string; password: pulumi.Output<string> } | undefined;
  let monitoring: Monitoring | undefined;
  if (config.features.monitoring) {
    monitoring = new Monitoring(
      "ssept-monitoring",
      monitoringArgs(config, cluster, {
        gpu: layer.gpu,
        leaseEnds: layer.leaseEnds,
        gpuDependsOn: gpuSupport ? [gpuSupport] : undefined,
      }),
      { dependsOn: layer.ready },
    );
    routes.push({
      name: "grafana",
      service: monitoring.grafana,
      auth: "app",
      backend: { podSelector: { "app.kubernetes.io/name": "grafana" }, targetPort: 3000 },
    });
    grafanaLogin = { username: "admin", password: monitoring.adminPassword };
  }

  const mlflow = config.features.mlflow
    ? new Mlflow("ssept-mlflow", mlflowArgs(config, cluster, { monitoringCrds: monitoring?.crdRelease }), {
        dependsOn: layer.ready,
      })
    : undefined;
  if (mlflow) routes.push({ name: "mlflow", service: mlflow.ui, auth: "basic", backend: mlflow.uiBackend });

  // enableRay requires enableMlflow (stacks/config.ts): Ray jobs log to MLflow.
  const ray =
    config.features.ray && mlflow
      ? new Ray(
          "ssept-ray",
          rayArgs(config, cluster, {
            gpu: layer.gpu,
            mlflowTrackingUri: mlflow.trackingUri,
            grafanaHost: monitoring?.grafanaInternalUrl,
            prometheusHost: monitoring?.prometheusUrl,
            monitoringCrds: monitoring?.crdRelease,
          }),
          { dependsOn: [...layer.ready, ...(gpuSupport ? [gpuSupport] : [])] },
        )
      : undefined;
  if (ray) routes.push({ name: "ray", service: ray.ui, auth: "basic", backend: ray.uiBackend });

  // enableArgo requires enableRay and enableMlflow (stacks/config.ts), so both exist here.
  if (config.features.argo && mlflow && ray) {
    const argo = new Argo(
      "ssept-argo",
      argoArgs(config, cluster, {
        mlflowTrackingUri: mlflow.trackingUri,
        rayNamespace: ray.namespace,
        rayClusterName: ray.clusterName,
        gpu: layer.gpu,
        monitoringCrds: monitoring?.crdRelease,
      }),
      { dependsOn: layer.ready },
    );
    routes.push({ name: "argo", service: argo.ui, auth: "basic", backend: argo.uiBackend });
  }

  if (config.features.serving) {
    const serving = servingLayer(config, layer, access.provider, gpuSupport, monitoring);
    routes.push({
      name: "gateway",
      service: serving.gateway,
      auth: "public",
      backend: serving.gatewayBackend,
    });
    outputs.modelVersions = serving.modelVersions;
  }

  if (routes.length > 0) {
    const ingress = new Ingress(
      "ssept",
      ingressArgs(config, cluster.provider, { baseDomain: layer.baseDomain, routes, traefik: layer.traefik }),
      { dependsOn: layer.ready },
    );
    outputs.grafanaUrl = ingress.urls.grafana;
    outputs.mlflowUrl = ingress.urls.mlflow;
    outputs.rayDashboardUrl = ingress.urls.ray;
    outputs.argoUrl = ingress.urls.argo;
    outputs.gatewayUrl = ingress.urls.gateway;
    outputs.uiCredentials = { grafana: grafanaLogin, basicAuth: ingress.basicAuth };
  }
  return outputs;
}

/** What every Kubernetes component of the estate is given: the cluster's provider and the object store's keys. */
export interface KubernetesCluster {
  provider: k8s.Provider;
  s3: S3Access;
}

/*
 * Config → component Args, one function per component: the only place that reads the stack
 * config on a component's behalf. Each takes the config, the cluster, and the objects the
 * component is wired to (which the estate makes), and returns exactly the component's Args.
 */

/** The object store's URL and the node subnet, as the namespaces' egress policies need them. */
export function clusterEndpoints(config: Pick<PlatformConfig, "objectStore" | "cluster">): ClusterEndpoints {
  return {
    s3Endpoint: config.objectStore.endpoint,
    nodeCidr: config.cluster.mode === "chameleon" ? config.cluster.network.subnetCidr : undefined,
  };
}

/** Stateful pods (Prometheus, Postgres, Redis) on Chameleon run on the node with the Cinder data volume. */
export function statefulNodeSelector(
  config: Pick<PlatformConfig, "cluster">,
): Record<string, string> | undefined {
  return config.cluster.mode === "chameleon" ? dataVolumeNodeSelector() : undefined;
}

export function prometheusOptions(config: Pick<PlatformConfig, "monitoring" | "cluster">): PrometheusOptions {
  return {
    retention: config.monitoring.retention,
    storageGi: config.monitoring.storageGi,
    nodeSelector: statefulNodeSelector(config),
  };
}

export function monitoringArgs(
  config: PlatformConfig,
  cluster: KubernetesCluster,
  wiring: Pick<MonitoringArgs, "gpu" | "leaseEnds" | "gpuDependsOn">,
): MonitoringArgs {
  return {
    provider: cluster.provider,
    environment: config.environment,
    prometheus: prometheusOptions(config),
    nodeCidr: clusterEndpoints(config).nodeCidr,
    p95SloMs: config.serving.p95SloMs,
    features: config.features,
    ...wiring,
  };
}

export function mlflowSpec(config: PlatformConfig): MlflowSpec {
  return {
    image: config.images.mlflow,
    artifactsBucket: config.buckets["mlflow-artifacts"],
    server: config.mlflow.server,
    postgres: config.mlflow.postgres,
    postgresStorageGi: config.mlflow.postgresStorageGi,
    backupSchedule: config.mlflow.backupSchedule,
    postgresNodeSelector: statefulNodeSelector(config),
  };
}

export function mlflowArgs(
  config: PlatformConfig,
  cluster: KubernetesCluster,
  wiring: Pick<MlflowArgs, "monitoringCrds"> = {},
): MlflowArgs {
  return {
    provider: cluster.provider,
    spec: mlflowSpec(config),
    s3: cluster.s3,
    buckets: config.buckets,
    s3Endpoint: config.objectStore.endpoint,
    monitoring: config.features.monitoring,
    ...wiring,
  };
}

export function rayArgs(
  config: PlatformConfig,
  cluster: KubernetesCluster,
  wiring: Omit<
    RayArgs,
    "provider" | "environment" | "image" | "ray" | "s3" | "buckets" | "endpoints" | "monitoring"
  >,
): RayArgs {
  return {
    provider: cluster.provider,
    environment: config.environment,
    image: config.images.trainer,
    ray: config.ray,
    s3: cluster.s3,
    buckets: config.buckets,
    endpoints: clusterEndpoints(config),
    monitoring: config.features.monitoring,
    ...wiring,
  };
}

export function argoArgs(
  config: PlatformConfig,
  cluster: KubernetesCluster,
  wiring: Omit<
    ArgoArgs,
    "provider" | "environment" | "image" | "s3" | "buckets" | "endpoints" | "monitoring"
  >,
): ArgoArgs {
  return {
    provider: cluster.provider,
    environment: config.environment,
    image: config.images.trainer,
    s3: cluster.s3,
    buckets: config.buckets,
    endpoints: clusterEndpoints(config),
    monitoring: config.features.monitoring,
    ...wiring,
  };
}

export function ingressArgs(
  config: PlatformConfig,
  provider: k8s.Provider,
  wiring: Pick<IngressArgs, "baseDomain" | "routes" | "traefik">,
): IngressArgs {
  return {
    provider,
    environment: config.environment,
    tls: {
      tlsMode: config.ingress.tlsMode,
      domain: config.ingress.domain,
      acmeEmail: config.ingress.acmeEmail,
    },
    ...wiring,
  };
}

/** Triton, the gateway and Redis, and the simulator that drives them (enableSimulator). */
function servingLayer(
  config: PlatformConfig,
  layer: ClusterLayer,
  provider: ClusterAccess["provider"],
  gpuSupport: GpuSupport | undefined,
  monitoring: Monitoring | undefined,
): Serving {
  const s = config.serving;
  if (config.models.stable === undefined) {
    throw new Error("enableServing needs stableModelVersion (validated in stacks/config.ts)");
  }
  const s3 = { ...layer.s3, endpoint: config.objectStore.endpoint };
  const gpu = layer.gpuNow && gpuSupport !== undefined;
  const serving = new Serving(
    "ssept-serving",
    {
      provider,
      s3,
      buckets: config.buckets,
      images: {
        triton: config.images.triton,
        gateway: config.images.gateway,
        modelFetch: config.images.trainer,
      },
      model: {
        name: `ssept-${s.dataset}`,
        maxlen: s.maxlen,
        stableVersion: Number(config.models.stable),
        canaryVersion: config.models.canary === undefined ? undefined : Number(config.models.canary),
      },
      canaryWeightPercent: s.canaryWeight,
      gpu,
      // One GPU per Triton pod, one GPU node per pod: on GPU the replicas cannot exceed the nodes.
      triton: {
        resources: s.triton,
        replicas: gpu
          ? { min: Math.min(s.replicas, layer.gpuNodes), max: Math.min(s.maxReplicas, layer.gpuNodes) }
          : { min: s.replicas, max: s.maxReplicas },
      },
      gateway: { resources: s.gateway, replicas: s.gatewayReplicas, inferenceTimeoutMs: s.p95SloMs },
      redis: {
        resources: s.redis,
        storageGi: s.redisStorageGi,
        nodeSelector: statefulNodeSelector(config),
      },
      features: { dataset: s.dataset, version: s.featuresVersion },
      simulatorNamespace: config.features.simulator ? NAMESPACES.simulator : undefined,
      monitoring: config.features.monitoring,
      monitoringCrds: monitoring,
      dependsOn: gpu && gpuSupport ? [gpuSupport] : [],
    },
    { dependsOn: layer.ready },
  );
  if (config.features.simulator) {
    new Simulator(
      "ssept-simulator",
      {
        provider,
        s3,
        buckets: config.buckets,
        image: config.images.simulator,
        replicas: config.simulator.replicas,
        dataPrefix: `${s.dataset}/${s.featuresVersion}`,
        usersPerSecond: config.simulator.usersPerSecond,
        thinkTimeMs: config.simulator.thinkTimeMs,
        sessionLength: config.simulator.sessionLength,
        gateway: { url: serving.gatewayInternalUrl, namespace: serving.namespace },
        monitoring: config.features.monitoring,
        monitoringCrds: monitoring,
      },
      { dependsOn: layer.ready },
    );
  }
  return serving;
}

function chameleonLayer(config: PlatformConfig, c: ChameleonCluster): ClusterLayer {
  const sites = new SiteProviders("ssept", { credentials: c.credentials });
  const reservations = new Reservations("ssept", { cluster: c, environment: config.environment });
  const network = new Network(`ssept-${c.sites.compute.id}`, {
    provider: sites.of(c.sites.compute.id),
    environment: config.environment,
    externalNetwork: c.network.externalNetwork,
    subnetCidr: c.network.subnetCidr,
    adminCidrs: c.adminCidrs,
    floatingIps: c.network.sporadicFloatingIp ? ["ingress", "sporadic"] : ["ingress"],
    openHttp: config.ingress.tlsMode === "acme",
  });
  // A GPU node at another site joins over public addresses: each site's network admits the other's.
  const gpuNetwork = crossSiteGpu(c)
    ? new Network(`ssept-${c.sites.gpu.id}`, {
        provider: sites.of(c.sites.gpu.id),
        environment: config.environment,
        externalNetwork: c.network.externalNetwork,
        subnetCidr: c.network.gpuSubnetCidr,
        adminCidrs: c.adminCidrs,
        floatingIps: gpuFloatingIpRoles(c),
        peerAddresses: [network.floatingIps.ingress.address, network.gatewayAddress],
      })
    : undefined;
  if (gpuNetwork)
    network.allowPeers(gpuFloatingIpRoles(c).map((role) => gpuNetwork.floatingIps[role].address));

  const cluster = new K3sCluster("ssept", {
    environment: config.environment,
    config: c,
    compute: { provider: sites.of(c.sites.compute.id), network },
    gpuSite: gpuNetwork && { provider: sites.of(c.sites.gpu.id), network: gpuNetwork },
    reservations,
  });
  const storage = new ObjectStorage("ssept-objects", {
    provider: sites.of(c.sites.objectStore.id),
    buckets: config.buckets,
    endpoint: config.objectStore.endpoint,
    protectBuckets: true,
  });
  return {
    kubeconfig: cluster.kubeconfig,
    ready: cluster.installs,
    traefik: cluster.traefik,
    gpu: c.gpu.nodeCount > 0,
    gpuNow: c.gpu.nodeCount > 0 && c.gpu.activeWindow !== undefined,
    gpuNodes: c.gpu.nodeCount,
    s3: storage.s3,
    baseDomain: network.floatingIps.ingress.address.apply((ip) => baseDomainOf(config.ingress.domain, ip)),
    leaseEnds: reservations.leaseEnds,
    outputs: {
      kubeconfig: cluster.kubeconfig,
      ingressIp: network.floatingIps.ingress.address,
      sporadicIp: network.floatingIps.sporadic?.address,
      vmLease: reservations.vmLeaseSummary,
      gpuLeases: reservations.gpuLeaseSummary,
    },
  };
}

function existingLayer(config: PlatformConfig): ClusterLayer {
  if (config.cluster.mode !== "existing" || !config.objectStore.credentials) {
    throw new Error(
      "existing mode needs existingKubeconfig and S3 credentials (validated in stacks/config.ts)",
    );
  }
  return {
    kubeconfig: config.cluster.kubeconfig,
    ready: [],
    gpu: false,
    gpuNow: false,
    gpuNodes: 0,
    baseDomain: baseDomainOf(config.ingress.domain, ""),
    s3: { endpoint: config.objectStore.endpoint, ...config.objectStore.credentials },
    outputs: { kubeconfig: config.cluster.kubeconfig },
  };
}
