import * as pulumi from "@pulumi/pulumi";
import { leaseProvider } from "./leaseProvider";
import { CredentialConfigKeys, leaseInputProblems, ReservationSpec, ReservationState } from "./leaseSpec";

export interface LeaseArgs {
  /** The Chameleon site: its Keystone and region (components/chameleon/sites.ts). */
  site: { authUrl: string; region: string };
  credentialId: pulumi.Input<string>;
  /** Kept a Pulumi secret: in the inputs, and in the state the provider stores. */
  credentialSecret: pulumi.Input<string>;
  /**
   * The stack config keys holding this credential. The provider re-reads them from the config the
   * engine configures it with, so refresh and destroy use the credential the stack has now.
   */
  credentialKeys?: CredentialConfigKeys;
  /** The lease's name in Blazar; unique within the project. */
  leaseName: string;
  /** `now` or a UTC date `YYYY-MM-DD HH:MM`. */
  start: string;
  /** The end as a UTC date; give this or hours. */
  end?: string;
  /** The length from the start; for a `now` lease, raising it extends the lease in place. */
  hours?: number;
  reservations: ReservationSpec[];
  /** Shown by the offline plan; not sent to Blazar. */
  suEstimate?: number;
  /** Bounds of create's wait (defaults 900 s, polling every 10 s) and of each HTTP request (60 s). */
  waitTimeoutSeconds?: number;
  pollIntervalSeconds?: number;
  requestTimeoutSeconds?: number;
}

/** Stands for a value that is checked when the engine knows it (an Output, here). */
const LATER = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

/**
 * A Blazar lease (Chameleon's reservation service), as a Pulumi dynamic resource: the OpenStack
 * providers have no Blazar resources. See leaseProvider.ts for what create/read/update/delete do
 * and when create waits for ACTIVE.
 */
export class Lease extends pulumi.dynamic.Resource {
  // `declare`: the engine fills these in the base constructor; emitted class fields would reset them.
  declare public readonly leaseId: pulumi.Output<string>;
  /** ACTIVE, or PENDING for a lease that starts after create returned. */
  declare public readonly status: pulumi.Output<string>;
  /** UTC, `YYYY-MM-DD HH:MM`. */
  declare public readonly startDate: pulumi.Output<string>;
  declare public readonly endDate: pulumi.Output<string>;
  /** One per requested reservation, in the order given. Bare-metal scheduler hints take these ids. */
  declare public readonly reservationIds: pulumi.Output<string[]>;
  declare public readonly reservationDetails: pulumi.Output<ReservationState[]>;

  constructor(name: string, args: LeaseArgs, opts?: pulumi.CustomResourceOptions) {
    const inputs = {
      authUrl: args.site.authUrl,
      region: args.site.region,
      credentialId: args.credentialId,
      credentialSecret: pulumi.secret(args.credentialSecret),
      credentialKeys: args.credentialKeys,
      name: args.leaseName,
      start: args.start,
      end: args.end,
      hours: args.hours,
      reservations: args.reservations,
      suEstimate: args.suEstimate,
      waitTimeoutSeconds: args.waitTimeoutSeconds,
      pollIntervalSeconds: args.pollIntervalSeconds,
      requestTimeoutSeconds: args.requestTimeoutSeconds,
    };
    const known = Object.fromEntries(
      Object.entries(inputs).map(([k, v]) => [k, pulumi.Output.isInstance(v) ? LATER : v]),
    );
    // Only the dates that cannot be judged yet are skipped: the engine's check sees them with its clock.
    const problems = leaseInputProblems(known, new Date(0)).map((p) => `${p.property}: ${p.reason}`);
    if (problems.length > 0) {
      throw new Error(`Blazar lease ${args.leaseName} (${name}) is invalid:\n  - ${problems.join("\n  - ")}`);
    }
    super(
      leaseProvider,
      name,
      {
        ...inputs,
        leaseId: undefined,
        status: undefined,
        startDate: undefined,
        endDate: undefined,
        reservationIds: undefined,
        reservationDetails: undefined,
      },
      { ...opts, additionalSecretOutputs: [...(opts?.additionalSecretOutputs ?? []), "credentialSecret"] },
      "blazar",
      "Lease",
    );
  }
}
