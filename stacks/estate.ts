import * as pulumi from "@pulumi/pulumi";
import { K3sCluster } from "../components/chameleon/cluster";
import { crossSiteGpu, gpuFloatingIpRoles } from "../components/chameleon/clusterNodes";
import { Network } from "../components/chameleon/network";
import { ObjectStorage } from "../components/chameleon/objectStorage";
import { Reservations } from "../components/chameleon/reservations";
import { SiteProviders } from "../components/chameleon/siteProviders";
import { ClusterAccess } from "../components/platform/clusterAccess";
import { PlatformContext, S3Access } from "../components/platform/context";
import { Argo } from "../components/platform/argo";
import { GpuSupport } from "../components/platform/gpuSupport";
import { Ingress } from "../components/platform/ingress";
import { baseDomainOf, IngressRoute } from "../components/platform/ingressRoutes";
import { LeaseEnd } from "../components/platform/leaseMetrics";
import { Mlflow } from "../components/platform/mlflow";
import { Monitoring } from "../components/platform/monitoring";
import { Ray } from "../components/platform/ray";
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
  const ctx: PlatformContext = { config, provider: access.provider, s3: layer.s3 };
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
      {
        ctx,
        gpu: layer.gpu,
        leaseEnds: layer.leaseEnds,
        gpuDependsOn: gpuSupport ? [gpuSupport] : undefined,
      },
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
    ? new Mlflow("ssept-mlflow", { ctx, monitoringCrds: monitoring?.crdRelease }, { dependsOn: layer.ready })
    : undefined;
  if (mlflow) routes.push({ name: "mlflow", service: mlflow.ui, auth: "basic", backend: mlflow.uiBackend });

  // enableRay requires enableMlflow (stacks/config.ts): Ray jobs log to MLflow.
  const ray =
    config.features.ray && mlflow
      ? new Ray(
          "ssept-ray",
          {
            ctx,
            gpu: layer.gpu,
            mlflowTrackingUri: mlflow.trackingUri,
            grafanaHost: monitoring?.grafanaInternalUrl,
            prometheusHost: monitoring?.prometheusUrl,
            monitoringCrds: monitoring?.crdRelease,
          },
          { dependsOn: [...layer.ready, ...(gpuSupport ? [gpuSupport] : [])] },
        )
      : undefined;
  if (ray) routes.push({ name: "ray", service: ray.ui, auth: "basic", backend: ray.uiBackend });

  // enableArgo requires enableRay and enableMlflow (stacks/config.ts), so both exist here.
  if (config.features.argo && mlflow && ray) {
    const argo = new Argo(
      "ssept-argo",
      {
        ctx,
        mlflowTrackingUri: mlflow.trackingUri,
        rayNamespace: ray.namespace,
        rayClusterName: ray.clusterName,
        gpu: layer.gpu,
        monitoringCrds: monitoring?.crdRelease,
      },
      { dependsOn: layer.ready },
    );
    routes.push({ name: "argo", service: argo.ui, auth: "basic", backend: argo.uiBackend });
  }

  if (routes.length > 0) {
    const ingress = new Ingress(
      "ssept",
      { ctx, baseDomain: layer.baseDomain, routes, traefik: layer.traefik },
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
    baseDomain: baseDomainOf(config.ingress.domain, ""),
    s3: { endpoint: config.objectStore.endpoint, ...config.objectStore.credentials },
    outputs: { kubeconfig: config.cluster.kubeconfig },
  };
}
