import { BuildResult, ResourceRecord } from "../tests/harness";
import { mockIdOf } from "../tests/mockState";
import { ConfigKey, KEYS } from "../stacks/configSchema";
import { OUTPUTS, OutputSpec } from "../stacks/outputs";
import { toManifest } from "./manifests";

export const SECRET = "[secret]";

/** A resource as the plan shows it: secrets replaced, the component it belongs to named. */
export interface PlannedResource {
  urn: string;
  type: string;
  name: string;
  component: string;
  parent?: string;
  provider?: string;
  dependencies: string[];
  inputs: Record<string, unknown>;
}

export interface ExposureRow {
  /** The component that owns the group: one network per site. */
  network: string;
  securityGroup: string;
  direction: string;
  protocol: string;
  ports: string;
  cidr: string;
  why: string;
}

export interface ReservationRow {
  lease: string;
  site: string;
  kind: string;
  start: string;
  hours: number | string;
  nodes: number | string;
  su: number | string;
  /** The SU rate used is the base rate and this hardware may cost more: the estimate is a lower bound. */
  suLowerBound: boolean;
}

export interface InstanceRow {
  name: string;
  site: string;
  role: string;
  image: string;
  flavor: string;
  /** The Blazar reservation a bare-metal node boots into (scheduler hint). */
  reservation: string;
}

export interface PlanModel {
  stack: string;
  resources: PlannedResource[];
  /** Kubernetes objects by namespace ("_cluster" for cluster-scoped ones). */
  manifests: Record<string, Record<string, unknown>[]>;
  exposure: ExposureRow[];
  reservations: ReservationRow[];
  instances: InstanceRow[];
  secrets: { kind: string; name: string }[];
  /** Config keys still holding the committed placeholder: `pulumi up` refuses them. */
  placeholders: string[];
  /** The SU rates the estimates use (chameleon mode). */
  suRates?: { bareMetalPerNodeHour: number; kvmHostPerHour: number; bareMetalRateSet: boolean };
  outputs: { name: string; spec: OutputSpec; value: unknown; built: boolean }[];
  remoteCommands: { name: string; after: string[] }[];
  componentEdges: [string, string][];
  /** The program's warnings (`pulumi.log.warn`), as `pulumi up` would print them. */
  warnings: string[];
}

/** Builds the plan from a harness run. Every secret is replaced before anything leaves this function. */
export function planModel(build: BuildResult): PlanModel {
  const scrub = scrubber(build.secretValues);
  const byUrn = new Map(build.resources.map((r) => [r.urn, r]));
  const componentOf = (r: ResourceRecord): string => {
    let cursor: ResourceRecord | undefined = r;
    while (cursor && cursor.custom) cursor = cursor.parent ? byUrn.get(cursor.parent) : undefined;
    return cursor ? `${cursor.type.replace(/^ssept:/, "")} ${cursor.name}` : "(stack)";
  };

  const resources: PlannedResource[] = build.resources.map((r) => ({
    urn: r.urn,
    type: r.type,
    name: r.name,
    component: componentOf(r),
    parent: r.parent,
    provider: r.provider,
    dependencies: r.dependencies,
    inputs: scrub(maskPaths(r.inputs, r.secretPaths)) as Record<string, unknown>,
  }));

  return {
    stack: build.stack,
    resources,
    manifests: manifestsByNamespace(build.resources, scrub),
    exposure: exposureRows(build.resources, componentOf),
    reservations: reservationRows(
      build.resources,
      build.config?.cluster.mode === "chameleon" && build.config.cluster.su.bareMetalRateSet,
    ),
    instances: instanceRows(build.resources, byUrn),
    secrets: secretNames(build),
    placeholders: [...(build.config?.placeholders ?? [])],
    suRates: build.config?.cluster.mode === "chameleon" ? { ...build.config.cluster.su } : undefined,
    outputs: Object.entries(OUTPUTS).map(([name, spec]) => {
      const output = build.outputs[name];
      return {
        name,
        spec,
        built: output !== undefined,
        value: output === undefined ? undefined : output.secret ? SECRET : scrub(output.value),
      };
    }),
    remoteCommands: remoteCommandOrder(build.resources),
    componentEdges: componentEdges(build.resources, componentOf, byUrn),
    warnings: (build.warnings ?? []).map((w) => String(scrub(w))),
  };
}

/** Replaces every occurrence of a known secret value in any string, wherever it hides. */
export function scrubber(secretValues: string[]): (value: unknown) => unknown {
  const secrets = [...secretValues].sort((a, b) => b.length - a.length);
  const walk = (value: unknown): unknown => {
    if (typeof value === "string") return secrets.reduce((text, s) => text.split(s).join(SECRET), value);
    if (Array.isArray(value)) return value.map(walk);
    if (value && typeof value === "object") {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, walk(v)]));
    }
    return value;
  };
  return walk;
}

function maskPaths(inputs: Record<string, unknown>, paths: string[]): Record<string, unknown> {
  const copy = JSON.parse(JSON.stringify(inputs ?? {}));
  for (const p of paths) {
    if (p === "(root)") return { value: SECRET };
    const parts = p.replace(/\[(\d+)\]/g, ".$1").split(".");
    let node = copy;
    for (const part of parts.slice(0, -1)) node = node?.[part];
    if (node && typeof node === "object") node[parts[parts.length - 1]] = SECRET;
  }
  return copy;
}

function manifestsByNamespace(
  records: ResourceRecord[],
  scrub: (v: unknown) => unknown,
): Record<string, Record<string, unknown>[]> {
  const result: Record<string, Record<string, unknown>[]> = {};
  for (const r of records) {
    const manifest = toManifest(r) ?? helmReleaseManifest(r);
    if (!manifest) continue;
    const masked = scrub(maskSecretData(manifest)) as Record<string, unknown>;
    const metadata = (masked.metadata ?? {}) as { namespace?: string };
    const ns =
      metadata.namespace ||
      (manifest.kind === "Namespace" ? String((masked.metadata as { name: string }).name) : "_cluster");
    (result[ns] ??= []).push(masked);
  }
  return result;
}

/**
 * A Helm release renders its objects in the cluster, so offline the plan shows the release itself:
 * chart, pinned version, repository and the merged values.
 */
function helmReleaseManifest(r: ResourceRecord): Record<string, unknown> | undefined {
  if (r.type !== "kubernetes:helm.sh/v3:Release") return undefined;
  const i = r.inputs as Record<string, unknown>;
  return {
    apiVersion: "helm.sh/v3",
    kind: "HelmRelease",
    metadata: { name: i.name ?? r.name, namespace: i.namespace },
    spec: {
      chart: i.chart,
      version: i.version,
      repository: (i.repositoryOpts as { repo?: string } | undefined)?.repo,
      values: i.values,
    },
  };
}

function maskSecretData(manifest: Record<string, unknown>): Record<string, unknown> {
  if (manifest.kind !== "Secret") return manifest;
  const mask = (data: unknown) =>
    data && typeof data === "object" ? Object.fromEntries(Object.keys(data).map((k) => [k, SECRET])) : data;
  return { ...manifest, data: mask(manifest.data), stringData: mask(manifest.stringData) };
}

const RULE = "openstack:networking/secGroupRule:SecGroupRule";
const GROUP = "openstack:networking/secGroup:SecGroup";

/** Every ingress rule of every security group: the ports the estate opens, and to whom. */
export function exposureRows(
  records: ResourceRecord[],
  componentOf: (r: ResourceRecord) => string,
): ExposureRow[] {
  const groups = new Map(records.filter((r) => r.type === GROUP).map((g) => [mockIdOf(g.type, g.name), g]));
  return records
    .filter((r) => r.type === RULE)
    .map((r) => {
      const i = r.inputs as Record<string, string | number | undefined>;
      const group = groups.get(String(i.securityGroupId));
      const from = i.portRangeMin;
      const to = i.portRangeMax;
      return {
        network: componentOf(r).replace(/^chameleon:/, ""),
        securityGroup: group ? String(group.inputs.name ?? group.name) : String(i.securityGroupId),
        direction: String(i.direction),
        protocol: i.protocol ? String(i.protocol) : "any",
        ports: from === undefined ? "all" : from === to ? String(from) : `${from}-${to}`,
        cidr: i.remoteIpPrefix ? String(i.remoteIpPrefix) : i.remoteGroupId ? "same security group" : "any",
        why: i.description ? String(i.description) : "",
      };
    })
    .sort((a, b) =>
      [a.network, a.securityGroup, a.direction, a.ports]
        .join()
        .localeCompare([b.network, b.securityGroup, b.direction, b.ports].join()),
    );
}

const LEASE = "pulumi-nodejs:dynamic/blazar:Lease";

function reservationRows(records: ResourceRecord[], bareMetalRateSet: boolean): ReservationRow[] {
  return records
    .filter((r) => r.type === LEASE && (r.inputs as { reservations?: unknown }).reservations !== undefined)
    .map((r) => {
      const i = r.inputs as Record<string, unknown>;
      const reservations = (i.reservations as Record<string, unknown>[]) ?? [];
      const nodes = reservations.reduce((n, x) => n + Number(x.max ?? x.amount ?? 0), 0);
      return {
        lease: String(i.name ?? r.name),
        site: String(i.region ?? (i.site as { region?: string })?.region ?? ""),
        kind: reservations.map((x) => String(x.resourceType)).join(", "),
        start: String(i.start ?? ""),
        hours: (i.hours as number) ?? "",
        nodes,
        su: (i.suEstimate as number) ?? "",
        suLowerBound: !bareMetalRateSet && reservations.some((x) => x.resourceType === "physical:host"),
      };
    });
}

const INSTANCE = "openstack:compute/instance:Instance";

function instanceRows(records: ResourceRecord[], byUrn: Map<string, ResourceRecord>): InstanceRow[] {
  return records
    .filter((r) => r.type === INSTANCE)
    .map((r) => {
      const i = r.inputs as {
        name?: string;
        imageName?: string;
        flavorName?: string;
        flavorId?: string;
        metadata?: Record<string, string>;
        schedulerHints?: { additionalProperties?: { reservation?: string } }[];
      };
      const provider = r.provider ? byUrn.get(r.provider) : undefined;
      return {
        name: i.name ?? r.name,
        site: String(provider?.inputs.region ?? ""),
        role: i.metadata?.["ssept-role"] ?? "",
        image: i.imageName ?? "",
        flavor: i.flavorName ?? i.flavorId ?? "",
        reservation: i.schedulerHints?.[0]?.additionalProperties?.reservation ?? "",
      };
    });
}

function secretNames(build: BuildResult): { kind: string; name: string }[] {
  const rows: { kind: string; name: string }[] = [];
  // The secrets this stack reads (its mode and sites decide), not every secret key of the schema.
  const needed = build.config?.secretKeys ?? Object.keys(KEYS).filter((k) => KEYS[k as ConfigKey].secret);
  for (const k of needed) rows.push({ kind: "config (--secret)", name: k });
  for (const r of build.resources) {
    if (r.type === "random:index/randomPassword:RandomPassword")
      rows.push({ kind: "generated password", name: r.name });
    if (r.type === "openstack:identity/ec2CredentialV3:Ec2CredentialV3")
      rows.push({ kind: "EC2 credential", name: r.name });
    if (r.type === "kubernetes:core/v1:Secret") {
      const m = (r.inputs.metadata ?? {}) as { name?: string; namespace?: string };
      rows.push({ kind: "Kubernetes Secret", name: `${m.namespace ?? ""}/${m.name ?? r.name}` });
    }
  }
  for (const [name, spec] of Object.entries(OUTPUTS))
    if (spec.secret) rows.push({ kind: "stack output", name });
  return rows;
}

const REMOTE = "command:remote:Command";

/** Remote commands in an order that respects their dependencies (Kahn's algorithm, stable by name). */
function remoteCommandOrder(records: ResourceRecord[]): { name: string; after: string[] }[] {
  const commands = records.filter((r) => r.type === REMOTE);
  const urns = new Set(commands.map((c) => c.urn));
  const nameOf = new Map(commands.map((c) => [c.urn, c.name]));
  const before = new Map(commands.map((c) => [c.urn, transitiveCommandDeps(c, records, urns)]));
  const done = new Set<string>();
  const ordered: { name: string; after: string[] }[] = [];
  while (ordered.length < commands.length) {
    const ready = commands
      .filter((c) => !done.has(c.urn) && [...before.get(c.urn)!].every((d) => done.has(d)))
      .sort((a, b) => a.name.localeCompare(b.name));
    if (ready.length === 0) throw new Error("remote commands depend on each other in a cycle");
    for (const c of ready) {
      done.add(c.urn);
      ordered.push({ name: c.name, after: [...before.get(c.urn)!].map((u) => nameOf.get(u)!).sort() });
    }
  }
  return ordered;
}

/** Commands a command waits for, directly or through other resources (a volume attach, say). */
function transitiveCommandDeps(
  start: ResourceRecord,
  records: ResourceRecord[],
  commandUrns: Set<string>,
): Set<string> {
  const byUrn = new Map(records.map((r) => [r.urn, r]));
  const found = new Set<string>();
  const seen = new Set<string>();
  const stack = [...start.dependencies];
  while (stack.length > 0) {
    const urn = stack.pop()!;
    if (seen.has(urn)) continue;
    seen.add(urn);
    if (commandUrns.has(urn)) {
      found.add(urn);
      continue;
    }
    stack.push(...(byUrn.get(urn)?.dependencies ?? []));
  }
  return found;
}

function componentEdges(
  records: ResourceRecord[],
  componentOf: (r: ResourceRecord) => string,
  byUrn: Map<string, ResourceRecord>,
): [string, string][] {
  const edges = new Set<string>();
  for (const r of records) {
    const from = componentOf(r);
    for (const dep of [...r.dependencies, ...(r.provider ? [r.provider] : [])]) {
      const target = byUrn.get(dep);
      if (!target) continue;
      const to = componentOf(target);
      if (to !== from && to !== "(stack)" && from !== "(stack)") edges.add(`${from}\u0000${to}`);
    }
  }
  return [...edges].sort().map((e) => e.split("\u0000") as [string, string]);
}
