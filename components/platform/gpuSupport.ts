import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import {
  GPU_NODE_LABEL,
  gpuNodeSelector,
  gpuToleration,
  NAMESPACES,
  NVIDIA_RUNTIME_CLASS,
} from "../contracts";
import { chartRelease, Values } from "./helmRelease";
import { platformNamespace } from "./namespace";

export const DEVICE_PLUGIN_CHART_DIR = "nvidia-device-plugin";

/**
 * Where the device plugin runs, from the GPU node contract: only on GPU nodes (node selector, and
 * an affinity that replaces the chart's default, which waits for feature-discovery labels nobody
 * sets), tolerating their taint, under the nvidia runtime so that it sees the driver.
 */
export function devicePluginValues(): Values {
  return {
    runtimeClassName: NVIDIA_RUNTIME_CLASS,
    nodeSelector: gpuNodeSelector(),
    tolerations: [gpuToleration()],
    affinity: {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [
            {
              matchExpressions: [{ key: GPU_NODE_LABEL.key, operator: "In", values: [GPU_NODE_LABEL.value] }],
            },
          ],
        },
      },
    },
  };
}

/** The `nvidia` RuntimeClass: its scheduling rules send every pod that uses it to a GPU node. */
export function nvidiaRuntimeClassSpec(): {
  handler: string;
  scheduling: k8s.types.input.node.v1.Scheduling;
} {
  return {
    handler: NVIDIA_RUNTIME_CLASS,
    scheduling: { nodeSelector: gpuNodeSelector(), tolerations: [gpuToleration()] },
  };
}

export interface GpuSupportArgs {
  environment: string;
  provider: k8s.Provider;
  /** Resources the release waits for, e.g. the cluster's install steps. */
  dependsOn?: pulumi.Input<pulumi.Resource>[];
}

/**
 * The Kubernetes side of GPUs: the `nvidia` RuntimeClass and the NVIDIA device plugin (namespace
 * `nvidia-gpu`), which makes `nvidia.com/gpu` schedulable on the nodes the cluster labels and
 * taints as GPU nodes. A GPU pod sets `runtimeClassName: nvidia` and requests `nvidia.com/gpu`;
 * the RuntimeClass adds the node selector and toleration.
 */
export class GpuSupport extends pulumi.ComponentResource {
  public readonly namespace: pulumi.Output<string>;
  public readonly runtimeClassName: pulumi.Output<string>;
  public readonly devicePlugin: k8s.helm.v3.Release;

  constructor(name: string, args: GpuSupportArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ssept:platform:GpuSupport", name, {}, opts);
    const child = { parent: this, provider: args.provider, dependsOn: args.dependsOn };
    const namespace = platformNamespace({
      name: NAMESPACES.gpu,
      provider: args.provider,
      parent: this,
      // The device plugin mounts the kubelet's device-plugin socket directory from the host.
      labels: { "app.kubernetes.io/component": "gpu", "pod-security.kubernetes.io/enforce": "privileged" },
    });
    const runtimeClass = new k8s.node.v1.RuntimeClass(
      `${name}-runtime-class`,
      { metadata: { name: NVIDIA_RUNTIME_CLASS }, ...nvidiaRuntimeClassSpec() },
      child,
    );
    this.devicePlugin = chartRelease(`${name}-device-plugin`, {
      chartDir: DEVICE_PLUGIN_CHART_DIR,
      namespace: namespace.metadata.name,
      environment: args.environment,
      computedValues: devicePluginValues(),
      provider: args.provider,
      parent: this,
      dependsOn: [runtimeClass, ...(args.dependsOn ?? [])],
    });
    this.namespace = namespace.metadata.name;
    this.runtimeClassName = runtimeClass.metadata.name;
    this.registerOutputs({ namespace: this.namespace, runtimeClassName: this.runtimeClassName });
  }
}
