import { GetObjectCommand } from "@aws-sdk/client-s3";
import { readFile } from "node:fs/promises";
import { s3Client } from "../../gateway/src/s3Sink";
import type { SimulatorConfig } from "./config";

/** A user and the items it will really interact with next, in order. */
export interface HeldOutUser {
  user: number;
  items: number[];
}

/**
 * `user item` lines (the trainer's split files, e.g. test.txt: each user's held-out last event),
 * grouped per user in file order; later files append after earlier ones.
 */
export function parseHeldOut(texts: { name: string; text: string }[]): HeldOutUser[] {
  const byUser = new Map<number, number[]>();
  for (const { name, text } of texts) {
    text.split("\n").forEach((line, i) => {
      if (line.trim() === "") return;
      const m = /^\s*([1-9][0-9]*)\s+([1-9][0-9]*)\s*$/.exec(line);
      if (!m)
        throw new Error(
          `${name} line ${i + 1}: expected "<user> <item>" (positive integers), got ${JSON.stringify(line.slice(0, 80))}`,
        );
      const user = Number(m[1]);
      const items = byUser.get(user) ?? [];
      items.push(Number(m[2]));
      byUser.set(user, items);
    });
  }
  if (byUser.size === 0) throw new Error(`${texts.map((t) => t.name).join(", ")}: no held-out events`);
  return [...byUser].map(([user, items]) => ({ user, items }));
}

export async function loadHeldOut(c: SimulatorConfig): Promise<HeldOutUser[]> {
  if (c.HELDOUT_FILE) {
    const files = c.HELDOUT_FILE.split(",");
    return parseHeldOut(
      await Promise.all(files.map(async (name) => ({ name, text: await readFile(name, "utf-8") }))),
    );
  }
  const client = s3Client({
    endpoint: c.S3_ENDPOINT_URL as string,
    region: c.AWS_DEFAULT_REGION,
    accessKeyId: c.AWS_ACCESS_KEY_ID as string,
    secretAccessKey: c.AWS_SECRET_ACCESS_KEY as string,
  });
  try {
    const texts = [];
    for (const key of c.HELDOUT_KEYS.split(",")) {
      const full = `${c.DATA_PREFIX}/${key}`;
      const out = await client.send(new GetObjectCommand({ Bucket: c.BUCKET_FEATURES, Key: full }));
      texts.push({
        name: `s3://${c.BUCKET_FEATURES}/${full}`,
        text: (await out.Body?.transformToString("utf-8")) ?? "",
      });
    }
    return parseHeldOut(texts);
  } finally {
    client.destroy();
  }
}
