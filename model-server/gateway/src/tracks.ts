import { createHash } from "node:crypto";
import type { Track } from "./config";

const BUCKETS = 10_000;

/** A user's bucket in [0, 10000): the first 4 bytes of sha256(user id), the same in every replica. */
export function userBucket(user: string): number {
  return createHash("sha256").update(user).digest().readUInt32BE(0) % BUCKETS;
}

/** `canary` for the first `weight` share of buckets, else `stable`: a user stays on one track. */
export function assignTrack(user: string, canaryWeight: number): Track {
  return userBucket(user) < Math.round(canaryWeight * BUCKETS) ? "canary" : "stable";
}
