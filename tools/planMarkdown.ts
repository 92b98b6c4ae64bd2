import { PlanModel } from "./planModel";

function suBasis(rates: NonNullable<PlanModel["suRates"]>): string {
  return (
    `SU basis: a bare-metal host costs ${rates.bareMetalPerNodeHour} SU per node-hour ` +
    "(`suPerBareMetalNodeHour`" +
    (rates.bareMetalRateSet
      ? ", set in this stack)"
      : ", Chameleon's base rate; some GPU node types are charged more, so those rows are lower bounds (≥) " +
        "until you set your node type's rate)") +
    `; a KVM VM costs its flavor's share of a host's vCPUs × ${rates.kvmHostPerHour} SU per host-hour ` +
    "(`suPerKvmHostHour`, host sizes assumed in components/chameleon/blazar/su.ts; a flavor not listed there has no estimate)."
  );
}

/** plan.md: the estate explained to someone who has never read the code. */
export function planMarkdown(plan: PlanModel, meta: { clock: Date }): string {
  const out: string[] = [];
  const env = plan.outputs.find((o) => o.name === "environment")?.value;
  const mode = plan.outputs.find((o) => o.name === "clusterMode")?.value;
  out.push(`# Offline plan: stack \`${plan.stack}\``);
  out.push("");
  out.push(
    `Environment **${env}**, cluster mode **${mode}**, judged at ${meta.clock.toISOString()}. ` +
      "Built with Pulumi's mocks: no cloud was called, ids and addresses are stand-ins, " +
      "and every secret is shown as `[secret]`.",
  );
  out.push("");
  out.push(`**${plan.resources.length} resources** in ${countComponents(plan)} components.`);
  if (plan.warnings.length > 0) {
    out.push("", "## Warnings", "", ...plan.warnings.map((w) => `- ${w}`));
  }

  if (plan.placeholders.length > 0) {
    out.push(
      "",
      "## Placeholders to fill in",
      "",
      "These keys still hold the committed placeholder; this plan accepts them, `pulumi preview` and " +
        "`pulumi up` refuse them until you set your own values (`pulumi config set <key> <value>`):",
      "",
      ...plan.placeholders.map((k) => `- \`${k}\``),
    );
  }

  out.push("", "## Where to reach it", "");
  out.push(table(["UI / API", "URL", "Login"], uiRows(plan)));

  out.push("", "## Resources per component", "");
  out.push(table(["Component", "Resource type", "Count"], resourceRows(plan)));

  out.push("", "## Network exposure", "");
  if (plan.exposure.length === 0) {
    out.push("No security group in this estate (existing-cluster mode, or the network is not built).");
  } else {
    out.push(
      "Every rule of every security group. Anything not listed is closed. At the bare-metal sites " +
        "(CHI@TACC, CHI@UC), where Neutron does not enforce security groups, each node loads the same " +
        "rules into its own nftables host firewall before k3s is installed.",
      "",
    );
    out.push(
      table(
        ["Network", "Security group", "Direction", "Protocol", "Ports", "From / to", "Why"],
        plan.exposure.map((r) => [
          r.network,
          r.securityGroup,
          r.direction,
          r.protocol,
          r.ports,
          r.cidr,
          r.why,
        ]),
      ),
    );
  }

  out.push("", "## Reservations (Blazar leases)", "");
  if (plan.reservations.length === 0) {
    out.push("No leases in this estate.");
  } else {
    out.push(
      table(
        ["Lease", "Site", "Reservation", "Start (UTC)", "Hours", "Nodes", "SU estimate"],
        plan.reservations.map((r) =>
          [r.lease, r.site, r.kind, r.start, r.hours, r.nodes, r.suLowerBound ? `≥ ${r.su}` : r.su].map(
            String,
          ),
        ),
      ),
    );
    const total = plan.reservations.reduce((sum, r) => sum + (typeof r.su === "number" ? r.su : 0), 0);
    const atLeast = plan.reservations.some((r) => r.suLowerBound) ? "at least " : "";
    out.push("", `Total: ${atLeast}**${round(total)} SU**.`);
    if (plan.suRates) out.push("", suBasis(plan.suRates));
  }

  out.push("", "## Instances", "");
  if (plan.instances.length === 0) {
    out.push("No instances in this estate.");
  } else {
    out.push(
      "VMs boot from the flavor their Blazar reservation created (`reservation:<reservation id>`); " +
        "bare-metal GPU nodes boot with the reservation id as scheduler hint.",
      "",
    );
    out.push(
      table(
        ["Instance", "Site", "Role", "Image", "Flavor", "Scheduler hint: reservation"],
        plan.instances.map((i) => [i.name, i.site, i.role, i.image, i.flavor, i.reservation || "-"]),
      ),
    );
  }
  const gpuLeases = plan.reservations.filter((r) => /-gpu-\d{8}t\d{4}$/.test(r.lease));
  if (gpuLeases.length > 0 && !plan.instances.some((i) => i.role === "gpu")) {
    out.push(
      "",
      `GPU nodes exist only while a GPU window is active, and none is at ${meta.clock.toISOString()}. ` +
        `To see them, plan as of a window: \`npm run plan -- ${plan.stack} --now ${gpuLeases[0].start.replace(" ", "T")}Z\`.`,
    );
  }

  out.push("", "## Remote commands, in the order they run", "");
  if (plan.remoteCommands.length === 0) out.push("None.");
  plan.remoteCommands.forEach((c, i) =>
    out.push(
      `${i + 1}. \`${c.name}\`${c.after.length ? ` (after ${c.after.map((a) => `\`${a}\``).join(", ")})` : ""}`,
    ),
  );

  out.push("", "## Secrets (names only)", "");
  out.push(
    table(
      ["Kind", "Name"],
      plan.secrets.map((s) => [s.kind, s.name]),
    ),
  );

  out.push("", "## Outputs contract", "");
  out.push("What `pulumi stack output --json` returns for this stack; CI reads these names.", "");
  out.push(
    table(
      ["Output", "Type", "Secret", "Value known offline", "Description"],
      plan.outputs.map((o) => [
        `\`${o.name}\``,
        o.spec.type,
        o.spec.secret ? "yes" : "no",
        o.built ? showValue(o.value) : `not built yet (${o.spec.provider})`,
        o.spec.description,
      ]),
    ),
  );

  out.push("", "## Kubernetes objects per namespace", "");
  const namespaces = Object.keys(plan.manifests).sort();
  if (namespaces.length === 0) out.push("None declared.");
  else
    out.push(
      table(
        ["Namespace", "Objects"],
        namespaces.map((ns) => [ns, summarizeKinds(plan.manifests[ns])]),
      ),
    );
  out.push("", "Full manifests: `manifests/<namespace>.yaml`. Component graph: `diagram.mmd`.", "");
  return out.join("\n");
}

function uiRows(plan: PlanModel): string[][] {
  return plan.outputs
    .filter((o) => o.name.endsWith("Url"))
    .map((o) => [
      o.spec.description,
      o.built ? String(o.value) : `not built yet (${o.spec.provider})`,
      o.spec.login ?? "",
    ]);
}

function resourceRows(plan: PlanModel): string[][] {
  const counts = new Map<string, number>();
  for (const r of plan.resources) {
    if (r.type === "pulumi:pulumi:Stack") continue;
    const k = `${r.component}\u0000${r.type}`;
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return [...counts.entries()].sort().map(([k, n]) => {
    const [component, type] = k.split("\u0000");
    return [component, `\`${type}\``, String(n)];
  });
}

function countComponents(plan: PlanModel): number {
  return new Set(plan.resources.map((r) => r.component)).size;
}

function summarizeKinds(objects: Record<string, unknown>[]): string {
  const kinds = new Map<string, number>();
  for (const o of objects) kinds.set(String(o.kind), (kinds.get(String(o.kind)) ?? 0) + 1);
  return [...kinds.entries()]
    .sort()
    .map(([k, n]) => `${n} ${k}`)
    .join(", ");
}

function showValue(value: unknown): string {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return text.length > 80 ? `\`${text.slice(0, 77)}...\`` : `\`${text}\``;
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}

export function table(header: string[], rows: string[][]): string {
  const esc = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");
  return [
    `| ${header.join(" | ")} |`,
    `| ${header.map(() => "---").join(" | ")} |`,
    ...rows.map((r) => `| ${r.map(esc).join(" | ")} |`),
  ].join("\n");
}
